import numpy as np
import pytest

import numpyuq
from numpyuq.backend import get_array_module, to_numpy
from tests.helpers import run_python


def test_importing_numpyuq_never_imports_cupy():
    code = "import sys, numpyuq, numpyuq.nn, numpyuq.models, numpyuq.uncertainty; print('cupy' in sys.modules)"
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_numpy_backend_defaults_and_bad_names():
    assert numpyuq.get_backend() == "numpy"
    x = np.ones(3)
    assert get_array_module(x) is np
    assert to_numpy(x) is x
    with pytest.raises(ValueError, match="backend must be one of"):
        numpyuq.set_backend("jax")


def test_the_backend_helpers_on_every_backend(xp):
    """array_in moves host data to the backend and back; get_array_module, special and
    scipy_linalg pick that backend's functions; the dropout hash gives the same mask everywhere."""
    from numpyuq.backend import array_in, scipy_linalg, special
    from numpyuq.kernels.dropout_mask import keep_mask
    host = np.array([[2.0, 0.0], [1.0, 3.0]])
    x = array_in(host, xp)
    assert isinstance(x, xp.ndarray) and get_array_module(x) is xp
    back = array_in(x, np)
    assert type(back) is np.ndarray
    np.testing.assert_array_equal(back, host)
    np.testing.assert_allclose(to_numpy(special(x).digamma(x + 1)), __import__("scipy").special.digamma(host + 1))
    solved = scipy_linalg(x).solve_triangular(x, array_in(np.array([4.0, 7.0]), xp), lower=True)
    assert isinstance(solved, xp.ndarray)
    np.testing.assert_allclose(to_numpy(solved), [2.0, 5.0 / 3.0])
    mask = keep_mask(12345, (3, 5), 0.5, like=x, value=2.0)
    assert isinstance(mask, xp.ndarray)
    np.testing.assert_array_equal(to_numpy(mask), keep_mask(12345, (3, 5), 0.5, like=host, value=2.0))
