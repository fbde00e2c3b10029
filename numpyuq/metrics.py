"""Evaluation metrics for probabilistic classifiers and out-of-distribution detection.

Inputs are NumPy or CuPy arrays: probs (N, K) rows summing to 1, labels (N,) integers. The
metrics run where the arrays are; only the OOD areas move the scores to the host, for
scikit-learn. Every function checks what it is given and names the argument: probabilities must
be finite, lie in [0, 1] and sum to 1 per row within ``PROB_TOLERANCE`` (logits passed by mistake
are refused, not scored), and OOD scores must be non-empty 1-D arrays of finite numbers.
"""
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from .backend import get_array_module, to_numpy
from .validation import as_labels, check_choice, check_finite, check_positive_int, check_real

_EPS = 1e-12
PROB_TOLERANCE = 1e-4       # |sum_k p_k - 1| allowed per row: float32 rounding, far below any logit


def check_probabilities(probs, name="probs", ndim=2):
    """``probs`` as a float64 array (on its own device) of rank ``ndim`` with K >= 2 classes on the
    last axis, entries in [0, 1] and rows summing to 1 (within PROB_TOLERANCE); raises naming ``name``."""
    if isinstance(probs, (list, tuple)):
        probs = np.asarray(probs)
    if not hasattr(probs, "ndim") or getattr(probs, "dtype", np.dtype(object)).kind not in "fiu":
        raise TypeError(f"{name} must be a numeric array, got {type(probs).__name__}")
    xp = get_array_module(probs)
    probs = probs.astype(np.float64)
    if probs.ndim != ndim or probs.shape[-1] < 2 or probs.size == 0:
        layout = "(N, K)" if ndim == 2 else "(S, N, K)"
        raise ValueError(f"{name} must have shape {layout} with N >= 1 and K >= 2, got {tuple(probs.shape)}")
    bad = int((~xp.isfinite(probs)).sum())
    if bad:
        raise ValueError(f"{name} must be finite, got {bad} NaN or infinite value(s)")
    low, high = float(probs.min()), float(probs.max())
    if low < 0 or high > 1 + PROB_TOLERANCE:
        raise ValueError(f"{name} must be probabilities in [0, 1], got values in [{low:.4g}, {high:.4g}] "
                         "(logits? apply softmax first)")
    error = float(xp.abs(probs.sum(axis=-1) - 1).max())
    if error > PROB_TOLERANCE:
        raise ValueError(f"{name} rows must sum to 1 (within {PROB_TOLERANCE}), got a row off by {error:.4g}")
    return probs


def _probs_labels(probs, labels):
    probs = check_probabilities(probs)
    return probs, as_labels(labels, "labels", probs.shape[1], len(probs), like=probs)


def accuracy(probs, labels):
    """Fraction of rows whose argmax equals the label."""
    probs, labels = _probs_labels(probs, labels)
    return float((probs.argmax(axis=1) == labels).mean())


def nll(probs, labels):
    """Mean negative log-likelihood -log p_y (probabilities clipped at 1e-12)."""
    probs, labels = _probs_labels(probs, labels)
    xp = get_array_module(probs)
    return float(-xp.log(xp.maximum(probs[xp.arange(len(labels)), labels], _EPS)).mean())


def brier_score(probs, labels):
    """Mean over rows of sum_k (p_k - [k = y])^2 (Brier 1950)."""
    probs, labels = _probs_labels(probs, labels)
    onehot = get_array_module(probs).eye(probs.shape[1])[labels]
    return float(((probs - onehot) ** 2).sum(axis=1).mean())


# ---- calibration error, with its conventions as arguments -------------------------------------------
# Libraries disagree on three choices, and their ECEs on the same probabilities differ by them:
#   binning  equal-width bins of [0, 1] ("width"), or equal numbers of points ("mass", adaptive ECE);
#   closed   which end of an equal-width bin belongs to it: "right", (lo, hi] (numpyuq, scikit-learn's
#            calibration_curve), or "left", [lo, hi) (torchmetrics, uncertainty-baselines);
#   top      with closed="left", where a confidence of exactly 1.0 goes: "last" (the last bin),
#            "own" (a bin of its own, as torchmetrics' bucketize does) or "none" (no bin: it still counts
#            in N, as uncertainty-baselines'). docs/api pages and the calibration tutorial list them.
BINNINGS, CLOSED_SIDES, TOPS = ("width", "mass"), ("right", "left"), ("last", "own", "none")


