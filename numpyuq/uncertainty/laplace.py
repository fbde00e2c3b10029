"""Last-layer Laplace (Kristiadi et al. 2020; Daxberger et al. 2021, "Laplace Redux",
https://arxiv.org/abs/2106.14806): a Gaussian posterior on the weights of a trained network's last
(Dense, softmax) layer, centred on the trained weights, with the curvature of the loss as precision.

Notation: features phi_n (D,) of the penultimate layer, extended with a 1 for the bias:
u_n = [phi_n, 1] (D + 1,); the last layer's parameters Theta = [[W], [b]] (D + 1, K), flattened row
by row, theta_(i, k) = Theta[i, k] (P = (D + 1) K entries); logits z_n = u_n Theta; p_n = softmax(z_n).

The Hessian of the summed negative log-likelihood in theta. dz_nk / dTheta_il = u_ni [k = l], and
the Hessian of -log softmax(z)_y in z is Lambda_n = diag(p_n) - p_n p_n^T, so

    H = sum_n (u_n u_n^T) kron Lambda_n                 (P, P); exact here, the generalised
                                                         Gauss-Newton = the Fisher for a linear layer
    KFAC:  H ~ (sum_n u_n u_n^T) kron ((1/N) sum_n Lambda_n)      exact for one point

The prior is N(0, delta^-1 I), so the posterior precision is H + delta I. The prior precision
maximises the Laplace approximation of the log marginal likelihood (up to constants),

    g(delta) = -(delta / 2) |theta*|^2 + (P / 2) log delta - (1/2) sum_i log(lambda_i + delta)
    g'(delta) = -|theta*|^2 / 2 + P / (2 delta) - (1/2) sum_i 1 / (lambda_i + delta)

(lambda_i: H's eigenvalues); g' = 0 gives MacKay's fixed point delta = gamma / |theta*|^2 with
gamma = sum_i lambda_i / (lambda_i + delta), iterated to convergence.

The predictive: the logits are linear in theta, so z ~ N(z*, Sigma_z) with
Sigma_z[k, l] = sum_ij u_i u_j Sigma[(i, k), (j, l)] and Sigma = (H + delta I)^-1. Probit
(mean-field): softmax(z* / sqrt(1 + (pi / 8) diag Sigma_z)), as laplace-torch and Laplace Redux
do; Monte Carlo: the mean of softmax over draws of z. The probit scales each logit by its own
variance and ignores how the logits of one shared layer co-vary, so it is an approximation that
improves as the posterior narrows (the tests measure it against 20,000 draws).
"""
import math

import numpy as np
import scipy.linalg

from ..backend import to_numpy
from ..losses.cross_entropy import softmax
from ..metrics import entropy
from ..nn.dense import Dense
from ..nn.module import Module
from ..seeding import as_generator
from ..validation import as_labels, check_choice, check_positive_int
from .ddu import penultimate_features

PREDICTIVES = ("probit", "mc")
HESSIANS = ("full", "kfac")


