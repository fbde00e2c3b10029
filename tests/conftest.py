import importlib.util

import numpy as np
import pytest

from tests import fake_cupy


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def cupy_usable():
    """True when real CuPy imports and sees a CUDA device (the ``gpu`` tests run only then)."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy
        return not getattr(cupy, "IS_FAKE", False) and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@pytest.fixture(params=["numpy", "fakecupy", pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not cupy_usable(), reason="CuPy with a CUDA device is not available")])])
def xp(request, monkeypatch):
    """The array module of each backend: NumPy, the CuPy stand-in (tests/fake_cupy.py), real CuPy."""
    if request.param == "fakecupy":
        return fake_cupy.install(monkeypatch)
    if request.param == "cupy":
        import cupy
        return cupy
    return np
