import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from numpyuq import metrics


def test_metrics_against_hand_values_and_sklearn(rng):
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    assert metrics.accuracy(probs, labels) == 0.75
    np.testing.assert_allclose(metrics.nll(probs, labels), log_loss(labels, probs))
    np.testing.assert_allclose(metrics.brier_score(probs, labels),
                               np.mean([0.02, 0.08, 0.72, 0.18]))


def test_ece_hand_example():
    # Two bins used (B = 2): confidences 0.9, 0.8 (bin 2, both right), 0.6 (bin 2, wrong), 0.7 (bin 2, right)
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 1, 1])
    # All four in (0.5, 1]: accuracy 0.75, mean confidence 0.75 -> ECE 0.
    assert metrics.expected_calibration_error(probs, labels, num_bins=2) == pytest.approx(0.0)
    # Ten bins: {0.9: right} {0.8: right} {0.6: wrong} {0.7: right} -> (0.1 + 0.2 + 0.6 + 0.3) / 4
    assert metrics.expected_calibration_error(probs, labels, num_bins=10) == pytest.approx(0.3)
    conf, acc, counts = metrics.reliability_curve(probs, labels, num_bins=10)
    assert counts.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 0]


def test_entropy_and_mutual_information():
    uniform = np.full((1, 4), 0.25)
    np.testing.assert_allclose(metrics.predictive_entropy(uniform), np.log(4))
    agree = np.stack([np.array([[0.5, 0.5]])] * 3)
    disagree = np.stack([np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])])
    np.testing.assert_allclose(metrics.mutual_information(agree), 0, atol=1e-12)
    np.testing.assert_allclose(metrics.mutual_information(disagree), np.log(2), atol=1e-9)


def test_ood_scores(rng):
    score_in, score_out = rng.normal(0, 1, 200), rng.normal(1, 1, 100)
    expected = roc_auc_score(np.r_[np.zeros(200), np.ones(100)], np.r_[score_in, score_out])
    assert metrics.ood_auroc(score_in, score_out) == pytest.approx(expected)
    assert metrics.ood_auroc(np.zeros(3), np.ones(3)) == 1.0
    assert 0 < metrics.ood_aupr(score_in, score_out) <= 1


def test_dempster_shafer_is_edl_uncertainty_with_exp_evidence_and_stable():
    from numpyuq.uncertainty import uncertainty_mass_from_logits
    logits = np.array([[0.0, 0.0], [1e4, -1e4], [-1e4, -1e4]])
    u = uncertainty_mass_from_logits(logits)
    assert np.all(np.isfinite(u))
    np.testing.assert_allclose(u, [2 / (2 + 2), 0.0, 1.0], atol=1e-12)
    small = np.array([[0.3, -0.2, 1.0]])
    np.testing.assert_allclose(uncertainty_mass_from_logits(small), 3 / (3 + np.exp(small).sum()))


def test_metrics_reject_bad_labels():
    with pytest.raises(ValueError, match="labels must lie in"):
        metrics.accuracy(np.full((2, 2), 0.5), np.array([0, 2]))


def test_metrics_refuse_what_is_not_a_probability():
    """The issue's silent cases: all-NaN rows (accuracy 1.0), logits (ECE 1.5, NLL -0.9), rows
    summing to 2 (negative NLL), an empty OOD set (AUPR 1.0), (N, K) scores (AUROC 0.5)."""
    import numpy as np
    import pytest
    from numpyuq import metrics
    labels = np.array([0, 1, 0])
    with pytest.raises(ValueError, match="probs must be finite, got 6 NaN"):
        metrics.accuracy(np.full((3, 2), np.nan), labels)
    logits = np.array([[3.0, -1.0], [0.5, 2.0], [1.0, 0.0]])
    for fn in (metrics.expected_calibration_error, metrics.nll, metrics.brier_score):
        with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\].*logits\?"):
            fn(logits, labels)
    with pytest.raises(ValueError, match=f"rows must sum to 1 \\(within {metrics.PROB_TOLERANCE}\\)"):
        metrics.nll(np.ones((3, 2)), labels)
    with pytest.raises(ValueError, match="uncertainty_in must be a non-empty 1-D array"):
        metrics.ood_aupr([], np.ones(3))
    with pytest.raises(ValueError, match="uncertainty_out must be a non-empty 1-D array.*got shape \\(3, 2\\)"):
        metrics.ood_auroc(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="prob_samples must have shape \\(S, N, K\\)"):
        metrics.mutual_information(np.full((3, 2), 0.5))
    ok = np.array([[0.7, 0.3], [0.2, 0.8], [0.5 + 5e-5, 0.5]])          # within the tolerance
    assert metrics.accuracy(ok, labels) == 1.0


def test_ood_scores_in_scikit_learns_argument_order_are_refused():
    """ood_auroc(y_true, scores) used to return 0.667 for a perfect separation, silently."""
    labels, scores = np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])
    with pytest.raises(ValueError, match=r"not scikit-learn's \(y_true, y_score\).*scores\[labels == 0\]"):
        metrics.ood_auroc(labels, scores)
    with pytest.raises(ValueError, match="ood_aupr takes"):
        metrics.ood_aupr(labels, scores)
    assert metrics.ood_auroc(scores[labels == 0], scores[labels == 1]) == 1.0