def last_dense_layer(model):
    """The model's last layer, which must be a plain Dense (no activation): its weights are what the
    Laplace posterior is on."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a numpyuq Module, got {type(model).__name__}")
    last = getattr(model, "classifier", None)
    if last is None and hasattr(model, "layers") and model.layers:
        last = model.layers[-1]
    if not isinstance(last, Dense) or last.activation is not None:
        raise TypeError(f"last-layer Laplace needs a model whose last module is a Dense layer without an "
                        f"activation, got {type(last).__name__} in {type(model).__name__}")
    return last


def last_layer_hessian(features, theta, kind="full"):
    """H (P, P) of the summed NLL in the flattened last-layer parameters, at Theta (D + 1, K);
    ``kind="kfac"`` the Kronecker-factored approximation. features: (N, D)."""
    u = np.hstack([features, np.ones((len(features), 1))])
    p = softmax(u @ theta)
    if kind == "kfac":
        lam = np.diag(p.mean(axis=0)) - (p.T @ p) / len(p)                # (1/N) sum_n Lambda_n
        return np.kron(u.T @ u, lam)
    K = theta.shape[1]
    H = np.zeros((u.shape[1] * K,) * 2)
    for u_n, p_n in zip(u, p):
        H += np.kron(np.outer(u_n, u_n), np.diag(p_n) - np.outer(p_n, p_n))
    return H


def log_marginal_likelihood_terms(eigenvalues, theta_norm2, delta):
    """(g(delta), g'(delta)) of the module docstring (without the constant NLL term)."""
    P = len(eigenvalues)
    g = -0.5 * delta * theta_norm2 + 0.5 * P * math.log(delta) - 0.5 * np.log(eigenvalues + delta).sum()
    dg = -0.5 * theta_norm2 + 0.5 * P / delta - 0.5 * (1 / (eigenvalues + delta)).sum()
    return g, dg


class LastLayerLaplace:
    """A Laplace posterior on a trained classifier's last Dense layer.

    Args:
        model: a trained numpyuq classifier whose last module is a Dense layer.
        hessian: ``"full"`` (small heads: P = (D + 1) K parameters, a (P, P) matrix) or ``"kfac"``.
        prior_precision: a number, or None to choose it by the marginal likelihood (``fit``).
        predictive: ``"probit"`` (mean field, default) or ``"mc"`` (``num_samples`` draws).
        seed: the Monte Carlo draws' seed.
    """

    uncertainty_kind = "predictive entropy under the last-layer Laplace posterior (Daxberger et al. 2021)"

    def __init__(self, model, hessian="full", prior_precision=None, predictive="probit", num_samples=100, seed=0):
        self.layer = last_dense_layer(model)
        check_choice(hessian, "hessian", HESSIANS)
        check_choice(predictive, "predictive", PREDICTIVES)
        check_positive_int(num_samples, "num_samples")
        if prior_precision is not None and not (isinstance(prior_precision, (int, float)) and prior_precision > 0):
            raise ValueError(f"prior_precision must be None or a number > 0, got {prior_precision!r}")
        self.model, self.hessian, self.prior_precision = model, hessian, prior_precision
        self.predictive, self.num_samples, self.seed = predictive, num_samples, seed

    def theta(self):
        """The trained last-layer parameters Theta = [[W], [b]]: (D + 1, K) float64."""
        return np.vstack([to_numpy(self.layer.w.value), to_numpy(self.layer.b.value)[None, :]]).astype(np.float64)

    def fit(self, x, y, max_iter=100, tol=1e-8):
        """Curvature from the training inputs x (N, ...) and labels y (N,); the prior precision by
        MacKay's fixed point unless given. Attributes: ``prior_precision_``, ``posterior_covariance_``."""
        features = penultimate_features(self.model, x)
        theta = self.theta()
        as_labels(np.asarray(to_numpy(y)), "y", theta.shape[1], len(features))
        H = last_layer_hessian(features, theta, self.hessian)
        eigenvalues = np.clip(np.linalg.eigvalsh(H), 0, None)
        theta_norm2 = float((theta * theta).sum())
        delta = self.prior_precision
        if delta is None:
            delta = 1.0
            for _ in range(max_iter):
                gamma = (eigenvalues / (eigenvalues + delta)).sum()
                updated = gamma / max(theta_norm2, 1e-300)
                if abs(updated - delta) <= tol * delta:
                    delta = updated
                    break
                delta = updated
            else:
                raise ValueError(f"the prior precision's fixed point did not converge in {max_iter} steps")
        precision = H + delta * np.eye(len(H))
        factor = scipy.linalg.cholesky(precision, lower=True)
        self.prior_precision_, self.hessian_ = float(delta), H
        self.posterior_covariance_ = scipy.linalg.cho_solve((factor, True), np.eye(len(H)))
        self.log_marginal_likelihood_ = log_marginal_likelihood_terms(eigenvalues, theta_norm2, delta)[0]
        return self

    def logit_distribution(self, x):
        """Mean logits z* (N, K) and their covariances Sigma_z (N, K, K) under the posterior."""
        if not hasattr(self, "posterior_covariance_"):
            raise RuntimeError("LastLayerLaplace is not fitted yet: call fit(x_train, y_train) first")
        features = penultimate_features(self.model, x)
        theta = self.theta()
        if features.shape[1] != theta.shape[0] - 1:
            raise ValueError(f"the features of x have {features.shape[1]} dimensions, the last layer takes "
                             f"{theta.shape[0] - 1}")
        u = np.hstack([features, np.ones((len(features), 1))])
        K = theta.shape[1]
        sigma = self.posterior_covariance_.reshape(u.shape[1], K, u.shape[1], K)
        covariance = np.einsum("ni,ikjl,nj->nkl", u, sigma, u)
        return u @ theta, covariance

    def predict_proba(self, x):
        """Posterior predictive probabilities (N, K): probit or Monte Carlo (``predictive``)."""
        mean, covariance = self.logit_distribution(x)
        if self.predictive == "probit":
            variance = np.einsum("nkk->nk", covariance)
            return softmax(mean / np.sqrt(1 + math.pi / 8 * variance))
        rng = as_generator(self.seed)
        factors = np.linalg.cholesky(covariance + 1e-12 * np.eye(mean.shape[1]))
        draws = mean[None] + np.einsum("nkl,snl->snk", factors, rng.standard_normal((self.num_samples, *mean.shape)))
        return softmax(draws.reshape(-1, draws.shape[-1])).reshape(draws.shape).mean(axis=0)

    def predict(self, x):
        return self.predict_proba(x)

    def uncertainty(self, x):
        """Predictive entropy (N,) of the posterior predictive."""
        return self.predict_with_uncertainty(x)[1]

    def predict_with_uncertainty(self, x):
        """(posterior predictive (N, K), its entropy (N,)) from one pass."""
        p = self.predict_proba(x)
        return p, entropy(p)

    def __repr__(self):
        return f"LastLayerLaplace({type(self.model).__name__}, hessian={self.hessian!r}, predictive={self.predictive!r})"
