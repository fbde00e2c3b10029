"""numpyuq: uncertainty quantification for deep classifiers in pure NumPy, every backward pass by hand."""
from .backend import get_array_module, get_backend, set_backend, to_numpy

__version__ = "0.1.0"
__all__ = ["set_backend", "get_backend", "get_array_module", "to_numpy", "__version__"]
