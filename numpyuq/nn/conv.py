"""2-D convolution (cross-correlation, as every deep-learning library), NCHW or NHWC, by im2col + one GEMM."""
import numpy as np

from ..backend import asarray, get_array_module
from ..kernels.bias_relu import bias_relu_forward, relu_bias_backward
from ..kernels.im2col import col2im, conv_output_size, im2col
from ..kernels.im2col_nhwc import col2im_nhwc, im2col_nhwc
from ..kernels.layout import nchw_to_rows, rows_to_nchw
from ..validation import check_features
from .activations import relu_backward, relu_forward
from .init import as_generator, torch_uniform
from .module import Module, Parameter


def conv2d_forward(x, w, b, stride, padding, activation=None):
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
    if activation == "relu":
        y, _ = relu_forward(y)
    return y, (cols, w, x.shape, stride, padding, y if activation else None)


def conv2d_backward(dy, cache, input_grad=True):
    """dy: (N, F, OH, OW) -> dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,).

    With y_mat = cols w_mat^T + b:  dw_mat = dy_mat^T cols,  dcols = dy_mat w_mat,  db = column sums;
    dx = col2im(dcols), the adjoint of the im2col gather.
    """
    cols, w, x_shape, stride, padding, relu_out = cache
    F, _, KH, KW = w.shape
    if relu_out is not None:
        (dy,) = relu_backward(dy, relu_out)
    dy_mat, db = nchw_to_rows(dy)                                 # (N*OH*OW, F), (F,)
    dw = (dy_mat.T @ cols).reshape(w.shape)
    if not input_grad:                    # a network's first layer: nobody needs d(image)
        return None, dw, db
    dcols = dy_mat @ w.reshape(F, -1)                             # (N*OH*OW, C*KH*KW)
    return col2im(dcols, x_shape, KH, KW, stride, padding), dw, db


CHUNK_BYTES = 1 << 20


