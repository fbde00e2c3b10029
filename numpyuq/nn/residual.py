"""Residual connection, y = x + f(x) (He et al. 2016)."""
from .module import Module


class Residual(Module):
    """y = x + f(x); the identity path adds dy to the branch's input gradient."""

    def __init__(self, branch):
        self.branch = branch

    def forward(self, x, training=False):
        return x + self.branch(x, training=training)

    def backward(self, dy):
        return dy + self.branch.backward(dy)

    def __repr__(self):
        return f"Residual({self.branch!r})"
