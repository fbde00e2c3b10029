"""Conv2D: gradient checks, and outputs against scipy and a direct loop."""
import numpy as np
import pytest
import scipy.signal

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import Conv2D
from numpyuq.nn.conv import conv2d_pair
from tests.helpers import assert_grad_ok


@pytest.mark.parametrize("shape, out_ch, k, stride, padding", [
    ((2, 3, 7, 7), 4, 3, 1, 0), ((2, 2, 8, 7), 3, 3, 2, 0), ((1, 2, 5, 6), 2, 5, 1, 2),
    ((2, 1, 9, 9), 3, 4, 2, 2), ((1, 3, 6, 5), 2, (3, 2), 1, 1)])
def test_conv2d_gradients(rng, shape, out_ch, k, stride, padding):
    layer = Conv2D(shape[1], out_ch, k, stride=stride, padding=padding, seed=rng, dtype=np.float64)
    assert_grad_ok(check_module(layer, rng.standard_normal(shape)))


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("shape, out_ch, k, stride, padding", [
    ((2, 7, 7, 3), 4, 3, 1, 0), ((2, 8, 7, 2), 3, 3, 2, 0), ((1, 5, 6, 2), 2, 5, 1, 2), ((2, 6, 6, 1), 3, 3, 1, 1)])
def test_conv2d_nhwc_gradients(rng, shape, out_ch, k, stride, padding, activation):
    layer = Conv2D(shape[3], out_ch, k, stride=stride, padding=padding, activation=activation,
                   data_format="NHWC", seed=rng, dtype=np.float64)
    assert_grad_ok(check_module(layer, rng.standard_normal(shape)))


def test_conv2d_nhwc_and_relu_match_the_nchw_layer(rng):
    nchw = Conv2D(3, 4, 3, stride=2, padding=1, seed=0, dtype=np.float64)
    nhwc = Conv2D(3, 4, 3, stride=2, padding=1, activation="relu", data_format="NHWC", seed=0,
                  dtype=np.float64)
    x = rng.standard_normal((2, 3, 7, 6))
    expected = np.maximum(nchw(x), 0).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(nhwc(x.transpose(0, 2, 3, 1).copy()), expected, rtol=1e-12, atol=1e-12)
    relu_nchw = Conv2D(3, 4, 3, activation="relu", seed=0, dtype=np.float64)
    assert_grad_ok(check_module(relu_nchw, rng.standard_normal((2, 3, 6, 5))))


def test_conv2d_matches_scipy_correlate(rng):
    layer = Conv2D(3, 4, 3, padding=1, seed=rng, dtype=np.float64)
    x = rng.standard_normal((2, 3, 6, 5))
    y = layer(x)
    w, b = layer.w.value, layer.b.value
    for n in range(2):
        for f in range(4):
            expected = sum(scipy.signal.correlate(np.pad(x[n, c], 1), w[f, c], mode="valid") for c in range(3)) + b[f]
            np.testing.assert_allclose(y[n, f], expected, rtol=1e-12, atol=1e-12)


