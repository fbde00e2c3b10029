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
