"""Deep Deterministic Uncertainty (Mukhoti et al. 2021, "Deep Deterministic Uncertainty: A Simple
Baseline", https://arxiv.org/abs/2102.11582): after training, fit one Gaussian per class to the
penultimate features of the training set; the features' density under that mixture is the
epistemic uncertainty, the softmax's entropy the aleatoric one.

    mu_k    = mean of the features of class k                 (N_k rows)
    Sigma_k = their covariance, (1 / (N_k - 1)) sum (f - mu_k)(f - mu_k)^T   (np.cov's convention)
    pi_k    = N_k / N
    log q(f) = logsumexp_k [ log pi_k + log N(f; mu_k, Sigma_k) ]
    log N(f; mu, Sigma) = -(D log 2 pi + log det Sigma + |L^-1 (f - mu)|^2) / 2,   Sigma = L L^T

Everything is float64 and closed form. A covariance that is singular (fewer points than features,
or collinear features) gets a jitter on its diagonal: 0 first, then 1e-12 times its mean diagonal,
growing tenfold until the Cholesky factorisation succeeds (at most 1e-2 times the mean diagonal,
else an error names the class).

The features are what the network computes before its last layer: ``model.features(x)`` where the
model has it (DeepResNet, SNGP models), else every layer of a Sequential but the last. With spectral
normalisation those features keep distances (Liu et al. 2020), which is what makes the density
a distance-aware uncertainty; without it, DDU's density can miss inputs far from the data.
"""
import numpy as np
import scipy.linalg

from ..backend import to_numpy
from ..losses.cross_entropy import softmax
from ..metrics import entropy
from ..nn.module import Module, without_caches
from ..validation import as_labels, check_batch

JITTER_START, JITTER_STOP = 1e-12, 1e-2        # relative to the covariance's mean diagonal


def split_at_last_layer(model):
    """(the features function, the last module) of a model: ``model.features`` and its
    ``classifier`` (DeepResNet, the SNGP models), or a Sequential's layers but the last and the last."""
    if not isinstance(model, Module):
        raise TypeError(f"model must be a numpyuq Module, got {type(model).__name__}")
    layers = getattr(model, "layers", None)
    last = getattr(model, "classifier", None) or (layers[-1] if layers else None)
    if hasattr(model, "features") and last is not None:
        return model.features, last
    if layers is not None and len(layers) > 1:
        def features(batch, training=False):
            for layer in layers[:-1]:
                batch = layer(batch, training=training)
            return batch
        return features, last
    raise TypeError(f"{type(model).__name__} has no features(x) and is not a Sequential: DDU needs the "
                    "penultimate features")


def features_and_logits(model, x, batch_size=4096):
    """One inference pass: the features the last layer sees (N, D) and the logits it makes (N, K),
    both float64 on the host."""
    features_of, last = split_at_last_layer(model)
    x = model.as_input(check_batch(x, "x"))
    features, logits = [], []
    with without_caches(model):
        for i in range(0, x.shape[0], batch_size):
            batch = features_of(x[i:i + batch_size])
            features.append(to_numpy(batch).reshape(batch.shape[0], -1))
            logits.append(to_numpy(last(batch)))
    return np.concatenate(features).astype(np.float64), np.concatenate(logits).astype(np.float64)


def penultimate_features(model, x, batch_size=4096):
    """The features the last layer sees: (N, ...) -> (N, D) float64 on the host."""
    return features_and_logits(model, x, batch_size)[0]


def cholesky_with_jitter(covariance, name):
    """(lower Cholesky factor, the jitter added to the diagonal) of a covariance, the jitter growing
    tenfold from 0 until the factorisation succeeds."""
    scale = float(np.mean(np.diag(covariance))) or 1.0
    jitter = 0.0
    while True:
        try:
            return scipy.linalg.cholesky(covariance + jitter * np.eye(len(covariance)), lower=True), jitter
        except np.linalg.LinAlgError:
            jitter = JITTER_START * scale if jitter == 0 else jitter * 10
            if jitter > JITTER_STOP * scale:
                raise ValueError(f"the feature covariance of {name} is singular beyond a jitter of "
                                 f"{JITTER_STOP:g} times its mean diagonal") from None


