"""LeNet learns: a few epochs on scikit-learn's digits, resampled to 28 x 28."""
import numpy as np
import scipy.ndimage
import sklearn.datasets

from numpyuq.losses import SoftmaxCrossEntropy, softmax
from numpyuq.metrics import accuracy
from numpyuq.models import LeNet
from numpyuq.optim import Adam
from numpyuq.training import fit, predict


def digits28(n):
    digits = sklearn.datasets.load_digits()
    images = np.stack([scipy.ndimage.zoom(img, 3.5, order=1) for img in digits.images[:n]]) / 16.0
    return images[:, None].astype(np.float32), digits.target[:n]       # (n, 1, 28, 28)


def test_lenet_learns_digits():
    x, y = digits28(600)
    model = LeNet(seed=0)
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3), x[:500], y[:500],
                  epochs=6, batch_size=64, rng=0, progress=False)
    assert history.loss[-1] < history.loss[0] / 3
    assert accuracy(softmax(predict(model, x[500:])), y[500:]) > 0.7     # chance is 0.1
