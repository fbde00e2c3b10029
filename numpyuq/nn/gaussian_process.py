"""Random-feature Gaussian-process output layer (Liu et al. 2020, sections 3.2 and 3.3, eqs. 6-8;
Rahimi & Recht 2007 for the features), following tensorflow/models' ``RandomFeatureGaussianProcess``.

    h      = x / sqrt(kernel_scale)             (LayerNorm(x) / sqrt(kernel_scale) when normalize_input)
    phi(x) = sqrt(2 / M) cos(h W + b),          W ~ N(0, 1): (D, M),  b ~ U(0, 2 pi): (M,)   (frozen)
    logits = phi beta + bias                    beta: (M, K) trained, bias constant

Since E_W,b[2 cos(w.h + b) cos(w.h' + b)] = exp(-|h - h'|^2 / 2), phi(x).phi(y) approximates the RBF
kernel exp(-|x - y|^2 / (2 kernel_scale)). (The reference's docstring writes
exp(-|x1 - x2|^2 / kernel_scale); the factor 2 is missing there, and our tests check the closed form.)

The Laplace posterior of beta under a Gaussian likelihood has precision
    P = ridge I + sum_i phi_i^T phi_i          (cov_momentum < 0: exact sum over the data seen)
    P <- m P + (1 - m) phi^T phi / batch       (0 < cov_momentum < 1: moving average per batch)
and the predictive covariance of the logits at test features Phi* is ridge Phi* P^-1 Phi*^T (eq. 8).

Memory: the layer keeps the (M, M) float64 precision (8 MiB for M = 1024) and, for one pass, the
(batch, M) features; never more than that, however long the epoch. Cost: each precision update is an
(M x M) rank-``batch`` product (268 MFLOP for M = 1024, batch 128, about 4x a whole DeepResNet
step), and the seed resets P at every epoch start, so all but the last epoch's updates are thrown
away. ``precision_update_mode = "off"`` skips them: ``ResetCovariance`` turns updates on only for the
final epoch, which leaves exactly the precision the seed's per-epoch reset leaves.
"""
import math
import warnings
from typing import NamedTuple

import numpy as np

from ..backend import asarray, get_array_module, scipy_linalg
from ..callbacks import Callback
from ..seeding import as_generator
from ..validation import check_choice, check_features, check_float_dtype, check_positive_int, check_real
from .dense import dense_backward, dense_forward
from .init import glorot_uniform
from .module import Module, Parameter
from .normalization import LayerNorm, layernorm_backward, layernorm_forward

PRECISION_UPDATE_MODES = ("train", "off", "always")


class FeatureCache(NamedTuple):
    norm: object            # LayerNorm cache, or None when the input is scaled instead
    random_features: tuple  # cache of random_features_forward


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
    # The variance of point n is $\lambda\,\phi^\top P^{-1} \phi$ with $P = L L^\top$: one triangular
    # solve $v = L^{-1} \phi$ per row, then $\lambda \lVert v \rVert^2$, never $P^{-1}$ itself.
    xp, linalg = get_array_module(phi), scipy_linalg(phi)
    out = xp.empty(phi.shape[0])
    for start in range(0, phi.shape[0], chunk):
        block = phi[start:start + chunk].astype(np.float64)
        solved = linalg.solve_triangular(cholesky, block.T, lower=True, check_finite=False)
        out[start:start + chunk] = ridge * (solved * solved).sum(axis=0)
    return out


def posterior_covariance(phi, cholesky, ridge):
    """ridge Phi P^-1 Phi^T: (N, N) (the seed's ``covmat``), via two triangular solves."""
    solved = scipy_linalg(phi).solve_triangular(cholesky, phi.astype(np.float64).T, lower=True,
                                                check_finite=False)
    return ridge * solved.T @ solved


class ResetCovariance(Callback):
    """The seed's per-epoch covariance reset, without its waste; ``fit`` adds it by itself for a
    model with an exact-covariance GP layer.

    The seed resets every GP layer's precision at the start of each epoch but the first, so that the
    exact (momentum -1) precision counts each training point once: what remains after training is
    ridge I plus the last epoch's features. This callback leaves the same precision but only
    computes the last epoch's updates (``precision_update_mode="off"`` before it): each update costs
    about four DeepResNet steps.
    """

    def on_epoch_begin(self, trainer):
        last = trainer.epoch == trainer.epochs - 1
        for gp in trainer.model.modules():
            if isinstance(gp, RandomFeatureGP):
                gp.num_training_samples[...] = trainer.num_samples
                if trainer.epoch > 0:
                    gp.reset_covariance()
                gp.precision_update_mode = "train" if last else "off"


