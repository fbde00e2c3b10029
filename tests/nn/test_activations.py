"""ReLU and Softplus: gradient checks and stability at extreme inputs."""
import numpy as np

from numpyuq.gradcheck import check_module, check_pair
from numpyuq.nn import ReLU, Softplus
from numpyuq.nn.activations import (
    relu_backward,
    relu_forward,
    softplus_backward,
    softplus_forward,
)
from tests.helpers import assert_grad_ok


def off_kinks(rng, shape, margin=0.05):
    """Normal draws pushed at least ``margin`` away from 0, where ReLU has its kink."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin, x)


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


def test_pure_pairs(rng):
    assert_grad_ok(check_pair(relu_forward, relu_backward, {"x": off_kinks(rng, (4, 7))}))
    assert_grad_ok(check_pair(softplus_forward, softplus_backward, {"x": 3 * rng.standard_normal((4, 7))}))
