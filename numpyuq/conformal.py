"""Split conformal prediction sets for classification (Vovk et al. 2005; Angelopoulos & Bates 2021,
"A Gentle Introduction to Conformal Prediction", https://arxiv.org/abs/2107.07511).

Given any model's probabilities on a calibration set that the model never trained on, a
conformity score s(x, y) (large = the label fits badly) and a level alpha, split conformal
takes the k-th smallest calibration score, k = ceil((n + 1)(1 - alpha)), as the threshold q, and
predicts for a new x the set of labels whose score is at most q.

    LAC (least ambiguous set-valued classifier, Sadinle et al. 2019):  s(x, y) = 1 - p_y(x)
    APS (adaptive prediction sets, Romano et al. 2020):  s(x, y) = the sum of the probabilities of the
        labels ranked above y, plus U p_y with U ~ Uniform(0, 1) (randomized) or plus p_y (U = 1)

What is guaranteed: if the calibration and test points are exchangeable (for instance drawn
i.i.d. from one distribution), P(Y in C(X)) >= 1 - alpha, on average over the calibration draw and
the test point, and, when the scores have no ties, at most 1 - alpha + 1 / (n + 1). It is marginal:
averaged over x, not for each x (some inputs get less coverage, some more), and it says nothing
under a distribution shift (an OOD input gets a set, with no promise). The class-conditional
(Mondrian) variant takes one threshold per true class from that class's calibration points, which
gives the same guarantee within every class, at the price of fewer points per threshold.

Conventions, as MAPIE 1.x: the threshold is the k-th smallest score (``np.quantile(..., method=
"lower")`` at level k / n); a label joins a set when its score is at most the threshold + 1e-8; APS
ranks labels by decreasing probability, and its randomized sets drop the last label reached with
probability given by how far its cumulative probability overshoots the threshold.
"""
import math

import numpy as np

from .backend import to_numpy
from .seeding import as_generator
from .validation import as_labels, check_choice, check_real

SCORES = ("lac", "aps")
TOLERANCE = 1e-8


def as_probabilities(probs, name="probs"):
    """Host float64 (N, K) probabilities, checked (rows in [0, 1] summing to 1)."""
    from .metrics import check_probabilities
    return to_numpy(check_probabilities(probs, name)).astype(np.float64)


def conformal_quantile(scores, alpha):
    """The k-th smallest score, k = ceil((n + 1)(1 - alpha)): the split-conformal threshold.
    Raises ValueError when k > n (too few points for alpha: the set would have to be every label)."""
    n = len(scores)
    k = math.ceil((n + 1) * (1 - alpha))
    if k > n:
        raise ValueError(f"{n} calibration points are too few for alpha={alpha}: the threshold is the "
                         f"{k}-th smallest score; need at least {math.ceil(1 / alpha) - 1} points")
    return float(np.sort(scores)[k - 1])


def ranked(probs):
    """Each row's labels by decreasing probability, and the cumulative sums in that order: (N, K) each."""
    order = np.argsort(-probs, axis=1, kind="stable")
    return order, np.cumsum(np.take_along_axis(probs, order, axis=1), axis=1)


def aps_scores(probs, labels, draws):
    """APS scores of the given labels: the mass ranked above each label plus draw * its probability.
    probs: (N, K); labels: (N,) or (N, K) (every label); draws: (N,) in [0, 1] (1: not randomized)."""
    order, cumulative = ranked(probs)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(probs.shape[1])[None, :].repeat(len(probs), axis=0), axis=1)
    above = np.take_along_axis(cumulative, rank, axis=1) - probs          # mass ranked strictly above each label
    if labels is None:
        return above + draws[:, None] * probs
    rows = np.arange(len(probs))
    return above[rows, labels] + draws * probs[rows, labels]


