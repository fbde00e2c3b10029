"""Evidential losses: gradient checks composed with every evidence function, values against direct
scipy formulas, the KL term against Monte Carlo, stability at extreme evidence, and bad input."""
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats

from numpyuq.gradcheck import check_pair
from numpyuq.losses import (
    CrossEntropyBayesRisk,
    KLDivergenceLoss,
    MaximumLikelihoodLoss,
    SquaredErrorBayesRisk,
)
from numpyuq.losses.evidential import (
    cross_entropy_bayes_risk_backward,
    cross_entropy_bayes_risk_forward,
    kl_divergence_backward,
    kl_divergence_forward,
    maximum_likelihood_backward,
    maximum_likelihood_forward,
    squared_error_bayes_risk_backward,
    squared_error_bayes_risk_forward,
)
from numpyuq.nn.evidence import EVIDENCE_FUNCTIONS
from tests.helpers import assert_grad_ok

PAIRS = {
    "log": (maximum_likelihood_forward, maximum_likelihood_backward),
    "digamma": (cross_entropy_bayes_risk_forward, cross_entropy_bayes_risk_backward),
    "mse": (squared_error_bayes_risk_forward, squared_error_bayes_risk_backward),
    "kl": (kl_divergence_forward, kl_divergence_backward),
}
MODULES = {"log": MaximumLikelihoodLoss, "digamma": CrossEntropyBayesRisk, "mse": SquaredErrorBayesRisk,
           "kl": KLDivergenceLoss}
N, K = 5, 4


def one_hot(labels, k=K):
    return np.eye(k)[labels]


def logits_for(function, evidence):
    """The logits that give ``evidence`` under ``function`` (the evidence is kept off ReLU's kink)."""
    if function == "relu":
        return evidence
    if function == "softplus":
        return evidence + np.log(-np.expm1(-evidence))          # log(e^e - 1), without overflow
    return np.log(evidence)


def composed(loss_pair, evidence_pair):
    """The pure pair of loss(evidence_function(z)), to check the whole chain z -> loss."""
    (loss_forward, loss_backward), (evidence_forward, evidence_backward) = loss_pair, evidence_pair

    def forward(z, targets):
        e, e_cache = evidence_forward(z)
        loss, l_cache = loss_forward(e, targets)
        return loss, (e_cache, l_cache)

    def backward(dy, cache):
        e_cache, l_cache = cache
        (de,) = loss_backward(dy, l_cache)
        return evidence_backward(de, e_cache)
    return forward, backward


@pytest.mark.parametrize("loss", list(PAIRS))
@pytest.mark.parametrize("function", list(EVIDENCE_FUNCTIONS))
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_gradients_of_every_loss_with_every_evidence_function(rng, loss, function, scale):
    evidence = scale * rng.uniform(0.5, 2.0, (N, K))           # small, moderate and large evidence
    forward, backward = composed(PAIRS[loss], EVIDENCE_FUNCTIONS[function])
    # At evidence 1e3 the KL term adds log-gamma values near 3e4, so its round-off is about 1e-12
    # and the best central-difference step is larger than for terms of order 1.
    eps = 1e-4 if scale > 100 else 1e-5
    report = check_pair(forward, backward, {"z": logits_for(function, evidence)}, eps=eps,
                        targets=one_hot(rng.integers(0, K, N)))
    assert_grad_ok(report)


@pytest.mark.parametrize("loss", list(PAIRS))
def test_gradients_with_respect_to_the_evidence(rng, loss):
    forward, backward = PAIRS[loss]
    report = check_pair(forward, backward, {"evidence": rng.uniform(0.1, 5.0, (N, K))},
                        targets=one_hot(rng.integers(0, K, N)))
    assert_grad_ok(report)


def direct(loss, evidence, labels):
    """Each loss written again from the paper's formulas, sample by sample, with scipy.special."""
    values = []
    for e, label in zip(evidence, labels):
        alpha = e + 1.0
        S = alpha.sum()
        y = np.eye(len(e))[label]
        if loss == "log":
            values.append(np.log(S) - np.log(alpha[label]))
        elif loss == "digamma":
            values.append(sc.digamma(S) - sc.digamma(alpha[label]))
        elif loss == "mse":
            p = alpha / S
            values.append(sum((y[k] - p[k]) ** 2 + p[k] * (1 - p[k]) / (S + 1) for k in range(len(e))))
        else:
            a = np.where(y == 1, 1.0, alpha)
            values.append(sc.gammaln(a.sum()) - sc.gammaln(len(e)) - sc.gammaln(a).sum()
                          + ((a - 1) * (sc.digamma(a) - sc.digamma(a.sum()))).sum())
    return np.mean(values)


@pytest.mark.parametrize("loss", list(MODULES))
def test_values_equal_the_formulas(rng, loss):
    evidence = rng.uniform(0, 20, (N, K))
    labels = rng.integers(0, K, N)
    module = MODULES[loss]()
    np.testing.assert_allclose(float(module(evidence, labels)), direct(loss, evidence, labels), rtol=1e-10)
    np.testing.assert_allclose(float(module(evidence, one_hot(labels))), direct(loss, evidence, labels), rtol=1e-10)


