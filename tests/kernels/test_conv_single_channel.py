"""Direct single-channel convolution: the loops (plain Python) and their numba twins against the
plain pair, the plain pair against im2col + GEMM, and the same errors on both paths."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpyuq.kernels import conv_single_channel as mod
from numpyuq.kernels.conv_gemm import im2col_gemm_reference
from numpyuq.kernels.im2col_nhwc import im2col_nhwc_reference

CASES = [((2, 6, 7), 3, 3, 3, 0), ((1, 5, 5), 2, 5, 5, 2), ((3, 8, 6), 4, 2, 3, 1), ((1, 4, 9), 1, 1, 1, 0),
         ((2, 9, 9), 6, 5, 5, 2)]


def run_loops(x, w, padding, compiled):
    """What the dispatcher does, with the plain loops or their twins."""
    N, H, W = x.shape
    F, KH, KW = w.shape
    OH, OW = mod.output_size(H, W, KH, KW, padding)
    xpad, L = mod.padded_for_loops(x, KH, KW, padding), mod.plane_length(H, W, KH, KW, padding)
    forward = mod.twins(KH, KW)[0] if compiled else mod._forward_loops(KH, KW)
    weights = mod.twins(KH, KW)[1] if compiled else mod._weights_loops(KH, KW)
    z = np.full((N * OH * OW, F), np.nan, x.dtype)
    forward(xpad, OH, OW, w, z, np.full((F, L), np.nan, x.dtype), np.zeros(0, np.int8), False)
    dz = np.cos(np.arange(z.size, dtype=x.dtype)).reshape(z.shape)
    dw = np.full(w.shape, np.nan, x.dtype)
    weights(xpad, OH, OW, dz, np.zeros(0, np.int8), dw, np.zeros((F, L), x.dtype))
    return z, dz, dw


@pytest.mark.parametrize("compiled", [False, True], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loops_equal_the_plain_pair(rng, compiled, shape, F, KH, KW, padding, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((F, KH, KW)).astype(dtype)
    z, dz, dw = run_loops(x, w, padding, compiled)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(z, mod.conv_single_channel_reference(x, w, padding), rtol=tol, atol=tol)
    np.testing.assert_allclose(dw, mod.conv_single_channel_weights_reference(x, dz, KH, KW, padding),
                               rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("shape, F, KH, KW, padding", CASES)
def test_plain_pair_is_im2col_times_the_kernel(rng, shape, F, KH, KW, padding):
    """The direct formulas compute what the im2col GEMM computes: z = cols w^T, dw = dz^T cols."""
    x = rng.standard_normal(shape)
    w = rng.standard_normal((F, KH, KW))
    cols, z = im2col_gemm_reference(x[..., None], w.reshape(F, -1), KH, KW, 1, padding)
    np.testing.assert_allclose(mod.conv_single_channel_reference(x, w, padding), z, rtol=1e-12, atol=1e-12)
    dz = rng.standard_normal(z.shape)
    np.testing.assert_allclose(mod.conv_single_channel_weights_reference(x, dz, KH, KW, padding).reshape(F, -1),
                               dz.T @ cols, rtol=1e-12, atol=1e-12)


def test_dispatchers_run_the_twins(monkeypatch, rng):
    from numpyuq.kernels import dispatch
    if dispatch.KERNELS == "reference":
        pytest.skip("NUMPYUQ_KERNELS=reference: the dispatcher runs no compiled code to test")
    calls = []
    real = mod.twins

    def counted(KH, KW):
        calls.append((KH, KW))
        return real(KH, KW)
    monkeypatch.setattr(mod, "twins", counted)
    x, w = rng.standard_normal((3, 10, 9)), rng.standard_normal((4, 5, 3))
    z = mod.conv_single_channel(x, w, 2)
    dz = rng.standard_normal(z.shape)
    dw = mod.conv_single_channel_weights(x, dz, 5, 3, 2)
    assert calls == [(5, 3), (5, 3)] and all(hasattr(t, "signatures") for t in real(5, 3))
    np.testing.assert_allclose(z, mod.conv_single_channel_reference(x, w, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, mod.conv_single_channel_weights_reference(x, dz, 5, 3, 2), rtol=1e-12)


@pytest.mark.slow                     # compiles a pair of twins for each kernel size drawn
@settings(max_examples=25, deadline=None)
@given(N=st.integers(1, 3), H=st.integers(1, 11), W=st.integers(1, 11), F=st.integers(1, 4),
       KH=st.integers(1, 5), KW=st.integers(1, 5), padding=st.integers(0, 2))
def test_dispatchers_equal_the_plain_pair_on_any_geometry(N, H, W, F, KH, KW, padding):
    if H + 2 * padding < KH or W + 2 * padding < KW:
        return
    rng = np.random.default_rng(H * 100 + W)
    x, w = rng.standard_normal((N, H, W)), rng.standard_normal((F, KH, KW))
    z = mod.conv_single_channel(x, w, padding)
    np.testing.assert_allclose(z, mod.conv_single_channel_reference(x, w, padding), rtol=1e-12, atol=1e-12)
    dz = rng.standard_normal(z.shape)
    np.testing.assert_allclose(mod.conv_single_channel_weights(x, dz, KH, KW, padding),
                               mod.conv_single_channel_weights_reference(x, dz, KH, KW, padding),
                               rtol=1e-11, atol=1e-11)


def test_extreme_values_stay_finite_and_agree(rng):
    """float32 near its largest: products overflow nowhere the reference does not."""
    x = (rng.uniform(-1, 1, (2, 7, 7)) * 1e18).astype(np.float32)
    w = (rng.uniform(-1, 1, (3, 3, 3)) * 1e18).astype(np.float32)
    z = mod.conv_single_channel(x, w, 1)
    assert np.isfinite(z).all()
    np.testing.assert_allclose(z, mod.conv_single_channel_reference(x, w, 1), rtol=1e-4)


def test_non_finite_pixels_give_the_plain_pairs_results(rng):
    """An infinite pixel in the first column: the weight taps that never read it stay finite."""
    x, w = rng.standard_normal((2, 6, 6)), rng.standard_normal((2, 3, 3))
    x[1, 2, 0], x[0, 4, 5] = np.inf, np.nan
    z = mod.conv_single_channel(x, w, 0)
    np.testing.assert_allclose(z, mod.conv_single_channel_reference(x, w, 0), rtol=1e-12)
    dz = rng.standard_normal(z.shape)
    dw = mod.conv_single_channel_weights(x, dz, 3, 3, 0)
    np.testing.assert_allclose(dw, mod.conv_single_channel_weights_reference(x, dz, 3, 3, 0), rtol=1e-12)
    assert np.isfinite(dw).any() and not np.isfinite(dw).all()


@pytest.mark.parametrize("kernels", ["numba", "reference"])
def test_bad_arguments_give_the_same_errors_on_both_paths(monkeypatch, rng, kernels):
    from numpyuq.kernels import dispatch
    monkeypatch.setattr(dispatch, "KERNELS", kernels)
    x, w = rng.standard_normal((2, 6, 6)), rng.standard_normal((3, 3, 3))
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        mod.conv_single_channel(x[..., None], w)
    with pytest.raises(TypeError, match="w must have dtype float64"):
        mod.conv_single_channel(x, w.astype(np.float32))
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        mod.conv_single_channel(x, w, -1)
    with pytest.raises(ValueError, match="window does not fit"):
        mod.conv_single_channel(x[:, :2], w)
    dz = rng.standard_normal((2 * 16, 3))
    with pytest.raises(ValueError, match=r"dz must have shape \(32, 3\)"):
        mod.conv_single_channel_weights(x, dz[:-1], 3, 3)
    with pytest.raises(TypeError, match="dz must have dtype float64"):
        mod.conv_single_channel_weights(x, dz.astype(np.float32), 3, 3)
    with pytest.raises(ValueError, match="kernel width must be an integer >= 1"):
        mod.conv_single_channel_weights(x, dz, 3, 0)


def test_padded_loop_input_keeps_every_read_inside_its_image():
    """The rows added below each image cover the loops' reads past the last output pixel."""
    for H, W, KH, KW, padding in ((28, 28, 5, 5, 2), (24, 24, 5, 5, 0), (1, 9, 1, 3, 0), (5, 5, 5, 5, 0)):
        x = np.zeros((1, H, W))
        xpad = mod.padded_for_loops(x, KH, KW, padding)
        WP = W + 2 * padding
        assert xpad.shape[2] == WP and xpad.shape[1] >= H + 2 * padding
        last_read = (KH - 1) * WP + KW - 1 + mod.plane_length(H, W, KH, KW, padding) - 1
        assert last_read < xpad.shape[1] * WP
        assert mod.plane_length(H, W, KH, KW, padding) % mod.STEP == 0


