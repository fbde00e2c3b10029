"""Dirichlet (evidential) uncertainty: u = K / S (Sensoy et al. 2018, eq. 1; subjective logic's
uncertainty mass, Josang 2016).

With evidence e_k >= 0, alpha = e + 1 and strength S = sum_k alpha_k = K + sum_k e_k, the belief
masses are b_k = e_k / S and the uncertainty mass is u = K / S, so that u + sum_k b_k = 1.
"""
import math

from ..backend import get_array_module, special


def dirichlet_uncertainty(evidence):
    """alpha = evidence + 1, S = sum_k alpha_k; returns (probs = alpha / S: (N, K), u = K / S: (N,)).

    evidence: (N, K), non-negative.
    """
    if (evidence < 0).any():
        raise ValueError("evidence must be non-negative")
    alpha = evidence + 1
    strength = alpha.sum(axis=1)
    return alpha / strength[:, None], evidence.shape[1] / strength


def uncertainty_from_log_evidence(log_evidence):
    """u = K / (K + sum_k exp(l_k)) for evidence e = exp(l), computed in log space as
    sigmoid(log K - logsumexp(l)), finite for any l.  log_evidence: (N, K) -> (N,).

    With l the logits of a softmax network this is the Dempster-Shafer score of a deterministic
    classifier (``numpyuq.metrics.dempster_shafer``).
    """
    xp = get_array_module(log_evidence)
    sp = special(log_evidence)
    K = log_evidence.shape[1]
    top = log_evidence.max(axis=1, keepdims=True)
    log_total = top[:, 0] + xp.log(xp.exp(log_evidence - top).sum(axis=1))      # logsumexp, stable
    return sp.expit(math.log(K) - log_total)