def gaussian_log_densities(features, means, factors):
    """log N(f; mu_k, L_k L_k^T) for every row and class: (N, D), (K, D), (K, D, D) -> (N, K)."""
    n, d = features.shape
    out = np.empty((n, len(means)))
    for k, (mean, factor) in enumerate(zip(means, factors)):
        white = scipy.linalg.solve_triangular(factor, (features - mean).T, lower=True)   # (D, N) = L^-1 (f - mu)
        log_det = 2 * np.log(np.diag(factor)).sum()
        out[:, k] = -0.5 * (d * np.log(2 * np.pi) + log_det + (white * white).sum(axis=0))
    return out


class DDU:
    """DDU's density head on a trained network: the network's softmax for probabilities, minus the
    log feature density as its own (epistemic) uncertainty.

    Args:
        model: a trained numpyuq classifier (its penultimate features: see ``penultimate_features``).
    ``fit(x_train, y_train)`` fits the class Gaussians; then ``predict_proba``, ``uncertainty``
    (= -log q(f(x))), ``aleatoric`` (softmax entropy), ``log_density``. Attributes after ``fit``:
    ``means_`` (K, D), ``covariances_`` (K, D, D), ``priors_`` (K,), ``jitters_`` (K,).
    """

    uncertainty_kind = "minus the log density of the features under class Gaussians (Mukhoti et al. 2021)"

    def __init__(self, model):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a numpyuq Module, got {type(model).__name__}")
        self.model = model

    def fit(self, x, y, num_classes=None):
        """x: the training inputs (N, ...); y: (N,) labels. Every class needs two points or more."""
        features, logits = features_and_logits(self.model, x)
        labels = np.asarray(to_numpy(y)) if not isinstance(y, (list, tuple)) else np.asarray(y)
        num_classes = num_classes or logits.shape[1]
        labels = to_numpy(as_labels(labels, "y", num_classes, len(features))).astype(np.int64)
        means, covariances, factors, jitters = [], [], [], []
        for k in range(num_classes):
            members = features[labels == k]
            if len(members) < 2:
                raise ValueError(f"y has {len(members)} point(s) of class {k}: DDU fits a Gaussian per class "
                                 "and needs at least 2 of every class")
            covariance = np.cov(members, rowvar=False).reshape(features.shape[1], features.shape[1])
            factor, jitter = cholesky_with_jitter(covariance, f"class {k}")
            means.append(members.mean(axis=0))
            covariances.append(covariance)
            factors.append(factor)
            jitters.append(jitter)
        self.means_, self.covariances_ = np.array(means), np.array(covariances)
        self.factors_, self.jitters_ = np.array(factors), np.array(jitters)
        self.priors_ = np.bincount(labels, minlength=num_classes) / len(labels)
        return self

    def check_fitted(self):
        if not hasattr(self, "means_"):
            raise RuntimeError("DDU is not fitted yet: call fit(x_train, y_train) first")

    def log_density(self, x):
        """log q(f(x)) = logsumexp_k [log pi_k + log N(f; mu_k, Sigma_k)]: (N,)."""
        self.check_fitted()
        return self.density_of(penultimate_features(self.model, x))

    def density_of(self, features):
        """log q(f) of features (N, D)."""
        if features.shape[1] != self.means_.shape[1]:
            raise ValueError(f"the features of x have {features.shape[1]} dimensions, the fitted Gaussians "
                             f"{self.means_.shape[1]}")
        joint = gaussian_log_densities(features, self.means_, self.factors_) + np.log(self.priors_)[None, :]
        top = joint.max(axis=1, keepdims=True)
        return top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))

    def predict_proba(self, x):
        """The network's softmax probabilities (N, K): DDU leaves the predictions alone."""
        return self.predict_with_uncertainty(x)[0]

    def predict(self, x):
        return self.predict_proba(x)

    def uncertainty(self, x):
        """Epistemic uncertainty -log q(f(x)) (N,): large far from every class's features."""
        return -self.log_density(x)

    def aleatoric(self, x):
        """The softmax entropy (N,)."""
        return entropy(self.predict_proba(x))

    def predict_with_uncertainty(self, x):
        """(softmax probabilities (N, K), -log q(f(x)) (N,)) from one pass of the network."""
        self.check_fitted()
        features, logits = features_and_logits(self.model, x)
        return softmax(logits), -self.density_of(features)

    def __repr__(self):
        return f"DDU({type(self.model).__name__})"
