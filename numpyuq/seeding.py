"""Random state: every random draw in numpyuq comes from an explicit ``numpy.random.Generator``."""
import numpy as np


def as_generator(rng):
    """``rng`` as a Generator: a Generator is returned as it is, an int seeds a new one, and None
    draws fresh entropy from the operating system (not reproducible)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)
