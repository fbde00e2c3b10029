"""Temperature scaling and the mean-field factor: the derivatives by hand, a known T recovered,
scikit-learn's temperature scaling and a brute-force minimisation as oracles, and bad input."""
import numpy as np
import pytest

from numpyuq.calibration import (ConvergenceError, MeanFieldScaling, TemperatureScaling, scaled_nll_terms,
                                 temperature_nll_backward, temperature_nll_forward, temperature_nll_hessian)
from numpyuq.gradcheck import check_pair
from tests.helpers import assert_grad_ok


def logits_with_temperature(rng, n=2000, k=5, temperature=2.5):
    """Labels drawn from softmax(z / T): the NLL's minimiser is near T for large n."""
    z = rng.standard_normal((n, k)) * 3
    p = np.exp(z / temperature - (z / temperature).max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)          # one draw per row from p
    return z, y


def test_gradient_and_hessian_in_the_inverse_temperature(rng):
    z, y = logits_with_temperature(rng, n=50)
    forward = lambda beta: temperature_nll_forward(beta, z, y)          # noqa: E731
    assert_grad_ok(check_pair(forward, temperature_nll_backward, {"beta": np.array([0.7])}))
    eps = 1e-5
    slope = [temperature_nll_backward(1.0, temperature_nll_forward(b, z, y)[1])[0][0] for b in (0.7 - eps, 0.7 + eps)]
    hessian = temperature_nll_hessian(temperature_nll_forward(0.7, z, y)[1])
    assert hessian > 0 and hessian == pytest.approx((slope[1] - slope[0]) / (2 * eps), rel=1e-6)


def test_a_known_temperature_is_recovered_and_accuracy_is_unchanged(rng):
    z, y = logits_with_temperature(rng, n=20000, temperature=2.5)
    scaling = TemperatureScaling().fit(z, y)
    assert scaling.temperature_ == pytest.approx(2.5, rel=0.05)
    assert scaling.nll_after_ < scaling.nll_before_
    np.testing.assert_array_equal(scaling.predict_proba(z).argmax(axis=1), z.argmax(axis=1))
    np.testing.assert_array_equal(scaling.predict(z), z.argmax(axis=1))


def test_equals_scikit_learns_temperature_scaling_and_a_brute_force_search(rng):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    class Logits(ClassifierMixin, BaseEstimator):
        """A fitted classifier whose decision function is its input: the logits themselves."""
        def fit(self, x, y):
            self.classes_ = np.unique(y)
            return self

        def decision_function(self, x):
            return x

        def predict(self, x):
            return self.classes_[np.asarray(x).argmax(axis=1)]

    z, y = logits_with_temperature(rng, n=3000, k=4, temperature=0.6)
    ours = TemperatureScaling().fit(z, y).temperature_
    calibrated = CalibratedClassifierCV(FrozenEstimator(Logits().fit(z, y)), method="temperature").fit(z, y)
    theirs = 1 / float(calibrated.calibrated_classifiers_[0].calibrators[0].beta_)
    assert ours == pytest.approx(theirs, rel=1e-4), sklearn.__version__
    coarse = np.linspace(0.2, 2.0, 181)                       # brute force: a coarse grid, then a fine one
    best = coarse[int(np.argmin([scaled_nll_terms(z, y, np.full(len(y), 1 / t))[0] for t in coarse]))]
    fine = np.linspace(best - 0.01, best + 0.01, 401)
    nll = [scaled_nll_terms(z, y, np.full(len(y), 1 / t))[0] for t in fine]
    assert ours == pytest.approx(fine[int(np.argmin(nll))], abs=1e-4)


def test_saves_and_loads_with_io(tmp_path, rng):
    from numpyuq import io
    z, y = logits_with_temperature(rng, n=500)
    fitted = TemperatureScaling().fit(z, y)
    io.save(fitted, tmp_path / "t.npz")
    loaded = io.load(TemperatureScaling(), tmp_path / "t.npz")
    assert loaded.temperature_ == fitted.temperature_
    np.testing.assert_array_equal(loaded.predict_proba(z), fitted.predict_proba(z))


def test_bad_input_is_refused_and_a_failed_fit_changes_nothing(rng):
    z, y = logits_with_temperature(rng, n=200)
    with pytest.raises(RuntimeError, match="not fitted"):
        TemperatureScaling().transform(z)
    fitted = TemperatureScaling().fit(z, y)
    before = fitted.temperature_
    for logits, labels, error, match in ((z[:, :1], y, ValueError, "K >= 2"), (z, y[:-1], ValueError, "entries"),
                                         (z, y + 10, ValueError, r"must lie in \[0, 5\)"),
                                         (np.full_like(z, np.nan), y, ValueError, "finite"),
                                         (-z * 5, y, ValueError, "no better than uniform"),
                                         ("z", y, TypeError, "array")):
        with pytest.raises(error, match=match):
            fitted.fit(logits, labels)
        assert fitted.temperature_ == before
    with pytest.raises(ConvergenceError, match="did not converge in 1 Newton steps"):
        TemperatureScaling(max_iter=1).fit(z * 7, y)
    for kwargs in (dict(max_iter=0), dict(tol=0.0)):
        with pytest.raises(ValueError):
            TemperatureScaling(**kwargs)


def test_mean_field_factor_is_tuned_and_its_derivatives_are_right(rng):
    z, y = logits_with_temperature(rng, n=3000, temperature=1.0)
    variance = rng.random(len(y)) * 4
    tuned = MeanFieldScaling().fit(z, variance, y)
    assert tuned.lambda_ >= 0 and tuned.nll_after_ <= tuned.nll_before_ + 1e-12
    lams = np.linspace(0, 3, 3001)
    nll = [scaled_nll_terms(z, y, MeanFieldScaling.scales(lam, variance)[0])[0] for lam in lams]
    assert tuned.lambda_ == pytest.approx(lams[int(np.argmin(nll))], abs=2e-3)
    g, dg, d2g = MeanFieldScaling.scales(0.4, variance)
    eps = 1e-6
    np.testing.assert_allclose(dg, (MeanFieldScaling.scales(0.4 + eps, variance)[0]
                                    - MeanFieldScaling.scales(0.4 - eps, variance)[0]) / (2 * eps), rtol=1e-6)
    np.testing.assert_allclose(d2g, (MeanFieldScaling.scales(0.4 + eps, variance)[1]
                                     - MeanFieldScaling.scales(0.4 - eps, variance)[1]) / (2 * eps), rtol=1e-5)


def test_held_out_data_that_every_prediction_gets_right_has_no_temperature(rng):
    """f'(beta) < 0 for every beta when each label's logit is the largest: the NLL keeps falling as
    T -> 0. fit says so instead of returning a meaningless tiny T."""
    z = rng.standard_normal((50, 3))
    y = z.argmax(axis=1)
    with pytest.raises(ValueError, match="every held-out prediction is correct"):
        TemperatureScaling().fit(z, y)
