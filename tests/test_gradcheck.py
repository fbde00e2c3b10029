"""The gradient checker must catch a wrong backward pass, not only bless right ones."""
import numpy as np
import pytest

from numpyuq.gradcheck import check_loss, check_module, check_pair
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
    report = check_module(WrongDense(3, 2, seed=rng, dtype=np.float64), rng.standard_normal((4, 3)))
    assert report.max_rel_error > 1e-3
    assert report.worst == ("w", (0, 0))


def test_checker_flags_a_wrong_loss_gradient(rng):
    report = check_loss(WrongLoss(), rng.standard_normal((4, 3)), np.array([0, 1, 2, 1]))
    assert report.max_rel_error > 1e-4


def test_checker_demands_float64(rng):
    with pytest.raises(TypeError, match="float64"):
        check_module(Dense(3, 2, seed=rng), rng.standard_normal((4, 3)).astype(np.float32))


def test_check_pair_flags_a_wrong_backward_and_reports_plain_ints(rng):
    def forward(x, w):
        return x @ w, (x, w)

    def right(dy, cache):
        x, w = cache
        return dy @ w.T, x.T @ dy

    def wrong(dy, cache):
        dx, dw = right(dy, cache)
        return dx, dw * 1.001

    inputs = {"x": rng.standard_normal((3, 4)), "w": rng.standard_normal((4, 2))}
    assert check_pair(forward, right, inputs).max_rel_error < 1e-8
    report = check_pair(forward, wrong, inputs)
    assert report.per_array["w"] > 1e-4 and report.worst[0] == "w"
    assert all(type(i) is int for i in report.worst[1]) and "np.int64" not in repr(report)


def test_a_nan_gradient_fails_the_check(rng):
    def forward(x):
        return x * 2, None

    def nan_backward(dy, cache):
        return (dy * np.nan,)

    report = check_pair(forward, nan_backward, {"x": rng.standard_normal(3)})
    assert report.max_rel_error == np.inf and report.worst[0] == "x"