class RandomFeatureGP(Module):
    """Random-feature GP output layer: logits (N, units) and, at inference, their posterior variance.

    Args:
        in_features: D.
        units: K, the number of logits.
        num_inducing: M random features (1024).
        normalize_input: LayerNorm the input (trainable gamma, beta, as Keras') before scaling it
            by 1 / sqrt(kernel_scale). (tensorflow/models skips the scale after a LayerNorm; with
            kernel_scale = D (the seed keeps 1 and no LayerNorm), the normalised features have unit
            length, so that the RBF kernel sees distances of order one.)
        scale_random_features: multiply phi by sqrt(2 / M) (needed for the kernel approximation).
        kernel_scale: RBF length-scale^2 s in exp(-|x - y|^2 / (2 s)).
        output_bias: constant initial logit bias (not trained, as in the reference).
        l2_regularization: penalty l2 |beta|^2 added to the loss through ``penalty()``.
        cov_momentum: -1 (default) accumulates the exact sum; 0 < m < 1 a moving average.
            tensorflow/models defaults to 0.999; we default to -1, the seed's choice, because an
            exact sum over one epoch (or ``refit_covariance``) is the Laplace posterior of eq. 8,
            while the moving average is a scaled surrogate whose scale depends on the batch count.
        cov_ridge_penalty: ridge, the prior precision (P starts at ridge I).
        seed: int or Generator (default 0, reproducible).
        dtype: parameter dtype.
    Attributes:
        precision_update_mode: ``"train"`` (default) folds every training pass's features into the
            precision; ``"off"`` never does; ``"always"`` also folds inference passes (used by
            ``refit_covariance``).
    Buffers: random_weights (D, M), random_offset (M,), precision (M, M) float64.
    """

    def __init__(self, in_features, units, num_inducing=1024, normalize_input=False,
                 scale_random_features=True, kernel_scale=1.0, output_bias=0.0,
                 l2_regularization=1e-6, cov_momentum=-1, cov_ridge_penalty=1.0, seed=0,
                 dtype=np.float32):
        for name, value in (("in_features", in_features), ("units", units), ("num_inducing", num_inducing)):
            check_positive_int(value, name)
        check_real(kernel_scale, "kernel_scale", above=0)
        check_real(l2_regularization, "l2_regularization", at_least=0)
        check_real(output_bias, "output_bias")
        dtype = check_float_dtype(dtype, "dtype")
        check_real(cov_momentum, "cov_momentum")
        if not (cov_momentum < 0 or 0 < cov_momentum < 1):
            raise ValueError(f"cov_momentum must be negative (exact) or in (0, 1), got {cov_momentum}")
        check_real(cov_ridge_penalty, "cov_ridge_penalty", above=0)
        rng = as_generator(seed)
        self.in_features, self.units, self.num_inducing = in_features, units, num_inducing
        self.normalize_input, self.kernel_scale = normalize_input, kernel_scale
        self.l2_regularization, self.cov_momentum, self.ridge = l2_regularization, cov_momentum, cov_ridge_penalty
        self.feature_scale = math.sqrt(2.0 / num_inducing) if scale_random_features else 1.0
        if normalize_input:
            self.input_norm = LayerNorm(in_features, dtype=dtype)
        self.register_buffer("random_weights", asarray(rng.standard_normal((in_features, num_inducing)).astype(dtype)))
        self.register_buffer("random_offset", asarray(rng.uniform(0, 2 * np.pi, num_inducing).astype(dtype)))
        self.output_weights = Parameter(asarray(glorot_uniform(rng, num_inducing, units, (num_inducing, units), dtype)))
        self.output_bias = Parameter(asarray(np.full(units, output_bias, dtype)), trainable=False)
        self.register_buffer("precision", asarray(np.eye(num_inducing) * cov_ridge_penalty), fixed_dtype=True)
        self.precision_update_mode = "train"
        # Counters as 0-d buffers, so that the data-counted-twice guard survives save and load:
        # samples folded in since the last reset, and the training-set size (0: not known yet).
        self.register_buffer("num_accumulated", asarray(np.zeros((), np.int64)))
        self.register_buffer("num_training_samples", asarray(np.zeros((), np.int64)))
        self._cholesky = None

    @property
    def precision_updates(self):
        """Deprecated name of ``precision_update_mode``."""
        warnings.warn("RandomFeatureGP.precision_updates is renamed precision_update_mode", DeprecationWarning,
                      stacklevel=2)
        return self.precision_update_mode

    @precision_updates.setter
    def precision_updates(self, mode):
        warnings.warn("RandomFeatureGP.precision_updates is renamed precision_update_mode", DeprecationWarning,
                      stacklevel=2)
        self.precision_update_mode = mode

    # ---- precision ---------------------------------------------------------------------------
    def reset_covariance(self):
        """Precision back to ridge I (the seed calls this at every epoch start but the first)."""
        self.precision[...] = get_array_module(self.precision).eye(self.num_inducing) * self.ridge
        self.num_accumulated[...] = 0
        self._cholesky = None

    def accumulate(self, phi):
        """Fold phi: (N, M) into the precision; warn when the exact sum counts data twice."""
        self.precision[...] = precision_update(self.precision, phi.astype(np.float64), self.cov_momentum)
        self._cholesky = None
        self.num_accumulated[...] += phi.shape[0]
        if self.cov_momentum < 0 and 0 < int(self.num_training_samples) < int(self.num_accumulated):
            warnings.warn(
                f"the GP precision has accumulated {self.num_accumulated} samples since its last reset, "
                f"more than the {self.num_training_samples} training samples: data is counted twice. "
                "Reset it every epoch (ResetCovariance) or use refit_covariance.", RuntimeWarning, stacklevel=3)

    def state_changed(self):
        self._cholesky = None

    def training_callbacks(self):
        """The exact precision must be rebuilt each epoch, or it counts the data ``epochs`` times:
        ``fit`` runs ``ResetCovariance`` for it unless given one. A moving average needs nothing."""
        return (ResetCovariance(),) if self.cov_momentum < 0 else ()

    def cholesky(self):
        """Lower Cholesky factor of the precision, cached until the precision changes."""
        if self._cholesky is None:
            self._cholesky = get_array_module(self.precision).linalg.cholesky(self.precision)   # lower
        return self._cholesky

    # ---- forward / backward -----------------------------------------------------------------
    def feature_map(self, x):
        """phi(x): (N, M) and the cache to differentiate it: the one code path for the features."""
        scale = x.dtype.type(1.0 / math.sqrt(self.kernel_scale))
        if self.normalize_input:
            h, norm_cache = layernorm_forward(x, self.input_norm.gamma.value, self.input_norm.beta.value,
                                              self.input_norm.eps)
            h = h * scale
        else:
            h, norm_cache = x * scale, None
        phi, rf_cache = random_features_forward(h, self.random_weights, self.random_offset, self.feature_scale)
        return phi, FeatureCache(norm_cache, rf_cache)

    def random_features(self, x):
        """phi(x): (N, M), with no side effect.  x: (N, D)."""
        check_features(x, "RandomFeatureGP input x", ndim=2, size=self.in_features)
        return self.feature_map(x)[0]

    def forward(self, x, training=False):
        """x: (N, D) -> logits (N, units) = phi(x) beta + bias, the output map a Dense with a frozen bias.

        A training pass (or any pass under ``precision_update_mode="always"``) also folds phi into the
        precision.
        """
        check_features(x, "RandomFeatureGP input x", ndim=2, size=self.in_features)
        check_choice(self.precision_update_mode, "precision_update_mode", PRECISION_UPDATE_MODES)
        phi, feature_cache = self.feature_map(x)
        mode = self.precision_update_mode
        if (training and mode == "train") or mode == "always":
            self.accumulate(phi)
        logits, dense_cache = dense_forward(phi, self.output_weights.value, self.output_bias.value)
        self.remember((feature_cache, dense_cache), training)
        return logits

    def backward(self, dy):
        feature_cache, dense_cache = self.cached()
        dphi, dbeta, _ = dense_backward(dy, dense_cache)
        self.output_weights.grad += dbeta
        (dh,) = random_features_backward(dphi, feature_cache.random_features)
        dh = dh * dh.dtype.type(1.0 / math.sqrt(self.kernel_scale))
        if not self.normalize_input:
            return dh
        dx, dgamma, dbeta_norm = layernorm_backward(dh, feature_cache.norm)
        self.input_norm.gamma.grad += dgamma
        self.input_norm.beta.grad += dbeta_norm
        return dx

    def own_penalty(self):
        """l2 |beta|^2, the reference's kernel_regularizer on the output weights."""
        beta = self.output_weights.value
        return self.l2_regularization * float((beta * beta).sum())

    def own_penalty_backward(self):
        self.output_weights.grad += (2 * self.l2_regularization) * self.output_weights.value

    # ---- posterior ---------------------------------------------------------------------------
    def predict(self, x, return_covmat=False):
        """Posterior-mean logits (N, units) and their variance (N,) (or, with ``return_covmat``, the
        (N, N) covariance) at inputs x: (N, D). No side effect: nothing is cached or accumulated."""
        phi = self.random_features(x)
        logits = dense_forward(phi, self.output_weights.value, self.output_bias.value)[0]
        if return_covmat:
            return logits, self.predictive_covariance(phi)
        return logits, self.predictive_variance(phi)

    def predictive_variance(self, phi):
        """(N,) diagonal of ridge Phi P^-1 Phi^T for features phi: (N, M)."""
        return posterior_variance(phi, self.cholesky(), self.ridge)

    def predictive_covariance(self, phi):
        """(N, N) ridge Phi P^-1 Phi^T for features phi: (N, M), the seed's ``covmat``."""
        return posterior_covariance(phi, self.cholesky(), self.ridge)

    def __repr__(self):
        return (f"RandomFeatureGP({self.in_features}, {self.units}, num_inducing={self.num_inducing}, "
                f"cov_momentum={self.cov_momentum})")
