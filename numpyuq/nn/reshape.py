"""Flatten: (N, ...) -> (N, prod(...))."""
from .module import Module


class Flatten(Module):
    """x: (N, d1, d2, ...) -> y: (N, d1 * d2 * ...); backward restores the shape."""

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)
