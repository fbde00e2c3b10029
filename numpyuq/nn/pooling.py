"""Max pooling, NCHW; the gradient goes to the input that won each window."""
from ..kernels.pooling import maxpool_backward, maxpool_forward
from ..kernels.pooling_nhwc import maxpool_nhwc_backward, maxpool_nhwc_forward
from ..validation import check_features
from .module import Module


_KERNELS = {"NCHW": (maxpool_forward, maxpool_backward), "NHWC": (maxpool_nhwc_forward, maxpool_nhwc_backward)}


def maxpool2d_forward(x, size, stride, data_format="NCHW"):
    """y[n, c, i, j] = max of x[n, c, i s : i s + size, j s : j s + size].  (N, C, H, W) -> (N, C, OH, OW)
    (or (N, H, W, C) -> (N, OH, OW, C) for NHWC)."""
    y, argmax = _KERNELS[data_format][0](x, size, stride)
    return y, (argmax, x.shape, size, stride, data_format)


def maxpool2d_backward(dy, cache):
    """dx is zero except at each window's argmax, which receives that window's dy."""
    argmax, x_shape, size, stride, data_format = cache
    return (_KERNELS[data_format][1](dy, argmax, x_shape, size, stride),)


class MaxPool2D(Module):
    """Max pooling over ``size`` x ``size`` windows every ``stride`` pixels; NCHW or NHWC."""

    def __init__(self, size=2, stride=2, data_format="NCHW"):
        if data_format not in _KERNELS:
            raise ValueError(f"data_format must be 'NCHW' or 'NHWC', got {data_format!r}")
        self.size, self.stride, self.data_format = size, stride, data_format

    def forward(self, x, training=False):
        check_features(x, "MaxPool2D input x", ndim=4)
        y, self._cache = maxpool2d_forward(x, self.size, self.stride, self.data_format)
        return y

    def backward(self, dy):
        (dx,) = maxpool2d_backward(dy, self._cache)
        return dx

    def __repr__(self):
        return f"MaxPool2D(size={self.size}, stride={self.stride})"
