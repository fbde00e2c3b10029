"""LeNet: whole-network gradient checks, shapes, and learning digits."""
import numpy as np
import pytest
import scipy.ndimage
import sklearn.datasets

from numpyuq.gradcheck import check_module
from numpyuq.losses import SoftmaxCrossEntropy, softmax
from numpyuq.metrics import accuracy
from numpyuq.models import LeNet
from numpyuq.optim import Adam
from numpyuq.training import fit, predict_logits
from tests.helpers import assert_grad_ok
from tests.tiny_models import tiny_lenet


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.parametrize("training", [False, True])
def test_lenet_gradients(rng, training, data_format):
    model = LeNet(dropout_rate=0.3, channels=(2, 3), num_hidden=8, seed=0, input_grad=True,
                  data_format=data_format, dtype=np.float64)
    assert_grad_ok(check_module(model, rng.standard_normal((2, 1, 28, 28)), training=training))


def test_lenet_without_input_grad_gives_the_same_parameter_gradients(rng):
    x = rng.standard_normal((3, 1, 28, 28))
    grads = []
    for input_grad in (True, False):
        model = tiny_lenet(seed=0, input_grad=input_grad, dtype=np.float64)
        model(x)
        dx = model.backward(rng.standard_normal((3, 10)) * 0 + 1.0)
        assert (dx is None) == (not input_grad)
        grads.append([p.grad.copy() for p in model.parameters()])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_lenet_shapes_and_size():
    model = LeNet()
    assert model(np.zeros((3, 1, 28, 28), np.float32)).shape == (3, 10)
    sizes = [p.value.size for p in model.parameters()]
    assert sum(sizes) == 500 + 20 + 25000 + 50 + 400000 + 500 + 5000 + 10


def digits28(n):
    digits = sklearn.datasets.load_digits()
    images = np.stack([scipy.ndimage.zoom(img, 3.5, order=1) for img in digits.images[:n]]) / 16.0
    return images[:, None].astype(np.float32), digits.target[:n]       # (n, 1, 28, 28)


def test_lenet_learns_digits():
    x, y = digits28(600)
    model = LeNet(seed=0)
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3), x[:500], y[:500],
                  epochs=6, batch_size=64, seed=0, progress=False)
    assert history.loss[-1] < history.loss[0] / 3
    assert accuracy(softmax(predict_logits(model, x[500:])), y[500:]) > 0.7     # chance is 0.1


def test_lenet_prints_its_layers_with_activation_and_layout():
    text = repr(LeNet())
    assert text.startswith("LeNet(")
    assert "activation='relu', pool=2, data_format='NHWC'" in text


@pytest.mark.parametrize("semantics", ["operator", "matrix"])
@pytest.mark.parametrize("mode", ["project", "reparam", "reparam_stopgrad"])
def test_lenet_sngp_gradients(rng, semantics, mode):
    """The whole SNGP LeNet (narrow), float64, after a training pass has run power iteration."""
    from numpyuq.models import LeNetSNGP
    model = LeNetSNGP(num_classes=3, channels=(2, 3), num_hidden=6, num_inducing=8, spec_norm_bound=0.5,
                      spec_norm_mode=mode, semantics=semantics, input_grad=True, dtype=np.float64)
    x = rng.standard_normal((2, 1, 28, 28))
    model(x, training=True)
    report = check_module(model, x, training=False)
    if mode == "reparam_stopgrad":      # drops d sigma / dW on purpose: only the input gradient is exact
        assert report.per_array["input"] < 1e-6 and report.max_rel_error > 1e-3
    else:
        assert_grad_ok(report)


def test_lenet_sngp_predicts_mean_field_probabilities_and_learns(rng):
    from numpyuq.models import LeNetSNGP
    model = LeNetSNGP(channels=(4, 8), num_hidden=32, num_inducing=64)
    x = rng.random((6, 1, 28, 28), dtype=np.float32)
    probs = model.predict(x)
    logits, variance = model.predict_with_variance(x)
    assert probs.shape == (6, 10) and variance.shape == (6,) and np.all(variance > 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)


def test_renamed_arguments_still_work_and_say_the_new_name():
    with pytest.warns(DeprecationWarning, match="'hidden' is renamed 'num_hidden'"):
        old = LeNet(hidden=8, channels=(2, 3))
    np.testing.assert_array_equal(old.state_dict()["layers.4.w"], LeNet(num_hidden=8, channels=(2, 3)).state_dict()["layers.4.w"])
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        LeNet(hiden=8)
