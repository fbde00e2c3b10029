"""SpectralNorm: gradient checks in all three modes, power-iteration convergence, the bound."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import Conv2D, Dense, SpectralNorm
from numpyuq.nn.spectral_norm import (
    normalize,
    spectral_norm_backward,
    spectral_norm_forward,
)
from tests.helpers import assert_grad_ok


def wrapped(rng, mode, bound, activation="relu", scale=1.0):
    dense = Dense(6, 5, activation=activation, seed=rng, dtype=np.float64)
    dense.w.value *= scale
    dense.b.value[...] = rng.standard_normal(5) * 0.1
    return SpectralNorm(dense, norm_multiplier=bound, mode=mode, seed=rng)


@pytest.mark.parametrize("mode", ["reparam", "reparam_stopgrad"])
@pytest.mark.parametrize("bound", [0.5, 50.0])         # active (sigma > c) and inactive
def test_reparam_gradients(rng, mode, bound):
    layer = wrapped(rng, mode, bound, activation=None, scale=2.0)
    x = rng.standard_normal((7, 6))
    # Inference pass: u, v are the stored constants, exactly the map the backward differentiates.
    report = check_module(layer, x, training=False)
    if mode == "reparam" or bound > 10:
        assert_grad_ok(report)
    else:
        # Stop-gradient drops the d sigma / dW term on purpose: the check must see the difference.
        assert report.per_array["layer.w"] > 1e-3 and report.per_array["input"] < 1e-6


@pytest.mark.parametrize("mode", ["project", "reparam", "reparam_stopgrad"])
def test_training_pass_gradients_with_inactive_bound(rng, mode):
    layer = wrapped(rng, mode, bound=50.0)
    assert_grad_ok(check_module(layer, rng.standard_normal((7, 6)), training=True))


def test_project_gradients_after_projection(rng):
    layer = wrapped(rng, "project", bound=0.5, scale=3.0)
    x = rng.standard_normal((7, 6))
    layer(x, training=True)                 # projects the stored kernel onto the bound
    assert layer.sigma() <= 0.5 + 1e-12
    assert_grad_ok(check_module(layer, x, training=False))


@pytest.mark.parametrize("mode", ["project", "reparam"])
def test_power_iteration_converges_to_the_top_singular_value(rng, mode):
    layer = wrapped(rng, mode, bound=0.9, activation=None, scale=3.0)
    x = rng.standard_normal((4, 6))
    for _ in range(200):
        layer(x, training=True)
    raw = layer.layer.w.value
    sigma_svd = np.linalg.svd(raw, compute_uv=False)[0]
    assert abs(layer.sigma() - sigma_svd) < 1e-4
    kernel_norm = np.linalg.svd(layer.kernel(), compute_uv=False)[0]
    assert kernel_norm <= 0.9 + 1e-4
    if mode == "reparam":
        assert sigma_svd > 2          # raw weights are left alone; only the forward kernel is bounded


def test_inference_does_not_touch_state(rng):
    layer = wrapped(rng, "project", bound=0.5, scale=3.0)
    before = layer.state_dict()
    layer(rng.standard_normal((4, 6)), training=False)
    for name, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="mode must be one of"):
        SpectralNorm(Dense(2, 2), mode="clip")
    with pytest.raises(ValueError, match="norm_multiplier must be > 0"):
        SpectralNorm(Dense(2, 2), norm_multiplier=0)
    with pytest.raises(ValueError, match="2 features"):
        SpectralNorm(Dense(2, 2), mode="reparam")(np.zeros((3, 4), np.float32))


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 2, 2)])          # a Dense and a Conv2D kernel
@pytest.mark.parametrize("bound", [0.5, 50.0])
def test_pure_pair(rng, shape, bound):
    w = rng.standard_normal(shape)
    D, M = shape[0], int(np.prod(shape[1:]))
    inputs = {"w": w, "u": normalize(rng.standard_normal(M)), "v": normalize(rng.standard_normal(D))}
    report = check_pair(spectral_norm_forward, spectral_norm_backward, inputs, norm_multiplier=bound)
    assert list(report.per_array) == ["w"]            # u and v are held constant
    assert_grad_ok(report)


@pytest.mark.parametrize("mode", ["project", "reparam", "reparam_stopgrad"])
def test_wraps_a_convolution_through_its_public_pair(rng, mode):
    conv = Conv2D(2, 3, 3, padding=1, activation="relu", seed=rng, dtype=np.float64)
    layer = SpectralNorm(conv, norm_multiplier=50.0, mode=mode, seed=rng)
    assert_grad_ok(check_module(layer, rng.standard_normal((2, 2, 5, 5)), training=True))
    for _ in range(100):
        layer(rng.standard_normal((1, 2, 5, 5)), training=True)
    assert abs(layer.sigma() - np.linalg.svd(conv.w.value.reshape(3, -1), compute_uv=False)[0]) < 1e-6


def test_spectral_norm_refuses_bad_arguments():
    import pytest
    from numpyuq.nn import Dense, ReLU, SpectralNorm
    with pytest.raises(ValueError, match="iterations must be >= 1, got 0"):
        SpectralNorm(Dense(2, 2), iterations=0)
    with pytest.raises(ValueError, match="norm_multiplier must be > 0"):
        SpectralNorm(Dense(2, 2), norm_multiplier=0.0)
    with pytest.raises(TypeError, match="layer must be a weighted layer"):
        SpectralNorm(ReLU())


# ---- convolutions: the "matrix" and the "operator" semantics ----------------------------------
from numpyuq.nn.spectral_operators import ConvOperator  # noqa: E402
from numpyuq.nn.conv import conv2d_pair  # noqa: E402


def conv_matrix(conv, input_shape):
    """The convolution (no bias, no activation) as an explicit matrix, built column by column."""
    forward, _ = conv.pair()
    size = int(np.prod(input_shape))
    columns = []
    for i in range(size):
        basis = np.zeros(size)
        basis[i] = 1.0
        y, _ = forward(basis.reshape(1, *input_shape), conv.w.value, np.zeros(conv.w.value.shape[0]),
                       activation=None)
        columns.append(y.ravel())
    return np.stack(columns, axis=1)


CONV_CASES = [("NCHW", dict(stride=1, padding=1), (2, 5, 5)),
              ("NHWC", dict(stride=2, padding=1), (6, 6, 2)),
              ("NCHW", dict(stride=1, padding=0), (2, 6, 4))]


@pytest.mark.parametrize("data_format, geometry, input_shape", CONV_CASES)
def test_operator_power_iteration_converges_to_the_explicit_matrix_norm(rng, data_format, geometry, input_shape):
    conv = Conv2D(2, 3, 3, data_format=data_format, seed=rng, dtype=np.float64, **geometry)
    layer = SpectralNorm(conv, norm_multiplier=100.0, iterations=500, semantics="operator",
                         input_shape=input_shape, seed=rng)
    exact = np.linalg.svd(conv_matrix(conv, input_shape), compute_uv=False)[0]
    assert abs(layer.sigma() - exact) / exact < 1e-4
    matrix_norm = np.linalg.svd(conv.w.value.reshape(3, -1), compute_uv=False)[0]
    assert not np.isclose(exact, matrix_norm, rtol=1e-3)      # the two semantics differ


@pytest.mark.parametrize("semantics", ["matrix", "operator"])
@pytest.mark.parametrize("mode", ["project", "reparam", "reparam_stopgrad"])
@pytest.mark.parametrize("bound", [0.3, 50.0])              # active and inactive
def test_conv_gradients_in_every_semantics_and_mode(rng, semantics, mode, bound):
    conv = Conv2D(2, 3, 3, padding=1, activation="relu", seed=rng, dtype=np.float64)
    conv.b.value[...] = rng.standard_normal(3) * 0.1
    shape = dict(input_shape=(2, 5, 5)) if semantics == "operator" else {}
    layer = SpectralNorm(conv, norm_multiplier=bound, mode=mode, semantics=semantics, iterations=20,
                         seed=rng, **shape)
    x = rng.standard_normal((2, 2, 5, 5))
    layer(x, training=True)                   # power iteration (and, for project, the projection)
    report = check_module(layer, x, training=False)      # u, v constant: the map backward differentiates
    if mode == "reparam_stopgrad" and bound < 1:
        assert report.per_array["layer.w"] > 1e-3 and report.per_array["input"] < 1e-6
    else:
        assert_grad_ok(report)
    if bound < 1:
        true_norm = (np.linalg.svd(conv_matrix(conv, (2, 5, 5)), compute_uv=False)[0] if semantics == "operator"
                     else np.linalg.svd(conv.w.value.reshape(3, -1), compute_uv=False)[0])
        effective = true_norm * min(1.0, bound / layer.sigma()) if mode != "project" else true_norm
        assert effective <= bound * (1 + 1e-3)


@pytest.mark.parametrize("bound", [0.5, 50.0])
def test_operator_pure_pair(rng, bound):
    conv = Conv2D(2, 3, 3, stride=2, padding=1, seed=0, dtype=np.float64)
    forward, backward = conv.pair()
    operator = ConvOperator(forward, backward, (2, 5, 5))
    u_shape, v_shape = operator.vector_shapes(conv.w.value)
    inputs = {"w": rng.standard_normal((3, 2, 3, 3)), "u": normalize(rng.standard_normal(u_shape)),
              "v": normalize(rng.standard_normal(v_shape))}
    report = check_pair(spectral_norm_forward, spectral_norm_backward, inputs, norm_multiplier=bound,
                        operator=operator)
    assert list(report.per_array) == ["w"]
    assert_grad_ok(report)


def test_operator_semantics_checks_its_arguments():
    with pytest.raises(ValueError, match=r"input_shape must be one example's \(C, H, W\) with 2 channels"):
        SpectralNorm(Conv2D(2, 3, 3), semantics="operator")
    with pytest.raises(ValueError, match=r"input_shape must be one example's \(H, W, C\)"):
        SpectralNorm(Conv2D(2, 3, 3, data_format="NHWC"), semantics="operator", input_shape=(2, 5, 5))
    with pytest.raises(TypeError, match="needs a Conv2D"):
        SpectralNorm(Dense(2, 2), semantics="operator", input_shape=(2, 5, 5))
    with pytest.raises(ValueError, match="semantics must be one of"):
        SpectralNorm(Dense(2, 2), semantics="frobenius")
    layer = SpectralNorm(Conv2D(2, 3, 3), semantics="operator", input_shape=(2, 5, 5))
    with pytest.raises(ValueError, match=r"must have shape \(N, 2, 5, 5\)"):
        layer(np.zeros((1, 2, 6, 6), np.float32))
    assert conv2d_pair("NCHW")[0] is layer.layer.pair()[0].func
