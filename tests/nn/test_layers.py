"""Gradient checks (float64, every element) for the basic layers, plus their forward semantics."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module
from numpyuq.nn import (Dense, Dropout, Flatten, LayerNorm, ReLU, Residual, Sequential, Softplus,
                        dropout_at_inference)
from tests.helpers import assert_grad_ok


def off_kinks(rng, shape, margin=0.05):
    """Normal draws pushed at least ``margin`` away from 0, where ReLU has its kink."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


@pytest.mark.parametrize("activation", [None, "relu"])
def test_dense_gradients(rng, activation):
    layer = Dense(5, 4, activation=activation, rng=rng, dtype=np.float64)
    layer.b.value[...] = rng.standard_normal(4)
    assert_grad_ok(check_module(layer, rng.standard_normal((6, 5))))


def test_dense_forward_is_affine(rng):
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(layer(x), x @ layer.w.value + layer.b.value)


def test_frozen_dense_has_no_trainable_parameters_but_passes_gradient(rng):
    layer = Dense(3, 2, trainable=False, rng=rng, dtype=np.float64)
    assert layer.parameters() == []
    report = check_module(layer, rng.standard_normal((4, 3)))
    assert list(report.per_array) == ["input"]
    assert_grad_ok(report)
    assert not layer.w.grad.any()


def test_dense_rejects_wrong_rank_and_feature_size(rng):
    layer = Dense(3, 2, rng=rng)
    with pytest.raises(ValueError, match=r"Dense input x must have 2 dimensions, got shape \(3,\)"):
        layer(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"3 features.*got shape \(4, 5\)"):
        layer(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="activation"):
        Dense(3, 2, activation="tanh")


def test_relu_and_softplus_gradients(rng):
    assert_grad_ok(check_module(ReLU(), off_kinks(rng, (4, 7))))
    assert_grad_ok(check_module(Softplus(), 3 * rng.standard_normal((4, 7))))


def test_softplus_is_stable_at_extreme_inputs():
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4])
    layer = Softplus()
    y = layer(x)
    np.testing.assert_allclose(y, [0.0, np.exp(-50.0), np.log(2.0), 50.0, 1e4], rtol=1e-12, atol=0)
    dx = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(dx))
    np.testing.assert_allclose(dx, [0.0, np.exp(-50.0), 0.5, 1.0, 1.0], rtol=1e-12, atol=0)


@pytest.mark.parametrize("training", [False, True])
def test_dropout_gradients_with_fixed_mask(rng, training):
    assert_grad_ok(check_module(Dropout(0.3, rng=0), rng.standard_normal((8, 6)), training=training))


def test_dropout_scales_survivors_and_is_identity_at_inference(rng):
    layer = Dropout(0.25, rng=0)
    x = np.ones((400, 50))
    y = layer(x, training=True)
    assert set(np.unique(y)) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.01
    np.testing.assert_array_equal(layer(x, training=False), x)
    with dropout_at_inference(layer):
        assert (layer(x, training=False) == 0).any()
    np.testing.assert_array_equal(layer(x, training=False), x)
    with pytest.raises(ValueError, match=r"rate must lie in \[0, 1\), got 1.5"):
        Dropout(1.5)


def test_flatten_round_trip(rng):
    layer = Flatten()
    x = rng.standard_normal((2, 3, 4, 5))
    assert layer(x).shape == (2, 60)
    assert_grad_ok(check_module(layer, x))


def test_layernorm_gradients_and_statistics(rng):
    layer = LayerNorm(6, dtype=np.float64)
    layer.gamma.value[...] = rng.uniform(0.5, 1.5, 6)
    layer.beta.value[...] = rng.standard_normal(6)
    assert_grad_ok(check_module(layer, 3 * rng.standard_normal((5, 6)) + 2))
    plain = LayerNorm(6, dtype=np.float64)
    y = plain(rng.standard_normal((5, 6)) * 4 + 1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1, rtol=1e-4)


@pytest.mark.parametrize("training", [False, True])
def test_residual_sequential_gradients(rng, training):
    block = Residual(Sequential(Dense(4, 4, activation="relu", rng=rng, dtype=np.float64),
                                Dropout(0.2, rng=1)))
    assert_grad_ok(check_module(block, rng.standard_normal((5, 4)), training=training))


def test_parameters_are_named_by_path(rng):
    net = Sequential(Dense(2, 3, rng=rng), Residual(Sequential(Dense(3, 3, rng=rng))))
    names = [name for name, _ in net.named_parameters()]
    assert names == ["layers.0.w", "layers.0.b", "layers.1.branch.layers.0.w", "layers.1.branch.layers.0.b"]


def test_residual_with_a_pass_through_branch_does_not_corrupt_dy(rng):
    block = Residual(Dropout(0.0))             # the branch returns dy itself
    x = rng.standard_normal((3, 4))
    block(x)
    dy = rng.standard_normal((3, 4))
    saved = dy.copy()
    np.testing.assert_array_equal(block.backward(dy), 2 * saved)
    np.testing.assert_array_equal(dy, saved)
