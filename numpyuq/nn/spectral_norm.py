"""Spectral normalisation of a weight by power iteration (Miyato et al. 2018; Liu et al. 2020, eq. 9).

SNGP bounds each hidden layer's spectral norm ||W||_2 <= c (``norm_multiplier``) so that the
residual map x + g(x) is bi-Lipschitz and hidden distances reflect input distances (Liu et al.
2020, section 3.1). ||W||_2 is estimated from persistent vectors u (M,), v (D,) refined by one power
iteration per training pass:

    v <- normalize(W u),   u <- normalize(W^T v),   sigma = v^T W u          (W: (D, M))

W is the weight viewed as a matrix with its first axis as rows: a Dense kernel (D, M) as it is, a
convolution kernel (F, C, KH, KW) as (F, C*KH*KW), the "matrix" semantics of Miyato et al. and
``torch.nn.utils.spectral_norm``. For a convolution, ``semantics="operator"`` bounds instead the norm
of the convolution as a linear map of images (u then has the input's shape, v the output's; see
``spectral_operators.py``): every formula below holds with W u read as A(W) u and v u^T as
d(v^T A u)/dW.

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
from ..validation import check_choice, check_positive_int, check_real
from .module import Module
from .spectral_operators import ConvOperator, MatrixView

MODES = ("project", "reparam", "reparam_stopgrad")
SEMANTICS = ("matrix", "operator")
MATRIX = MatrixView()


class SpectralNormCache(NamedTuple):
    w_bar: object           # the normalised weight W min(1, c / sigma), shaped like w
    v: object               # left singular vector estimate: (D,), or the output's shape
    operator: object        # MatrixView or ConvOperator
    operator_cache: object  # what operator.weight_grad needs (u and the map)
    sigma: float            # v^T A(W) u
    norm_multiplier: float  # c
    active: bool            # sigma > c: the weight was rescaled


def normalize(a, eps=1e-12):
    """a / |a|, with eps guarding a zero vector."""
    return a / (get_array_module(a).sqrt((a * a).sum()) + eps)


def power_iteration(w, u, v, iterations=1, operator=MATRIX):
    """Refine the top singular pair of A(w) from u, v (v is overwritten by the first step).
    Returns (u, v, sigma = v^T A u)."""
    for _ in range(iterations):
        au, cache = operator.apply(w, u)
        v = normalize(au)
        u = normalize(operator.adjoint(v, cache))
    au, _ = operator.apply(w, u)
    return u, v, float((v * au).sum())


def spectral_norm_forward(w, u, v, norm_multiplier, operator=MATRIX):
    """W_bar = W min(1, c / sigma) with sigma = v^T A(W) u.  w: any shape -> w_bar: same shape."""
    # $\sigma = v^\top A(W)\, u$ estimates $\lVert A(W) \rVert_2$; the layer runs with
    # $\bar W = W \min(1, c / \sigma)$, so $\bar W$ is $W$ itself while its norm is at most $c$.
    au, operator_cache = operator.apply(w, u)
    sigma = float((v * au).sum())
    factor = min(1.0, norm_multiplier / sigma)
    w_bar = w * factor
    return w_bar, SpectralNormCache(w_bar, v, operator, operator_cache, sigma, norm_multiplier, factor < 1.0)


def spectral_norm_backward(dw_bar, cache, sigma_grad=True):
    """dL/dW from dL/dW_bar (see the module docstring for the derivation).  -> (dw,).

    ``sigma_grad=False`` treats sigma as a constant (edward2's JAX layer, ``"reparam_stopgrad"``).
    """
    if not cache.active:
        return (dw_bar,)
    dw = dw_bar * (cache.norm_multiplier / cache.sigma)
    if sigma_grad:
        # -(c / sigma) <G, W_bar> / c  d sigma / dW  =  -(<G, W_bar> / sigma) v u^T
        coefficient = float((dw_bar * cache.w_bar).sum()) / cache.sigma
        dw -= coefficient * cache.operator.weight_grad(cache.v, cache.operator_cache)
    return (dw,)


class SpectralNorm(Module):
    """Wrap a weighted layer (``Dense`` or ``Conv2D``) so that its weight's spectral norm is at most
    ``norm_multiplier``.

    The wrapper transforms the weight, runs the wrapped layer's own code on it
    (``layer.forward_with_weight``), and backpropagates through the layer (``layer.backward_to_weight``)
    and then through the transform. Any layer with ``w``, ``b``, ``check_input``, ``pair`` and
    that method pair can be wrapped.

    Args:
        layer: the layer to wrap (its activation is kept).
        norm_multiplier: c, the bound (the seed's ``spec_norm_bound`` = 0.9).
        iterations: power iterations per training pass.
        mode: ``"project"`` (default, as the seed), ``"reparam"`` or ``"reparam_stopgrad"``.
        semantics: ``"matrix"`` (default) bounds the weight reshaped to (first axis, rest);
            ``"operator"`` (a Conv2D only) bounds the convolution as a map of images of
            ``input_shape`` (one example: (C, H, W), or (H, W, C) for an NHWC layer).
        seed: int or Generator (default 0, reproducible) for the random-normal initial u, v.
    Buffers: ``u`` (M,), ``v`` (D,) for the weight viewed as (D, M); under "operator", u has the
    input's shape (1, *input_shape) and v the output's. Power iteration runs once at
    construction and then only on ``training=True`` passes.  Shapes: those of the wrapped layer.
    """

    def __init__(self, layer, norm_multiplier=0.95, iterations=1, mode="project", seed=0,
                 semantics="matrix", input_shape=None):
        check_choice(mode, "mode", MODES)
        check_choice(semantics, "semantics", SEMANTICS)
        check_real(norm_multiplier, "norm_multiplier", above=0)
        if not all(hasattr(layer, name) for name in ("w", "b", "pair", "check_input", "forward_with_weight",
                                                      "backward_to_weight")):
            raise TypeError(f"layer must be a weighted layer with a pure pair (Dense or Conv2D), "
                            f"got {type(layer).__name__}")
        check_positive_int(iterations, "iterations")
        rng = as_generator(seed)
        self.operator = self.make_operator(layer, semantics, input_shape)
        self.layer, self.norm_multiplier, self.iterations, self.mode = layer, norm_multiplier, iterations, mode
        u_shape, v_shape = self.operator.vector_shapes(layer.w.value)
        dtype = layer.w.value.dtype
        self.register_buffer("u", asarray(rng.standard_normal(u_shape).astype(dtype)))
        self.register_buffer("v", asarray(rng.standard_normal(v_shape).astype(dtype)))
        self.update_vectors()
        if mode == "project":
            self.project()

    @staticmethod
    def make_operator(layer, semantics, input_shape):
        """The linear map to bound: the weight as a matrix, or (operator) the convolution itself."""
        if semantics == "matrix":
            if input_shape is not None:
                raise ValueError("input_shape is for semantics='operator' only")
            return MATRIX
        if getattr(layer, "data_format", None) is None or layer.w.value.ndim != 4:
            raise TypeError(f"semantics='operator' needs a Conv2D layer, got {type(layer).__name__}")
        channels = layer.w.value.shape[1]
        expected = "(C, H, W)" if layer.data_format == "NCHW" else "(H, W, C)"
        channel_axis = 0 if layer.data_format == "NCHW" else 2
        if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
                or not all(isinstance(n, int) and n >= 1 for n in input_shape)
                or input_shape[channel_axis] != channels):
            raise ValueError(f"input_shape must be one example's {expected} with {channels} channels "
                             f"for semantics='operator', got {input_shape!r}")
        forward, backward = layer.pair()
        operator = ConvOperator(forward, backward, input_shape)
        layer.check_input(get_array_module(layer.w.value).zeros((1, *input_shape), layer.w.value.dtype))
        return operator

    @property
    def semantics(self):
        return self.operator.name

    def update_vectors(self):
        """One round of power iteration on the stored weight, in place on u and v."""
        u, v, _ = power_iteration(self.layer.w.value, self.u, self.v, self.iterations, self.operator)
        self.u[...], self.v[...] = u, v

    def sigma(self):
        """Current spectral-norm estimate v^T A(W) u of the stored weight."""
        au, _ = self.operator.apply(self.layer.w.value, self.u)
        return float((self.v * au).sum())

    def project(self):
        """W <- W c / sigma when sigma > c (the ``"project"`` semantics)."""
        sigma = self.sigma()
        if sigma > self.norm_multiplier:
            self.layer.w.value *= self.norm_multiplier / sigma      # in place: the flat-buffer rule

    def kernel(self):
        """The weight the layer computes with: W (project) or W min(1, c / sigma) (reparam)."""
        if self.mode == "project":
            return self.layer.w.value
        return spectral_norm_forward(self.layer.w.value, self.u, self.v, self.norm_multiplier, self.operator)[0]

    def forward(self, x, training=False):
        self.layer.check_input(x)                  # before any state changes
        if self.semantics == "operator" and tuple(x.shape[1:]) != self.operator.input_shape:
            raise ValueError(f"SpectralNorm input x must have shape (N, {', '.join(map(str, self.operator.input_shape))}) "
                             f"(the input_shape its norm is computed for), got {tuple(x.shape)}")
        if training:
            self.update_vectors()
            if self.mode == "project":
                self.project()
        if self.mode == "project":
            w, sn_cache = self.layer.w.value, None            # the stored weight is already bounded
        else:
            w, sn_cache = spectral_norm_forward(self.layer.w.value, self.u, self.v, self.norm_multiplier,
                                                self.operator)
        y = self.layer.forward_with_weight(x, w, training)    # the layer's own code, on the weight w
        self.remember(sn_cache, training)
        return y

    def backward(self, dy):
        dx, dw, db = self.layer.backward_to_weight(dy)        # through the layer, to the weight w
        if self.layer.w.trainable:
            if self._cache is not None:                       # then through w = W min(1, c / sigma)
                (dw,) = spectral_norm_backward(dw, self._cache, sigma_grad=self.mode == "reparam")
            self.layer.w.grad += dw
            self.layer.b.grad += db
        return dx

    def __repr__(self):
        return (f"SpectralNorm({self.layer!r}, norm_multiplier={self.norm_multiplier}, mode={self.mode!r}, "
                f"semantics={self.semantics!r})")
