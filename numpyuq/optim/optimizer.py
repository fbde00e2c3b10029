"""Optimizer base: owns flat parameter groups, clears gradients in one call."""
from .flat import pack_parameters


class Optimizer:
    """Base class.  ``params``: iterable of ``Parameter`` (e.g. ``model.parameters()``)."""

    def __init__(self, params, lr, weight_decay=0.0, decoupled=False):
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.groups = pack_parameters(params)
        self.lr, self.weight_decay, self.decoupled = lr, weight_decay, decoupled
        self.step_count = 0

    def zero_grad(self):
        for group in self.groups:
            group.grad.fill(0)

    def step(self):
        """One update of every parameter, after checking that they are still this optimizer's."""
        for group in self.groups:
            if not group.owns_parameters():
                raise RuntimeError(
                    f"{type(self).__name__} no longer holds its parameters: another optimizer was built on "
                    "them, or the model was cast (astype) or moved after this optimizer was built. "
                    "Build the optimizer again on model.parameters(); this one would train nothing.")
        self.step_count += 1
        self.update()

    def update(self):
        raise NotImplementedError(f"{type(self).__name__} must define update (abstract in the base class)")
