"""A matrix product that compiled loops can call: NumPy's own BLAS GEMM, reached from numba.

A layer that runs many small products (one per tap class of ``kernels/conv_tap_classes.py``) spends
its time between them in Python when NumPy makes each one, and threads that share a process take
turns at the interpreter there: ``fit``'s two threads each ran such a layer a fifth to a third
slower than one thread alone, where two processes lost nothing. Called from inside one compiled loop, the products
need the interpreter once for the whole layer.

The plain version is the product itself:

    gemm(address, a, b, out):   out = a @ b          (a: (m, k), b: (k, n), out: (m, n))

which ``gemm`` runs with ``np.matmul`` when called from Python. Inside a numba twin it calls the
``cblas_?gemm`` function at ``address`` with the arguments ``np.matmul`` would pass it, wherever
``np.matmul`` would call it (two matrices, every side at least 2, operands BLAS reads as they are or
transposed, a row-major output, and not a matrix times its own transpose); the rest (vectors, which
NumPy gives to ``?gemv`` or ``?dot``, empty sides, other strides, ``?syrk``) it hands to
``np.matmul`` itself, taking the interpreter's lock for it. So the result is the same to the bit
on every input (tested), and BLAS's thread settings (``threadpoolctl``, ``OPENBLAS_NUM_THREADS``)
apply to it as to NumPy's products. numba's own ``np.dot`` calls SciPy's copy of BLAS instead: a
second pool of BLAS threads, which spun against NumPy's on 2 cores and made a plain training loop
almost three times slower (measured).

``gemm_address(dtype)`` finds the function in the BLAS that NumPy loaded (``numpy_blas_path``):
``cblas_sgemm`` / ``cblas_dgemm`` under the names that OpenBLAS builds give it (NumPy's wheels:
``scipy_cblas_sgemm64_``).
Every integer goes over as a 64-bit register or stack slot, right for both 32- and 64-bit-integer
BLAS on x86-64 and on Linux's arm64, where the callee reads a 32-bit integer from the low half; the
address is used only on those machines and only after one small product agrees with ``np.matmul``.
Elsewhere it is 0, and callers run their plain NumPy path.
"""
import ctypes
import functools
import os
import platform
import sys

import numpy as np
from llvmlite import ir
from numba import objmode, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload, register_jitable

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112          # the CBLAS enumerations
NAMES = {"f": "sgemm", "d": "dgemm"}


def gemm(address, a, b, out):
    """out = a @ b for 2-D float arrays a (m, k), b (k, n), out (m, n) of one dtype. From Python:
    ``np.matmul``; inside compiled loops: the BLAS function at ``address`` (``gemm_address``) where
    ``np.matmul`` would call it, the same product to the bit."""
    np.matmul(a, b, out=out)


