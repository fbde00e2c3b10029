"""NumPy's GEMM from compiled loops: found, checked, and the same to the bit as np.matmul for every
transposition of the operands; 0 (and the callers' plain path) where it cannot be used."""
import numba
import numpy as np
import pytest

from numpyuq.kernels import blas

needs_blas = pytest.mark.skipif(not blas.supported_machine(), reason="no compiled GEMM on this machine")


@numba.njit
def product(address, a, b, out):
    blas.gemm(address, a, b, out)


def operand(rng, shape, transposed, dtype):
    """A C-contiguous matrix of ``shape``, or the transposed view of one (what the loops pass)."""
    if transposed:
        return np.ascontiguousarray(rng.standard_normal(shape[::-1]).astype(dtype)).T
    return rng.standard_normal(shape).astype(dtype)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(7, 5, 3), (64, 400, 120), (2, 1, 9), (33, 17, 2)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_compiled_gemm_is_matmul_to_the_bit(rng, dtype, m, k, n, trans_a, trans_b):
    address = blas.gemm_address(dtype)
    assert address != 0
    a, b = operand(rng, (m, k), trans_a, dtype), operand(rng, (k, n), trans_b, dtype)
    out = np.full((m, n), np.nan, dtype)
    product(address, a, b, out)
    assert product.signatures                                   # the compiled path ran
    np.testing.assert_array_equal(out, np.matmul(a, b))


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(1, 7, 5), (6, 7, 1), (1, 9, 1), (5, 1, 4), (1, 1, 3), (0, 3, 4), (3, 0, 4)])
def test_vectors_and_empty_sides_are_matmuls_own_results(rng, dtype, m, k, n):
    """Where np.matmul runs ?gemv, ?dot or loops of its own, the compiled path gives its result."""
    address = blas.gemm_address(dtype)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    product(address, a, b, out)
    np.testing.assert_array_equal(out, np.matmul(a, b))


@needs_blas
def test_a_matrix_times_its_transpose_is_matmuls_own_result(rng):
    """np.matmul(a, a.T) runs ?syrk and mirrors a triangle; the compiled path gives the same."""
    address = blas.gemm_address(np.float32)
    a = rng.standard_normal((6, 40)).astype(np.float32)
    out = np.full((6, 6), np.nan, np.float32)
    product(address, a, a.T, out)
    np.testing.assert_array_equal(out, np.matmul(a, a.T))


@needs_blas
def test_compiled_gemm_writes_into_a_view_of_a_flat_buffer(rng):
    """The loops' buffers are the front of a flat array: only that front is written."""
    address = blas.gemm_address(np.float64)
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 5))
    buffer = np.full(40, -1.0)
    product(address, a, b, buffer[:20].reshape(4, 5))
    np.testing.assert_array_equal(buffer[:20].reshape(4, 5), a @ b)
    assert (buffer[20:] == -1).all()


def test_plain_gemm_is_matmul(rng):
    a, b, out = rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), np.empty((3, 5))
    blas.gemm(0, a, b.T, out)
    np.testing.assert_array_equal(out, a @ b.T)


def test_no_address_on_other_machines_or_dtypes(monkeypatch):
    blas.gemm_address.cache_clear()
    try:
        monkeypatch.setattr(blas, "supported_machine", lambda: False)
        assert blas.gemm_address(np.float32) == 0
    finally:
        blas.gemm_address.cache_clear()
    assert blas.gemm_address(np.int64) == 0
    assert blas.gemm_address(np.complex64) == 0


@needs_blas
def test_the_found_function_agrees_with_matmul():
    for dtype in (np.float32, np.float64):
        assert blas.agrees_with_matmul(blas.gemm_address(dtype), dtype)


def test_numpys_own_blas_is_chosen_among_the_loaded_ones(monkeypatch):
    import os

    import threadpoolctl
    numpy_libs = os.path.dirname(os.path.abspath(np.__file__)) + ".libs"
    loaded = []
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: [dict(user_api="blas", filepath=p) for p in loaded])
    loaded[:] = ["/site/scipy.libs/libopenblas.so", numpy_libs + "/libopenblas64_.so"]
    assert blas.numpy_blas_path() == numpy_libs + "/libopenblas64_.so"          # pip wheels: NumPy's own
    loaded[:] = ["/usr/lib/libblas.so.3", "/usr/lib/libblas.so.3"]
    assert blas.numpy_blas_path() == "/usr/lib/libblas.so.3"                    # one BLAS shared by all
    loaded[:] = ["/usr/lib/libblas.so.3", "/opt/other/libopenblas.so"]
    assert blas.numpy_blas_path() is None                                       # unclear: no compiled GEMM
    loaded[:] = []
    assert blas.numpy_blas_path() is None


@needs_blas
def test_compiled_gemm_takes_what_matmul_takes(rng):
    """Mismatched shapes raise on both paths; strided operands and outputs give matmul's product."""
    address = blas.gemm_address(np.float64)
    a, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 5))
    for bad in ((a, b[:5], np.empty((4, 5))), (a, b, np.empty((4, 4)))):
        for path in (blas.gemm, product):
            with pytest.raises(ValueError):
                path(address, *bad)
    out = np.full((4, 10), np.nan)
    for left, right, target in ((a[:, ::2], b[:3], out[:, :5]), (a[::-1], b, out[:, ::2]), (a, b[:, ::-1], out[:, 5:])):
        product(address, left, right, target)
        np.testing.assert_array_equal(target, left @ right)
    with pytest.raises(numba.core.errors.TypingError, match="one dtype"):
        product(address, a.astype(np.float32), b, np.empty((4, 5)))
