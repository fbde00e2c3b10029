"""2-D convolution (cross-correlation, as every deep-learning library): the textbook pair first, then
the fused pair that ``Conv2D`` runs.

The textbook convolution (``conv2d_forward`` / ``conv2d_backward``, NCHW) is three steps: gather every
receptive field into a row of a matrix (im2col), multiply by the kernel viewed as a matrix (one
GEMM), and, for the input gradient, scatter the rows back (col2im, the adjoint of the gather).
``tutorials/02_convolution_by_hand.py`` derives it from the direct loops.

The fused pair (``conv2d_nhwc_forward`` / ``conv2d_nhwc_backward``) computes the same map with four
changes, each measured with ``python benchmarks/lenet.py --profile`` (the README's performance page
gives the tables):

* channels-last (NHWC): with im2col columns ordered (kh, kw, c) every window row is one contiguous
  run of KW x C floats, and the GEMM output (N OH OW, F) already is the NHWC output, with no
  layout pass (``kernels/im2col_nhwc.py``);
* ReLU and s x s max-pooling fused into the bias add, so the full activation is never written back;
* im2col + GEMM and GEMM + col2im in chunks of images that stay in cache (``kernels/conv_gemm.py``);
* for layers whose im2col rows are long runs, the input is kept and the columns rebuilt in the
  backward pass instead of keeping N OH OW KH KW C floats alive;
* a single-channel input at stride 1 (a first layer on grayscale images) skips im2col altogether:
  direct loops (``kernels/conv_single_channel.py``) produce the same rows and the weight gradient
  from the kept input;
* a padded convolution at stride 1 whose padding takes at least a tenth of the multiply-adds (SAME
  padding on small maps: LeNet5's 14 x 14 and 7 x 7 layers) runs one GEMM per class of output
  positions whose windows meet the same taps, skipping the zeros (``kernels/conv_tap_classes.py``).

Together they make a training step of LeNet's second layer (batch 64, float32) about 3x faster
than the textbook pair followed by a plain ReLU and max-pooling; ``tutorials/02_convolution_by_hand.py``
times the two side by side on the reader's machine.

``conv2d_fused_forward`` / ``conv2d_fused_backward`` run the fused pair on NCHW arrays (transposed in
and out). The tests check every option of both fused pairs against the textbook pair composed with
a plain ReLU and a plain max-pooling, in float64.
"""
import functools
from typing import NamedTuple

import numpy as np

from ..backend import asarray, get_array_module
from ..kernels.bias_relu import bias_relu_forward, relu_bias_backward
from ..kernels.conv_gemm import gemm_col2im, im2col_gemm, im2col_gemm_weights
from ..kernels.conv_single_channel import (DIRECT_UP_TO_FILTERS, conv_single_channel, conv_single_channel_pooled,
                                           conv_single_channel_pooled_weights, conv_single_channel_weights)
from ..kernels.conv_tap_classes import conv_tap_classes, conv_tap_classes_backward, worth_tap_classes
from ..kernels.dispatch import use_numba
from ..kernels.im2col import col2im_reference, conv_output_size, im2col_reference
from ..kernels.pooling_nhwc import maxpool_nhwc_backward, maxpool_nhwc_forward
from ..seeding import as_generator
from ..validation import check_choice, check_features, check_float_dtype, check_positive_int, check_upstream
from .init import glorot_uniform, torch_uniform
from .module import Module, Parameter


# ---- the textbook convolution: im2col, one GEMM, col2im (NCHW) --------------------------------
def conv2d_forward(x, w, b, stride=1, padding=0):
    """y[n, f, i, j] = b[f] + sum_{c, kh, kw} w[f, c, kh, kw] x_pad[n, c, i s + kh, j s + kw].

    Args:
        x: (N, C, H, W) images.
        w: (F, C, KH, KW) kernels.
        b: (F,) biases.
        stride: s.
        padding: p zeros on every side.
    Returns:
        y: (N, F, OH, OW), OH = (H + 2p - KH) // s + 1 (likewise OW);
        cache: (cols, w, x_shape, stride, padding) for ``conv2d_backward``.
    """
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    # Every receptive field becomes a row: $\mathrm{cols} \in \mathbb{R}^{N O_H O_W \times C K_H K_W}$,
    # and all $F$ kernels are one product, $Y = \mathrm{cols}\, W^\top + b$.
    cols = im2col_reference(x, KH, KW, stride, padding)      # (N*OH*OW, C*KH*KW): a window a row
    y = cols @ w.reshape(F, -1).T + b                         # (N*OH*OW, F) = cols W^T + b
    y = y.reshape(N, OH, OW, F).transpose(0, 3, 1, 2)         # (N, F, OH, OW)
    return y, (cols, w, x.shape, stride, padding)


