"""Dirichlet (evidential) uncertainty: u = K / S (Sensoy et al. 2018, eq. 1)."""


def dirichlet_uncertainty(evidence):
    """alpha = evidence + 1, S = sum_k alpha_k; returns (probs = alpha / S: (N, K), u = K / S: (N,)).

    evidence: (N, K), non-negative.
    """
    if (evidence < 0).any():
        raise ValueError("evidence must be non-negative")
    alpha = evidence + 1
    strength = alpha.sum(axis=1)
    return alpha / strength[:, None], evidence.shape[1] / strength

