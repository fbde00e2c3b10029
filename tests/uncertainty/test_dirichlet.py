"""Dirichlet uncertainty: u = K / S."""
import numpy as np

from numpyuq.uncertainty import dirichlet_uncertainty


def test_dirichlet_uncertainty():
    probs, u = dirichlet_uncertainty(np.array([[0.0, 0.0, 0.0], [7.0, 0.0, 0.0]]))
    np.testing.assert_allclose(u, [1.0, 0.3])
    np.testing.assert_allclose(probs[1], [0.8, 0.1, 0.1])


def test_log_space_uncertainty_is_k_over_s_of_exp_evidence(rng):
    from numpyuq.metrics import dempster_shafer
    from numpyuq.uncertainty.dirichlet import uncertainty_from_log_evidence
    logits = rng.standard_normal((20, 4)) * 3
    _, u = dirichlet_uncertainty(np.exp(logits))
    np.testing.assert_allclose(uncertainty_from_log_evidence(logits), u, rtol=1e-12)
    np.testing.assert_array_equal(dempster_shafer(logits), uncertainty_from_log_evidence(logits))
    extreme = uncertainty_from_log_evidence(np.array([[1e4, 0.0], [-1e4, -1e4]]))
    np.testing.assert_allclose(extreme, [0.0, 1.0])
