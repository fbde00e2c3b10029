"""Dense: gradient checks of the pure pairs and the layer, forward semantics, bad input."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import Dense
from numpyuq.nn.dense import dense_pair, input_gradient
from tests.helpers import assert_grad_ok


@pytest.mark.parametrize("activation", [None, "relu"])
def test_dense_gradients(rng, activation):
    layer = Dense(5, 4, activation=activation, seed=rng, dtype=np.float64)
    layer.b.value[...] = rng.standard_normal(4)
    assert_grad_ok(check_module(layer, rng.standard_normal((6, 5))))


def test_dense_forward_is_affine(rng):
    layer = Dense(3, 2, seed=rng, dtype=np.float64)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer(x), x @ layer.w.value + layer.b.value)


def test_frozen_dense_has_no_trainable_parameters_but_passes_gradient(rng):
    layer = Dense(3, 2, trainable=False, seed=rng, dtype=np.float64)
    assert layer.parameters() == []
    report = check_module(layer, rng.standard_normal((4, 3)))
    assert list(report.per_array) == ["input"]
    assert_grad_ok(report)
    assert not layer.w.grad.any()


def test_dense_rejects_wrong_rank_and_feature_size(rng):
    layer = Dense(3, 2, seed=rng)
    with pytest.raises(ValueError, match=r"Dense input x must have 2 dimensions, got shape \(3,\)"):
        layer(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"3 features.*got shape \(4, 5\)"):
        layer(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="activation"):
        Dense(3, 2, activation="tanh")


@pytest.mark.parametrize("activation", [None, "relu"])
def test_dense_pure_pairs(rng, activation):
    forward, backward = dense_pair(activation)
    x, w, b = rng.standard_normal((6, 5)), rng.standard_normal((5, 4)), rng.standard_normal(4)
    report = check_pair(forward, backward, {"x": x, "w": w, "b": b})
    assert set(report.per_array) == {"x", "w", "b"}
    assert_grad_ok(report)


def test_dense_backward_skips_what_it_is_told_to(rng):
    x, w, b = rng.standard_normal((3, 2)), rng.standard_normal((2, 4)), rng.standard_normal(4)
    for activation in (None, "relu"):
        forward, backward = dense_pair(activation)
        _, cache = forward(x, w, b)
        dy = rng.standard_normal((3, 4))
        dx, dw, db = backward(dy, cache, input_grad=False)
        assert dx is None and dw is not None and db is not None
        dx, dw, db = backward(dy, cache, param_grads=False)
        assert dx is not None and dw is None and db is None


@pytest.mark.parametrize("rows, features, outputs", [(4, 32, 100), (5, 32, 100), (32, 800, 120), (3, 800, 10), (3, 7, 100)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_input_gradient_either_form_is_dy_times_w_transposed(rows, features, outputs, dtype):
    """input_gradient takes (w dy^T)^T where 8 N <= D and M >= 100, dy w^T elsewhere: the same
    products, C-contiguous either way (the layer before reshapes it)."""
    rng = np.random.default_rng(rows + features)
    dy = rng.standard_normal((rows, outputs)).astype(dtype)
    w = rng.standard_normal((features, outputs)).astype(dtype)
    dx = input_gradient(dy, w)
    exact = dy.astype(np.float64) @ w.T.astype(np.float64)
    assert dx.dtype == dtype and dx.shape == (rows, features) and dx.flags.c_contiguous
    np.testing.assert_allclose(dx, exact, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.parametrize("dy_shape, w_shape", [((4, 100), (32, 99)), ((4,), (32, 100)), ((4, 100), (100,))])
def test_input_gradient_names_both_arguments_on_mismatched_shapes(dy_shape, w_shape):
    dy, w = np.ones(dy_shape), np.ones(w_shape)
    with pytest.raises(ValueError, match=r"dy must be \(N, M\) and w \(D, M\).*got dy"):
        input_gradient(dy, w)
    assert (dy == 1).all() and (w == 1).all()
