"""Reshapes: Flatten (N, ...) -> (N, prod(...)); ChannelsLast NCHW -> NHWC."""
import math

from ..backend import get_array_module
from .module import Module


class Flatten(Module):
    """x: (N, d1, d2, ...) -> y: (N, d1 * d2 * ...); backward restores the shape."""

    splittable = True

    def forward(self, x, training=False):
        self.remember(x.shape, training)
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))     # not -1: a batch may have 0 rows

    def backward(self, dy):
        return dy.reshape(self.cached())


class ChannelsLast(Module):
    """NCHW -> NHWC: x (N, C, H, W) -> (N, H, W, C); backward transposes dy back.

    For one channel the two layouts are the same memory, and no copy is made.
    """

    splittable = True

    def forward(self, x, training=False):
        return get_array_module(x).ascontiguousarray(x.transpose(0, 2, 3, 1))

    def backward(self, dy):
        return dy.transpose(0, 3, 1, 2)