def test_im2col_rows_match_the_direct_output_order(rng):
    """z's rows are (n, oh, ow) like im2col's, so pooling and the bias run on either alike."""
    x = rng.standard_normal((2, 5, 4))
    w = np.zeros((1, 3, 3))
    w[0, 1, 1] = 1                                                  # the identity tap
    z = mod.conv_single_channel_reference(x, w, 1)
    np.testing.assert_array_equal(z[:, 0], x.reshape(-1))
    assert im2col_nhwc_reference(x[..., None], 3, 3, 1, 1).shape[0] == z.shape[0]


# ---- the weight gradient taking a max-pooling's gradient (a first layer's conv -> pool) ----------
POOLED = [((2, 8, 8), 3, 3, 3, 1, 2), ((1, 9, 7), 2, 2, 2, 0, 2), ((2, 10, 10), 4, 5, 5, 2, 3), ((3, 6, 6), 1, 1, 1, 0, 2)]


def pooled_case(rng, shape, F, KH, KW, padding, pool, dtype=np.float64):
    """x, the pooled gradient dp and winners argmax (from a real pooling), and the full-size dz."""
    from numpyuq.kernels.pooling_nhwc import maxpool_nhwc_backward_reference, maxpool_nhwc_forward_reference
    x = rng.standard_normal(shape).astype(dtype)
    N, H, W = shape
    OH, OW = mod.output_size(H, W, KH, KW, padding)
    z = rng.standard_normal((N, OH, OW, F)).astype(dtype)
    pooled, argmax = maxpool_nhwc_forward_reference(z, pool, pool)
    dp = rng.standard_normal(pooled.shape).astype(dtype)
    argmax = np.ascontiguousarray(argmax, dtype=np.int8)     # the reference returns a transposed view
    dz = maxpool_nhwc_backward_reference(dp, argmax, z.shape, pool, pool)
    return x, dp.reshape(-1, F), argmax.reshape(-1, F), np.ascontiguousarray(dz).reshape(-1, F)