def bin_indices(values, num_bins, binning="width", closed="right", top="last"):
    """The bin of each value in [0, 1] (N,) -> (N,) ints in [0, num_bins], where num_bins marks
    "own" and -1 "none" for a value of exactly 1.0 (see the conventions above)."""
    check_positive_int(num_bins, "num_bins")
    check_choice(binning, "binning", BINNINGS)
    check_choice(closed, "closed", CLOSED_SIDES)
    check_choice(top, "top", TOPS)
    xp = get_array_module(values)
    if binning == "mass":                               # sorted, then split as evenly as possible
        order = xp.argsort(values, kind="stable")
        ranks = xp.empty_like(order)
        ranks[order] = xp.arange(len(values))
        return (ranks * num_bins) // len(values)
    if closed == "right":                               # (lo, hi]: 0 cannot occur for a max probability
        return xp.clip(xp.ceil(values * num_bins).astype(np.int64) - 1, 0, num_bins - 1)
    bins = xp.floor(values * num_bins).astype(np.int64)   # [lo, hi)
    at_top = bins >= num_bins
    if top == "last":
        return xp.where(at_top, num_bins - 1, bins)
    return xp.where(at_top, num_bins if top == "own" else -1, bins)


def binned_calibration(values, hits, num_bins, binning="width", closed="right", top="last"):
    """Per bin: mean value, mean hit rate, count: each (num_bins,), plus the count of an "own" top
    bin. Empty bins have NaN means."""
    xp = get_array_module(values)
    bins = bin_indices(values, num_bins, binning, closed, top)
    kept = bins >= 0
    slots = num_bins + 1                                # the last slot is the "own" bin of 1.0
    counts = xp.bincount(bins[kept], minlength=slots)
    safe = xp.maximum(counts, 1)
    filled = counts > 0
    mean_value = xp.where(filled, xp.bincount(bins[kept], values[kept], slots) / safe, xp.nan)
    mean_hit = xp.where(filled, xp.bincount(bins[kept], hits[kept], slots) / safe, xp.nan)
    return mean_value, mean_hit, counts


def calibration_gap(mean_value, mean_hit, counts, total):
    """sum over filled bins of (n_b / N) |hit rate_b - mean value_b|; N counts unbinned points too."""
    filled = counts > 0
    return float((counts[filled] / total * get_array_module(counts).abs(mean_hit[filled] - mean_value[filled])).sum())


