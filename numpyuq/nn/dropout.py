"""Inverted dropout (Srivastava et al. 2014): drop with probability ``rate``, scale survivors by 1/(1-rate)."""
import contextlib
import math

from ..kernels.dropout_mask import keep_mask
from ..seeding import as_generator
from ..validation import check_probability
from .module import Module, attributes_set


def dropout_forward(x, multiplier):
    """y = x * multiplier, with multiplier = keep / (1 - rate): 0 for dropped units, 1 / (1 - rate)
    for kept ones (inverted dropout keeps E[y] = x).  x, multiplier: same shape."""
    return x * multiplier, multiplier


def dropout_backward(dy, cache):
    """The map is linear and diagonal: dx = dy * multiplier."""
    multiplier = cache
    return (dy * multiplier,)


class Dropout(Module):
    """Dropout with its own seeded Generator, active only when ``training=True``.

    MC dropout needs dropout at prediction time *without* the other training-time side effects
    (power iteration, GP precision updates); ``dropout_at_inference(model)`` switches it on alone.
    """

    splittable = True

    def __init__(self, rate, seed=0):
        check_probability(rate, "rate")
        self.rate = rate
        self.rng = as_generator(seed)
        self.active_at_inference = False
        self.shared_key = None      # (key, first row) for the next pass, set by share_randomness

    def share_randomness(self, twins, first_rows):
        """One key for the whole batch; each slice hashes the positions of its own rows.
        ``first_rows=None`` forgets a key that a failed pass left unused."""
        if first_rows is None:
            for module in (self, *twins):
                module.shared_key = None
            return
        if self.rate == 0:
            return
        key = self.draw_key()
        for module, first_row in zip((self, *twins), first_rows):
            module.shared_key = (key, first_row)

    def draw_key(self):
        """One 63-bit key from our Generator per batch; the mask is a hash of (key, position)."""
        return int(self.rng.integers(0, 2**63))

    def forward(self, x, training=False):
        if self.rate == 0 or not (training or self.active_at_inference):
            self._cache = None
            return x
        if self.shared_key is None:
            key, first = self.draw_key(), 0
        else:                                       # this slice's rows of the batch's mask
            (key, first_row), self.shared_key = self.shared_key, None
            first = first_row * math.prod(x.shape[1:])
        multiplier = keep_mask(key, x.shape, self.rate, like=x, value=1.0 / (1.0 - self.rate), first=first)
        y, cache = dropout_forward(x, multiplier)
        self.remember(cache, training)
        return y

    def backward(self, dy):
        if self._cache is None:
            return dy
        (dx,) = dropout_backward(dy, self._cache)
        return dx

    def __repr__(self):
        return f"Dropout(rate={self.rate})"


@contextlib.contextmanager
def dropout_at_inference(model, seed=None):
    """Within the block, every ``Dropout`` in ``model`` drops units even when ``training=False``.

    With a ``seed``, the masks come from generators spawned from it, and each layer's own generator
    is restored afterwards: the block then leaves no trace on the model, and the same seed gives
    the same masks.
    """
    layers = [m for m in model.modules() if isinstance(m, Dropout)]
    generators = as_generator(seed).spawn(len(layers)) if seed is not None else [m.rng for m in layers]
    with attributes_set(layers, "rng", generators), attributes_set(layers, "active_at_inference", True):
        yield model
