"""The fused bias + ReLU + max-pool epilogue: its loops and their numba twins against the xp
reference, on hand-picked and generated shapes (odd sizes crop the last row and column)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyuq.kernels import bias_relu_pool as brp


@pytest.mark.parametrize("fwd, bwd", [(brp._bias_relu_pool_loops, brp._relu_pool_backward_loops),
                                      (brp._bias_relu_pool_numba, brp._relu_pool_backward_numba)],
                         ids=["loops", "numba"])
@pytest.mark.parametrize("shape, size", [((1, 4, 4, 1), 2), ((2, 7, 5, 3), 2), ((2, 9, 8, 2), 3),
                                         ((3, 24, 24, 20), 2), ((2, 5, 5, 4), 1)])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loops_equal_the_reference(fwd, bwd, shape, size, relu, dtype, rng):
    z = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[3]).astype(dtype)
    N, OH, OW, F = shape
    p, arg = np.empty((N, OH // size, OW // size, F), dtype), np.empty((N, OH // size, OW // size, F), np.int8)
    fwd(z, b, size, relu, p, arg)
    p_ref, arg_ref = brp.bias_relu_pool_reference(z, b, size, relu)
    np.testing.assert_array_equal(p, p_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dp = rng.standard_normal(p.shape).astype(dtype)
    dz, db = np.full(shape, np.nan, dtype), np.empty(F, dtype)
    bwd(dp, arg, p, size, relu, dz, db)
    dz_ref, db_ref = brp.relu_pool_backward_reference(dp, arg_ref, p_ref, shape, size, relu)
    np.testing.assert_array_equal(dz.reshape(-1, F), dz_ref)
    np.testing.assert_allclose(db, db_ref, rtol=1e-5)


def test_it_is_bias_then_relu_then_pool():
    """act(b + max z) equals max-pooling of act(z + b): the layer order it replaces."""
    rng = np.random.default_rng(0)
    z, b = rng.standard_normal((2, 6, 6, 3)), rng.standard_normal(3)
    p, _ = brp.bias_relu_pool_forward(z, b, 2)
    unfused = np.maximum(z + b, 0).reshape(2, 3, 2, 3, 2, 3).max(axis=(2, 4))
    np.testing.assert_array_equal(p, unfused)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 3), st.booleans())
def test_generated_shapes_match_the_reference(n, h, w, f, size, relu):
    if min(h, w) < size:
        return
    rng = np.random.default_rng(n * 1000 + h * 100 + w * 10 + f)
    z, b = rng.standard_normal((n, h, w, f)), rng.standard_normal(f)
    p, arg = brp.bias_relu_pool_forward(z, b, size, relu)
    p_ref, arg_ref = brp.bias_relu_pool_reference(z, b, size, relu)
    np.testing.assert_array_equal(p, p_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    dp = rng.standard_normal(p.shape)
    dz, db = brp.relu_pool_backward(dp, arg, p, z.shape, size, relu)
    dz_ref, db_ref = brp.relu_pool_backward_reference(dp, arg_ref, p_ref, z.shape, size, relu)
    np.testing.assert_array_equal(dz, dz_ref)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="pool size must be an integer >= 1"):
        brp.bias_relu_pool_forward(np.zeros((1, 4, 4, 2)), np.zeros(2), 0)
    with pytest.raises(ValueError, match="does not fit a 2 x 2 map"):
        brp.bias_relu_pool_forward(np.zeros((1, 2, 2, 2)), np.zeros(2), 3)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        brp.bias_relu_pool_forward(np.zeros((1, 4, 4, 2)), np.zeros(3), 2)


@pytest.mark.parametrize("loops", [brp._bias_relu_max_loops, brp._bias_relu_max_numba], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, size, relu", [((2, 7, 5, 3), 2, True), ((3, 24, 24, 20), 2, False),
                                               ((1, 9, 8, 2), 3, True)])
def test_the_inference_kernel_gives_the_same_output_without_winners(loops, shape, size, relu, rng):
    z = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape[3]).astype(np.float32)
    p = np.empty((shape[0], shape[1] // size, shape[2] // size, shape[3]), np.float32)
    loops(z, b, size, relu, p)
    np.testing.assert_array_equal(p, brp.bias_relu_pool_reference(z, b, size, relu)[0])
    assert brp.bias_relu_pool_forward(z, b, size, relu, with_argmax=False)[1] is None
