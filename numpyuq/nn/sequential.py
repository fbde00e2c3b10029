"""A chain of modules; backward runs the chain in reverse."""
from .module import Module


class Sequential(Module):
    """y = f_k(... f_2(f_1(x))).  Parameters are named ``layers.<i>.<name>``."""

    splittable = True

    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x, training=False):
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
            if dy is None:            # a first layer that skips its input gradient
                return None
        return dy

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"{type(self).__name__}(\n  {inner}\n)"
