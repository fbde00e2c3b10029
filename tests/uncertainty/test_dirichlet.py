"""Dirichlet uncertainty: u = K / S."""
import numpy as np

from numpyuq.uncertainty import dirichlet_uncertainty


def test_dirichlet_uncertainty():
    probs, u = dirichlet_uncertainty(np.array([[0.0, 0.0, 0.0], [7.0, 0.0, 0.0]]))
    np.testing.assert_allclose(u, [1.0, 0.3])
    np.testing.assert_allclose(probs[1], [0.8, 0.1, 0.1])
