"""NCHW max pooling: the loops and their numba twins against the xp reference."""
import numpy as np
import pytest

from numpyuq.kernels import pooling as pool_mod


def _impls():
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


@pytest.mark.parametrize("impl", _impls(), ids=["loops", "numba"])
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