def conv2d_backward(dy, cache):
    """dy: (N, F, OH, OW) -> dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,).

    The forward pass is one GEMM, Y = cols W^T + b, so the backward pass is two GEMMs and a sum:
    dW = dY^T cols, dcols = dY W, db = sum of dY over its rows; then dx = col2im(dcols), because
    col2im is the adjoint (transpose) of the im2col gather: <im2col(x), c> = <x, col2im(c)>.
    """
    cols, w, x_shape, stride, padding = cache
    F, C, KH, KW = w.shape
    # $dW = dY^\top \mathrm{cols}$, $db = \sum_{\text{rows}} dY$, $d\,\mathrm{cols} = dY\, W$, and
    # $dx = \mathrm{col2im}(d\,\mathrm{cols})$: col2im is the transpose of the im2col gather.
    dy_mat = dy.transpose(0, 2, 3, 1).reshape(-1, F)          # (N*OH*OW, F), rows ordered as cols
    dw = (dy_mat.T @ cols).reshape(w.shape)                   # dW = dY^T cols
    db = dy_mat.sum(axis=0)                                   # b was added to every row
    dcols = dy_mat @ w.reshape(F, -1)                         # (N*OH*OW, C*KH*KW) = dY W
    dx = col2im_reference(dcols, x_shape, KH, KW, stride, padding)
    return dx, dw, db


# ---- the fused convolution (NHWC, ReLU and pooling fused, chunked) ----------------------------
# Columns whose rows are runs of at least this many floats are rebuilt in the backward pass rather
# than kept (see ``kernels/conv_gemm.py``): their im2col runs at copy speed. LeNet's first layer
# (runs of 5) keeps its columns, its second (runs of 100) keeps its input.
REBUILD_COLUMNS_FROM_RUN = 16


class ConvCache(NamedTuple):
    """What the backward pass of a convolution needs."""
    cols: object            # (N*OH*OW, KH*KW*C) im2col columns of the input, or None: rebuilt from x
    w_mat: object           # (F, KH*KW*C) kernel as the GEMM used it
    w_shape: tuple          # (F, C, KH, KW)
    x_shape: tuple          # (N, H, W, C)
    stride: int
    padding: int
    relu_out: object        # output after the fused ReLU (pooled when pool is set), or None without activation
    pool: int = None        # fused max-pooling window (= stride), or None
    argmax: object = None   # (N, PH, PW, F) int8 winner of each window
    pooled_from: tuple = None   # (N, OH, OW, F): the GEMM output's shape before pooling
    x: object = None        # (N, H, W, C) the input, kept instead of cols (long im2col runs, or direct)
    direct: bool = False    # run by the single-channel direct kernels instead of im2col + GEMM
    by_tap_classes: bool = False    # run one GEMM per tap class, skipping the padding (x kept)


