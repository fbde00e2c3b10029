"""Random-feature Gaussian-process output layer (Liu et al. 2020, sections 3.2 and 3.3, eqs. 6-8;
Rahimi & Recht 2007 for the features), following tensorflow/models' ``RandomFeatureGaussianProcess``.

    h      = x / sqrt(kernel_scale)             (or LayerNorm(x) when normalize_input)
    phi(x) = sqrt(2 / M) cos(h W + b),          W ~ N(0, 1): (D, M),  b ~ U(0, 2 pi): (M,)   (frozen)
    logits = phi beta + bias                    beta: (M, K) trained, bias constant

Since E_W,b[2 cos(w.h + b) cos(w.h' + b)] = exp(-|h - h'|^2 / 2), phi(x).phi(y) approximates the RBF
kernel exp(-|x - y|^2 / (2 kernel_scale)). (The reference's docstring writes
exp(-|x1 - x2|^2 / kernel_scale); the factor 2 is missing there, and our tests check the closed form.)

The Laplace posterior of beta under a Gaussian likelihood has precision
    P = ridge I + sum_i phi_i^T phi_i          (cov_momentum < 0: exact sum over the data seen)
    P <- m P + (1 - m) phi^T phi / batch       (0 < cov_momentum < 1: moving average per batch)
and the predictive covariance of the logits at test features Phi* is ridge Phi* P^-1 Phi*^T (eq. 8).

Cost: P only changes on training passes, but each update is an (M x M) rank-``batch`` product
(268 MFLOP for M = 1024, batch 128), while the seed resets P at every epoch start, discarding all but
the last epoch. So updates are queued and folded into P only when P is read (prediction,
``state_dict``); a reset simply drops the queue.
"""
import math
import warnings

import numpy as np
import scipy.linalg

from ..backend import asarray, get_array_module, to_numpy
from ..validation import check_features
from .init import as_generator, glorot_uniform
from .module import Module, Parameter
from .normalization import layernorm_backward, layernorm_forward


def random_features_forward(h, random_weights, random_offset, feature_scale):
    """phi = feature_scale cos(h W + b).  h: (N, D), W: (D, M), b: (M,) -> phi: (N, M)."""
    xp = get_array_module(h)
    z = h @ random_weights + random_offset
    return feature_scale * xp.cos(z), (z, random_weights, feature_scale)


def random_features_backward(dphi, cache):
    """d cos(z) / dz = -sin(z); W and b are frozen, so only dh: (N, D) is returned."""
    z, random_weights, feature_scale = cache
    xp = get_array_module(z)
    dz = dphi * (-feature_scale * xp.sin(z))
    return (dz @ random_weights.T,)


def precision_update(precision, phi, momentum):
    """One batch's update of the (M, M) precision: exact sum (momentum < 0) or moving average."""
    gram = phi.T @ phi
    if momentum > 0:
        return momentum * precision + (1 - momentum) * gram / phi.shape[0]
    return precision + gram


def posterior_variance(phi, cholesky, ridge, chunk=2048):
    """diag(ridge Phi P^-1 Phi^T) without the (N, N) matrix: with P = L L^T it is ridge |L^-1 phi_n|^2.

    phi: (N, M), cholesky: lower (M, M) -> (N,). Works in ``chunk`` rows at a time, so memory is
    O(M chunk), never O(N^2).
    """
    out = np.empty(phi.shape[0])
    for start in range(0, phi.shape[0], chunk):
        block = to_numpy(phi[start:start + chunk]).astype(np.float64)
        solved = scipy.linalg.solve_triangular(cholesky, block.T, lower=True, check_finite=False)
        out[start:start + chunk] = ridge * (solved * solved).sum(axis=0)
    return out


def posterior_covariance(phi, cholesky, ridge):
    """ridge Phi P^-1 Phi^T: (N, N) (the seed's ``covmat``), via two triangular solves."""
    solved = scipy.linalg.solve_triangular(cholesky, to_numpy(phi).astype(np.float64).T, lower=True,
                                           check_finite=False)
    return ridge * solved.T @ solved


