"""as_generator: a Generator passes through, an int seeds, None draws fresh entropy."""
import numpy as np

from numpyuq.seeding import as_generator


def test_as_generator():
    g = np.random.default_rng(3)
    assert as_generator(g) is g
    assert as_generator(5).random() == np.random.default_rng(5).random()
    assert as_generator(None).random() != as_generator(None).random()
