"""Elementwise activations: ReLU and Softplus."""
from ..backend import get_array_module
from .module import Module


def relu_forward(x):
    """y = max(x, 0).  x: any shape -> y: same shape."""
    y = get_array_module(x).maximum(x, 0)
    return y, y


def relu_backward(dy, cache):
    """dx = dy * [x > 0]; the output y > 0 exactly where x > 0, so y is all we keep."""
    y = cache
    return (dy * (y > 0),)


def stable_sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp is only ever taken of -|x|."""
    xp = get_array_module(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0, e) / (1.0 + e)


def softplus_forward(x):
    """y = log(1 + exp(x)) computed as max(x, 0) + log1p(exp(-|x|)), finite for any |x|."""
    xp = get_array_module(x)
    y = xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))
    return y, x


def softplus_backward(dy, cache):
    """dy/dx of softplus is the logistic sigmoid."""
    x = cache
    return (dy * stable_sigmoid(x),)


class Activation(Module):
    """An elementwise map run by its pure pair, ``pair = (forward, backward)``, set by each subclass."""

    splittable = True

    pair = None

    def forward(self, x, training=False):
        forward, _ = self.pair
        y, cache = forward(x)
        self.remember(cache, training)
        return y

    def backward(self, dy):
        _, backward = self.pair
        (dx,) = backward(dy, self.cached())
        return dx

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """Rectified linear unit, y = max(x, 0)."""
    pair = (relu_forward, relu_backward)


class Softplus(Activation):
    """y = log(1 + e^x), stable for large |x|; EDL's default evidence function."""
    pair = (softplus_forward, softplus_backward)