class RandomFeatureGP(Module):
    """Random-feature GP output layer: logits (N, units) and, at inference, their posterior variance.

    Args:
        in_features: D.  units: K, the number of logits.
        num_inducing: M random features (1024).
        normalize_input: LayerNorm the input (trainable gamma, beta, as Keras') instead of scaling
            it by 1 / sqrt(kernel_scale).
        scale_random_features: multiply phi by sqrt(2 / M) (needed for the kernel approximation).
        kernel_scale: RBF length-scale^2 s in exp(-|x - y|^2 / (2 s)).
        output_bias: constant initial logit bias (not trained, as in the reference).
        l2_regularization: penalty l2 |beta|^2 added to the loss through ``penalty()``.
        cov_momentum: -1 (default) accumulates the exact sum; 0 < m < 1 a moving average.
            tensorflow/models defaults to 0.999; we default to -1, the seed's choice, because an
            exact sum over one epoch (or ``refit_covariance``) is the Laplace posterior of eq. 8,
            while the moving average is a scaled surrogate whose scale depends on the batch count.
        cov_ridge_penalty: ridge, the prior precision (P starts at ridge I).
        rng: Generator or seed.  dtype: parameter dtype.
    Buffers: random_weights (D, M), random_offset (M,), precision (M, M).
    """

    def __init__(self, in_features, units, num_inducing=1024, normalize_input=False,
                 scale_random_features=True, kernel_scale=1.0, output_bias=0.0,
                 l2_regularization=1e-6, cov_momentum=-1, cov_ridge_penalty=1.0, rng=None,
                 dtype=np.float32):
        if not kernel_scale > 0:
            raise ValueError(f"kernel_scale must be > 0, got {kernel_scale}")
        if not (cov_momentum < 0 or 0 < cov_momentum < 1):
            raise ValueError(f"cov_momentum must be negative (exact) or in (0, 1), got {cov_momentum}")
        if not cov_ridge_penalty > 0:
            raise ValueError(f"cov_ridge_penalty must be > 0, got {cov_ridge_penalty}")
        rng = as_generator(rng)
        self.in_features, self.units, self.num_inducing = in_features, units, num_inducing
        self.normalize_input, self.kernel_scale = normalize_input, kernel_scale
        self.l2_regularization, self.cov_momentum, self.ridge = l2_regularization, cov_momentum, cov_ridge_penalty
        self.feature_scale = math.sqrt(2.0 / num_inducing) if scale_random_features else 1.0
        if normalize_input:
            from .normalization import LayerNorm
            self.input_norm = LayerNorm(in_features, dtype=dtype)
        self.register_buffer("random_weights", asarray(rng.standard_normal((in_features, num_inducing)).astype(dtype)))
        self.register_buffer("random_offset", asarray(rng.uniform(0, 2 * np.pi, num_inducing).astype(dtype)))
        self.output_weights = Parameter(asarray(glorot_uniform(rng, num_inducing, units, (num_inducing, units), dtype)))
        self.output_bias = Parameter(asarray(np.full(units, output_bias, dtype)), trainable=False)
        # The precision lives on the host in float64 whatever the backend: it is only ever
        # factorised, and a (M, M) Cholesky in float32 loses the small eigenvalues that matter.
        self._precision = np.eye(num_inducing) * cov_ridge_penalty
        # A buffer behind a property (reads fold the queue in), so it is listed by hand rather
        # than through register_buffer, which would assign the attribute.
        self._buffer_names.append("precision")
        self.last_features = None       # phi of the last forward pass, (N, M)
        self._pending = []              # queued phi batches not yet folded into the precision
        self._cholesky = None
        self.num_accumulated = 0        # samples added to the precision since the last reset
        self.num_training_samples = None

    # ---- precision: queued updates, folded on read -----------------------------------------
    @property
    def precision(self):
        """(M, M) posterior precision of beta, with every queued update applied."""
        if self._pending:
            precision = self._precision
            for phi in self._pending:
                precision = precision_update(precision, to_numpy(phi).astype(np.float64), self.cov_momentum)
            self._precision[...] = precision
            self._pending.clear()
        return self._precision

    @precision.setter
    def precision(self, value):
        self._pending.clear()
        self._precision[...] = to_numpy(value)
        self._cholesky = None

    def reset_covariance(self):
        """Precision back to ridge I (the seed calls this at every epoch start but the first)."""
        self.precision = np.eye(self.num_inducing) * self.ridge
        self.num_accumulated = 0

    def accumulate(self, phi):
        """Queue phi: (N, M) into the precision; warn when the exact sum counts data twice."""
        self._pending.append(phi)
        self._cholesky = None
        self.num_accumulated += phi.shape[0]
        if (self.cov_momentum < 0 and self.num_training_samples is not None
                and self.num_accumulated > self.num_training_samples):
            warnings.warn(
                f"the GP precision has accumulated {self.num_accumulated} samples since its last reset, "
                f"more than the {self.num_training_samples} training samples: data is counted twice. "
                "Reset it every epoch (ResetCovariance) or use refit_covariance.", RuntimeWarning, stacklevel=3)

    def state_changed(self):
        self._cholesky = None

    def cholesky(self):
        """Lower Cholesky factor of the precision, cached until the precision changes."""
        if self._cholesky is None:
            self._cholesky = scipy.linalg.cholesky(np.asarray(self.precision, np.float64), lower=True)
        return self._cholesky

    # ---- forward / backward -----------------------------------------------------------------
    def random_features(self, x):
        """phi(x): (N, M) in inference mode (no caching, no precision update)."""
        h = (layernorm_forward(x, self.input_norm.gamma.value, self.input_norm.beta.value)[0]
             if self.normalize_input else x * (1.0 / math.sqrt(self.kernel_scale)))
        return random_features_forward(h, self.random_weights, self.random_offset, self.feature_scale)[0]

    def forward(self, x, training=False):
        """x: (N, D) -> logits (N, units); a training pass also queues phi into the precision."""
        check_features(x, "RandomFeatureGP input x", ndim=2, size=self.in_features)
        if self.normalize_input:
            h = self.input_norm(x, training=training)
        else:
            h = x * x.dtype.type(1.0 / math.sqrt(self.kernel_scale))
        phi, self._rf_cache = random_features_forward(h, self.random_weights, self.random_offset,
                                                      self.feature_scale)
        self.last_features = phi
        if training:
            self.accumulate(phi)
        return phi @ self.output_weights.value + self.output_bias.value

    def backward(self, dy):
        phi = self.last_features
        self.output_weights.grad += phi.T @ dy
        (dh,) = random_features_backward(dy @ self.output_weights.value.T, self._rf_cache)
        if self.normalize_input:
            return self.input_norm.backward(dh)
        return dh * dh.dtype.type(1.0 / math.sqrt(self.kernel_scale))

    def own_penalty(self):
        """l2 |beta|^2, the reference's kernel_regularizer on the output weights."""
        beta = self.output_weights.value
        return self.l2_regularization * float((beta * beta).sum())

    def own_penalty_backward(self):
        self.output_weights.grad += (2 * self.l2_regularization) * self.output_weights.value

    # ---- posterior ---------------------------------------------------------------------------
    def _features(self, phi):
        if phi is not None:
            return phi
        if self.last_features is None:
            raise RuntimeError("no features yet: call the layer (or pass phi) before asking for the posterior")
        return self.last_features

    def predictive_variance(self, phi=None):
        """(N,) diagonal of ridge Phi P^-1 Phi^T for phi (default: the last forward's features)."""
        return posterior_variance(self._features(phi), self.cholesky(), self.ridge)

    def predictive_covariance(self, phi=None):
        """(N, N) ridge Phi P^-1 Phi^T, the seed's ``covmat``."""
        return posterior_covariance(self._features(phi), self.cholesky(), self.ridge)

    def __repr__(self):
        return (f"RandomFeatureGP({self.in_features}, {self.units}, num_inducing={self.num_inducing}, "
                f"cov_momentum={self.cov_momentum})")
