"""Last-layer Laplace (Kristiadi et al. 2020; Daxberger et al. 2021, "Laplace Redux",
https://arxiv.org/abs/2106.14806): a Gaussian posterior on the weights of a trained network's last
(Dense, softmax) layer, centred on the trained weights, with the curvature of the loss as precision.

Notation: features phi_n (D,) of the penultimate layer, extended with a 1 for the bias:
u_n = [phi_n, 1] (D + 1,); the last layer's parameters Theta = [W; b] (D + 1, K), the rows of W and
then b, flattened row by row, theta_(i, k) = Theta[i, k] (P = (D + 1) K entries); logits
z_n = u_n Theta; p_n = softmax(z_n).

The Hessian of the summed negative log-likelihood in theta. dz_nk / dTheta_il = u_ni [k = l], and
the Hessian of -log softmax(z)_y in z is Lambda_n = diag(p_n) - p_n p_n^T, so

    H = sum_n (u_n u_n^T) kron Lambda_n                 (P, P); exact here, the generalised
                                                         Gauss-Newton = the Fisher for a linear layer
    KFAC:  H ~ A kron B,  A = sum_n u_n u_n^T,  B = (1/N) sum_n Lambda_n      exact for one point

KFAC never forms the (P, P) matrix: with A = Q_A diag(a) Q_A^T and B = Q_B diag(b) Q_B^T, the
eigenvalues of A kron B are the products a_i b_k and its eigenvectors Q_A kron Q_B, so the
posterior covariance is (Q_A kron Q_B) diag(1 / (a_i b_k + delta)) (Q_A kron Q_B)^T and a logit
covariance costs O((D + 1) K + K^2) per point (``kfac_logit_covariance``). ``hessian="auto"`` takes
the full matrix up to P = 1,000 parameters (DeepResNet's 2-class head: 258) and KFAC above
(LeNet's 500 x 10 head: 5,010).

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
HESSIANS = ("auto", "full", "kfac")
FULL_UP_TO = 1000              # "auto": the full Hessian up to this many last-layer parameters


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
    if kind == "kfac":
        return np.kron(*kfac_factors(features, theta))
    u = np.hstack([features, np.ones((len(features), 1))])
    p = softmax(u @ theta)
    K = theta.shape[1]
    lam = p[:, :, None] * (np.eye(K)[None] - p[:, None, :])                 # Lambda_n = diag(p_n) - p_n p_n^T
    H = np.empty((u.shape[1], K, u.shape[1], K))
    for k in range(K):                  # H[(i, k), (j, l)] = sum_n u_ni u_nj Lambda_n[k, l]: one GEMM a block
        for l in range(K):
            H[:, k, :, l] = (u * lam[:, k, l, None]).T @ u
    return H.reshape(u.shape[1] * K, u.shape[1] * K)


def kfac_factors(features, theta):
    """The Kronecker factors A = sum_n u_n u_n^T (D + 1, D + 1) and B = (1/N) sum_n Lambda_n (K, K)."""
    u = np.hstack([features, np.ones((len(features), 1))])
    p = softmax(u @ theta)
    return u.T @ u, np.diag(p.mean(axis=0)) - (p.T @ p) / len(p)


def kfac_logit_covariance(u, factors, delta):
    """Sigma_z (N, K, K) for u (N, D + 1) under the KFAC posterior, from the factors'
    eigendecompositions ``factors = (a, Q_A, b, Q_B)`` (module docstring)."""
    a, q_a, b, q_b = factors
    weights = (u @ q_a) ** 2 @ (1 / (np.outer(a, b) + delta))              # (N, K): sum_i (u Q_A)_i^2 / (a_i b_c + delta)
    return np.einsum("kc,nc,lc->nkl", q_b, weights, q_b)


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
        hessian: ``"full"`` (P = (D + 1) K parameters: a (P, P) matrix), ``"kfac"`` (two factors of
            sizes D + 1 and K) or ``"auto"`` (default: full up to P = 1,000, else KFAC).
        prior_precision: a number, or None to choose it by the marginal likelihood (``fit``).
        predictive: ``"probit"`` (mean field, default) or ``"mc"`` (``num_samples`` draws).
        seed: the Monte Carlo draws' seed.
    """

    uncertainty_kind = "predictive entropy under the last-layer Laplace posterior (Daxberger et al. 2021)"

    def __init__(self, model, hessian="auto", prior_precision=None, predictive="probit", num_samples=100, seed=0):
        self.layer = last_dense_layer(model)
        check_choice(hessian, "hessian", HESSIANS)
        check_choice(predictive, "predictive", PREDICTIVES)
        check_positive_int(num_samples, "num_samples")
        if prior_precision is not None and not (isinstance(prior_precision, (int, float)) and prior_precision > 0):
            raise ValueError(f"prior_precision must be None or a number > 0, got {prior_precision!r}")
        self.model, self.hessian, self.prior_precision = model, hessian, prior_precision
        self.predictive, self.num_samples, self.seed = predictive, num_samples, seed

    def theta(self):
        """The trained last-layer parameters Theta = [W; b] (the rows of W, then b): (D + 1, K) float64."""
        return np.vstack([to_numpy(self.layer.w.value), to_numpy(self.layer.b.value)[None, :]]).astype(np.float64)

    def fit(self, x, y, max_iter=100, tol=1e-8):
        """Curvature from the training inputs x (N, ...) and labels y (N,); the prior precision by
        MacKay's fixed point unless given. Attributes: ``hessian_kind_`` ("full" or "kfac"),
        ``prior_precision_``, ``eigenvalues_`` (P,) of the curvature, ``log_marginal_likelihood_``;
        full: ``hessian_`` and ``posterior_covariance_`` (P, P); KFAC: ``kfac_factors_`` (A, B)."""
        theta = self.theta()
        features = penultimate_features(self.model, x)
        as_labels(np.asarray(to_numpy(y)), "y", theta.shape[1], len(features))
        kind = self.hessian
        if kind == "auto":
            kind = "full" if theta.size <= FULL_UP_TO else "kfac"
        if kind == "kfac":
            A, B = kfac_factors(features, theta)
            (a, q_a), (b, q_b) = np.linalg.eigh(A), np.linalg.eigh(B)
            a, b = np.clip(a, 0, None), np.clip(b, 0, None)
            eigenvalues = np.outer(a, b).ravel()
        else:
            H = last_layer_hessian(features, theta)
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
        if kind == "full":
            factor = scipy.linalg.cholesky(H + delta * np.eye(len(H)), lower=True)
            self.hessian_, self.posterior_covariance_ = H, scipy.linalg.cho_solve((factor, True), np.eye(len(H)))
        else:
            self.kfac_factors_, self.kfac_eigen_ = (A, B), (a, q_a, b, q_b)
        self.hessian_kind_, self.prior_precision_, self.eigenvalues_ = kind, float(delta), eigenvalues
        self.log_marginal_likelihood_ = log_marginal_likelihood_terms(eigenvalues, theta_norm2, delta)[0]
        return self

    def logit_distribution(self, x):
        """Mean logits z* (N, K) and their covariances Sigma_z (N, K, K) under the posterior."""
        if not hasattr(self, "hessian_kind_"):
            raise RuntimeError("LastLayerLaplace is not fitted yet: call fit(x_train, y_train) first")
        features = penultimate_features(self.model, x)
        theta = self.theta()
        if features.shape[1] != theta.shape[0] - 1:
            raise ValueError(f"the features of x have {features.shape[1]} dimensions, the last layer takes "
                             f"{theta.shape[0] - 1}")
        u = np.hstack([features, np.ones((len(features), 1))])
        if self.hessian_kind_ == "kfac":
            return u @ theta, kfac_logit_covariance(u, self.kfac_eigen_, self.prior_precision_)
        K = theta.shape[1]
        sigma = self.posterior_covariance_.reshape(u.shape[1], K, u.shape[1], K)
        covariance = np.einsum("ni,ikjl,nj->nkl", u, sigma, u, optimize=True)
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
