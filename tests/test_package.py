"""``import numpyuq``: subpackages reachable lazily (PEP 562), nothing heavy imported up front."""
import pytest

from tests.helpers import run_python


def test_subpackages_load_on_first_use():
    code = ("import sys, numpyuq as nq; before = {m for m in sys.modules if m.startswith('numpyuq.')}; "
            "model = nq.models.LeNet(channels=(2, 3), hidden=8); "
            "print(sorted(before), 'numba' in sys.modules, type(model).__name__, 'numpyuq.models' in sys.modules)")
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['numpyuq.backend']", "True", "LeNet", "True"]


def test_unknown_attribute_is_an_attribute_error():
    import numpyuq
    with pytest.raises(AttributeError, match="module 'numpyuq' has no attribute 'tensorflow'"):
        numpyuq.tensorflow
    assert "models" in dir(numpyuq) and numpyuq.losses.SoftmaxCrossEntropy
