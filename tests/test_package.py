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
