"""Array backend: NumPy by default, CuPy on request. The backend decides here, in one place.

Layer code never branches on the library. It asks ``xp = get_array_module(x)`` and uses only
operations NumPy and CuPy share; the few that differ (special functions, triangular solves) are
chosen here by ``special(x)`` and ``scipy_linalg(x)``. ``set_backend`` (or the environment variable
``NUMPYUQ_BACKEND``) decides only where *new* arrays (parameters, buffers) are allocated;
``Module.to`` moves a built model. Importing numpyuq never imports CuPy.

Random numbers are drawn on the host, by NumPy Generators seeded as everywhere else, and copied to
the device in one transfer: a seed gives the same model on every backend. Dropout masks are hashed
on the device (``kernels/dropout_mask.py``). ``to_numpy`` is the one way back to the host, used
only where scikit-learn, a plot or a file needs host memory.
"""
import os
import sys

import numpy as np

_BACKENDS = ("numpy", "cupy")
_current = None             # None: not decided yet; NUMPYUQ_BACKEND is read on first use


def _require_cupy():
    try:
        import cupy  # noqa: F401  (imported only when asked for)
    except ImportError as err:
        raise ImportError("backend 'cupy' needs CuPy and a CUDA GPU: pip install 'numpyuq[gpu]' "
                          "(or cupy-cuda12x directly; see https://docs.cupy.dev/en/stable/install.html)") from err


def set_backend(name):
    """Allocate new parameters and buffers with NumPy (``"numpy"``) or CuPy (``"cupy"``)."""
    global _current
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    if name == "cupy":
        _require_cupy()
    _current = name


def get_backend():
    """Name of the backend new arrays are allocated with: ``"numpy"`` or ``"cupy"``. The first call
    reads ``NUMPYUQ_BACKEND`` (default ``"numpy"``)."""
    if _current is None:
        name = os.environ.get("NUMPYUQ_BACKEND", "numpy")
        if name not in _BACKENDS:
            raise ValueError(f"NUMPYUQ_BACKEND must be one of {_BACKENDS}, got {name!r}")
        set_backend(name)
    return _current


def module_named(name):
    """The array module of backend ``name``: ``numpy`` or ``cupy``."""
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    if name == "cupy":
        _require_cupy()
        return sys.modules["cupy"]
    return np


def xp():
    """The array module of the current backend (``numpy`` or ``cupy``)."""
    return module_named(get_backend())


def is_cupy_array(x):
    """True for a ``cupy.ndarray``, decided without importing CuPy."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def get_array_module(x):
    """``cupy`` for a CuPy array, else ``numpy``: the module the math on ``x`` must use."""
    if is_cupy_array(x):
        return sys.modules["cupy"]
    return np


def asarray(x, dtype=None):
    """``x`` as an array of the current backend (copies host data to the GPU under CuPy)."""
    return xp().asarray(x, dtype=dtype)


def array_in(x, module, dtype=None):
    """``x`` as an array of ``module`` (``numpy`` or ``cupy``): to the device by ``cupy.asarray``,
    to the host by ``to_numpy``."""
    if module is np:
        return np.asarray(to_numpy(x), dtype=dtype)
    return module.asarray(x, dtype=dtype)


def to_numpy(x):
    """``x`` as a NumPy array: the one way from the device to the host (a copy under CuPy)."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)


def special(x):
    """``scipy.special`` or ``cupyx.scipy.special``, whichever matches ``x``'s library."""
    if is_cupy_array(x):
        import cupyx.scipy.special
        return cupyx.scipy.special
    import scipy.special
    return scipy.special


def scipy_linalg(x):
    """``scipy.linalg`` or ``cupyx.scipy.linalg`` (for ``solve_triangular``), matching ``x``'s library."""
    if is_cupy_array(x):
        import cupyx.scipy.linalg
        return cupyx.scipy.linalg
    import scipy.linalg
    return scipy.linalg
