"""Layer normalisation over the last axis (Ba, Kiros, Hinton 2016)."""
import numpy as np

from ..backend import asarray, get_array_module
from ..validation import check_features, check_float_dtype, check_positive_int, check_real
from .module import Module, Parameter


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta over the last axis.

    x: (..., D), gamma, beta: (D,) -> y: (..., D).
    """
    xp = get_array_module(x)
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    inv_std = 1.0 / xp.sqrt((centred * centred).mean(axis=-1, keepdims=True) + eps)
    x_hat = centred * inv_std
    return x_hat * gamma + beta, (x_hat, inv_std, gamma)


def layernorm_backward(dy, cache):
    """With g = dy * gamma: dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)).

    (x_hat has zero mean and unit variance along the axis; differentiating through both the mean
    and the variance leaves exactly these two projections.)
    """
    x_hat, inv_std, gamma = cache
    g = dy * gamma
    dx = inv_std * (g - g.mean(axis=-1, keepdims=True)
                    - x_hat * (g * x_hat).mean(axis=-1, keepdims=True))
    reduce_axes = tuple(range(dy.ndim - 1))
    return dx, (dy * x_hat).sum(axis=reduce_axes), dy.sum(axis=reduce_axes)


class LayerNorm(Module):
    """Normalise each row to zero mean, unit variance, then scale and shift.  x: (..., D)."""

    splittable = True

    def __init__(self, num_features, eps=1e-5, dtype=np.float32):
        check_positive_int(num_features, "num_features")
        check_real(eps, "eps", above=0)
        dtype = check_float_dtype(dtype, "dtype")
        self.eps = eps
        self.gamma = Parameter(asarray(np.ones(num_features, dtype)))
        self.beta = Parameter(asarray(np.zeros(num_features, dtype)))

    def forward(self, x, training=False):
        check_features(x, "LayerNorm input x", ndim=x.ndim if hasattr(x, "ndim") else 2,
                       size=self.gamma.value.shape[0])
        y, cache = layernorm_forward(x, self.gamma.value, self.beta.value, self.eps)
        self.remember(cache, training)
        return y

    def backward(self, dy):
        dx, dgamma, dbeta = layernorm_backward(dy, self.cached())
        self.gamma.grad += dgamma
        self.beta.grad += dbeta
        return dx
