"""LeNet5 (uncertainty-baselines'): whole-network gradient checks at a small width, the published
size, Keras' initialisation and flatten order against an independent NumPy forward pass."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_module
from numpyuq.models import LeNet5, LeNet5SNGP
from numpyuq.nn.conv import conv2d_forward
from tests.helpers import assert_grad_ok


@pytest.mark.parametrize("training", [False, True])
def test_lenet5_gradients(rng, training):
    model = LeNet5(channels=(2, 2, 3), num_hidden=4, dropout_rate=0.3, seed=0, input_grad=True, dtype=np.float64)
    assert_grad_ok(check_module(model, rng.random((2, 1, 28, 28)), training=training))


def test_lenet5_sngp_gradients(rng):
    model = LeNet5SNGP(channels=(2, 2, 3), num_hidden=4, num_inducing=8, seed=0, input_grad=True, dtype=np.float64)
    assert_grad_ok(check_module(model, rng.random((2, 1, 28, 28)), training=False))


def test_published_size_and_keras_initialisation():
    model = LeNet5(seed=0)
    assert sum(p.value.size for p in model.parameters()) == 545_546      # 156 + 2,416 + 48,120 + 494,004 + 850
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    for conv in convs:
        f, c, kh, kw = conv.w.value.shape
        limit = np.sqrt(6 / (c * kh * kw + f * kh * kw))                  # Glorot-uniform bound
        assert np.abs(conv.w.value).max() <= limit and np.abs(conv.w.value).max() > 0.9 * limit
        assert not conv.b.value.any()                                      # zero biases


def test_forward_equals_an_independent_keras_order_computation(rng):
    """Conv SAME + ReLU + max-pool by the textbook NCHW convolution, then Keras' channels-last
    flatten (h, w, c): the same logits."""
    model = LeNet5(seed=1, dtype=np.float64)
    x = rng.random((3, 1, 28, 28))
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    dense, out = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    h = x
    for conv, pool in zip(convs, (2, 2, None)):
        h = np.maximum(conv2d_forward(h, conv.w.value, conv.b.value, 1, 2)[0], 0)
        if pool:
            n, c, hh, ww = h.shape
            h = h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    assert h.shape == (3, 120, 7, 7)
    flat = h.transpose(0, 2, 3, 1).reshape(3, -1)                          # Keras: NHWC flatten
    logits = np.maximum(flat @ dense.w.value + dense.b.value, 0) @ out.w.value + out.b.value
    np.testing.assert_allclose(model.predict_logits(x), logits, rtol=1e-10, atol=1e-12)


def test_dropout_only_when_asked_and_bad_input():
    assert not any(type(layer).__name__ == "Dropout" for layer in LeNet5().layers)
    assert [type(layer).__name__ for layer in LeNet5(dropout_rate=0.5).layers][-2] == "Dropout"
    with pytest.raises(ValueError, match="LeNet5 input x must be NCHW images"):
        LeNet5().forward(np.zeros((2, 1, 32, 32), np.float32))
    with pytest.raises(ValueError, match="channels must be a triple"):
        LeNet5(channels=(6, 16))
