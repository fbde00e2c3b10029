"""The gradient checker must catch a wrong backward pass, not only bless right ones."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_loss, check_module
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.nn import Dense


class WrongDense(Dense):
    def backward(self, dy):
        dx = super().backward(dy)
        self.w.grad[0, 0] *= 1.01          # a 1% error in one element of one parameter
        return dx


class WrongLoss(SoftmaxCrossEntropy):
    def backward(self, dy=1.0):
        return super().backward(dy) * 1.001


def test_checker_flags_a_wrong_parameter_gradient(rng):
    report = check_module(WrongDense(3, 2, rng=rng, dtype=np.float64), rng.standard_normal((4, 3)))
    assert report.max_rel_error > 1e-3
    assert report.worst == ("w", (0, 0))


def test_checker_flags_a_wrong_loss_gradient(rng):
    report = check_loss(WrongLoss(), rng.standard_normal((4, 3)), np.array([0, 1, 2, 1]))
    assert report.max_rel_error > 1e-4


def test_checker_demands_float64(rng):
    with pytest.raises(TypeError, match="float64"):
        check_module(Dense(3, 2, rng=rng), rng.standard_normal((4, 3)).astype(np.float32))
