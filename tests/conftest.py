import importlib.util

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _cupy_usable():
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.skipif(
    not _cupy_usable(), reason="CuPy with a CUDA device is not available"))])
def xp(request):
    if request.param == "cupy":
        import cupy
        return cupy
    return np

