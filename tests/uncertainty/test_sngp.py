"""SNGP prediction: mean field, Monte Carlo, covariance reset and refit."""
import math

import numpy as np
import pytest

from numpyuq.data import make_moons_data
from numpyuq.losses import softmax
from numpyuq.models import DeepResNet, DeepResNetSNGP
from numpyuq.uncertainty import (
    ResetCovariance,
    mc_probabilities,
    mean_field_logits,
    refit_covariance,
    sample_logits,
)


def test_mean_field_logits_formula_and_covariance_input(rng):
    logits = rng.standard_normal((4, 3))
    variance = rng.uniform(0, 5, 4)
    expected = logits / np.sqrt(1 + math.pi / 8 * variance)[:, None]
    np.testing.assert_allclose(mean_field_logits(logits, variance), expected)
    cov = np.diag(variance) + 0.1
    np.testing.assert_allclose(mean_field_logits(logits, cov), logits / np.sqrt(1 + math.pi / 8 * (variance + 0.1))[:, None])


def expected_sigmoid(mean, var):
    """E[sigmoid(f)], f ~ N(mean, var), by Gauss-Hermite quadrature (the exact value to ~1e-10)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    return (weights * (1 / (1 + np.exp(-(mean + np.sqrt(var) * nodes))))).sum() / weights.sum()


def test_mean_field_is_the_probit_approximation():
    # One random logit against a fixed zero logit: softmax is sigmoid(f), and mean-field with
    # lambda = pi / 8 is MacKay's approximation E[sigmoid(f)] ~ sigmoid(mean / sqrt(1 + pi var / 8)).
    for mean, var in [(2.0, 0.5), (0.5, 2.0), (3.0, 8.0)]:
        mf = softmax(mean_field_logits(np.array([[mean, 0.0]]), np.array([var])))[0, 0]
        assert abs(mf - expected_sigmoid(mean, var)) < 0.02


def test_monte_carlo_probabilities_match_quadrature():
    # Both logits get independent noise of variance v: their difference has variance 2 v.
    logits = np.array([[2.0, -1.0], [0.5, 0.0], [4.0, 1.0]])
    variance = np.array([0.5, 2.0, 8.0])
    mc = mc_probabilities(logits, variance, num_samples=200000, seed=0)
    exact = [expected_sigmoid(a - b, 2 * v) for (a, b), v in zip(logits, variance)]
    np.testing.assert_allclose(mc[:, 0], exact, atol=0.005)
    samples = sample_logits(logits, variance, 50000, seed=1)
    np.testing.assert_allclose(samples.var(axis=0), np.repeat(variance[:, None], 2, 1), rtol=0.05)
    with pytest.raises(ValueError, match="num_samples must be >= 1, got 0"):
        sample_logits(logits, variance, 0)


def test_refit_covariance_equals_exact_gram_of_clean_features(rng):
    model = DeepResNetSNGP(2, num_layers=2, num_hidden=8, num_inducing=16, seed=0, dtype=np.float64)
    x = rng.standard_normal((30, 2))
    model(x, training=True)
    refit_covariance(model, x, batch_size=7)
    phi = model.classifier.random_features(model.features(x))
    np.testing.assert_allclose(model.classifier.precision, np.eye(16) + phi.T @ phi, rtol=1e-10)
    with pytest.warns(RuntimeWarning, match="counted twice"):
        refit_covariance(model, x, reset=False)
    with pytest.raises(ValueError, match="no RandomFeatureGP"):
        refit_covariance(DeepResNet(2), x)


def test_reset_callback_makes_epoch_precision_exact():
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.optim import Adam
    from numpyuq.training import Callback, fit

    x, y = make_moons_data(sample_size=20, seed=0)

    class Snapshot(Callback):
        def on_epoch_end(self, trainer, logs):
            self.count = trainer.model.classifier.num_accumulated

    snap = Snapshot()
    model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16, seed=0)
    fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=3, batch_size=16,
        callbacks=[ResetCovariance(), snap], progress=False)
    assert snap.count == 40              # one epoch's worth, not three


def test_reset_callback_leaves_the_seeds_precision():
    """Updating only in the final epoch leaves the precision of the seed's reset-every-epoch recipe."""
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.optim import Adam
    from numpyuq.training import Callback, fit

    class SeedRecipe(Callback):            # the seed: reset at every epoch start but the first
        def on_epoch_begin(self, trainer):
            if trainer.epoch > 0:
                trainer.model.classifier.reset_covariance()

    x, y = make_moons_data(sample_size=30, seed=0)
    precisions = []
    for callback in (ResetCovariance(), SeedRecipe()):
        model = DeepResNetSNGP(2, num_layers=2, num_hidden=8, num_inducing=16, seed=0, dtype=np.float64)
        fit(model, SoftmaxCrossEntropy(), Adam(model.parameters()), x, y, epochs=3, batch_size=16,
            callbacks=[callback], seed=0, progress=False)
        precisions.append(model.classifier.precision.copy())
    np.testing.assert_allclose(precisions[0], precisions[1], rtol=1e-12)
    assert not np.allclose(precisions[0], np.eye(16))


def test_refit_covariance_checks_everything_before_changing_the_precision(rng):
    model = DeepResNetSNGP(2, num_layers=1, num_hidden=8, num_inducing=16, seed=0, dtype=np.float64)
    model(rng.standard_normal((10, 2)), training=True)
    before = model.classifier.precision.copy()
    for bad, kwargs, match in ((rng.standard_normal((5, 3)), {}, "2 features"),
                               (rng.standard_normal(5), {}, "shape"),
                               (np.zeros((0, 2)), {}, "at least one row"),
                               (rng.standard_normal((5, 2)), {"batch_size": 0}, "batch_size")):
        with pytest.raises(ValueError, match=match):
            refit_covariance(model, bad, **kwargs)
        np.testing.assert_array_equal(model.classifier.precision, before)
