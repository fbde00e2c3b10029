"""Fully connected layer, y = act(x w + b)."""
import numpy as np

from ..backend import asarray
from ..validation import check_features
from ..kernels.bias_relu import bias_relu_forward, relu_bias_backward
from .init import as_generator, glorot_uniform, torch_uniform
from .module import Module, Parameter


def dense_forward(x, w, b):
    """y = x w + b.   x: (N, D), w: (D, M), b: (M,) -> y: (N, M)."""
    return x @ w + b, (x, w)


def dense_backward(dy, cache, param_grads=True):
    """dy: (N, M) -> dx = dy w^T: (N, D), dw = x^T dy: (D, M), db = sum_n dy: (M,).

    ``param_grads=False`` (a frozen layer) skips dw and db, returning None for them.
    """
    x, w = cache
    if not param_grads:
        return dy @ w.T, None, None
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


def dense_relu_forward(x, w, b):
    """y = max(x w + b, 0), bias and ReLU fused in one pass.  x: (N, D) -> y: (N, M)."""
    y = bias_relu_forward(x @ w, b)
    return y, (x, w, y)


def dense_relu_backward(dy, cache, param_grads=True):
    """dz = dy [y > 0] (ReLU passes gradient where its output is positive), then as dense_backward."""
    x, w, y = cache
    dz, db = relu_bias_backward(dy, y)
    dx, dw, _ = dense_backward(dz, (x, w), param_grads)
    return dx, dw, db if param_grads else None


_ACTIVATIONS = {None: (dense_forward, dense_backward), "relu": (dense_relu_forward, dense_relu_backward)}


class Dense(Module):
    """Affine layer with an optional fused ReLU (Keras' ``Dense(units, activation="relu")``).

    Args:
        in_features: D.  out_features: M.
        activation: None or ``"relu"``.
        trainable: False freezes w and b (the SNGP seed's fixed random input projection); the
            backward pass then skips their gradients.
        init: ``"glorot_uniform"`` (Keras, zero bias) or ``"torch"`` (PyTorch's U(+-1/sqrt(D))).
        rng: Generator or seed.  dtype: parameter dtype (float32 by default).
    Shapes: x (N, D) -> y (N, M).
    """

    def __init__(self, in_features, out_features, activation=None, trainable=True,
                 init="glorot_uniform", rng=None, dtype=np.float32):
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {activation!r}")
        rng = as_generator(rng)
        if init == "glorot_uniform":
            w = glorot_uniform(rng, in_features, out_features, (in_features, out_features), dtype)
            b = np.zeros(out_features, dtype)
        elif init == "torch":
            w = torch_uniform(rng, in_features, (in_features, out_features), dtype)
            b = torch_uniform(rng, in_features, (out_features,), dtype)
        else:
            raise ValueError(f"init must be 'glorot_uniform' or 'torch', got {init!r}")
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self._forward, self._backward = _ACTIVATIONS[activation]
        self.w = Parameter(asarray(w), trainable)
        self.b = Parameter(asarray(b), trainable)

    def check_input(self, x):
        check_features(x, "Dense input x", ndim=2, size=self.in_features)

    def forward(self, x, training=False):
        self.check_input(x)
        y, self._cache = self._forward(x, self.w.value, self.b.value)
        return y

    def backward(self, dy):
        dx, dw, db = self._backward(dy, self._cache, self.w.trainable)
        if not self.w.trainable:
            return dx
        self.w.grad += dw          # accumulate: a parameter may be used twice
        self.b.grad += db
        return dx

    def __repr__(self):
        act = f", activation={self.activation!r}" if self.activation else ""
        return f"Dense({self.in_features}, {self.out_features}{act}, trainable={self.w.trainable})"