def conv2d_nhwc_forward(x, w, b, stride=1, padding=0, activation=None, pool=None, keep_cache=True):
    """y[n, oh, ow, f] = b[f] + sum_{kh, kw, c} w[f, c, kh, kw] x_pad[n, oh s + kh, ow s + kw, c].

    x: (N, H, W, C), w: (F, C, KH, KW) (PyTorch's layout), b: (F,) -> y: (N, OH, OW, F),
    OH = (H + 2 padding - KH) // stride + 1. ``activation="relu"`` fuses the bias add and the ReLU;
    ``pool=s`` also fuses an s x s max-pooling (stride s): y is then (N, OH // s, OW // s, F).
    For the backward pass it keeps the im2col columns (N OH OW KH KW C floats) or, when their rows
    are runs of at least REBUILD_COLUMNS_FROM_RUN floats, the input x; ``keep_cache=False``
    (inference) keeps nothing.
    """
    N, H, W, C = x.shape
    F, _, KH, KW = w.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    w_mat = w.transpose(0, 2, 3, 1).reshape(F, -1)                # (F, KH*KW*C), a small copy
    direct = uses_direct_kernels(x, F, stride)
    by_tap_classes = not direct and worth_tap_classes(x, KH, KW, stride, padding)
    argmax, pooled_from = None, None
    if direct and pool is not None:                               # one channel, pooled by the loops
        keep_input, cols = keep_cache, None
        pooled_from = (N, OH, OW, F)
        y, argmax = conv_single_channel_pooled(x.reshape(N, H, W), w.reshape(F, KH, KW), padding, pool,
                                               with_argmax=keep_cache)
        OH, OW = OH // pool, OW // pool
        argmax = None if argmax is None else argmax.reshape(N, OH, OW, F)
    elif direct:                                                  # one channel: no im2col, keep x
        keep_input, cols = keep_cache, None
        y = conv_single_channel(x.reshape(N, H, W), w.reshape(F, KH, KW), padding)
    elif by_tap_classes:                                          # padding skipped: keep x
        keep_input, cols = keep_cache, None
        y = conv_tap_classes(x, w_mat, KH, KW, padding)
    else:
        keep_input = keep_cache and KW * C >= REBUILD_COLUMNS_FROM_RUN
        cols, y = im2col_gemm(x, w_mat, KH, KW, stride, padding, keep_cols=keep_cache and not keep_input)
    if pool is not None and pooled_from is None:
        # Pool first, then add the bias and apply the ReLU to the pooled quarter only: the bias is
        # constant over a window and ReLU is monotone, so act(b + max z) = max act(z + b), the
        # conv -> ReLU -> pool of LeNet, and the full activation is never written back.
        pooled_from = (N, OH, OW, F)
        y, argmax = maxpool_nhwc_forward(y.reshape(pooled_from), pool, pool, with_argmax=keep_cache)
        OH, OW = y.shape[1:3]
        y = y.reshape(-1, F)
    if activation == "relu":
        y = bias_relu_forward(y, b)                               # bias and ReLU in one pass
    else:
        y += b
    cache = (ConvCache(cols, w_mat, w.shape, x.shape, stride, padding, y if activation else None, pool, argmax,
                       pooled_from, x if keep_input else None, direct, by_tap_classes) if keep_cache else None)
    return y.reshape(N, OH, OW, F), cache


def uses_direct_kernels(x, filters, stride):
    """Whether a convolution of x (N, H, W, C) runs ``kernels/conv_single_channel.py``'s direct loops:
    one channel, stride 1, at most DIRECT_UP_TO_FILTERS filters, NumPy arrays with kernels on."""
    return x.shape[3] == 1 and stride == 1 and filters <= DIRECT_UP_TO_FILTERS and use_numba(x)


def conv2d_nhwc_backward(dy, cache, input_grad=True, param_grads=True):
    """dy: (N, OH, OW, F) -> dx: (N, H, W, C), dw: (F, C, KH, KW), db: (F,); skipped ones are None.

    With y_mat = cols w_mat^T + b:  dw_mat = dy_mat^T cols,  dcols = dy_mat w_mat,  db = column sums;
    dx = col2im(dcols), the adjoint of the im2col gather.
    """
    # The forward pass is one GEMM, $Y = \mathrm{cols}\, W^\top + b$, so the backward pass is two:
    # $dW = dY^\top \mathrm{cols}$ and $d\,\mathrm{cols} = dY\, W$, which col2im adds back to the pixels.
    F, C, KH, KW = cache.w_shape
    dy_mat = dy.reshape(-1, F)                                    # (N*OH*OW, F), no copy
    if cache.relu_out is not None:
        dy_mat, db = relu_bias_backward(dy_mat, cache.relu_out)   # ReLU mask and bias sum, one pass
    else:
        # A ones-vector product: a BLAS matvec, 4x faster than sum(axis=0) on these tall arrays.
        db = get_array_module(dy_mat).ones(dy_mat.shape[0], dy_mat.dtype) @ dy_mat
    if cache.direct and cache.pool is not None and param_grads and not input_grad:
        # A first layer: only dw is needed, and the direct loops take the pooled gradient as it is.
        N, H, W, _ = cache.x_shape
        dw = conv_single_channel_pooled_weights(cache.x.reshape(N, H, W), dy_mat, cache.argmax.reshape(dy_mat.shape),
                                                KH, KW, cache.padding, cache.pool)
        return None, dw.reshape(F, C, KH, KW), db
    if cache.pool is not None:                                    # each window's winner gets its dy
        dy_mat = maxpool_nhwc_backward(dy_mat.reshape(cache.argmax.shape), cache.argmax, cache.pooled_from,
                                       cache.pool, cache.pool).reshape(-1, F)
    if cache.by_tap_classes:
        dx, dw_mat = conv_tap_classes_backward(cache.x, dy_mat, cache.w_mat, KH, KW, cache.padding,
                                               input_grad, param_grads)
        dw = None if dw_mat is None else dw_mat.reshape(F, KH, KW, C).transpose(0, 3, 1, 2)
        return dx, dw, db if param_grads else None
    dw = None
    if param_grads:
        if cache.direct:
            N, H, W, _ = cache.x_shape
            dw_mat = conv_single_channel_weights(cache.x.reshape(N, H, W), dy_mat, KH, KW, cache.padding).reshape(F, -1)
        elif cache.cols is not None:
            # dot, not matmul: NumPy's matmul holds the GIL on this tall transposed product
            # (18,432 x 20 by 18,432 x 25 at LeNet's first layer), and DataParallel's threads wait
            dw_mat = get_array_module(dy_mat).dot(cache.cols.T, dy_mat).T
        else:
            dw_mat = im2col_gemm_weights(cache.x, dy_mat, KH, KW, cache.stride, cache.padding)
        dw = dw_mat.reshape(F, KH, KW, C).transpose(0, 3, 1, 2)
    dx = (gemm_col2im(dy_mat, cache.w_mat, cache.x_shape, KH, KW, cache.stride, cache.padding)
          if input_grad else None)
    return dx, dw, db if param_grads else None


