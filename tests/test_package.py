"""``import numpyuq``: subpackages reachable lazily (PEP 562), nothing heavy imported up front."""
import pytest

from tests.helpers import run_python


def test_subpackages_load_on_first_use():
    code = ("import sys, numpyuq as nq; before = {m for m in sys.modules if m.startswith('numpyuq.')}; "
            "model = nq.models.LeNet(channels=(2, 3), num_hidden=8); "
            "print(sorted(before), 'numba' in sys.modules, type(model).__name__, 'numpyuq.models' in sys.modules)")
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['numpyuq.backend']", "True", "LeNet", "True"]


def test_unknown_attribute_is_an_attribute_error():
    import numpyuq
    with pytest.raises(AttributeError, match="module 'numpyuq' has no attribute 'tensorflow'"):
        numpyuq.tensorflow
    assert "models" in dir(numpyuq) and numpyuq.losses.SoftmaxCrossEntropy


def test_the_cupy_stand_in_never_ships_in_the_package():
    """tests/fake_cupy.py stays in the tests: no package module imports it, and the package
    discovery of pyproject.toml only takes numpyuq*."""
    import pathlib

    import pytest
    tomllib = pytest.importorskip("tomllib")        # Python >= 3.11
    root = pathlib.Path(__file__).resolve().parent.parent
    sources = {p: p.read_text() for p in (root / "numpyuq").rglob("*.py")}
    assert not [str(p) for p, text in sources.items() if "fake_cupy" in text or "from tests" in text]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["numpyuq*"]


@pytest.mark.slow
def test_the_sites_first_example_runs_as_written(tmp_path):
    """docs/index.md shows a newcomer a first example: it runs, and says what it claims."""
    import pathlib
    import re
    import subprocess
    import sys
    index = (pathlib.Path(__file__).parent.parent / "docs" / "index.md").read_text()
    code = re.search(r"## A first example.*?```python\n(.*?)```", index, re.S).group(1)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    kind, comparison = out.stdout.strip().splitlines()[-2:]
    assert kind.startswith("GP posterior variance")
    ood, _, test = comparison.partition(" > ")
    assert float(ood) > float(test)
