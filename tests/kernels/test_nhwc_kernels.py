"""Channels-last im2col / col2im / max-pool: loops and numba twins against the xp references."""
import numpy as np
import pytest

from numpyuq.kernels import im2col_nhwc as mod
from numpyuq.kernels import pooling_nhwc as pool
from numpyuq.kernels.im2col import conv_output_size

CASES = [((1, 5, 5, 1), 3, 3, 1, 0), ((2, 7, 6, 3), 3, 2, 2, 1), ((3, 8, 9, 2), 5, 5, 1, 2),
         ((1, 6, 11, 4), 2, 3, 2, 0), ((2, 12, 12, 20), 5, 5, 1, 0), ((2, 28, 28, 1), 5, 5, 1, 0)]


def run_im2col(fn, x, kh, kw, s, p):
    N, H, W, C = x.shape
    rows = N * conv_output_size(H, kh, s, p) * conv_output_size(W, kw, s, p)
    cols = np.full((rows, kh * kw * C), np.nan, x.dtype)
    fn(x, kh, kw, s, p, cols)
    return cols


def run_col2im(fn, cols, shape, kh, kw, s, p):
    dx = np.full(shape, np.nan, cols.dtype)
    fn(cols, kh, kw, s, p, dx)
    return dx


@pytest.mark.parametrize("fn", [mod._im2col_nhwc_loops, mod._im2col_nhwc_numba], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, kh, kw, s, p", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_im2col_nhwc_equals_reference(fn, shape, kh, kw, s, p, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    expected = mod.im2col_nhwc_reference(x, kh, kw, s, p)
    np.testing.assert_array_equal(run_im2col(fn, x, kh, kw, s, p), expected)
    np.testing.assert_array_equal(mod.im2col_nhwc(x, kh, kw, s, p), expected)     # the dispatcher too


@pytest.mark.parametrize("fn", [mod._col2im_nhwc_loops, mod._col2im_nhwc_numba], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, kh, kw, s, p", CASES)
def test_col2im_nhwc_equals_reference_and_is_the_adjoint(fn, shape, kh, kw, s, p, rng):
    x = rng.standard_normal(shape)
    c = rng.standard_normal(mod.im2col_nhwc_reference(x, kh, kw, s, p).shape)
    expected = mod.col2im_nhwc_reference(c, shape, kh, kw, s, p)
    np.testing.assert_allclose(run_col2im(fn, c, shape, kh, kw, s, p), expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(mod.col2im_nhwc(c, shape, kh, kw, s, p), expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(np.vdot(mod.im2col_nhwc_reference(x, kh, kw, s, p), c), np.vdot(x, expected), rtol=1e-12)
    c32 = c.astype(np.float32)
    np.testing.assert_allclose(run_col2im(fn, c32, shape, kh, kw, s, p),
                               mod.col2im_nhwc_reference(c32, shape, kh, kw, s, p), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("fwd, bwd", [(pool._maxpool_nhwc_forward_loops, pool._maxpool_nhwc_backward_loops),
                                      (pool._maxpool_nhwc_forward_numba, pool._maxpool_nhwc_backward_numba)],
                         ids=["loops", "numba"])
@pytest.mark.parametrize("shape, size, stride", [((1, 4, 4, 1), 2, 2), ((2, 7, 5, 3), 2, 2),
                                                 ((3, 9, 8, 2), 3, 2), ((1, 24, 24, 20), 2, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_maxpool_nhwc_equals_reference(fwd, bwd, shape, size, stride, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    N, H, W, C = shape
    OH, OW = (H - size) // stride + 1, (W - size) // stride + 1
    y, arg = np.empty((N, OH, OW, C), dtype), np.empty((N, OH, OW, C), np.int8)
    fwd(x, size, stride, y, arg)
    y_ref, arg_ref = pool.maxpool_nhwc_forward_reference(x, size, stride)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = np.full(shape, np.nan, dtype)
    bwd(dy, arg, size, stride, dx)
    np.testing.assert_allclose(dx, pool.maxpool_nhwc_backward_reference(dy, arg_ref, shape, size, stride), rtol=1e-6)
