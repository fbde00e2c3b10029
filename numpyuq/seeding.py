"""Random state: every random draw in numpyuq comes from an explicit ``numpy.random.Generator``.

Everything random takes one argument, ``seed``: an int (the default 0 in every model, layer and
``fit``, so the same call twice gives the same result), a Generator (shared, to chain draws), or
None (fresh entropy from the operating system: not reproducible, on request only).
"""
import numpy as np


def as_generator(seed, name="seed"):
    """``seed`` as a Generator: a Generator is returned as it is, an int >= 0 seeds a new one, and
    None draws fresh entropy. Anything else raises, naming ``name``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"{name} must be an int, a numpy Generator or None, got {type(seed).__name__}")
    if seed is not None and seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(seed)