def conv2d_fused_forward(x, w, b, stride=1, padding=0, activation=None, pool=None, keep_cache=True):
    """The fused convolution on NCHW images: x (N, C, H, W) -> y (N, F, OH, OW) (or pooled), run
    channels-last by ``conv2d_nhwc_forward`` between two transposes."""
    xp = get_array_module(x)
    y, cache = conv2d_nhwc_forward(xp.ascontiguousarray(x.transpose(0, 2, 3, 1)), w, b, stride,
                                   padding, activation, pool, keep_cache)
    return xp.ascontiguousarray(y.transpose(0, 3, 1, 2)), cache


def conv2d_fused_backward(dy, cache, input_grad=True, param_grads=True):
    """dy: (N, F, OH, OW) -> dx: (N, C, H, W), dw: (F, C, KH, KW), db: (F,); skipped ones are None."""
    xp = get_array_module(dy)
    dx, dw, db = conv2d_nhwc_backward(xp.ascontiguousarray(dy.transpose(0, 2, 3, 1)), cache,
                                      input_grad, param_grads)
    return (None if dx is None else dx.transpose(0, 3, 1, 2)), dw, db


_PAIRS = {"NCHW": (conv2d_fused_forward, conv2d_fused_backward),
          "NHWC": (conv2d_nhwc_forward, conv2d_nhwc_backward)}


def conv2d_pair(data_format="NCHW"):
    """The fused pure pair ``(forward, backward)`` that ``Conv2D`` runs on ``data_format`` images."""
    return _PAIRS[check_choice(data_format, "data_format", tuple(_PAIRS))]