# ---- calibration error conventions, against formulas written here ---------------------------------
def ece_by_loops(confidence, correct, num_bins, closed, top):
    """An ECE written plainly, bin by bin, for the test (N counts every point, binned or not)."""
    total, edges = 0.0, np.linspace(0, 1, num_bins + 1)
    bins = []
    for b in range(num_bins):
        lo, hi = edges[b], edges[b + 1]
        if closed == "right":
            inside = (confidence > lo) & (confidence <= hi) if b else (confidence >= 0) & (confidence <= hi)
        else:
            inside = (confidence >= lo) & (confidence < hi)
            if b == num_bins - 1 and top == "last":
                inside |= confidence == 1.0
        bins.append(inside)
    if closed == "left" and top == "own":
        bins.append(confidence == 1.0)
    for inside in bins:
        if inside.any():
            total += inside.sum() / len(confidence) * abs(correct[inside].mean() - confidence[inside].mean())
    return total


def probs_with_exact_ones(rng, n=400, k=4):
    z = rng.standard_normal((n, k)) * 3
    probs = np.exp(z - z.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[:40] = np.eye(k)[rng.integers(0, k, 40)]                # confidences of exactly 1.0
    probs[40:60, 0], probs[40:60, 1:] = 0.5, 0.5 / (k - 1)      # and on a bin edge
    return probs, rng.integers(0, k, n)


@pytest.mark.parametrize("num_bins, closed, top", [(15, "right", "last"), (10, "left", "none"), (15, "left", "own"),
                                                   (10, "left", "last")])
def test_ece_conventions_equal_plain_loops(rng, num_bins, closed, top):
    probs, labels = probs_with_exact_ones(rng)
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)
    expected = ece_by_loops(confidence, correct, num_bins, closed, top)
    assert metrics.expected_calibration_error(probs, labels, num_bins, closed=closed, top=top) == pytest.approx(
        expected, abs=1e-12)


def test_the_uncertainty_baselines_convention_differs_where_confidence_is_one(rng):
    """Ten bins [lo, hi) with a confidence of 1.0 in no bin: here 40 rows of confidence 1.0, most of
    them wrong, so dropping them from the bins changes the ECE."""
    probs, labels = probs_with_exact_ones(rng)
    ub = metrics.expected_calibration_error(probs, labels, 10, closed="left", top="none")
    in_last = metrics.expected_calibration_error(probs, labels, 10, closed="left", top="last")
    assert ub != pytest.approx(in_last, abs=1e-3)


def test_adaptive_and_classwise_ece_equal_plain_loops(rng):
    probs, labels = probs_with_exact_ones(rng, n=300)
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)
    order = np.argsort(confidence, kind="stable")
    expected = sum(len(part) / 300 * abs(correct[part].mean() - confidence[part].mean())
                   for part in np.array_split(order, 10))
    assert metrics.expected_calibration_error(probs, labels, 10, binning="mass") == pytest.approx(expected, abs=1e-12)
    classwise = np.mean([ece_by_loops(probs[:, k], (labels == k).astype(float), 15, "right", "last")
                         for k in range(probs.shape[1])])
    assert metrics.classwise_calibration_error(probs, labels) == pytest.approx(classwise, abs=1e-12)


def test_risk_coverage_aurc_and_accuracy_at_coverage(rng):
    probs, labels = probs_with_exact_ones(rng, n=200)
    errors = probs.argmax(axis=1) != labels
    perfect = errors.astype(float) + rng.random(200) * 0.1          # every error more uncertain than any hit
    coverage, risk = metrics.risk_coverage_curve(probs, labels, perfect)
    assert coverage[-1] == 1.0 and risk[-1] == pytest.approx(errors.mean())
    assert (risk[:int((~errors).sum())] == 0).all()
    assert metrics.accuracy_at_coverage(probs, labels, perfect, (~errors).mean()) == 1.0
    brute = np.mean([errors[np.argsort(perfect)[:k]].mean() for k in range(1, 201)])
    assert metrics.aurc(probs, labels, perfect) == pytest.approx(brute)
    random_aurc = np.mean([metrics.aurc(probs, labels, rng.random(200)) for _ in range(50)])
    assert random_aurc == pytest.approx(errors.mean(), abs=0.03)
    assert metrics.aurc(probs, labels, -perfect) > random_aurc       # the worst ranking
    with pytest.raises(ValueError, match="one score per row"):
        metrics.aurc(probs, labels, perfect[:-1])
    with pytest.raises(ValueError, match="coverage must be in"):
        metrics.accuracy_at_coverage(probs, labels, perfect, 1.5)
    with pytest.raises(ValueError, match="closed must be one of"):
        metrics.expected_calibration_error(probs, labels, closed="both")