def test_kl_term_equals_a_monte_carlo_estimate():
    """KL(Dir(a) || Dir(1)) = E_{p ~ Dir(a)}[log Dir(p; a) - log Dir(p; 1)], sampled with scipy.stats."""
    alpha_tilde = np.array([1.0, 3.5, 1.2, 2.0])      # alpha~ for label 0: the target entry is 1
    evidence = alpha_tilde - 1.0
    evidence[0] = 5.0                                 # ignored by the KL term: the target's alpha~ is 1
    exact = float(KLDivergenceLoss()(evidence[None], np.array([0])))
    samples = scipy.stats.dirichlet(alpha_tilde).rvs(size=200_000, random_state=0)
    samples = np.clip(samples, 1e-300, None)
    log_ratio = scipy.stats.dirichlet.logpdf(samples.T, alpha_tilde) - sc.gammaln(4.0)   # log Dir(p; 1) = log 3!
    standard_error = log_ratio.std() / np.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - exact) < 4 * standard_error, (log_ratio.mean(), exact, standard_error)


@pytest.mark.parametrize("loss", list(MODULES))
@pytest.mark.parametrize("function", list(EVIDENCE_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_nan_or_overflow_at_extreme_inputs(loss, function, dtype):
    forward, backward = EVIDENCE_FUNCTIONS[function]
    module = MODULES[loss]()
    labels = np.array([0, 1, 2])
    logits = np.array([[1e4, -1e4, 0.0, 5.0], [-1e4, 1e4, 1e4, -1e4], [0.0, 0.0, 1e4, -1e4]], dtype)
    for z in (logits, -logits):
        e, cache = forward(z)
        assert np.all(np.isfinite(e))
        value = module(e, labels)
        de = module.backward()
        (dz,) = backward(de, cache)
        assert np.isfinite(float(value)) and np.all(np.isfinite(de)) and np.all(np.isfinite(dz))
        assert dz.dtype == dtype
    huge = np.full((2, K), 1e8, dtype)                  # evidence 1e8 directly
    huge[0, 0] = 0.0
    value = module(huge, np.array([0, 3]))
    assert np.isfinite(float(value)) and np.all(np.isfinite(module.backward()))


@pytest.mark.parametrize("loss", list(MODULES))
def test_bad_input_gives_clear_errors(loss):
    module = MODULES[loss]()
    good = np.ones((3, K))
    with pytest.raises(ValueError, match="evidence must be non-negative, got a minimum of -1.0"):
        module(good - 2, np.array([0, 1, 2]))
    bad = good.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="evidence must be finite, got 1 NaN"):
        module(bad, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 4\), got values in \[0, 4\]"):
        module(good, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="targets must have 3 entries"):
        module(good, np.array([0, 1]))
    with pytest.raises(ValueError, match="single 1 per row"):
        module(good, np.full((3, K), 0.25))
    with pytest.raises(ValueError, match=r"one-hot rows of shape \(3, 4\), got shape \(3, 5\)"):
        module(good, np.eye(5)[:3])
    with pytest.raises(ValueError, match="evidence must have 2 dimensions"):
        module(np.ones(K), np.array([0]))


# ---- the textbook KL pair, and the fused kernel against it ------------------------------------
from numpyuq.losses.evidential import (kl_divergence_backward, kl_divergence_forward,  # noqa: E402
                                       kl_divergence_plain_backward, kl_divergence_plain_forward)


def test_plain_kl_pair_passes_the_gradient_check(rng):
    targets = np.eye(4)[rng.integers(0, 4, 6)]
    inputs = {"evidence": rng.random((6, 4)) * 3 + 0.1}
    report = check_pair(lambda evidence: kl_divergence_plain_forward(evidence, targets), kl_divergence_plain_backward,
                        inputs)
    assert_grad_ok(report)


@pytest.mark.parametrize("scale", [1e-2, 1.0, 30.0, 1e4])
def test_fused_kl_equals_the_plain_formula_where_that_is_accurate(rng, scale):
    targets = np.eye(10)[rng.integers(0, 10, 64)]
    evidence = rng.random((64, 10)) * scale
    plain, plain_cache = kl_divergence_plain_forward(evidence, targets)
    fused, fused_cache = kl_divergence_forward(evidence, targets)
    assert fused == pytest.approx(plain, rel=1e-9)
    dy = 0.7
    np.testing.assert_allclose(kl_divergence_backward(dy, fused_cache)[0],
                               kl_divergence_plain_backward(dy, plain_cache)[0], rtol=1e-8, atol=1e-14)


def test_fused_kl_keeps_its_precision_where_the_plain_formula_loses_it(rng):
    """At evidence ~1e-8 the KL (~1e-16) is far below the log-gamma values the plain formula
    subtracts: it has no correct digit left, while the fused kernel still agrees with the
    second-order expansion KL ~ sum_k e~_k^2 (pi^2/6 - 1/2 ...): here checked through scaling,
    KL(t e) = t^2 KL(e) to leading order."""
    targets = np.eye(10)[rng.integers(0, 10, 64)]
    evidence = rng.random((64, 10)) * 1e-4
    fused_small = kl_divergence_forward(evidence * 1e-4, targets)[0]
    fused = kl_divergence_forward(evidence, targets)[0]
    assert fused_small == pytest.approx(fused * 1e-8, rel=1e-3)       # second order, up to O(e) terms
    plain_small = kl_divergence_plain_forward(evidence * 1e-4, targets)[0]
    assert abs(plain_small - fused_small) > 0.5 * fused_small            # the plain form's round-off
