"""Array backend: NumPy by default, CuPy on request.

Layer code never branches on the library. It asks ``xp = get_array_module(x)`` and uses only
operations NumPy and CuPy share; ``set_backend`` decides only where *new* arrays (parameters,
buffers) are allocated. Importing numpyuq never imports CuPy.
"""
import sys

import numpy as np

_BACKENDS = ("numpy", "cupy")
_current = "numpy"


def set_backend(name):
    """Allocate new parameters and buffers with NumPy (``"numpy"``) or CuPy (``"cupy"``)."""
    global _current
    if name not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {name!r}")
    if name == "cupy":
        try:
            import cupy  # noqa: F401  (imported only when asked for)
        except ImportError as err:
            raise ImportError("backend 'cupy' needs CuPy: pip install 'numpyuq[gpu]'") from err
    _current = name


def get_backend():
    """Name of the backend new arrays are allocated with: ``"numpy"`` or ``"cupy"``."""
    return _current


def xp():
    """The array module of the current backend (``numpy`` or ``cupy``)."""
    if _current == "cupy":
        import cupy
        return cupy
    return np


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


def to_numpy(x):
    """``x`` as a NumPy array (copies device data to the host under CuPy)."""
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