@pytest.mark.parametrize("compiled", [False, True], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, F, KH, KW, padding, pool", POOLED)
def test_pooled_loops_are_the_poolings_backward_then_the_weight_gradient(rng, compiled, shape, F, KH, KW, padding, pool):
    """Odd output sizes leave a cropped border that no window covers: its pixels stay 0."""
    x, dp, argmax, dz = pooled_case(rng, shape, F, KH, KW, padding, pool)
    weights = mod.pooled_weights_twin(KH, KW, pool) if compiled else mod._weights_loops(KH, KW, pool)
    N, H, W = shape
    OH, OW = mod.output_size(H, W, KH, KW, padding)
    dw = np.full((F, KH, KW), np.nan)
    weights(mod.padded_for_loops(x, KH, KW, padding), OH, OW, dp, argmax, dw,
            np.zeros((F, mod.plane_length(H, W, KH, KW, padding))))
    np.testing.assert_allclose(dw, mod.conv_single_channel_weights_reference(x, dz, KH, KW, padding),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, F, KH, KW, padding, pool", POOLED)
def test_pooled_dispatcher_equals_the_unpooled_one_bit_for_bit(rng, shape, F, KH, KW, padding, pool):
    """The same planes, so the same sums in the same order: equal, not only close."""
    x, dp, argmax, dz = pooled_case(rng, shape, F, KH, KW, padding, pool, np.float32)
    dw = mod.conv_single_channel_pooled_weights(x, dp, argmax, KH, KW, padding, pool)
    np.testing.assert_array_equal(dw, mod.conv_single_channel_weights(x, dz, KH, KW, padding))


def test_pooled_dispatcher_runs_its_twin(monkeypatch, rng):
    from numpyuq.kernels import dispatch
    if dispatch.KERNELS == "reference":
        pytest.skip("NUMPYUQ_KERNELS=reference: the dispatcher runs no compiled code to test")
    calls = []
    real = mod.pooled_weights_twin
    monkeypatch.setattr(mod, "pooled_weights_twin", lambda *key: calls.append(key) or real(*key))
    x, dp, argmax, dz = pooled_case(rng, (2, 8, 8), 3, 3, 3, 1, 2)
    dw = mod.conv_single_channel_pooled_weights(x, dp, argmax, 3, 3, 1, 2)
    assert calls == [(3, 3, 2)] and hasattr(real(3, 3, 2), "signatures")
    np.testing.assert_allclose(dw, mod.conv_single_channel_weights_reference(x, dz, 3, 3, 1), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:invalid value encountered")     # inf * 0 in the plain pair's sums
def test_pooled_weights_with_non_finite_pixels_give_the_plain_pairs_results(rng):
    x, dp, argmax, dz = pooled_case(rng, (2, 8, 8), 3, 3, 3, 0, 2)
    x[1, 3, 0] = np.inf
    dw = mod.conv_single_channel_pooled_weights(x, dp, argmax, 3, 3, 0, 2)
    np.testing.assert_array_equal(dw, mod.conv_single_channel_weights_reference(x, dz, 3, 3, 0))


@pytest.mark.parametrize("kernels", ["numba", "reference"])
def test_pooled_weights_refuse_bad_arguments_alike_on_both_paths(monkeypatch, rng, kernels):
    from numpyuq.kernels import dispatch
    monkeypatch.setattr(dispatch, "KERNELS", kernels)
    x, dp, argmax, _ = pooled_case(rng, (2, 8, 8), 3, 3, 3, 1, 2)
    with pytest.raises(ValueError, match=r"dp must have shape \(32, 3\)"):
        mod.conv_single_channel_pooled_weights(x, dp[1:], argmax, 3, 3, 1, 2)
    with pytest.raises(TypeError, match="dp must have dtype float64"):
        mod.conv_single_channel_pooled_weights(x, dp.astype(np.float32), argmax, 3, 3, 1, 2)
    with pytest.raises(ValueError, match=r"argmax must have shape \(32, 3\)"):
        mod.conv_single_channel_pooled_weights(x, dp, argmax[1:], 3, 3, 1, 2)
    with pytest.raises(ValueError, match=r"argmax must hold int8 window offsets in \[0, 4\)"):
        mod.conv_single_channel_pooled_weights(x, dp, argmax + 3, 3, 3, 1, 2)
    with pytest.raises(ValueError, match="window does not fit"):
        mod.conv_single_channel_pooled_weights(x, dp, argmax, 3, 3, 1, 9)


# ---- the forward pass pooled by the loops (a first layer's conv -> pool) ---------------------------
def pooled_reference(x, w, padding, pool):
    from numpyuq.kernels.pooling_nhwc import maxpool_nhwc_forward_reference
    N, H, W = x.shape
    OH, OW = mod.output_size(H, W, *w.shape[1:], padding)
    p, argmax = maxpool_nhwc_forward_reference(mod.conv_single_channel_reference(x, w, padding).reshape(
        N, OH, OW, -1), pool, pool)
    return p.reshape(-1, w.shape[0]), argmax.reshape(-1, w.shape[0])


@pytest.mark.parametrize("compiled", [False, True], ids=["loops", "numba"])
@pytest.mark.parametrize("shape, F, KH, KW, padding, pool", POOLED)
def test_pooled_forward_loops_are_the_convolution_then_the_pooling(rng, compiled, shape, F, KH, KW, padding, pool):
    """Odd output sizes: the cropped border is dropped, as the pooling drops it."""
    x, w = rng.standard_normal(shape), rng.standard_normal((F, KH, KW))
    x[0, 0, :] = 0.0                                        # ties: the first offset wins
    x[-1, -1, -1] = np.nan
    N, H, W = shape
    OH, OW = mod.output_size(H, W, KH, KW, padding)
    forward = mod.pooled_forward_twin(KH, KW, pool) if compiled else mod._forward_loops(KH, KW, pool)
    want_p, want_argmax = pooled_reference(x, w, padding, pool)
    p, argmax = np.full(want_p.shape, -1.0), np.full(want_p.shape, -1, np.int8)
    forward(mod.padded_for_loops(x, KH, KW, padding), OH, OW, w, p,
            np.full((F, mod.plane_length(H, W, KH, KW, padding)), np.nan), argmax, True)
    np.testing.assert_allclose(p, want_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(argmax, want_argmax)


@pytest.mark.parametrize("shape, F, KH, KW, padding, pool", POOLED)
def test_pooled_forward_dispatcher_pools_the_unpooled_output_bit_for_bit(rng, shape, F, KH, KW, padding, pool):
    """The same planes, so the same maxima: equal to pooling ``conv_single_channel``'s rows."""
    from numpyuq.kernels.pooling_nhwc import maxpool_nhwc_forward
    x, w = rng.standard_normal(shape).astype(np.float32), rng.standard_normal((F, KH, KW)).astype(np.float32)
    N, H, W = shape
    OH, OW = mod.output_size(H, W, KH, KW, padding)
    p, argmax = mod.conv_single_channel_pooled(x, w, padding, pool)
    want_p, want_argmax = maxpool_nhwc_forward(mod.conv_single_channel(x, w, padding).reshape(N, OH, OW, F), pool, pool)
    np.testing.assert_array_equal(p, want_p.reshape(-1, F))
    np.testing.assert_array_equal(argmax, want_argmax.reshape(-1, F))
    values, none = mod.conv_single_channel_pooled(x, w, padding, pool, with_argmax=False)
    assert none is None
    np.testing.assert_array_equal(values, p)


def test_pooled_forward_dispatcher_runs_its_twin(monkeypatch, rng):
    from numpyuq.kernels import dispatch
    if dispatch.KERNELS == "reference":
        pytest.skip("NUMPYUQ_KERNELS=reference: the dispatcher runs no compiled code to test")
    calls, real = [], mod.pooled_forward_twin
    monkeypatch.setattr(mod, "pooled_forward_twin", lambda *a: calls.append(a) or real(*a))
    x, w = rng.standard_normal((2, 9, 9)), rng.standard_normal((3, 5, 5))
    p, argmax = mod.conv_single_channel_pooled(x, w, 2, 2)
    assert calls == [(5, 5, 2)] and hasattr(real(5, 5, 2), "signatures")
    want_p, want_argmax = pooled_reference(x, w, 2, 2)
    np.testing.assert_allclose(p, want_p, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(argmax, want_argmax)


@pytest.mark.parametrize("kernels", ["numba", "reference"])
def test_pooled_forward_bad_arguments_give_the_same_errors_on_both_paths(monkeypatch, rng, kernels):
    from numpyuq.kernels import dispatch
    monkeypatch.setattr(dispatch, "KERNELS", kernels)
    x, w = rng.standard_normal((2, 6, 6)), rng.standard_normal((3, 3, 3))
    for pool in (5, 0, 2.0, True):                                  # the output is 4 x 4
        with pytest.raises(ValueError, match=r"pool must be an integer in \[1, 4\] \(the 4 x 4 output"):
            mod.conv_single_channel_pooled(x, w, 0, pool)
    with pytest.raises(TypeError, match="w must have dtype float64"):
        mod.conv_single_channel_pooled(x, w.astype(np.float32), 0, 2)