def test_strided_conv_matches_direct_loop(rng):
    layer = Conv2D(2, 3, 3, stride=2, padding=1, seed=rng, dtype=np.float64)
    x = rng.standard_normal((1, 2, 7, 6))
    y = layer(x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    assert y.shape == (1, 3, 4, 3)
    for f in range(3):
        for i in range(4):
            for j in range(3):
                window = xp[0, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
                assert y[0, f, i, j] == pytest.approx((window * layer.w.value[f]).sum() + layer.b.value[f], abs=1e-12)


def test_conv_bad_input(rng):
    layer = Conv2D(3, 2, 3)
    with pytest.raises(ValueError, match=r"Conv2D input x must have 4 dimensions, got shape \(3, 5, 5\)"):
        layer(np.zeros((3, 5, 5), np.float32))
    with pytest.raises(ValueError, match="3 features on axis 1"):
        layer(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        layer(np.zeros((1, 3, 2, 2), np.float32))


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride, padding, activation", [(1, 0, None), (2, 1, "relu"), (1, 2, None)])
def test_pure_pairs(rng, data_format, stride, padding, activation):
    forward, backward = conv2d_pair(data_format)
    shape = (2, 3, 7, 6) if data_format == "NCHW" else (2, 7, 6, 3)
    inputs = {"x": rng.standard_normal(shape), "w": rng.standard_normal((4, 3, 3, 3)) * 0.3,
              "b": rng.standard_normal(4)}
    report = check_pair(forward, backward, inputs, stride=stride, padding=padding, activation=activation)
    assert set(report.per_array) == {"x", "w", "b"}
    assert_grad_ok(report)


def test_bad_geometry_is_rejected_at_construction():
    for kwargs, match in (({"stride": 0}, "stride must be >= 1, got 0"), ({"padding": -1}, "padding must be >= 0"),
                          ({"kernel_size": 0}, "kernel_size must be >= 1")):
        with pytest.raises(ValueError, match=match):
            Conv2D(1, 2, **{"kernel_size": 3, **kwargs})


def test_degenerate_convolutions_are_refused_by_name():
    """stride 0 (ZeroDivisionError), kernel 0 (OverflowError) and padding -1 (cropped on one path,
    an error on the other) all get one clear error, before any weight is drawn."""
    import numpy as np
    import pytest
    from numpyuq.nn import Conv2D
    from numpyuq.nn.conv import conv2d_fused_forward
    for kwargs, message in ((dict(stride=0), "stride must be >= 1, got 0"),
                            (dict(kernel_size=0), "kernel_size must be >= 1, got 0"),
                            (dict(padding=-1), "padding must be >= 0, got -1"),
                            (dict(dtype=np.float16), "dtype must be float32 or float64, got float16")):
        with pytest.raises((ValueError, TypeError), match=message):
            Conv2D(1, 2, **{"kernel_size": 3, **kwargs})
    x, w, b = np.zeros((1, 1, 4, 4), np.float32), np.zeros((2, 1, 3, 3), np.float32), np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="padding must be an integer >= 0, got -1"):
        conv2d_fused_forward(x, w, b, padding=-1)        # the pure function too, on either kernel path


def test_spectral_norm_wraps_a_convolution():
    """SpectralNorm(Conv2D) used to fail with a gufunc message; it runs, and bounds the kernel matrix."""
    import numpy as np
    from numpyuq.nn import Conv2D, SpectralNorm
    layer = SpectralNorm(Conv2D(2, 3, 3, seed=0), norm_multiplier=0.5, iterations=30)
    y = layer(np.ones((2, 2, 5, 5), np.float32), training=True)
    assert y.shape == (2, 3, 3, 3)
    assert np.linalg.norm(layer.kernel().reshape(3, -1), 2) <= 0.5 + 1e-4


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
@pytest.mark.parametrize("activation", ["relu", None])
@pytest.mark.parametrize("pool", [2, 3])
def test_conv_with_fused_pooling_gradients(rng, data_format, activation, pool):
    """Conv2D(pool=s): conv, bias, activation and s x s max-pooling in one layer, gradient-checked,
    and equal to the unfused Conv2D -> MaxPool2D."""
    from numpyuq.nn import MaxPool2D
    fused = Conv2D(2, 3, 3, activation=activation, pool=pool, data_format=data_format, seed=0, dtype=np.float64)
    plain = Conv2D(2, 3, 3, activation=activation, data_format=data_format, seed=0, dtype=np.float64)
    shape = (2, 2, 8, 7) if data_format == "NCHW" else (2, 8, 7, 2)
    x = rng.standard_normal(shape)
    assert_grad_ok(check_module(fused, x))
    unfused = MaxPool2D(pool, pool, data_format=data_format)(plain(x))
    np.testing.assert_allclose(fused(x), unfused, rtol=1e-12)


def test_without_caches_keeps_nothing_for_backward(rng):
    from numpyuq.nn import without_caches
    conv = Conv2D(1, 2, 3, activation="relu", pool=2, seed=0)
    x = rng.standard_normal((2, 1, 6, 6)).astype(np.float32)
    with without_caches(conv):
        y = conv(x)
        with pytest.raises(RuntimeError, match="nothing was kept"):
            conv.backward(np.ones_like(y))
    np.testing.assert_array_equal(conv(x), y)           # same values with the cache
    assert conv.caching
    conv.backward(np.ones_like(y))                      # and backward works again
    with pytest.raises(ValueError, match="smaller than its 2 x 2 pooling window"):
        conv(np.zeros((1, 1, 3, 3), np.float32))


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
@pytest.mark.parametrize("stride, padding, pool", [(1, 0, 2), (2, 1, None)])
def test_rebuilt_columns_give_the_kept_columns_gradients(monkeypatch, rng, data_format, stride, padding, pool):
    """A layer whose im2col rows are runs of >= 16 floats keeps its input, not its columns, and
    rebuilds them for the weight gradient: gradient-checked, and equal to the kept-columns path."""
    from numpyuq.nn import conv as conv_module
    make = lambda: Conv2D(6, 3, 3, stride=stride, padding=padding, activation="relu", pool=pool,  # noqa: E731
                          data_format=data_format, seed=0, dtype=np.float64)
    x = rng.standard_normal((3, 6, 8, 7) if data_format == "NCHW" else (3, 8, 7, 6))
    rebuilt = make()
    assert_grad_ok(check_module(rebuilt, x))
    rebuilt.zero_grad()
    y = rebuilt(x, training=True)
    cache, _ = rebuilt.cached()
    assert cache.cols is None and cache.x.shape == (3, 8, 7, 6)                       # 3 * 6 = 18 floats a run
    dy = rng.standard_normal(y.shape)
    dx = rebuilt.backward(dy)
    monkeypatch.setattr(conv_module, "REBUILD_COLUMNS_FROM_RUN", 10**9)
    kept = make()
    np.testing.assert_array_equal(kept(x, training=True), y)
    assert kept.cached()[0].cols is not None and kept.cached()[0].x is None
    np.testing.assert_allclose(kept.backward(dy), dx, rtol=1e-12)
    np.testing.assert_allclose(kept.w.grad, rebuilt.w.grad, rtol=1e-12)
    np.testing.assert_allclose(kept.b.grad, rebuilt.b.grad, rtol=1e-12)


# ---- the textbook pair, and the fused pairs checked against it --------------------------------
from numpyuq.kernels.pooling import maxpool_backward_reference, maxpool_forward_reference  # noqa: E402
from numpyuq.nn.activations import relu_backward, relu_forward  # noqa: E402
from numpyuq.nn.conv import (conv2d_backward, conv2d_forward, conv2d_fused_backward,  # noqa: E402
                             conv2d_fused_forward, conv2d_nhwc_backward, conv2d_nhwc_forward)


@pytest.mark.parametrize("shape, out_ch, k, stride, padding", [
    ((2, 3, 7, 6), 4, 3, 1, 0), ((2, 2, 8, 7), 3, 3, 2, 1), ((1, 2, 5, 6), 2, 5, 1, 2), ((2, 1, 9, 9), 3, 4, 2, 2)])
def test_textbook_pair_passes_the_gradient_check(rng, shape, out_ch, k, stride, padding):
    inputs = {"x": rng.standard_normal(shape), "w": rng.standard_normal((out_ch, shape[1], k, k)) * 0.3,
              "b": rng.standard_normal(out_ch)}
    assert_grad_ok(check_pair(conv2d_forward, conv2d_backward, inputs, stride=stride, padding=padding))


def test_textbook_pair_matches_the_direct_loops(rng):
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    y, _ = conv2d_forward(x, w, b, stride=2, padding=1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    expected = np.empty((2, 4, 4, 4))
    for n, f, i, j in np.ndindex(*expected.shape):
        expected[n, f, i, j] = (xp[n, :, 2 * i:2 * i + 3, 2 * j:2 * j + 2] * w[f]).sum() + b[f]
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def textbook_composition(x, w, b, stride, padding, activation, pool):
    """The textbook convolution, then a plain ReLU, then plain max-pooling (NCHW): the oracle for
    every option of the fused pairs. Returns (y, backward(dy) -> (dx, dw, db))."""
    z, conv_cache = conv2d_forward(x, w, b, stride, padding)
    y, relu_cache = relu_forward(z) if activation == "relu" else (z, None)
    pool_input = y
    if pool is not None:
        y, argmax = maxpool_forward_reference(pool_input, pool, pool)

    def backward(dy):
        if pool is not None:
            dy = maxpool_backward_reference(dy, argmax, pool_input.shape, pool, pool)
        if activation == "relu":
            (dy,) = relu_backward(dy, relu_cache)
        return conv2d_backward(dy, conv_cache)
    return y, backward


@pytest.mark.parametrize("data_format", ["NCHW", "NHWC"])
@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("pool", [None, 2])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 2)])
@pytest.mark.parametrize("channels", [1, 2, 6])   # 1: direct at stride 1; K W C = 6 keeps the columns, 18 rebuilds them
def test_fused_pairs_equal_the_textbook_composition(rng, data_format, activation, pool, stride, padding, channels):
    from numpyuq.kernels.dispatch import KERNELS
    from numpyuq.nn.conv import REBUILD_COLUMNS_FROM_RUN
    x = rng.standard_normal((3, channels, 9, 8))
    w, b = rng.standard_normal((4, channels, 3, 3)) * 0.3, rng.standard_normal(4)
    expected, textbook_backward = textbook_composition(x, w, b, stride, padding, activation, pool)
    dy = rng.standard_normal(expected.shape)
    expected_grads = textbook_backward(dy)
    if data_format == "NCHW":
        y, cache = conv2d_fused_forward(x, w, b, stride, padding, activation, pool)
        grads = conv2d_fused_backward(dy, cache)
    else:
        y, cache = conv2d_nhwc_forward(x.transpose(0, 2, 3, 1).copy(), w, b, stride, padding, activation, pool)
        y = y.transpose(0, 3, 1, 2)
        dx, dw, db = conv2d_nhwc_backward(dy.transpose(0, 2, 3, 1).copy(), cache)
        grads = (dx.transpose(0, 3, 1, 2), dw, db)
    assert cache.direct == (channels == 1 and stride == 1 and KERNELS == "numba")     # every path is run
    # 9 x 8 images, 3 x 3 kernels, padding 2: a third of the multiply-adds meet the padding
    assert cache.by_tap_classes == (channels > 1 and stride == 1 and padding == 2 and KERNELS == "numba")
    assert (cache.x is not None) == (cache.direct or cache.by_tap_classes or 3 * channels >= REBUILD_COLUMNS_FROM_RUN)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    for name, got, want in zip(("dx", "dw", "db"), grads, expected_grads):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("padding", [0, 2])
