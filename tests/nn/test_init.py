"""Initialisers: the bounds of Keras' Glorot-uniform and PyTorch's default uniform, and seeding."""
import numpy as np

from numpyuq.nn.init import glorot_uniform, torch_uniform


def test_glorot_uniform_bound_and_spread():
    w = glorot_uniform(np.random.default_rng(0), 300, 200, (300, 200), np.float32)
    limit = np.sqrt(6 / 500)
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    np.testing.assert_allclose(w.var(), limit ** 2 / 3, rtol=0.02)          # variance of U(-l, l)


def test_torch_uniform_bound_and_reproducibility():
    a = torch_uniform(np.random.default_rng(1), 25, (20, 1, 5, 5), np.float64)
    b = torch_uniform(np.random.default_rng(1), 25, (20, 1, 5, 5), np.float64)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 0.2 and np.abs(a).max() > 0.19
