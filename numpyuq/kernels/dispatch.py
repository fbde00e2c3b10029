"""The one rule for choosing between a numba kernel and its plain xp reference.

Every kernel module defines a readable loop function, compiles it with ``compiled`` (its numba
twin), and calls the twin only when ``use_numba(x)`` says so:

* ``NUMPYUQ_KERNELS=numba`` (default): the twin handles NumPy arrays;
* ``NUMPYUQ_KERNELS=reference``: no compiled code runs at all (the benchmarks' reference column,
  and a debugging aid beside ``NUMBA_DISABLE_JIT=1``);
* CuPy arrays always take the xp reference (numba compiles for the CPU only).

``NUMPYUQ_PARALLEL_KERNELS=1`` compiles the kernels that opt in with ``prange`` parallelism. It is off
by default: on 2 cores numba's thread pool and OpenBLAS's compete for the same cores.
"""
import os

import numba
import numpy as np

KERNELS = os.environ.get("NUMPYUQ_KERNELS", "numba")
PARALLEL = os.environ.get("NUMPYUQ_PARALLEL_KERNELS", "0") == "1"

if KERNELS not in ("numba", "reference"):
    raise ValueError(f"NUMPYUQ_KERNELS must be 'numba' or 'reference', got {KERNELS!r}")

COMPILED = []       # every numba twin made by ``compiled``, so a test can prove none ran


def compiled(loops, parallel=False):
    """The numba twin of the plain-Python loop function ``loops``.

    ``error_model="numpy"`` drops the per-element ZeroDivisionError check, which is what lets LLVM
    vectorise the loops; ``parallel`` takes effect only under ``NUMPYUQ_PARALLEL_KERNELS=1``.
    """
    twin = numba.njit(cache=True, error_model="numpy", parallel=parallel and PARALLEL)(loops)
    COMPILED.append(twin)
    return twin


def use_numba(x):
    """True when the numba twin should handle ``x``: a NumPy array, with kernels switched on."""
    return KERNELS == "numba" and isinstance(x, np.ndarray)