def test_a_pooled_first_layer_without_dx_gets_the_same_gradients(rng, padding):
    """Conv -> ReLU -> pool on one channel with input_grad=False: the direct loops take the pooled
    gradient (no full-size gradient in between) and give the weight gradient of the full path."""
    x = rng.standard_normal((3, 9, 10, 1)).astype(np.float32)
    w, b = rng.standard_normal((5, 1, 3, 3)).astype(np.float32), rng.standard_normal(5).astype(np.float32)
    y, cache = conv2d_nhwc_forward(x, w, b, 1, padding, "relu", 2)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    full = conv2d_nhwc_backward(dy, cache)
    dx, dw, db = conv2d_nhwc_backward(dy, cache, input_grad=False)
    assert dx is None
    np.testing.assert_array_equal(dw, full[1])
    np.testing.assert_array_equal(db, full[2])
    expected, textbook_backward = textbook_composition(x.transpose(0, 3, 1, 2).astype(np.float64),
                                                       w.astype(np.float64), b.astype(np.float64), 1, padding, "relu", 2)
    np.testing.assert_allclose(dw, textbook_backward(dy.transpose(0, 3, 1, 2).astype(np.float64))[1], rtol=1e-4, atol=1e-4)
    assert conv2d_nhwc_backward(dy, cache, input_grad=False, param_grads=False) == (None, None, None)


def test_fused_pair_skips_the_gradients_it_is_told_to_skip(rng):
    x, w, b = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
    y, cache = conv2d_fused_forward(x, w, b, activation="relu")
    _, dw, db = conv2d_fused_backward(np.ones_like(y), cache)
    dx, dw_skipped, db_skipped = conv2d_fused_backward(np.ones_like(y), cache, input_grad=False,
                                                       param_grads=True)
    assert dx is None and np.array_equal(dw_skipped, dw) and np.array_equal(db_skipped, db)
    assert conv2d_fused_backward(np.ones_like(y), cache, param_grads=False)[1:] == (None, None)
