"""im2col / col2im / max-pool kernels: the loops and their numba twins against the xp references."""
import numpy as np
import pytest

from numpyuq.kernels import im2col as im2col_mod
from numpyuq.kernels import pooling as pool_mod

IM2COL = {"reference": lambda x, kh, kw, s, p: im2col_mod.im2col_reference(x, kh, kw, s, p)}


def _im2col_with(fn):
    def run(x, kh, kw, s, p):
        N, C, H, W = x.shape
        oh, ow = im2col_mod.conv_output_size(H, kh, s, p), im2col_mod.conv_output_size(W, kw, s, p)
        cols = np.full((N * oh * ow, C * kh * kw), np.nan, x.dtype)
        fn(x, kh, kw, s, p, cols)
        return cols
    return run


def _col2im_with(fn):
    def run(cols, shape, kh, kw, s, p):
        dx = np.full(shape, np.nan, cols.dtype)
        fn(cols, kh, kw, s, p, dx)
        return dx
    return run


IMPLS_IM2COL = [_im2col_with(im2col_mod._im2col_loops), _im2col_with(im2col_mod._im2col_numba)]
IMPLS_COL2IM = [_col2im_with(im2col_mod._col2im_loops), _col2im_with(im2col_mod._col2im_numba)]
CASES = [((1, 1, 5, 5), 3, 3, 1, 0), ((2, 3, 7, 6), 3, 2, 2, 1), ((3, 2, 8, 9), 5, 5, 1, 2),
         ((1, 4, 6, 11), 2, 3, 2, 0), ((2, 1, 28, 28), 5, 5, 1, 0)]


def test_im2col_hand_case():
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    cols = im2col_mod.im2col(x, 2, 2, 1, 0)
    np.testing.assert_array_equal(cols, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    padded = im2col_mod.im2col(x, 2, 2, 2, 1)          # stride 2, pad 1: corners of a 5x5 padded image
    np.testing.assert_array_equal(padded, [[0, 0, 0, 0], [0, 0, 1, 2], [0, 3, 0, 6], [4, 5, 7, 8]])


@pytest.mark.parametrize("impl", IMPLS_IM2COL, ids=["loops", "numba"])
@pytest.mark.parametrize("shape, kh, kw, s, p", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_im2col_equals_reference(impl, shape, kh, kw, s, p, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(impl(x, kh, kw, s, p), im2col_mod.im2col_reference(x, kh, kw, s, p))


@pytest.mark.parametrize("impl", IMPLS_COL2IM, ids=["loops", "numba"])
@pytest.mark.parametrize("shape, kh, kw, s, p", CASES)
def test_col2im_equals_reference_and_is_the_adjoint(impl, shape, kh, kw, s, p, rng):
    x = rng.standard_normal(shape)
    cols_shape = im2col_mod.im2col_reference(x, kh, kw, s, p).shape
    c = rng.standard_normal(cols_shape)
    dx = impl(c, shape, kh, kw, s, p)
    np.testing.assert_allclose(dx, im2col_mod.col2im_reference(c, shape, kh, kw, s, p), rtol=1e-13, atol=1e-13)
    # <im2col(x), c> == <x, col2im(c)>: col2im is the transpose of the gather.
    np.testing.assert_allclose(np.vdot(im2col_mod.im2col_reference(x, kh, kw, s, p), c), np.vdot(x, dx), rtol=1e-12)
    c32 = c.astype(np.float32)
    np.testing.assert_allclose(impl(c32, shape, kh, kw, s, p),
                               im2col_mod.col2im_reference(c32, shape, kh, kw, s, p), rtol=1e-6, atol=1e-5)


def _pool_impls():
    def with_loops(fn_fwd, fn_bwd):
        def fwd(x, size, stride):
            N, C, H, W = x.shape
            oh, ow = pool_mod.pool_output_size(H, size, stride), pool_mod.pool_output_size(W, size, stride)
            y, arg = np.empty((N, C, oh, ow), x.dtype), np.empty((N, C, oh, ow), np.int8)
            fn_fwd(x, size, stride, y, arg)
            return y, arg

        def bwd(dy, arg, shape, size, stride):
            dx = np.full(shape, np.nan, dy.dtype)
            fn_bwd(dy, arg, size, stride, dx)
            return dx
        return fwd, bwd
    return [with_loops(pool_mod._maxpool_forward_loops, pool_mod._maxpool_backward_loops),
            with_loops(pool_mod._maxpool_forward_numba, pool_mod._maxpool_backward_numba)]


@pytest.mark.parametrize("impl", _pool_impls(), ids=["loops", "numba"])
@pytest.mark.parametrize("shape, size, stride", [((1, 1, 4, 4), 2, 2), ((2, 3, 7, 5), 2, 2),
                                                 ((3, 2, 9, 8), 3, 2), ((1, 20, 24, 24), 2, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maxpool_kernels_equal_reference(impl, shape, size, stride, dtype, rng):
    fwd, bwd = impl
    x = rng.standard_normal(shape).astype(dtype)
    y, arg = fwd(x, size, stride)
    y_ref, arg_ref = pool_mod.maxpool_forward_reference(x, size, stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = rng.standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(bwd(dy, arg, shape, size, stride),
                               pool_mod.maxpool_backward_reference(dy, arg_ref, shape, size, stride), rtol=1e-6)


def test_maxpool_ties_go_to_the_first_element():
    x = np.ones((1, 1, 2, 2))
    y, arg = pool_mod.maxpool_forward(x, 2, 2)
    assert arg.item() == 0
    dx = pool_mod.maxpool_backward(np.ones_like(y), arg, x.shape, 2, 2)
    np.testing.assert_array_equal(dx, [[[[1, 0], [0, 0]]]])


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 4, 5), (64, 20, 24, 24)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layout_kernels_equal_reference(shape, dtype, rng):
    from numpyuq.kernels import layout
    N, F, OH, OW = shape
    y_rows = rng.standard_normal((N * OH * OW, F)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    ref = layout.rows_to_nchw_reference(y_rows, b, N, OH, OW)
    out = np.empty((N, F, OH * OW), dtype)
    for impl in (layout._rows_to_nchw_loops, layout._rows_to_nchw_numba):
        impl(y_rows, b, out)
        np.testing.assert_array_equal(out.reshape(ref.shape), ref)
    dy = rng.standard_normal(shape).astype(dtype)
    rows_ref, db_ref = layout.nchw_to_rows_reference(dy)
    for impl in (layout._nchw_to_rows_loops, layout._nchw_to_rows_numba):
        rows, db = np.empty_like(rows_ref), np.empty(F, dtype)
        impl(dy.reshape(N, F, OH * OW), rows, db)
        np.testing.assert_array_equal(rows, rows_ref)
        # Sums of many signed terms in another order: judge the error against the sum of |terms|.
        scale = np.abs(dy).sum(axis=(0, 2, 3)).astype(np.float64)
        assert np.all(np.abs(db - db_ref) <= (1e-6 if dtype == np.float32 else 1e-14) * scale)
