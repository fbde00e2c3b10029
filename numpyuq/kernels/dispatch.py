"""The one rule for choosing between a numba kernel and its plain xp reference.

Every kernel module defines a readable loop function, compiles it with ``compiled`` (its numba
twin), and calls the twin only when ``use_numba(x)`` says so:

* ``NUMPYUQ_KERNELS=numba`` (default): the twin handles NumPy arrays;
* ``NUMPYUQ_KERNELS=reference``: no compiled code runs at all (the benchmarks' reference column,
  and a debugging aid beside ``NUMBA_DISABLE_JIT=1``);
* CuPy arrays take the CUDA kernel of ``kernels/cuda.py`` where one exists and CuPy can compile
  (``use_cuda``), else the xp reference (numba compiles for the CPU only). The CuPy stand-in of the
  tests cannot compile, so there the references run.

``NUMPYUQ_PARALLEL_KERNELS=1`` compiles the kernels that opt in with ``prange`` parallelism. It is off
by default: on 2 cores numba's thread pool and OpenBLAS's compete for the same cores (measured 7%
slower LeNet training with ``OMP_WAIT_POLICY=passive``, far slower without it).

Compiled kernels are cached on disk in the user's cache folder (``cache_dir()``), never beside the
installed sources, which may be read-only, in a subfolder named by a digest of the kernels' sources
(``SOURCES``): numba reuses a cached function while its own file is unchanged, even when a function
it calls from another file has changed (``blas.gemm`` inside the tap classes' loops).
"""
import contextlib
import hashlib
import os
import sys

import numba
import numpy as np
import platformdirs

KERNELS = os.environ.get("NUMPYUQ_KERNELS", "numba")
PARALLEL = os.environ.get("NUMPYUQ_PARALLEL_KERNELS", "0") == "1"

if KERNELS not in ("numba", "reference"):
    raise ValueError(f"NUMPYUQ_KERNELS must be 'numba' or 'reference', got {KERNELS!r}")

COMPILED = []       # every numba twin made by ``compiled``, so a test can prove none ran


def sources_digest(folder=os.path.dirname(os.path.abspath(__file__))):
    """A short digest of every kernel module's source in ``folder``: the cache subfolder's name, so
    that a change to any kernel file compiles every twin afresh."""
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as source:
                digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


SOURCES = sources_digest()


def cache_dir():
    """Where compiled kernels are cached: ``$NUMBA_CACHE_DIR`` when set, else the user cache folder
    (``~/.cache/numpyuq/numba`` on Linux, by platformdirs)."""
    return os.environ.get("NUMBA_CACHE_DIR") or os.path.join(platformdirs.user_cache_dir("numpyuq"), "numba")


@contextlib.contextmanager
def numba_cache_dir(path):
    """Within the block, functions decorated with ``cache=True`` cache into ``path``. numba picks a
    function's cache folder when it is decorated, so the setting is restored at once and other
    numba users in the process keep theirs."""
    saved = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = path
    try:
        yield
    finally:
        numba.config.CACHE_DIR = saved


def compiled(loops, parallel=False, fastmath=False):
    """The numba twin of the plain-Python loop function ``loops``.

    ``error_model="numpy"`` drops the per-element ZeroDivisionError check, which is what lets LLVM
    vectorise the loops; ``parallel`` takes effect only under ``NUMPYUQ_PARALLEL_KERNELS=1``;
    ``nogil`` lets Python threads run twins concurrently (``benchmarks/lenet.py`` measures that).
    ``fastmath`` is numba's set of LLVM flags, for a loop that must vectorise a floating-point sum
    (``{"reassoc"}``: the sum may be reordered, which changes its rounding only).

    numba's cache key holds the signature but not ``parallel``: a serial twin cached by one process
    would be loaded by another that asked for a parallel one (and the reverse). The two kinds are
    therefore cached in separate subfolders of ``cache_dir()``, each under the sources' digest.
    """
    parallel = parallel and PARALLEL
    with numba_cache_dir(os.path.join(cache_dir(), "parallel" if parallel else "serial", SOURCES)):
        twin = numba.njit(cache=True, nogil=True, error_model="numpy", parallel=parallel, fastmath=fastmath)(loops)
    COMPILED.append(twin)
    return twin


def use_numba(x):
    """True when the numba twin should handle ``x``: a NumPy array, with kernels switched on."""
    return KERNELS == "numba" and isinstance(x, np.ndarray)


def use_cuda(x):
    """True when a CUDA kernel should handle ``x``: a CuPy array, kernels switched on, and a CuPy
    that compiles kernels (real CuPy has ``ElementwiseKernel``; the tests' stand-in does not)."""
    cupy = sys.modules.get("cupy")
    return (KERNELS == "numba" and cupy is not None and isinstance(x, cupy.ndarray)
            and hasattr(cupy, "ElementwiseKernel"))


# ---- argument checks every dispatching entry point runs first ---------------------------------
# A compiled loop trusts its arguments: a negative padding or an oversized window would read out
# of bounds or return an empty array, where the xp reference raises or crops. Checking before the
# dispatch makes both paths give the same error on every invalid input.
def check_arrays(*arrays, ndim, names):
    """Each array has rank ``ndim`` and one floating dtype (float32 or float64) shared by all.

    Called on every kernel call, so it is written for speed: dtype.char and identity tests (numpy
    keeps one dtype object per type) instead of dtype comparisons (measured 3% of a DeepResNet step).
    """
    first = getattr(arrays[0], "dtype", None)
    for array, name in zip(arrays, names):
        if getattr(array, "ndim", None) != ndim:
            raise ValueError(f"{name} must have {ndim} dimensions, got shape {getattr(array, 'shape', None)}")
        dtype = array.dtype
        if dtype.char not in "fd":
            raise TypeError(f"{name} must be float32 or float64, got dtype {dtype}")
        if dtype is not first and dtype != first:
            raise TypeError(f"{name} must have dtype {first} like {names[0]}, got {dtype}")


def check_window(height, width, kernel_h, kernel_w, stride, padding):
    """Integer window >= 1, stride >= 1, padding >= 0, and a window that fits the padded image."""
    for name, value, low in (("kernel height", kernel_h, 1), ("kernel width", kernel_w, 1),
                             ("stride", stride, 1), ("padding", padding, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if height + 2 * padding < kernel_h or width + 2 * padding < kernel_w:
        raise ValueError(f"a {kernel_h} x {kernel_w} window does not fit a {height} x {width} image "
                         f"with padding {padding}")


def check_shape(array, shape, name):
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(array.shape)}")


def check_out(out, shape, dtype, name="out"):
    """An output buffer a kernel may write: a C-contiguous array of ``shape`` and ``dtype``."""
    if not getattr(getattr(out, "flags", None), "c_contiguous", False):
        raise ValueError(f"{name} must be a C-contiguous array, got {type(out).__name__}")
    check_shape(out, shape, name)
    if out.dtype != dtype:
        raise TypeError(f"{name} must have dtype {dtype}, got {out.dtype}")
