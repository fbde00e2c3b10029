"""Max pooling, NCHW; the gradient goes to the input that won each window."""
from ..kernels.pooling import maxpool_backward, maxpool_forward
from ..validation import check_features
from .module import Module


def maxpool2d_forward(x, size, stride):
    """y[n, c, i, j] = max of x[n, c, i s : i s + size, j s : j s + size].  (N, C, H, W) -> (N, C, OH, OW)."""
    y, argmax = maxpool_forward(x, size, stride)
    return y, (argmax, x.shape, size, stride)


def maxpool2d_backward(dy, cache):
    """dx is zero except at each window's argmax, which receives that window's dy."""
    argmax, x_shape, size, stride = cache
    return (maxpool_backward(dy, argmax, x_shape, size, stride),)


class MaxPool2D(Module):
    """Max pooling over ``size`` x ``size`` windows every ``stride`` pixels."""

    def __init__(self, size=2, stride=2):
        self.size, self.stride = size, stride

    def forward(self, x, training=False):
        check_features(x, "MaxPool2D input x", ndim=4)
        y, self._cache = maxpool2d_forward(x, self.size, self.stride)
        return y

    def backward(self, dy):
        (dx,) = maxpool2d_backward(dy, self._cache)
        return dx

    def __repr__(self):
        return f"MaxPool2D(size={self.size}, stride={self.stride})"
