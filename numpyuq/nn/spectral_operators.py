"""The two linear maps whose largest singular value spectral normalisation can bound.

A weight defines a linear map A(W), and power iteration needs three things of it: A u, A^T v, and
d(v^T A u)/dW (the gradient of sigma = v^T A u in the weight, for u and v held constant). Both
semantics offer them with one interface, so ``spectral_norm.py`` has one code path:

``MatrixView`` ("matrix"): the weight reshaped to (first axis, rest): a Dense kernel (D, M) as it
    is, a convolution kernel (F, C, KH, KW) as (F, C KH KW), as Miyato et al. 2018 and
    ``torch.nn.utils.spectral_norm`` do. Cheap, but for a convolution it is only a proxy: the
    convolution's norm as a map of images can exceed it by up to sqrt(KH KW) (Gouk et al. 2021).
``ConvOperator`` ("operator"): the convolution itself as a linear map of one image of a fixed
    shape, through the layer's public pure pair with no bias and no activation:
        A u = conv(u; W),   A^T v = the convolution's input gradient at output gradient v,
        d(v^T A u)/dW = the convolution's weight gradient at input u and output gradient v.
    As tensorflow/models' ``SpectralNormalizationConv2D`` and DDU (Mukhoti et al. 2023) do; u has
    the input's shape, v the output's.
"""
from ..backend import get_array_module


class MatrixView:
    """The weight as a matrix (D, M) = (w.shape[0], prod(w.shape[1:])); u: (M,), v: (D,)."""

    name = "matrix"

    def vector_shapes(self, w):
        """Shapes of (u, v)."""
        return (int(w.size // w.shape[0]),), (w.shape[0],)

    def apply(self, w, u):
        """A u: (D,), and what ``adjoint`` and ``weight_grad`` need."""
        matrix = w.reshape(w.shape[0], -1)
        return matrix @ u, (matrix, u, w.shape)

    def adjoint(self, v, cache):
        """A^T v: (M,)."""
        return cache[0].T @ v

    def weight_grad(self, v, cache):
        """d(v^T W u)/dW = v u^T, shaped like w."""
        _, u, shape = cache
        return (v[:, None] * u[None, :]).reshape(shape)


class ConvOperator:
    """A convolution as a linear map of one image of ``input_shape`` (C, H, W) or (H, W, C).

    ``forward``, ``backward``: the layer's pure pair, its stride and padding bound.
    """

    name = "operator"

    def __init__(self, forward, backward, input_shape):
        self.forward, self.backward = forward, backward
        self.input_shape = tuple(input_shape)

    def vector_shapes(self, w):
        """Shapes of (u, v): one input image and the output it gives."""
        u = get_array_module(w).zeros((1, *self.input_shape), w.dtype)
        y, _ = self.apply(w, u)
        return u.shape, y.shape

    def apply(self, w, u):
        """A u = conv(u; W) with zero bias: the output shape; and the convolution's cache."""
        bias = get_array_module(w).zeros((w.shape[0],), w.dtype)
        return self.forward(u, w, bias, activation=None, pool=None)   # the linear part: no ReLU, pool

    def adjoint(self, v, cache):
        """A^T v: the input gradient of the convolution at output gradient v (input shape)."""
        return self.backward(v, cache, input_grad=True, param_grads=False)[0]

    def weight_grad(self, v, cache):
        """d(v^T conv(u; W))/dW: the weight gradient at input u, output gradient v."""
        return self.backward(v, cache, input_grad=False, param_grads=True)[1]

