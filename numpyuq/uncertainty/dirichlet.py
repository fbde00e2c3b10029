"""Dirichlet (evidential) uncertainty: u = K / S (Sensoy et al. 2018, eq. 1; subjective logic's
uncertainty mass, Josang 2016).

With evidence e_k >= 0, alpha = e + 1 and strength S = sum_k alpha_k = K + sum_k e_k, the belief
masses are b_k = e_k / S and the uncertainty mass is u = K / S, so that u + sum_k b_k = 1.
"""
import math
from typing import NamedTuple

from ..backend import get_array_module, special
from ..losses.evidential import check_evidence
from ..validation import check_batch, check_labels


def dirichlet_uncertainty(evidence):
    """alpha = evidence + 1, S = sum_k alpha_k; returns (probs = alpha / S: (N, K), u = K / S: (N,)).

    evidence: (N, K), non-negative.
    """
    check_evidence(evidence)
    alpha = evidence + 1
    strength = alpha.sum(axis=1)
    return alpha / strength[:, None], evidence.shape[1] / strength


def uncertainty_from_log_evidence(log_evidence):
    """u = K / (K + sum_k exp(l_k)) for evidence e = exp(l), computed in log space as
    sigmoid(log K - logsumexp(l)), finite for any l.  log_evidence: (N, K) -> (N,).

    With l the logits of a softmax network this is the Dempster-Shafer score of a deterministic
    classifier (``uncertainty_mass_from_logits``).
    """
    xp = get_array_module(log_evidence)
    sp = special(log_evidence)
    K = log_evidence.shape[1]
    top = log_evidence.max(axis=1, keepdims=True)
    log_total = top[:, 0] + xp.log(xp.exp(log_evidence - top).sum(axis=1))      # logsumexp, stable
    return sp.expit(math.log(K) - log_total)


def uncertainty_mass_from_logits(logits):
    """u = K / (K + sum_k exp(z_k)): the uncertainty mass of a softmax network read as an evidential
    one with exp evidence (Sensoy et al. 2018; the Dempster-Shafer score of Dempster-Shafer theory),
    finite for any logits.  logits: (N, K) -> (N,) float64."""
    logits = check_batch(logits, "logits")         # real, finite, at least one row
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (N, K), got {tuple(logits.shape)}")
    return uncertainty_from_log_evidence(logits.astype("float64"))


class DirichletMeasures(NamedTuple):
    """Uncertainty measures of Dir(alpha), each (N,) except probs (N, K)."""
    probs: object                 # alpha / S, the predictive distribution
    uncertainty_mass: object      # u = K / S
    predictive_entropy: object    # H[alpha / S], total uncertainty
    expected_entropy: object      # E_{p ~ Dir}[H[p]], aleatoric
    mutual_information: object    # H[alpha / S] - E[H[p]], epistemic
    dirichlet_entropy: object     # H[Dir(alpha)], the differential entropy of the Dirichlet itself


def dirichlet_measures(evidence):
    """Closed-form uncertainty measures of Dir(alpha = evidence + 1) (Malinin & Gales 2018, eqs. 9-13).

        H[p_bar]        = -sum_k p_k log p_k,                       p = alpha / S
        E[H[p]]         = psi(S + 1) - sum_k p_k psi(alpha_k + 1)   (the expectation of -log p_k
                          under Dir is psi(S + 1) - psi(alpha_k + 1) when weighted by p_k)
        MI              = H[p_bar] - E[H[p]] >= 0
        H[Dir(alpha)]   = log B(alpha) + (S - K) psi(S) - sum_k (alpha_k - 1) psi(alpha_k),
                          log B(alpha) = sum_k log Gamma(alpha_k) - log Gamma(S)

    evidence: (N, K), finite and non-negative.  Computed in float64.
    """
    check_evidence(evidence)
    xp, sp = get_array_module(evidence), special(evidence)
    alpha = evidence.astype("float64") + 1.0
    strength = alpha.sum(axis=1)
    K = alpha.shape[1]
    probs = alpha / strength[:, None]
    predictive = -(probs * xp.log(probs)).sum(axis=1)
    expected = sp.digamma(strength + 1) - (probs * sp.digamma(alpha + 1)).sum(axis=1)
    log_beta = sp.gammaln(alpha).sum(axis=1) - sp.gammaln(strength)
    differential = log_beta + (strength - K) * sp.digamma(strength) - ((alpha - 1) * sp.digamma(alpha)).sum(axis=1)
    return DirichletMeasures(probs, K / strength, predictive, expected, predictive - expected, differential)


def evidential_statistics(evidence, labels):
    """labml's ``TrackStatistics``: accuracy (argmax of the evidence), and the mean u = K / S and
    mean max_k p_k of the correct and of the wrong predictions (NaN when there are none).

    evidence: (N, K), labels: (N,) integers in [0, K) -> dict of floats.
    """
    check_evidence(evidence)
    check_labels(labels, "labels", evidence.shape[1], length=evidence.shape[0])
    xp = get_array_module(evidence)
    probs, u = dirichlet_uncertainty(evidence)
    correct = evidence.argmax(axis=1) == labels
    top = probs.max(axis=1)

    def mean(values, mask):
        count = int(mask.sum())
        return float(values[mask].sum()) / count if count else float("nan")

    return {"accuracy": float(xp.mean(correct)), "u_correct": mean(u, correct), "u_wrong": mean(u, ~correct),
            "p_correct": mean(top, correct), "p_wrong": mean(top, ~correct)}
