"""Spectral normalisation of a weight by power iteration (Miyato et al. 2018; Liu et al. 2020, eq. 9).

SNGP bounds each hidden layer's spectral norm ||W||_2 <= c (``norm_multiplier``) so that the
residual map x + g(x) is bi-Lipschitz and hidden distances reflect input distances (Liu et al.
2020, section 3.1). ||W||_2 is estimated from persistent vectors u (M,), v (D,) refined by one power
iteration per training pass:

    v <- normalize(W u),   u <- normalize(W^T v),   sigma = v^T W u          (W: (D, M))

W is the weight viewed as a matrix with its first axis as rows: a Dense kernel (D, M) as it is, a
convolution kernel (F, C, KH, KW) as (F, C*KH*KW), the "matrix" semantics of Miyato et al. and
``torch.nn.utils.spectral_norm``.

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
from typing import NamedTuple

from ..backend import asarray, get_array_module
from ..seeding import as_generator
from ..validation import check_real
from .module import Module

MODES = ("project", "reparam", "reparam_stopgrad")


class SpectralNormCache(NamedTuple):
    w_bar: object           # the normalised weight W min(1, c / sigma), shaped like w
    u: object               # (M,) right singular vector estimate
    v: object               # (D,) left singular vector estimate
    sigma: float            # v^T W u
    norm_multiplier: float  # c
    active: bool            # sigma > c: the weight was rescaled


def as_matrix(w):
    """w viewed as (D, M): its first axis as rows, all others flattened into columns."""
    return w.reshape(w.shape[0], -1)


def normalize(a, eps=1e-12):
    """a / |a|, with eps guarding a zero vector."""
    return a / (get_array_module(a).sqrt((a * a).sum()) + eps)


def power_iteration(w, u, v, iterations=1):
    """Refine the top singular pair of w: (D, M) from u: (M,), v: (D,).  Returns (u, v, sigma)."""
    for _ in range(iterations):
        v = normalize(w @ u)
        u = normalize(w.T @ v)
    return u, v, v @ w @ u


def spectral_norm_forward(w, u, v, norm_multiplier):
    """W_bar = W min(1, c / sigma) with sigma = v^T W u.  w: (D, ...) -> w_bar: same shape."""
    sigma = float(v @ as_matrix(w) @ u)
    factor = min(1.0, norm_multiplier / sigma)
    w_bar = w * factor
    return w_bar, SpectralNormCache(w_bar, u, v, sigma, norm_multiplier, factor < 1.0)


def spectral_norm_backward(dw_bar, cache, sigma_grad=True):
    """dL/dW from dL/dW_bar (see the module docstring for the derivation).  -> (dw,).

    ``sigma_grad=False`` treats sigma as a constant (edward2's JAX layer, ``"reparam_stopgrad"``).
    """
    if not cache.active:
        return (dw_bar,)
    dw = dw_bar * (cache.norm_multiplier / cache.sigma)
    if sigma_grad:
        # -(c / sigma) <G, W_bar> / c  v u^T  =  -(<G, W_bar> / sigma) v u^T
        coefficient = float((dw_bar * cache.w_bar).sum()) / cache.sigma
        dw -= coefficient * (cache.v[:, None] * cache.u[None, :]).reshape(dw.shape)
    return (dw,)


class SpectralNorm(Module):
    """Wrap a weighted layer (``Dense`` or ``Conv2D``) so that its weight's spectral norm is at most
    ``norm_multiplier``.

    The wrapper transforms the weight and then runs the wrapped layer's public pure pair
    (``layer.pair()``), so any layer with ``w``, ``b``, ``check_input``, ``input_grad`` and ``pair``
    can be wrapped.

    Args:
        layer: the layer to wrap (its activation is kept).
        norm_multiplier: c, the bound (the seed's ``spec_norm_bound`` = 0.9).
        iterations: power iterations per training pass.
        mode: ``"project"`` (default, as the seed), ``"reparam"`` or ``"reparam_stopgrad"``.
        seed: int or Generator (default 0, reproducible) for the random-normal initial u, v.
    Buffers: ``u`` (M,), ``v`` (D,) for the weight viewed as (D, M). Power iteration runs once at
    construction and then only on ``training=True`` passes.  Shapes: those of the wrapped layer.
    """

    def __init__(self, layer, norm_multiplier=0.95, iterations=1, mode="project", seed=0):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        check_real(norm_multiplier, "norm_multiplier", above=0)
        if not all(hasattr(layer, name) for name in ("w", "b", "pair", "check_input", "input_grad")):
            raise TypeError(f"layer must be a weighted layer with a pure pair (Dense or Conv2D), "
                            f"got {type(layer).__name__}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
            raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
        rng = as_generator(seed)
        self.layer, self.norm_multiplier, self.iterations, self.mode = layer, norm_multiplier, iterations, mode
        D, M = as_matrix(layer.w.value).shape
        dtype = layer.w.value.dtype
        self.register_buffer("u", asarray(rng.standard_normal(M).astype(dtype)))
        self.register_buffer("v", asarray(rng.standard_normal(D).astype(dtype)))
        self.update_vectors()
        if mode == "project":
            self.project()

    def update_vectors(self):
        """One round of power iteration on the stored weight, in place on u and v."""
        u, v, _ = power_iteration(as_matrix(self.layer.w.value), self.u, self.v, self.iterations)
        self.u[...], self.v[...] = u, v

    def sigma(self):
        """Current spectral-norm estimate v^T W u of the stored weight."""
        return float(self.v @ as_matrix(self.layer.w.value) @ self.u)

    def project(self):
        """W <- W c / sigma when sigma > c (the ``"project"`` semantics)."""
        sigma = self.sigma()
        if sigma > self.norm_multiplier:
            self.layer.w.value *= self.norm_multiplier / sigma      # in place: the flat-buffer rule

    def kernel(self):
        """The weight the layer computes with: W (project) or W min(1, c / sigma) (reparam)."""
        if self.mode == "project":
            return self.layer.w.value
        return spectral_norm_forward(self.layer.w.value, self.u, self.v, self.norm_multiplier)[0]

    def forward(self, x, training=False):
        self.layer.check_input(x)                  # before any state changes
        if training:
            self.update_vectors()
            if self.mode == "project":
                self.project()
        if self.mode == "project":
            w, self._sn_cache = self.layer.w.value, None
        else:
            w, self._sn_cache = spectral_norm_forward(self.layer.w.value, self.u, self.v,
                                                      self.norm_multiplier)
        forward, _, hyper = self.layer.pair()
        y, self._cache = forward(x, w, self.layer.b.value, **hyper)
        return y

    def backward(self, dy):
        _, backward, _ = self.layer.pair()
        trainable = self.layer.w.trainable
        dx, dw, db = backward(dy, self._cache, self.layer.input_grad, trainable)
        if trainable:
            if self._sn_cache is not None:
                (dw,) = spectral_norm_backward(dw, self._sn_cache, sigma_grad=self.mode == "reparam")
            self.layer.w.grad += dw
            self.layer.b.grad += db
        return dx

    def __repr__(self):
        return f"SpectralNorm({self.layer!r}, norm_multiplier={self.norm_multiplier}, mode={self.mode!r})"