class Conv2D(Module):
    """Convolution layer.  x: (N, C, H, W) -> y: (N, F, OH, OW), OH = (H + 2p - K) // s + 1.

    Weights (F, C, KH, KW) and bias are initialised as PyTorch's defaults: U(+-1/sqrt(C KH KW))
    (``init="torch"``), or as Keras' (``init="glorot_uniform"``: U(+-sqrt(6 / (C KH KW + F KH KW)))
    kernels, zero bias).
    ``input_grad=False`` makes ``backward`` skip dx (returning None): for a network's first layer
    it saves a GEMM and the col2im scatter, the costliest pass of LeNet's first convolution.
    ``data_format="NHWC"`` takes and returns channels-last arrays (N, H, W, C), which saves the
    two transposes inside a network; the weights keep the (F, C, KH, KW) layout.
    ``activation="relu"`` applies a ReLU fused with the bias add; ``pool=s`` then max-pools s x s
    windows (stride s) in the same pass (LeNet's conv -> ReLU -> pool as one layer).
    An inference pass inside ``nn.without_caches(model)`` keeps nothing for a backward pass.
    A single-channel input at stride 1 with at most 20 filters (a first layer on grayscale images)
    runs the direct loops of ``kernels/conv_single_channel.py`` instead of im2col + GEMM, and a
    padded one at stride 1 whose padding holds at least a tenth of the multiply-adds runs one GEMM
    per class of ``kernels/conv_tap_classes.py``: the same function, summed in another order.
    """

    splittable = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, activation=None,
                 input_grad=True, data_format="NCHW", seed=0, dtype=np.float32, pool=None, init="torch"):
        conv2d_pair(data_format)                                  # validates data_format
        check_choice(activation, "activation", (None, "relu"))
        if isinstance(kernel_size, (tuple, list)) and len(kernel_size) == 2:
            kh, kw = kernel_size
        else:
            kh = kw = kernel_size
        for name, value, low in (("in_channels", in_channels, 1), ("out_channels", out_channels, 1),
                                 ("kernel_size", kh, 1), ("kernel_size", kw, 1), ("stride", stride, 1),
                                 ("padding", padding, 0)):
            check_positive_int(value, name, minimum=low)
        dtype = check_float_dtype(dtype, "dtype")
        if pool is not None:
            check_positive_int(pool, "pool")
        check_choice(init, "init", ("torch", "glorot_uniform"))
        rng = as_generator(seed)
        fan_in = in_channels * kh * kw
        self.data_format, self.activation = data_format, activation
        self.in_channels, self.stride, self.padding, self.input_grad = in_channels, stride, padding, input_grad
        self.pool = pool
        shape = (out_channels, in_channels, kh, kw)
        if init == "torch":
            w, b = torch_uniform(rng, fan_in, shape, dtype), torch_uniform(rng, fan_in, (out_channels,), dtype)
        else:
            w, b = glorot_uniform(rng, fan_in, out_channels * kh * kw, shape, dtype), np.zeros(out_channels, dtype)
        self.w, self.b = Parameter(asarray(w)), Parameter(asarray(b))

    def check_input(self, x):
        channel_axis = 1 if self.data_format == "NCHW" else 3
        check_features(x, "Conv2D input x", ndim=4, size=self.in_channels, axis=channel_axis)
        kh, kw = self.w.value.shape[2:]
        spatial = x.shape[2:] if self.data_format == "NCHW" else x.shape[1:3]
        if spatial[0] + 2 * self.padding < kh or spatial[1] + 2 * self.padding < kw:
            raise ValueError(f"Conv2D input x of spatial size {tuple(spatial)} is smaller than the "
                             f"kernel {(kh, kw)} with padding {self.padding}")
        out = [conv_output_size(n, k, self.stride, self.padding) for n, k in zip(spatial, (kh, kw))]
        if self.pool is not None and min(out) < self.pool:
            raise ValueError(f"Conv2D output of spatial size {tuple(out)} (input x {tuple(spatial)}) is smaller "
                             f"than its {self.pool} x {self.pool} pooling window")

    def pair(self):
        """The pure pair ``(forward, backward)`` this layer runs, its hyper-parameters bound."""
        forward, backward = conv2d_pair(self.data_format)
        return functools.partial(forward, stride=self.stride, padding=self.padding, activation=self.activation,
                                 pool=self.pool), backward

    def forward(self, x, training=False):
        return self.forward_with_weight(x, self.w.value, training)

    def backward(self, dy):
        dx, dw, db = self.backward_to_weight(dy)
        if self.w.trainable:
            self.w.grad += dw               # accumulate: a parameter may be used twice
            self.b.grad += db
        return dx

    def forward_with_weight(self, x, w, training=False):
        """``forward`` with the kernel ``w`` (F, C, KH, KW) in place of ``self.w.value``: what a wrapper
        that transforms the weight (``SpectralNorm``) runs. Keeps its cache as ``forward`` does."""
        self.check_input(x)
        if x.dtype != w.dtype:              # float64 data into a float32 layer: cast, as Keras does
            x = x.astype(w.dtype)
        forward, _ = self.pair()
        y, cache = forward(x, w, self.b.value, keep_cache=training or self.caching)
        self.remember(None if cache is None else (cache, y.shape), training)   # with the shape dy must have
        return y

    def backward_to_weight(self, dy):
        """``backward`` without the accumulation: returns ``(dx, dw, db)`` for the weight the last
        forward pass used (dx None when ``input_grad=False``; dw, db None for a frozen layer)."""
        _, backward = self.pair()
        cache, output_shape = self.cached()
        check_upstream(dy, output_shape, "Conv2D")
        return backward(dy, cache, self.input_grad, self.w.trainable)

    def __repr__(self):
        f, c, kh, kw = self.w.value.shape
        act = f", activation={self.activation!r}" if self.activation else ""
        act += f", pool={self.pool}" if self.pool else ""
        return (f"Conv2D({c}, {f}, kernel_size={(kh, kw)}, stride={self.stride}, padding={self.padding}"
                f"{act}, data_format={self.data_format!r})")
