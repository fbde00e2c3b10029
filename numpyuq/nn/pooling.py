"""Max pooling, NCHW or NHWC; the gradient goes to the input that won each window."""
from typing import NamedTuple

from ..kernels.pooling import maxpool_backward, maxpool_forward
from ..kernels.pooling_nhwc import maxpool_nhwc_backward, maxpool_nhwc_forward
from ..validation import check_choice, check_features, check_positive_int
from .module import Module

_KERNELS = {"NCHW": (maxpool_forward, maxpool_backward), "NHWC": (maxpool_nhwc_forward, maxpool_nhwc_backward)}


class PoolCache(NamedTuple):
    argmax: object          # int8 offset ki * size + kj of each window's winner, shaped like y
    x_shape: tuple
    size: int
    stride: int
    data_format: str


def maxpool2d_forward(x, size, stride, data_format="NCHW"):
    """y[n, c, i, j] = max of x[n, c, i s : i s + size, j s : j s + size].  (N, C, H, W) -> (N, C, OH, OW)
    (or (N, H, W, C) -> (N, OH, OW, C) for NHWC)."""
    y, argmax = _KERNELS[data_format][0](x, size, stride)
    return y, PoolCache(argmax, x.shape, size, stride, data_format)


def maxpool2d_backward(dy, cache):
    """dx is zero except at each window's argmax, which receives that window's dy."""
    backward = _KERNELS[cache.data_format][1]
    return (backward(dy, cache.argmax, cache.x_shape, cache.size, cache.stride),)


class MaxPool2D(Module):
    """Max pooling over ``size`` x ``size`` windows every ``stride`` pixels; NCHW or NHWC."""

    splittable = True

    def __init__(self, size=2, stride=2, data_format="NCHW"):
        check_choice(data_format, "data_format", tuple(_KERNELS))
        check_positive_int(size, "size")
        check_positive_int(stride, "stride")
        self.size, self.stride, self.data_format = size, stride, data_format

    def forward(self, x, training=False):
        check_features(x, "MaxPool2D input x", ndim=4)
        spatial = x.shape[2:] if self.data_format == "NCHW" else x.shape[1:3]
        if min(spatial) < self.size:
            raise ValueError(f"MaxPool2D input x has spatial size {tuple(spatial)}, smaller than the "
                             f"{self.size} x {self.size} window (shape {tuple(x.shape)}, {self.data_format})")
        y, cache = maxpool2d_forward(x, self.size, self.stride, self.data_format)
        self.remember(cache, training)
        return y

    def backward(self, dy):
        (dx,) = maxpool2d_backward(dy, self.cached())
        return dx

    def __repr__(self):
        return f"MaxPool2D(size={self.size}, stride={self.stride}, data_format={self.data_format!r})"