@overload(gemm)
def _gemm_compiled(address, a, b, out):
    arrays = (a, b, out)
    if not all(isinstance(t, types.Array) and t.ndim == 2 for t in arrays) or \
            not a.dtype == b.dtype == out.dtype or out.dtype not in (types.float32, types.float64):
        raise TypingError(f"gemm takes three 2-D float32 or float64 arrays of one dtype, got {arrays}")

    def impl(address, a, b, out):
        m, n, p = a.shape[0], a.shape[1], b.shape[1]
        if b.shape[0] != n or out.shape[0] != m or out.shape[1] != p:
            raise ValueError("gemm: a (m, k), b (k, n) and out (m, n) do not match")
        if _numpy_calls_gemm(a, b, out):
            trans_a, ld_a = _operand(a)
            trans_b, ld_b = _operand(b)
            _cblas_gemm(address, trans_a, trans_b, m, p, n, a, ld_a, b, ld_b, out, out.strides[0] // out.itemsize)
        else:
            # A vector, an empty side, a strided or transposed output, or a times its own transpose:
            # NumPy runs ?gemv, ?dot, ?syrk or loops of its own. Rare in the loops (a class of one
            # output position of one image): NumPy itself computes it, with the interpreter's lock.
            with objmode():
                np.matmul(a, b, out=out)
    return impl


@register_jitable
def _blasable(m, transposed):
    """NumPy's test of whether BLAS reads m (or m^T, when ``transposed``) as a row-major matrix:
    unit steps along a row, and rows at least a row's length apart."""
    along, across = (m.strides[0], m.strides[1]) if transposed else (m.strides[1], m.strides[0])
    length = m.shape[0] if transposed else m.shape[1]
    return along == m.itemsize and across % m.itemsize == 0 and across // m.itemsize >= length


@register_jitable
def _numpy_calls_gemm(a, b, out):
    """Whether ``np.matmul(a, b, out=out)`` calls ?gemm on these arrays as they are: every side at
    least 2, both operands readable by BLAS as they are or transposed, a row-major output, and not
    a matrix times its own transpose (NumPy's ?syrk)."""
    if a.shape[0] < 2 or a.shape[1] < 2 or b.shape[1] < 2 or not _blasable(out, False):
        return False
    if not (_blasable(a, False) or _blasable(a, True)) or not (_blasable(b, False) or _blasable(b, True)):
        return False
    return not (a.ctypes.data == b.ctypes.data and a.shape[0] == b.shape[1] and a.strides[0] == b.strides[1]
                and a.strides[1] == b.strides[0] and _blasable(a, False) != _blasable(b, False))


@register_jitable
def _operand(m):
    """(transposed?, leading dimension) of an operand as NumPy passes it to ?gemm."""
    if _blasable(m, False):
        return NO_TRANS, m.strides[0] // m.itemsize
    return TRANS, m.strides[1] // m.itemsize


@intrinsic
def _cblas_gemm(typingctx, address, trans_a, trans_b, m, n, k, a, ld_a, b, ld_b, c, ld_c):
    """cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, 1, a, ld_a, b, ld_b, 0, c, ld_c), called
    through the function pointer ``address`` with every integer widened to 64 bits."""
    signature = types.void(address, trans_a, trans_b, m, n, k, a, ld_a, b, ld_b, c, ld_c)

    def codegen(context, builder, sig, args):
        address, trans_a, trans_b, m, n, k, a, ld_a, b, ld_b, c, ld_c = args
        i64 = ir.IntType(64)
        real = context.get_value_type(sig.args[10].dtype)
        pointer = real.as_pointer()
        function = ir.FunctionType(ir.VoidType(), [i64] * 6 + [real, pointer, i64, pointer, i64, real, pointer, i64])

        def widen(value):
            return builder.sext(value, i64) if value.type.width < 64 else value

        def data(value, ty):
            return context.make_array(ty)(context, builder, value).data
        builder.call(builder.inttoptr(address, function.as_pointer()),
                     [ir.Constant(i64, ROW_MAJOR), widen(trans_a), widen(trans_b), widen(m), widen(n), widen(k),
                      ir.Constant(real, 1.0), data(a, sig.args[6]), widen(ld_a), data(b, sig.args[8]), widen(ld_b),
                      ir.Constant(real, 0.0), data(c, sig.args[10]), widen(ld_c)])
        return context.get_dummy_value()
    return signature, codegen


def supported_machine():
    """Whether every integer argument may go over as 64 bits (see the module's docstring)."""
    machine = platform.machine().lower()
    return machine in ("x86_64", "amd64") or (machine in ("aarch64", "arm64") and sys.platform.startswith("linux"))


@functools.lru_cache(maxsize=None)
def gemm_address(dtype):
    """The address of NumPy's BLAS ``cblas_?gemm`` for float32 / float64 (0 when not found, not on a
    supported machine, or when a small product through it disagrees with ``np.matmul``)."""
    name = NAMES.get(np.dtype(dtype).char)
    if name is None or not supported_machine():
        return 0
    path = numpy_blas_path()
    if path is None:
        return 0
    library = ctypes.CDLL(path)
    for candidate in (f"scipy_cblas_{name}64_", f"cblas_{name}64_", f"cblas_{name}_64", f"cblas_{name}"):
        function = getattr(library, candidate, None)
        if function is not None:
            address = ctypes.cast(function, ctypes.c_void_p).value
            return address if agrees_with_matmul(address, dtype) else 0
    return 0


def numpy_blas_path():
    """The file of the BLAS library NumPy calls (``threadpoolctl`` lists the loaded ones): the one in
    NumPy's folder or the ``numpy.libs`` beside it (pip wheels, whose SciPy brings a second BLAS),
    else the only one loaded (a system or conda BLAS shared by all); None when that is unclear."""
    from threadpoolctl import threadpool_info
    paths = [info["filepath"] for info in threadpool_info() if info.get("user_api") == "blas"]
    numpy_folder = os.path.dirname(os.path.abspath(np.__file__))
    own = [path for path in paths if os.path.abspath(path).startswith((numpy_folder + os.sep, numpy_folder + ".libs"))]
    if len(own) == 1:
        return own[0]
    return paths[0] if len(set(paths)) == 1 else None


def agrees_with_matmul(address, dtype):
    """A product of each transposition of the operands through ``address`` against ``np.matmul``,
    to the bit."""
    from .dispatch import compiled
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((3, 4)).astype(dtype)
    lefts, rights = (a, np.ascontiguousarray(a.T).T), (b, np.ascontiguousarray(b.T).T)
    got = np.full((4, 5, 4), np.nan, dtype)
    products = compiled(_products_loops)
    products(address, *lefts, *rights, got)
    return all(np.array_equal(got[2 * i + j], left @ right)
               for i, left in enumerate(lefts) for j, right in enumerate(rights))


def _products_loops(address, a, a_transposed, b, b_transposed, out):
    """out[0 .. 3] = a b for each pair of (a, its transposed copy) and (b, its transposed copy)."""
    gemm(address, a, b, out[0])
    gemm(address, a, b_transposed, out[1])
    gemm(address, a_transposed, b, out[2])
    gemm(address, a_transposed, b_transposed, out[3])
