"""Dirichlet uncertainty: u = K / S."""
import numpy as np
import pytest

from numpyuq.uncertainty import dirichlet_uncertainty


def test_dirichlet_uncertainty():
    probs, u = dirichlet_uncertainty(np.array([[0.0, 0.0, 0.0], [7.0, 0.0, 0.0]]))
    np.testing.assert_allclose(u, [1.0, 0.3])
    np.testing.assert_allclose(probs[1], [0.8, 0.1, 0.1])


def test_log_space_uncertainty_is_k_over_s_of_exp_evidence(rng):
    from numpyuq.uncertainty import uncertainty_mass_from_logits
    from numpyuq.uncertainty.dirichlet import uncertainty_from_log_evidence
    logits = rng.standard_normal((20, 4)) * 3
    _, u = dirichlet_uncertainty(np.exp(logits))
    np.testing.assert_allclose(uncertainty_from_log_evidence(logits), u, rtol=1e-12)
    np.testing.assert_array_equal(uncertainty_mass_from_logits(logits), uncertainty_from_log_evidence(logits))
    extreme = uncertainty_from_log_evidence(np.array([[1e4, 0.0], [-1e4, -1e4]]))
    np.testing.assert_allclose(extreme, [0.0, 1.0])


def test_closed_form_measures_against_scipy_and_monte_carlo():
    import scipy.stats

    from numpyuq.uncertainty import dirichlet_measures
    evidence = np.array([[0.0, 0.0, 0.0], [5.0, 1.0, 0.5], [40.0, 0.0, 2.0]])
    measures = dirichlet_measures(evidence)
    rng = np.random.default_rng(0)
    for row, e in enumerate(evidence):
        alpha = e + 1
        assert measures.dirichlet_entropy[row] == pytest.approx(scipy.stats.dirichlet(alpha).entropy(), rel=1e-10)
        samples = np.clip(rng.dirichlet(alpha, size=200_000), 1e-300, None)
        entropies = -(samples * np.log(samples)).sum(axis=1)
        assert abs(entropies.mean() - measures.expected_entropy[row]) < 4 * entropies.std() / np.sqrt(len(entropies))
    np.testing.assert_allclose(measures.mutual_information, measures.predictive_entropy - measures.expected_entropy)
    assert np.all(measures.mutual_information >= 0)
    np.testing.assert_allclose(measures.uncertainty_mass, 3 / (evidence + 1).sum(axis=1))


def test_nan_evidence_and_labels_outside_the_classes_are_refused():
    import pytest
    from numpyuq.uncertainty import dirichlet_measures, evidential_statistics
    with pytest.raises(ValueError, match="evidence must be finite"):
        dirichlet_measures(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), got values in \[5, 5\]"):
        evidential_statistics(np.array([[1.0, 2.0]]), np.array([5]))
    with pytest.raises(ValueError, match="labels must have 1 entries"):
        evidential_statistics(np.array([[1.0, 2.0]]), np.array([0, 1]))
