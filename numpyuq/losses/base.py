"""Loss protocol: ``forward(inputs, targets) -> scalar``, ``backward(dy=1) -> d inputs``."""


class Loss:
    """A scalar objective with a hand-written gradient with respect to its first argument."""

    def forward(self, inputs, targets):
        raise NotImplementedError(f"{type(self).__name__} must define forward (abstract in the base class)")

    def backward(self, dy=1.0):
        raise NotImplementedError(f"{type(self).__name__} must define backward (abstract in the base class)")

    def check_targets(self, targets, num_outputs, name="targets"):
        """Raise unless ``targets`` (all of them, not one batch) suit inputs with ``num_outputs``
        columns. ``fit`` calls it before training starts; the base class accepts anything."""

    def __call__(self, inputs, targets):
        return self.forward(inputs, targets)