def _cols_and_gemm(x, w_mat, KH, KW, stride, padding, pixels):
    """cols = im2col(x) and y = cols w_mat^T, in chunks of images whose columns fit in ~1 MB of
    cache, so the GEMM reads each chunk while it is still cached instead of from memory (measured
    1.3-1.5x faster LeNet inference at batch 128). xp arrays other than NumPy take one chunk.
    """
    xp = get_array_module(x)
    N = x.shape[0]
    cols = xp.empty((N * pixels, w_mat.shape[1]), x.dtype)
    y = xp.empty((N * pixels, w_mat.shape[0]), x.dtype)
    chunk = N if xp is not np else max(1, CHUNK_BYTES // (pixels * w_mat.shape[1] * x.itemsize))
    for start in range(0, N, chunk):
        rows = slice(start * pixels, min(N, start + chunk) * pixels)
        im2col_nhwc(x[start:start + chunk], KH, KW, stride, padding, out=cols[rows])
        xp.matmul(cols[rows], w_mat.T, out=y[rows])
    return cols, y


def conv2d_nhwc_forward(x, w, b, stride, padding, activation=None):
    """The same convolution on channels-last images: x (N, H, W, C) -> y (N, OH, OW, F).

    With columns ordered (kh, kw, c) the GEMM output (N*OH*OW, F) is already NHWC: no layout pass.
    w keeps PyTorch's (F, C, KH, KW) layout; its (F, KH*KW*C) view is a small copy per pass.
    """
    N, H, W, C = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    w_mat = w.transpose(0, 2, 3, 1).reshape(F, -1)                # (F, KH*KW*C)
    cols, y = _cols_and_gemm(x, w_mat, KH, KW, stride, padding, OH * OW)   # (N*OH*OW, ...)
    if activation == "relu":
        y = bias_relu_forward(y, b)                               # bias and ReLU in one pass
    else:
        y += b
    return y.reshape(N, OH, OW, F), (cols, w_mat, w.shape, x.shape, stride, padding,
                                     y if activation else None)


def conv2d_nhwc_backward(dy, cache, input_grad=True):
    """dy: (N, OH, OW, F) -> dx: (N, H, W, C) (or None), dw: (F, C, KH, KW), db: (F,)."""
    cols, w_mat, w_shape, x_shape, stride, padding, relu_out = cache
    F, C, KH, KW = w_shape
    dy_mat = dy.reshape(-1, F)                                    # (N*OH*OW, F), no copy
    if relu_out is not None:
        dy_mat, db = relu_bias_backward(dy_mat, relu_out)         # ReLU mask and bias sum, one pass
    else:
        # A ones-vector product: a BLAS matvec, 4x faster than sum(axis=0) on these tall arrays.
        db = get_array_module(dy_mat).ones(dy_mat.shape[0], dy_mat.dtype) @ dy_mat
    dw = (dy_mat.T @ cols).reshape(F, KH, KW, C).transpose(0, 3, 1, 2)
    if not input_grad:
        return None, dw, db
    return col2im_nhwc(dy_mat @ w_mat, x_shape, KH, KW, stride, padding), dw, db


_CONV = {"NCHW": (conv2d_forward, conv2d_backward), "NHWC": (conv2d_nhwc_forward, conv2d_nhwc_backward)}


class Conv2D(Module):
    """Convolution layer, NCHW.  x: (N, C, H, W) -> y: (N, F, OH, OW), OH = (H + 2p - K) // s + 1.

    Weights (F, C, KH, KW) and bias are initialised as PyTorch's defaults: U(+-1/sqrt(C KH KW)).
    ``input_grad=False`` makes ``backward`` skip dx (returning None): for a network's first layer
    it saves a GEMM and the col2im scatter, the costliest pass of LeNet's first convolution.
    ``data_format="NHWC"`` takes and returns channels-last arrays (N, H, W, C), the faster layout
    inside a network (see ``kernels/im2col_nhwc.py``); the weights keep the (F, C, KH, KW) layout.
    ``activation="relu"`` applies a ReLU, fused with the bias add on the NHWC path.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, activation=None,
                 input_grad=True, data_format="NCHW", rng=None, dtype=np.float32):
        if data_format not in _CONV:
            raise ValueError(f"data_format must be 'NCHW' or 'NHWC', got {data_format!r}")
        if activation not in (None, "relu"):
            raise ValueError(f"activation must be None or 'relu', got {activation!r}")
        self.data_format, self.activation = data_format, activation
        self._forward, self._backward = _CONV[data_format]
        kh, kw = (kernel_size, kernel_size) if np.isscalar(kernel_size) else kernel_size
        rng = as_generator(rng)
        fan_in = in_channels * kh * kw
        self.in_channels, self.stride, self.padding, self.input_grad = in_channels, stride, padding, input_grad
        self.w = Parameter(asarray(torch_uniform(rng, fan_in, (out_channels, in_channels, kh, kw), dtype)))
        self.b = Parameter(asarray(torch_uniform(rng, fan_in, (out_channels,), dtype)))

    def forward(self, x, training=False):
        channel_axis = 1 if self.data_format == "NCHW" else 3
        check_features(x, "Conv2D input x", ndim=4, size=self.in_channels, axis=channel_axis)
        kh, kw = self.w.value.shape[2:]
        spatial = x.shape[2:] if self.data_format == "NCHW" else x.shape[1:3]
        if spatial[0] + 2 * self.padding < kh or spatial[1] + 2 * self.padding < kw:
            raise ValueError(f"Conv2D input x of spatial size {tuple(spatial)} is smaller than the "
                             f"kernel {(kh, kw)} with padding {self.padding}")
        y, self._cache = self._forward(x, self.w.value, self.b.value, self.stride, self.padding,
                                       self.activation)
        return y

    def backward(self, dy):
        dx, dw, db = self._backward(dy, self._cache, self.input_grad)
        self.w.grad += dw
        self.b.grad += db
        return dx

    def __repr__(self):
        f, c, kh, kw = self.w.value.shape
        return f"Conv2D({c}, {f}, kernel_size={(kh, kw)}, stride={self.stride}, padding={self.padding})"