class SplitConformal:
    """Prediction sets with a marginal (or per-class) coverage guarantee, from any probabilities.

    Args:
        score: ``"lac"`` (1 - p_y) or ``"aps"`` (cumulative sorted probabilities).
        randomized: APS only: a uniform draw in the calibration scores and in the sets (exact
            coverage on average; the deterministic version is conservative).
        class_conditional: one threshold per class (Mondrian), coverage within each class.
        seed: int or Generator for the draws of the randomized APS.
    ``fit(probs_cal, y_cal, alpha)`` then ``predict_sets(probs) -> (N, K)`` boolean mask. Attributes
    after ``fit``: ``quantile_`` (a float, or (K,) per class), ``alpha_``, ``n_calibration_``.
    """

    def __init__(self, score="lac", randomized=False, class_conditional=False, seed=0):
        check_choice(score, "score", SCORES)
        if randomized and score != "aps":
            raise ValueError("randomized=True is for score='aps' (LAC's sets have nothing to randomize)")
        for name, value in (("randomized", randomized), ("class_conditional", class_conditional)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {value!r}")
        self.score, self.randomized, self.class_conditional = score, randomized, class_conditional
        self.rng = as_generator(seed)

    def draws(self, n, given, name):
        """The uniform draws of a randomized APS: ``given`` (to reproduce another implementation's),
        else the object's generator; ones when not randomized."""
        if not self.randomized:
            return np.ones(n)
        if given is None:
            return self.rng.random(n)
        given = np.asarray(given, dtype=np.float64)
        if given.shape != (n,) or not ((given >= 0) & (given <= 1)).all():
            raise ValueError(f"{name} must be ({n},) draws in [0, 1], got shape {given.shape}")
        return given

    def scores(self, probs, labels, draws):
        """Conformity scores: (N,) for the given labels, or (N, K) for every label when labels is None."""
        if self.score == "lac":
            return 1 - (probs if labels is None else probs[np.arange(len(probs)), labels])
        return aps_scores(probs, labels, draws)

    def fit(self, probs, y, alpha, draws=None):
        """probs: (n, K) calibration probabilities; y: (n,) labels; alpha in (0, 1): the error rate
        allowed (sets cover the label with probability at least 1 - alpha). ``draws``: (n,) uniform
        draws for a randomized APS (by default from ``seed``). A failed fit changes nothing."""
        probs = as_probabilities(probs)
        labels = to_numpy(as_labels(y, "y", probs.shape[1], len(probs))).astype(np.int64)
        check_real(alpha, "alpha", above=0, below=1)
        scores = self.scores(probs, labels, self.draws(len(probs), draws, "draws"))
        if self.class_conditional:
            quantile = np.empty(probs.shape[1])
            for k in range(probs.shape[1]):
                members = scores[labels == k]
                if len(members) == 0:
                    raise ValueError(f"class {k} has no calibration point: class_conditional=True needs every "
                                     "class in y")
                try:
                    quantile[k] = conformal_quantile(members, alpha)
                except ValueError as err:
                    raise ValueError(f"class {k}: {err}") from None
        else:
            quantile = conformal_quantile(scores, alpha)
        self.quantile_, self.alpha_, self.n_calibration_ = quantile, float(alpha), len(labels)
        self.num_classes_ = probs.shape[1]
        return self

    def predict_sets(self, probs, draws=None):
        """(N, K) boolean: label k is in the set of row n. ``draws``: (N,) uniform draws for a
        randomized APS (by default from ``seed``)."""
        if not hasattr(self, "quantile_"):
            raise RuntimeError("SplitConformal is not fitted yet: call fit(probs_cal, y_cal, alpha) first")
        probs = as_probabilities(probs)
        if probs.shape[1] != self.num_classes_:
            raise ValueError(f"probs must have {self.num_classes_} columns (the calibration's classes), "
                             f"got shape {probs.shape}")
        threshold = self.quantile_[None, :] if self.class_conditional else self.quantile_
        if self.score == "lac":
            return self.scores(probs, None, None) - threshold <= TOLERANCE
        if self.class_conditional:
            return aps_scores(probs, None, self.draws(len(probs), draws, "draws")) - threshold <= TOLERANCE
        return self.aps_sets(probs, draws)

    def aps_sets(self, probs, draws):
        """APS sets with one threshold: labels in decreasing probability up to the first whose
        cumulative probability reaches the threshold (and every label tied with it); randomized, that
        last label is dropped when its overshoot, as a fraction of its probability, exceeds a draw."""
        order, cumulative = ranked(probs)
        rows = np.arange(len(probs))
        reached = cumulative - self.quantile_ >= -TOLERANCE
        last = np.where(reached.any(axis=1), reached.argmax(axis=1), probs.shape[1] - 1)
        last_label = order[rows, last]
        last_probability = probs[rows, last_label]
        sets = probs - last_probability[:, None] >= -TOLERANCE
        if self.randomized:
            overshoot = (cumulative[rows, last] - self.quantile_) / last_probability
            keep = overshoot - self.draws(len(probs), draws, "draws") <= TOLERANCE
            sets[rows, last_label] = keep
        return sets

    def evaluate(self, probs, y, draws=None):
        """{"coverage": the fraction of labels in their set, "mean_set_size", "empty_sets": fraction}."""
        sets = self.predict_sets(probs, draws)
        labels = to_numpy(as_labels(y, "y", sets.shape[1], len(sets))).astype(np.int64)
        return {"coverage": float(sets[np.arange(len(sets)), labels].mean()),
                "mean_set_size": float(sets.sum(axis=1).mean()), "empty_sets": float((sets.sum(axis=1) == 0).mean())}

    def __repr__(self):
        return (f"SplitConformal(score={self.score!r}, randomized={self.randomized}, "
                f"class_conditional={self.class_conditional})")
