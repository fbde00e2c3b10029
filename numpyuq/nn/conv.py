"""2-D convolution (cross-correlation, as every deep-learning library), NCHW, by im2col + one GEMM."""
import numpy as np

from ..backend import asarray
from ..kernels.im2col import col2im, conv_output_size, im2col
from ..kernels.layout import nchw_to_rows, rows_to_nchw
from ..validation import check_features
from .init import as_generator, torch_uniform
from .module import Module, Parameter


def conv2d_forward(x, w, b, stride, padding):
    """y[n, f, oh, ow] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] x_pad[n, c, oh s + kh, ow s + kw].

    x: (N, C, H, W), w: (F, C, KH, KW), b: (F,) -> y: (N, F, OH, OW).
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols = im2col(x, KH, KW, stride, padding)                     # (N*OH*OW, C*KH*KW)
    w_mat = w.reshape(F, -1)                                      # (F, C*KH*KW)
    y_rows = cols @ w_mat.T                                       # (N*OH*OW, F): one GEMM
    y = rows_to_nchw(y_rows, b, N, OH, OW)                        # (N, F, OH, OW), bias fused
    return y, (cols, w, x.shape, stride, padding)


def conv2d_backward(dy, cache, input_grad=True):
    """dy: (N, F, OH, OW) -> dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,).

    With y_mat = cols w_mat^T + b:  dw_mat = dy_mat^T cols,  dcols = dy_mat w_mat,  db = column sums;
    dx = col2im(dcols), the adjoint of the im2col gather.
    """
    cols, w, x_shape, stride, padding = cache
    F, _, KH, KW = w.shape
    dy_mat, db = nchw_to_rows(dy)                                 # (N*OH*OW, F), (F,)
    dw = (dy_mat.T @ cols).reshape(w.shape)
    if not input_grad:                    # a network's first layer: nobody needs d(image)
        return None, dw, db
    dcols = dy_mat @ w.reshape(F, -1)                             # (N*OH*OW, C*KH*KW)
    return col2im(dcols, x_shape, KH, KW, stride, padding), dw, db


class Conv2D(Module):
    """Convolution layer, NCHW.  x: (N, C, H, W) -> y: (N, F, OH, OW), OH = (H + 2p - K) // s + 1.

    Weights (F, C, KH, KW) and bias are initialised as PyTorch's defaults: U(+-1/sqrt(C KH KW)).
    ``input_grad=False`` makes ``backward`` skip dx (returning None): for a network's first layer
    it saves a GEMM and the col2im scatter, the costliest pass of LeNet's first convolution.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, input_grad=True,
                 rng=None, dtype=np.float32):
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        rng = as_generator(rng)
        fan_in = in_channels * kh * kw
        self.in_channels, self.stride, self.padding, self.input_grad = in_channels, stride, padding, input_grad
        self.w = Parameter(asarray(torch_uniform(rng, fan_in, (out_channels, in_channels, kh, kw), dtype)))
        self.b = Parameter(asarray(torch_uniform(rng, fan_in, (out_channels,), dtype)))

    def forward(self, x, training=False):
        check_features(x, "Conv2D input x", ndim=4, size=self.in_channels, axis=1)
        kh, kw = self.w.value.shape[2:]
        if x.shape[2] + 2 * self.padding < kh or x.shape[3] + 2 * self.padding < kw:
            raise ValueError(f"Conv2D input x of spatial size {tuple(x.shape[2:])} is smaller than the "
                             f"kernel {(kh, kw)} with padding {self.padding}")
        y, self._cache = conv2d_forward(x, self.w.value, self.b.value, self.stride, self.padding)
        return y

    def backward(self, dy):
        dx, dw, db = conv2d_backward(dy, self._cache, self.input_grad)
        self.w.grad += dw
        self.b.grad += db
        return dx

    def __repr__(self):
        f, c, kh, kw = self.w.value.shape
        return f"Conv2D({c}, {f}, kernel_size={(kh, kw)}, stride={self.stride}, padding={self.padding})"
