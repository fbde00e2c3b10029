"""Evaluation metrics for probabilistic classifiers and out-of-distribution detection.

Inputs are NumPy (or CuPy) arrays: probs (N, K) rows summing to 1, labels (N,) integers.
"""
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .backend import to_numpy
from .uncertainty.dirichlet import uncertainty_from_log_evidence
from .validation import check_labels

_EPS = 1e-12


def _probs_labels(probs, labels):
    probs, labels = to_numpy(probs).astype(np.float64), to_numpy(labels)
    if probs.ndim != 2:
        raise ValueError(f"probs must have shape (N, K), got {probs.shape}")
    check_labels(labels, "labels", probs.shape[1], length=probs.shape[0])
    return probs, labels


def accuracy(probs, labels):
    """Fraction of rows whose argmax equals the label."""
    probs, labels = _probs_labels(probs, labels)
    return float((probs.argmax(axis=1) == labels).mean())


def nll(probs, labels):
    """Mean negative log-likelihood -log p_y (probabilities clipped at 1e-12)."""
    probs, labels = _probs_labels(probs, labels)
    return float(-np.log(np.maximum(probs[np.arange(len(labels)), labels], _EPS)).mean())


def brier_score(probs, labels):
    """Mean over rows of sum_k (p_k - [k = y])^2 (Brier 1950)."""
    probs, labels = _probs_labels(probs, labels)
    onehot = np.eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


def reliability_curve(probs, labels, num_bins=15):
    """Equal-width confidence bins over [0, 1]: (bin confidence, bin accuracy, bin count), each (num_bins,).

    Empty bins have NaN confidence and accuracy.
    """
    probs, labels = _probs_labels(probs, labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    # Bin b holds confidences in (b / B, (b + 1) / B]; confidence 0 cannot occur for K >= 1.
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    counts = np.bincount(bins, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bins, confidence, num_bins) / counts
        mean_acc = np.bincount(bins, correct, num_bins) / counts
    return mean_conf, mean_acc, counts


def expected_calibration_error(probs, labels, num_bins=15):
    """ECE = sum_b (n_b / N) |acc_b - conf_b| over equal-width bins (Guo et al. 2017, eq. 3)."""
    mean_conf, mean_acc, counts = reliability_curve(probs, labels, num_bins)
    filled = counts > 0
    return float((counts[filled] / counts.sum() * np.abs(mean_acc[filled] - mean_conf[filled])).sum())


def predictive_entropy(probs):
    """H[p] = -sum_k p_k log p_k per row.  probs: (N, K) or samples averaged beforehand -> (N,)."""
    probs = to_numpy(probs).astype(np.float64)
    return -(probs * np.log(np.maximum(probs, _EPS))).sum(axis=-1)


def mutual_information(prob_samples):
    """BALD: H[mean_s p_s] - mean_s H[p_s].  prob_samples: (S, N, K) -> (N,) (MC dropout, ensembles)."""
    prob_samples = to_numpy(prob_samples).astype(np.float64)
    return predictive_entropy(prob_samples.mean(axis=0)) - predictive_entropy(prob_samples).mean(axis=0)


def max_probability_uncertainty(probs):
    """1 - max_k p_k: higher means more uncertain."""
    return 1.0 - to_numpy(probs).max(axis=-1)


def dempster_shafer(logits):
    """K / (K + sum_k exp(logit_k)): EDL's u = K / S with exp evidence (Sensoy et al. 2018), the same
    function as ``uncertainty.dirichlet.uncertainty_from_log_evidence``, finite for any logits.
    (N, K) -> (N,) float64."""
    return uncertainty_from_log_evidence(to_numpy(logits).astype(np.float64))


def _ood_targets(score_in, score_out):
    score_in, score_out = to_numpy(score_in).ravel(), to_numpy(score_out).ravel()
    scores = np.concatenate([score_in, score_out])
    if not np.all(np.isfinite(scores)):
        raise ValueError("uncertainty scores must be finite")
    return np.concatenate([np.zeros(len(score_in)), np.ones(len(score_out))]), scores


def ood_auroc(score_in, score_out):
    """Area under the ROC curve for telling OOD (positive) from in-domain points by an uncertainty
    score (higher = more uncertain): 1 is perfect separation, 0.5 is chance."""
    return float(roc_auc_score(*_ood_targets(score_in, score_out)))


def ood_aupr(score_in, score_out):
    """Area under the precision-recall curve with OOD as the positive class."""
    return float(average_precision_score(*_ood_targets(score_in, score_out)))
