"""Split conformal sets: element by element against MAPIE 1.x, the coverage guarantee over 200
random splits, the class-conditional variant, and bad input."""
import numpy as np
import pytest

from numpyuq.conformal import SplitConformal, conformal_quantile


def calibrated_problem(rng, n=3000, k=6, sharpness=2.0):
    """Probabilities from random logits and labels drawn from them (a calibrated model)."""
    z = rng.standard_normal((n, k)) * sharpness
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return p, np.minimum(y, k - 1)


def mapie_sets(probs_cal, y_cal, probs_test, alpha, score, include_last_label=None, seed=0):
    pytest.importorskip("mapie")
    from mapie.classification import SplitConformalClassifier
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Probabilities(ClassifierMixin, BaseEstimator):
        """A fitted classifier whose input is already its probabilities."""
        def fit(self, x, y):
            self.classes_ = np.arange(x.shape[1])
            return self

        def predict_proba(self, x):
            return x

        def predict(self, x):
            return x.argmax(axis=1)

    mapie = SplitConformalClassifier(Probabilities().fit(probs_cal, y_cal), confidence_level=1 - alpha,
                                     conformity_score=score, prefit=True, random_state=seed)
    mapie.conformalize(probs_cal, y_cal)
    params = {"include_last_label": include_last_label} if include_last_label is not None else None
    return mapie.predict_set(probs_test, conformity_score_params=params)[1][:, :, 0]


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.3])
def test_lac_sets_equal_mapies(rng, alpha):
    p, y = calibrated_problem(rng)
    ours = SplitConformal("lac").fit(p[:1000], y[:1000], alpha).predict_sets(p[1000:])
    np.testing.assert_array_equal(ours, mapie_sets(p[:1000], y[:1000], p[1000:], alpha, "lac"))


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.3])
def test_randomized_aps_sets_equal_mapies_given_the_same_draws(rng, alpha):
    """MAPIE draws its uniforms from np.random.RandomState(random_state), afresh for the calibration
    scores and for the sets, and writes the APS score as the cumulative mass including y minus
    u p_y (ours: the mass above y plus U p_y, so U = 1 - u). Given the same draws, the sets agree
    element by element."""
    p, y = calibrated_problem(rng)
    seed = 7
    conformal = SplitConformal("aps", randomized=True)
    conformal.fit(p[:1000], y[:1000], alpha, draws=1 - np.random.RandomState(seed).uniform(size=1000))
    ours = conformal.predict_sets(p[1000:], draws=np.random.RandomState(seed).uniform(size=2000))
    theirs = mapie_sets(p[:1000], y[:1000], p[1000:], alpha, "aps", include_last_label="randomized", seed=seed)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("score, randomized", [("lac", False), ("aps", False), ("aps", True)])
def test_mean_coverage_over_200_splits_lies_in_the_guaranteed_interval(score, randomized):
    """The guarantee: 1 - alpha <= E[coverage] <= 1 - alpha + 1 / (n + 1) (the upper bound for scores
    without ties, which these continuous ones are, except the deterministic APS's, which is
    conservative: only its lower bound is checked). The mean of 200 splits has a standard error
    of about 0.002 here: the bounds are tested with 3 standard errors of slack."""
    rng = np.random.default_rng(11)
    p, y = calibrated_problem(rng, n=1500)
    alpha, n = 0.1, 500
    coverages = []
    for split in range(200):
        order = np.random.default_rng(split).permutation(len(y))
        cal, test = order[:n], order[n:]
        conformal = SplitConformal(score, randomized=randomized, seed=split).fit(p[cal], y[cal], alpha)
        coverages.append(conformal.evaluate(p[test], y[test])["coverage"])
    mean, error = np.mean(coverages), np.std(coverages) / np.sqrt(len(coverages))
    assert mean >= 1 - alpha - 3 * error, mean
    if score == "lac" or randomized:
        assert mean <= 1 - alpha + 1 / (n + 1) + 3 * error, mean


def test_class_conditional_sets_cover_every_class(rng):
    p, y = calibrated_problem(rng, n=6000, k=3)
    conformal = SplitConformal("lac", class_conditional=True).fit(p[:3000], y[:3000], 0.1)
    sets = conformal.predict_sets(p[3000:])
    covered = sets[np.arange(3000), y[3000:]]
    for k in range(3):
        assert covered[y[3000:] == k].mean() >= 0.9 - 0.03, k
    assert conformal.quantile_.shape == (3,)


def test_the_quantile_and_bad_input():
    assert conformal_quantile(np.arange(10.0), 0.1) == 9.0          # k = ceil(11 * 0.9) = 10
    assert conformal_quantile(np.arange(10.0), 0.5) == 5.0          # k = ceil(11 * 0.5) = 6
    p, y = calibrated_problem(np.random.default_rng(0), n=30)
    with pytest.raises(ValueError, match="too few for alpha=0.01"):
        SplitConformal().fit(p, y, 0.01)                            # would be every label, silently
    with pytest.raises(RuntimeError, match="not fitted"):
        SplitConformal().predict_sets(p)
    fitted = SplitConformal().fit(p, y, 0.2)
    before = fitted.quantile_
    for args, error, match in (((p, y, 0.0), ValueError, "alpha must be > 0"),
                               ((p, y, 1.0), ValueError, "alpha must be < 1"),
                               ((p * 2, y, 0.2), ValueError, "probs"),
                               ((p, y + 9, 0.2), ValueError, r"must lie in \[0, 6\)"),
                               ((p, y[:-1], 0.2), ValueError, "entries"),
                               ((p, y, "0.1"), TypeError, "alpha must be a real number")):
        with pytest.raises(error, match=match):
            fitted.fit(*args)
        assert fitted.quantile_ == before
    with pytest.raises(ValueError, match="has no calibration point"):
        SplitConformal(class_conditional=True).fit(p, np.zeros(30, int), 0.2)
    with pytest.raises(ValueError, match="randomized=True is for score='aps'"):
        SplitConformal("lac", randomized=True)
    with pytest.raises(ValueError, match="score must be one of"):
        SplitConformal("raps")
    with pytest.raises(ValueError, match="probs must have 6 columns"):
        fitted.predict_sets(p[:, :3] / p[:, :3].sum(axis=1, keepdims=True))
