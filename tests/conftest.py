import importlib.util

import numpy as np
import pytest

from numpyuq import backend
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


REAL_CUPY = pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not cupy_usable(), reason="CuPy with a CUDA device is not available")])


def array_module(name, monkeypatch):
    """The array module of backend ``name``: NumPy, the CuPy stand-in (installed as ``cupy`` until
    the test ends), or real CuPy."""
    if name == "fakecupy":
        return fake_cupy.install(monkeypatch)
    if name == "cupy":
        import cupy
        return cupy
    return np


@pytest.fixture(params=["numpy", "fakecupy", REAL_CUPY])
def xp(request, monkeypatch):
    """Each backend's array module: NumPy, the CuPy stand-in (tests/fake_cupy.py), real CuPy."""
    return array_module(request.param, monkeypatch)


@pytest.fixture(params=["fakecupy", REAL_CUPY])
def device(request, monkeypatch):
    """A device array module, for tests that compare it with NumPy; NumPy stays the default
    backend outside ``set_backend`` blocks, and is restored afterwards."""
    yield array_module(request.param, monkeypatch)
    backend.set_backend("numpy")