def reliability_curve(probs, labels, num_bins=15, binning="width", closed="right", top="last"):
    """Confidence (max probability) bins: (bin confidence, bin accuracy, bin count), each (num_bins,)
    (the "own" bin of a confidence of 1.0, if any, is not returned). Empty bins have NaN means."""
    probs, labels = _probs_labels(probs, labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    mean_conf, mean_acc, counts = binned_calibration(confidence, correct, num_bins, binning, closed, top)
    return mean_conf[:num_bins], mean_acc[:num_bins], counts[:num_bins]


def expected_calibration_error(probs, labels, num_bins=15, binning="width", closed="right", top="last"):
    """ECE = sum_b (n_b / N) |acc_b - conf_b| over confidence bins (Guo et al. 2017, eq. 3).

    Defaults: 15 equal-width bins (lo, hi]. ``binning="mass"`` is the adaptive (equal-mass) ECE
    (Nixon et al. 2019); uncertainty-baselines' convention is ``num_bins=10, closed="left",
    top="none"``, torchmetrics' ``closed="left", top="own"`` (see ``bin_indices``)."""
    probs, labels = _probs_labels(probs, labels)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    return calibration_gap(*binned_calibration(confidence, correct, num_bins, binning, closed, top), len(labels))


def classwise_calibration_error(probs, labels, num_bins=15, binning="width", closed="right", top="last"):
    """Classwise ECE (Kull et al. 2019): for every class k, bins of p_k over all rows, the gap between
    the fraction of rows labelled k and the mean p_k in each bin; the mean over classes."""
    probs, labels = _probs_labels(probs, labels)
    xp = get_array_module(probs)
    gaps = [calibration_gap(*binned_calibration(probs[:, k], (labels == k).astype(np.float64), num_bins, binning,
                                                closed, top), len(labels)) for k in range(probs.shape[1])]
    return float(xp.mean(xp.asarray(gaps)))


# ---- selective prediction: abstain on the least certain inputs ---------------------------------------
def risk_coverage_curve(probs, labels, uncertainty):
    """Keep the inputs of lowest ``uncertainty`` first: for each number kept, the fraction kept
    (coverage) and the error rate among them (selective risk).  -> (coverage (N,), risk (N,)) on the
    host, coverage from 1/N to 1. Ties in the score are kept together (at the last of them)."""
    probs, labels = _probs_labels(probs, labels)
    scores = check_scores(uncertainty, "uncertainty")
    if len(scores) != len(labels):
        raise ValueError(f"uncertainty must have one score per row of probs ({len(labels)}), got {len(scores)}")
    errors = to_numpy(probs.argmax(axis=1) != labels).astype(np.float64)
    order = np.argsort(scores, kind="stable")
    kept = np.arange(1, len(scores) + 1)
    risk = np.cumsum(errors[order]) / kept
    sorted_scores = scores[order]
    # inputs with equal scores cannot be told apart: each gets the risk of keeping all of them
    last_of_tie = np.searchsorted(sorted_scores, sorted_scores, side="right") - 1
    return kept / len(scores), risk[last_of_tie]


def aurc(probs, labels, uncertainty):
    """Area under the risk-coverage curve (Geifman et al. 2019): the mean selective risk over the
    coverages 1/N, 2/N, ..., 1. Lower is better; a random score gives about the error rate."""
    return float(risk_coverage_curve(probs, labels, uncertainty)[1].mean())


def accuracy_at_coverage(probs, labels, uncertainty, coverage):
    """Accuracy on the ``coverage`` fraction of inputs with the lowest uncertainty (at least one)."""
    check_real(coverage, "coverage", above=0)
    if coverage > 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    covered, risk = risk_coverage_curve(probs, labels, uncertainty)
    index = max(int(np.ceil(coverage * len(risk))) - 1, 0)
    return float(1 - risk[index])


def predictive_entropy(probs):
    """H[p] = -sum_k p_k log p_k per row.  probs: (N, K) -> (N,)."""
    probs = check_probabilities(probs)
    return entropy(probs)


def mutual_information(prob_samples):
    """BALD: H[mean_s p_s] - mean_s H[p_s].  prob_samples: (S, N, K) -> (N,) (MC dropout, ensembles)."""
    prob_samples = check_probabilities(prob_samples, "prob_samples", ndim=3)
    return entropy(prob_samples.mean(axis=0)) - entropy(prob_samples).mean(axis=0)


def entropy(probs):
    """-sum_k p_k log p_k over the last axis, for probabilities already checked."""
    xp = get_array_module(probs)
    return -(probs * xp.log(xp.maximum(probs, _EPS))).sum(axis=-1)


def max_probability_uncertainty(probs):
    """1 - max_k p_k: higher means more uncertain."""
    return 1.0 - check_probabilities(probs).max(axis=-1)


def check_scores(scores, name):
    """``scores`` as a non-empty 1-D float64 NumPy array of finite numbers, on the host for
    scikit-learn; raises naming ``name``."""
    if isinstance(scores, (list, tuple)):
        scores = np.asarray(scores, dtype=np.float64) if len(scores) else np.zeros(0)
    if not hasattr(scores, "ndim") or getattr(scores, "dtype", np.dtype(object)).kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got {type(scores).__name__}")
    scores = to_numpy(scores).astype(np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of per-example scores, got shape {scores.shape}")
    check_finite(scores, name)
    return scores


def _ood_targets(uncertainty_in, uncertainty_out, function):
    """(0/1 targets with OOD positive, the scores), after checking that the arguments are scores."""
    if (getattr(getattr(uncertainty_in, "dtype", None), "kind", "f") in "iub"
            and len(uncertainty_in) == len(uncertainty_out) > 1
            and set(np.unique(to_numpy(uncertainty_in)).tolist()) == {0, 1}):
        raise ValueError(f"{function} takes (uncertainty_in, uncertainty_out): the uncertainty scores of the "
                         "in-distribution inputs and of the OOD inputs, not scikit-learn's (y_true, y_score); "
                         f"uncertainty_in holds 0/1 labels. With labels and scores, call "
                         f"{function}(scores[labels == 0], scores[labels == 1])")
    uncertainty_in = check_scores(uncertainty_in, "uncertainty_in")
    uncertainty_out = check_scores(uncertainty_out, "uncertainty_out")
    targets = np.concatenate([np.zeros(len(uncertainty_in)), np.ones(len(uncertainty_out))])
    return targets, np.concatenate([uncertainty_in, uncertainty_out])


def ood_auroc(uncertainty_in, uncertainty_out):
    """Area under the ROC curve for telling OOD (positive) from in-domain inputs by an uncertainty
    score (higher = more uncertain): 1 is perfect separation, 0.5 is chance.

    Args:
        uncertainty_in: (N,) scores of the in-distribution inputs.
        uncertainty_out: (M,) scores of the out-of-distribution inputs.
    Not scikit-learn's ``roc_auc_score(y_true, y_score)`` order: 0/1 labels as the first argument
    are refused with a message that says how to call it.
    """
    return float(roc_auc_score(*_ood_targets(uncertainty_in, uncertainty_out, "ood_auroc")))


def ood_aupr(uncertainty_in, uncertainty_out):
    """Area under the precision-recall curve with OOD as the positive class (arguments as
    ``ood_auroc``)."""
    return float(average_precision_score(*_ood_targets(uncertainty_in, uncertainty_out, "ood_aupr")))


def classification_metrics(probs, labels, num_bins=15):
    """The in-domain table: {"accuracy", "nll", "brier", "ece"} of probs (N, K) against labels (N,)."""
    return {"accuracy": accuracy(probs, labels), "nll": nll(probs, labels),
            "brier": brier_score(probs, labels), "ece": expected_calibration_error(probs, labels, num_bins)}
