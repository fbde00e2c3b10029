import numpy as np
import pytest
import scipy.special

from numpyuq.gradcheck import check_loss, check_pair
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.losses.cross_entropy import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from tests.helpers import assert_grad_ok


def test_cross_entropy_gradient(rng):
    logits = 2 * rng.standard_normal((7, 4))
    labels = rng.integers(0, 4, 7)
    assert_grad_ok(check_loss(SoftmaxCrossEntropy(), logits, labels))


def test_cross_entropy_matches_scipy(rng):
    logits = rng.standard_normal((5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    expected = -scipy.special.log_softmax(logits, axis=1)[np.arange(5), labels].mean()
    np.testing.assert_allclose(SoftmaxCrossEntropy()(logits, labels), expected, rtol=1e-13)


def test_cross_entropy_is_stable_at_extreme_logits():
    loss = SoftmaxCrossEntropy()
    logits = np.array([[1e4, -1e4], [-1e4, 1e4], [1e4, 1e4]])
    value = loss(logits, np.array([0, 0, 1]))
    np.testing.assert_allclose(value, (0 + 2e4 + np.log(2)) / 3)
    grad = loss.backward()
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0, 0], [-1 / 3, 1 / 3], [1 / 6, -1 / 6]], atol=1e-15)


def test_cross_entropy_rejects_bad_labels(rng):
    loss = SoftmaxCrossEntropy()
    logits = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\), got values in \[0, 3\]"):
        loss(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="labels must have 4 entries"):
        loss(logits, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integer class indices"):
        loss(logits, np.array([0.0, 1.0, 2.0, 1.0]))


def test_pure_pair(rng):
    report = check_pair(softmax_cross_entropy_forward, softmax_cross_entropy_backward,
                        {"logits": rng.standard_normal((6, 4)) * 2}, labels=rng.integers(0, 4, 6))
    assert_grad_ok(report)
