"""Residual connection, y = x + f(x) (He et al. 2016)."""
from ..backend import get_array_module
from .module import Module


class Residual(Module):
    """y = x + f(x); the identity path adds dy to the branch's input gradient."""

    splittable = True

    def __init__(self, branch):
        self.branch = branch

    def forward(self, x, training=False):
        return x + self.branch(x, training=training)

    def backward(self, dy):
        dx = self.branch.backward(dy)
        if get_array_module(dx).may_share_memory(dx, dy):    # e.g. a branch that passes dy through
            return dx + dy
        dx += dy             # in place: saves an allocation on every step
        return dx

    def __repr__(self):
        return f"Residual({self.branch!r})"
