"""Which implementation the layers call: numba kernels (default, NumPy arrays only) or the plain
xp references (always for CuPy; for NumPy too when ``NUMPYUQ_KERNELS=reference``, which the
benchmarks use to time the references side by side).

``NUMPYUQ_PARALLEL_KERNELS=1`` selects the ``prange``-parallel numba variants. They are off by
default: on 2 cores their thread pool and OpenBLAS's compete for the same cores.
"""
import os

import numpy as np

KERNELS = os.environ.get("NUMPYUQ_KERNELS", "numba")
PARALLEL = os.environ.get("NUMPYUQ_PARALLEL_KERNELS", "0") == "1"

if KERNELS not in ("numba", "reference"):
    raise ValueError(f"NUMPYUQ_KERNELS must be 'numba' or 'reference', got {KERNELS!r}")


def use_numba(x):
    """True when the numba kernel should handle ``x``."""
    return KERNELS == "numba" and isinstance(x, np.ndarray)
