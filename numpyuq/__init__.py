"""numpyuq: uncertainty quantification for deep classifiers in pure NumPy, every backward pass by hand.

``import numpyuq as nq`` is cheap: the subpackages (``nq.nn``, ``nq.models``, ``nq.losses``, ...) are
imported the first time they are used (PEP 562), so the command line and scripts that need one
piece do not pay for numba, scipy and matplotlib of the others.
"""
import importlib

from .backend import get_array_module, get_backend, set_backend, to_numpy

__version__ = "0.1.0"
SUBMODULES = ("backend", "data", "evaluation", "experiments", "gradcheck", "io", "kernels", "losses",
              "metrics", "models", "nn", "optim", "plotting", "seeding", "callbacks", "training", "uncertainty",
              "validation")
__all__ = ["set_backend", "get_backend", "get_array_module", "to_numpy", "__version__", *SUBMODULES]


def __getattr__(name):
    """``numpyuq.<subpackage>`` on first use (PEP 562)."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'numpyuq' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBMODULES))
