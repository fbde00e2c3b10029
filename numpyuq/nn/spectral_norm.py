"""Spectral normalisation of a Dense kernel by power iteration (Miyato et al. 2018; Liu et al. 2020, eq. 9).

SNGP bounds each hidden layer's spectral norm ||W||_2 <= c (``norm_multiplier``) so that the
residual map x + g(x) is bi-Lipschitz and hidden distances reflect input distances (Liu et al.
2020, section 3.1). ||W||_2 is estimated from persistent vectors u (M,), v (D,) refined by one power
iteration per training pass:

    v <- normalize(W u),   u <- normalize(W^T v),   sigma = v^T W u          (W: (D, M))

Three semantics exist in the reference implementations; all are offered:

``"project"`` (tensorflow/models and edward2-TF ``SpectralNormalization``; the SNGP seed): on a
    training pass the stored kernel itself is rescaled, W <- W c / sigma when sigma > c, and the
    gradient is the plain Dense gradient of the rescaled kernel: projected gradient descent.
``"reparam"`` (Miyato et al. 2018; torch.nn.utils.spectral_norm, DDU/DUE): W stays raw and the
    layer uses W_bar = W min(1, c / sigma). With u, v held constant sigma = v^T W u is linear in W,
    d sigma / dW = v u^T, so for sigma > c and G = dL/dW_bar:
        dL/dW = (c / sigma) G - (c / sigma^2) <G, W> v u^T = (c / sigma) (G - <G, W_bar> / c  v u^T)
``"reparam_stopgrad"`` (edward2's JAX layer): the same forward, sigma treated as a constant:
    dL/dW = (c / sigma) G.
"""
import numpy as np

from ..backend import asarray, get_array_module
from .init import as_generator
from .module import Module

MODES = ("project", "reparam", "reparam_stopgrad")


def _normalize(a, eps=1e-12):
    return a / (get_array_module(a).sqrt((a * a).sum()) + eps)


def power_iteration(w, u, v, iterations=1):
    """Refine the top singular pair of w: (D, M) from u: (M,), v: (D,).  Returns (u, v, sigma)."""
    for _ in range(iterations):
        v = _normalize(w @ u)
        u = _normalize(w.T @ v)
    return u, v, v @ w @ u


def spectral_norm_forward(w, u, v, norm_multiplier):
    """W_bar = W min(1, c / sigma) with sigma = v^T W u.  w: (D, M) -> w_bar: (D, M)."""
    sigma = v @ w @ u
    factor = min(1.0, norm_multiplier / float(sigma))
    return w * factor, (w * factor, u, v, float(sigma), norm_multiplier, factor < 1.0)


def spectral_norm_backward(dw_bar, cache, stop_gradient=False):
    """dL/dW from dL/dW_bar (see the module docstring for the derivation).  -> (dw,)."""
    w_bar, u, v, sigma, c, active = cache
    if not active:
        return (dw_bar,)
    dw = dw_bar * (c / sigma)
    if not stop_gradient:
        # -(c / sigma) <G, W_bar> / c  v u^T  =  -(<G, W_bar> / sigma) v u^T
        dw -= (float((dw_bar * w_bar).sum()) / sigma) * (v[:, None] * u[None, :])
    return (dw,)


class SpectralNorm(Module):
    """Wrap a ``Dense`` so that its kernel's spectral norm is at most ``norm_multiplier``.

    Args:
        layer: the Dense to wrap (its activation is kept).
        norm_multiplier: c, the bound (the seed's ``spec_norm_bound`` = 0.9).
        iterations: power iterations per training pass.
        mode: ``"project"`` (default, as the seed), ``"reparam"`` or ``"reparam_stopgrad"``.
        rng: Generator or seed for the random-normal initial u, v.
    Buffers: ``u`` (M,), ``v`` (D,). Power iteration runs once at construction and then only on
    ``training=True`` passes.  Shapes: x (N, D) -> y (N, M).
    """

    def __init__(self, layer, norm_multiplier=0.95, iterations=1, mode="project", rng=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not norm_multiplier > 0:
            raise ValueError(f"norm_multiplier must be > 0, got {norm_multiplier}")
        rng = as_generator(rng)
        self.layer, self.norm_multiplier, self.iterations, self.mode = layer, norm_multiplier, iterations, mode
        w = layer.w.value
        self.register_buffer("u", asarray(rng.standard_normal(w.shape[1]).astype(w.dtype)))
        self.register_buffer("v", asarray(rng.standard_normal(w.shape[0]).astype(w.dtype)))
        self._update_vectors()
        if mode == "project":
            self._project()

    def _update_vectors(self):
        u, v, sigma = power_iteration(self.layer.w.value, self.u, self.v, self.iterations)
        self.u[...], self.v[...] = u, v

    def sigma(self):
        """Current spectral-norm estimate v^T W u of the stored kernel."""
        return float(self.v @ self.layer.w.value @ self.u)

    def _project(self):
        sigma = self.sigma()
        if sigma > self.norm_multiplier:
            self.layer.w.value *= self.norm_multiplier / sigma      # in place: the flat-buffer rule

    def kernel(self):
        """The kernel the layer computes with: W (project) or W min(1, c / sigma) (reparam)."""
        if self.mode == "project":
            return self.layer.w.value
        return spectral_norm_forward(self.layer.w.value, self.u, self.v, self.norm_multiplier)[0]

    def forward(self, x, training=False):
        if training:
            self._update_vectors()
        if self.mode == "project":
            if training:
                self._project()
            return self.layer(x, training=training)
        w_bar, self._sn_cache = spectral_norm_forward(self.layer.w.value, self.u, self.v, self.norm_multiplier)
        self.layer.check_input(x)
        y, self._cache = self.layer._forward(x, w_bar, self.layer.b.value)
        return y

    def backward(self, dy):
        if self.mode == "project":
            return self.layer.backward(dy)
        dx, dw_bar, db = self.layer._backward(dy, self._cache)
        (dw,) = spectral_norm_backward(dw_bar, self._sn_cache, self.mode == "reparam_stopgrad")
        self.layer.w.grad += dw
        self.layer.b.grad += db
        return dx

    def __repr__(self):
        return f"SpectralNorm({self.layer!r}, norm_multiplier={self.norm_multiplier}, mode={self.mode!r})"
