"""Fully connected layer, y = act(x w + b)."""
import numpy as np

from ..backend import asarray, get_array_module
from ..kernels.bias_relu import bias_relu_forward, relu_bias_backward
from ..seeding import as_generator
from ..validation import check_choice, check_features, check_float_dtype, check_positive_int, check_upstream
from .init import glorot_uniform, torch_uniform
from .module import Module, Parameter


def dense_forward(x, w, b):
    """y = x w + b.   x: (N, D), w: (D, M), b: (M,) -> y: (N, M)."""
    return x @ w + b, (x, w)


def dense_backward(dy, cache, input_grad=True, param_grads=True):
    """dy: (N, M) -> dx = dy w^T: (N, D), dw = x^T dy: (D, M), db = sum_n dy: (M,).

    ``input_grad=False`` skips dx and ``param_grads=False`` (a frozen layer) skips dw and db;
    a skipped gradient is returned as None.
    """
    # Each output is $y_{nm} = \sum_d x_{nd} W_{dm} + b_m$, so the chain rule gives one GEMM per
    # gradient: $dx = dy\,W^\top$, $dW = x^\top dy$, and $db$ is $dy$ summed over the batch.
    x, w = cache
    dx = input_gradient(dy, w) if input_grad else None
    if not param_grads:
        return dx, None, None
    return dx, x.T @ dy, dy.sum(axis=0)


def input_gradient(dy, w):
    """dx = dy w^T.  dy: (N, M), w: (D, M) -> (N, D), C-contiguous.

    A short batch against a wide layer (8 N <= D, M >= 100) is computed as (w dy^T)^T: the same
    products, summed in an order the BLAS picks. OpenBLAS's SkylakeX kernels (the ones it picks on
    AVX-512 CPUs) ran that GEMM 1.2-2.4x faster there on an AMD EPYC: LeNet's 800 x 500 layer on a
    32-row slice of a split batch, one core, 0.24 -> 0.13 ms. On more rows, or a shorter inner
    dimension M (an output layer's classes), it is the slower form, up to 5x; under the Haswell
    kernels it is within 10% either way (``python benchmarks/dense_input_gradient.py`` prints both
    forms on a grid of shapes, for the BLAS at hand)."""
    if dy.ndim != 2 or w.ndim != 2 or dy.shape[1] != w.shape[1]:
        raise ValueError(f"dy must be (N, M) and w (D, M) with the same M, got dy {tuple(dy.shape)} "
                         f"and w {tuple(w.shape)}")
    if not transposed_form(dy.shape[0], w.shape[0], dy.shape[1]):
        return dy @ w.T
    return get_array_module(dy).ascontiguousarray((w @ dy.T).T)


def transposed_form(N, D, M):
    """Whether ``input_gradient`` computes an (N, M) by (D, M)^T product as (w dy^T)^T."""
    return 8 * N <= D and M >= 100


def dense_relu_forward(x, w, b):
    """y = max(x w + b, 0), bias and ReLU fused in one pass.  x: (N, D) -> y: (N, M)."""
    y = bias_relu_forward(x @ w, b)
    return y, (x, w, y)


def dense_relu_backward(dy, cache, input_grad=True, param_grads=True):
    """dz = dy [y > 0] (ReLU passes gradient where its output is positive), then as dense_backward."""
    x, w, y = cache
    dz, db = relu_bias_backward(dy, y)
    dx, dw, _ = dense_backward(dz, (x, w), input_grad, param_grads)
    return dx, dw, db if param_grads else None


_PAIRS = {None: (dense_forward, dense_backward), "relu": (dense_relu_forward, dense_relu_backward)}


def dense_pair(activation=None):
    """The pure (forward, backward) pair of a Dense layer with ``activation`` (None or "relu")."""
    return _PAIRS[check_choice(activation, "activation", tuple(_PAIRS))]


class Dense(Module):
    """Affine layer with an optional fused ReLU (Keras' ``Dense(units, activation="relu")``).

    Args:
        in_features: D.
        out_features: M.
        activation: None or ``"relu"``.
        trainable: False freezes w and b (the SNGP seed's fixed random input projection); the
            backward pass then skips their gradients.
        init: ``"glorot_uniform"`` (Keras, zero bias) or ``"torch"`` (PyTorch's U(+-1/sqrt(D))).
        seed: int or Generator (default 0, reproducible).
        dtype: parameter dtype (float32 by default).
    Shapes: x (N, D) -> y (N, M).
    """

    splittable = True

    def __init__(self, in_features, out_features, activation=None, trainable=True,
                 init="glorot_uniform", seed=0, dtype=np.float32):
        dense_pair(activation)                      # validates activation
        check_positive_int(in_features, "in_features")
        check_positive_int(out_features, "out_features")
        dtype = check_float_dtype(dtype, "dtype")
        rng = as_generator(seed)
        if init == "glorot_uniform":
            w = glorot_uniform(rng, in_features, out_features, (in_features, out_features), dtype)
            b = np.zeros(out_features, dtype)
        elif init == "torch":
            w = torch_uniform(rng, in_features, (in_features, out_features), dtype)
            b = torch_uniform(rng, in_features, (out_features,), dtype)
        else:
            raise ValueError(f"init must be 'glorot_uniform' or 'torch', got {init!r}")
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.input_grad = True
        self.w = Parameter(asarray(w), trainable)
        self.b = Parameter(asarray(b), trainable)

    def check_input(self, x):
        check_features(x, "Dense input x", ndim=2, size=self.in_features)

    def pair(self):
        """The pure pair ``(forward, backward)`` this layer runs."""
        return dense_pair(self.activation)

    def forward(self, x, training=False):
        return self.forward_with_weight(x, self.w.value, training)

    def backward(self, dy):
        dx, dw, db = self.backward_to_weight(dy)
        if self.w.trainable:
            self.w.grad += dw          # accumulate: a parameter may be used twice
            self.b.grad += db
        return dx

    def forward_with_weight(self, x, w, training=False):
        """``forward`` with the kernel ``w`` (D, M) in place of ``self.w.value``: what a wrapper that
        transforms the weight (``SpectralNorm``) runs. Keeps its cache as ``forward`` does."""
        self.check_input(x)
        if x.dtype != w.dtype:              # float64 data into a float32 layer: cast, as Keras does
            x = x.astype(w.dtype)
        forward, _ = self.pair()
        y, cache = forward(x, w, self.b.value)
        self.remember(cache, training)
        return y

    def backward_to_weight(self, dy):
        """``backward`` without the accumulation: ``(dx, dw, db)`` for the weight the last forward
        pass used (dx None when ``input_grad`` is False; dw, db None for a frozen layer)."""
        _, backward = self.pair()
        cache = self.cached()
        check_upstream(dy, (cache[0].shape[0], cache[1].shape[1]), "Dense")
        return backward(dy, cache, self.input_grad, self.w.trainable)

    def __repr__(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"Dense({self.in_features}, {self.out_features}{act}, trainable={self.w.trainable})"
