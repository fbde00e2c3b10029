"""im2col / col2im for NCHW convolutions.

Layout: cols has one row per output pixel, ordered (n, oh, ow), and one column per kernel tap,
ordered (c, kh, kw), so that
    y (N*OH*OW, F) = cols (N*OH*OW, C*KH*KW) @ w.reshape(F, C*KH*KW).T
is a single contiguous GEMM, and so are dw = cols^T dy and dcols = dy w. The innermost copy loop
runs along kw, contiguous in both x (along W) and cols.

col2im is the adjoint of im2col: it scatter-adds each column entry back to the input pixel it came
from (overlapping windows add up), which is exactly dx = im2col^T(dcols).
"""
import numba
import numpy as np

from ..backend import get_array_module
from .dispatch import compiled, use_numba


def conv_output_size(size, kernel, stride, padding):
    """floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


# ---- the vectorised xp reference (NumPy and CuPy; the test oracle) ---------------------------
def im2col_reference(x, KH, KW, stride, padding):
    """x: (N, C, H, W) -> cols: (N*OH*OW, C*KH*KW), one strided slice per kernel offset."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    xpad = xp.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = xp.empty((N, OH, OW, C, KH, KW), x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            patch = xpad[:, :, kh:kh + stride * OH:stride, kw:kw + stride * OW:stride]   # (N, C, OH, OW)
            cols[:, :, :, :, kh, kw] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(N * OH * OW, C * KH * KW)


def col2im_reference(cols, x_shape, KH, KW, stride, padding):
    """Adjoint of im2col: cols (N*OH*OW, C*KH*KW) -> dx (N, C, H, W), summing overlaps.

    One strided-slice add per kernel offset: no scatter into duplicate indices (unsafe on CuPy).
    """
    xp = get_array_module(cols)
    N, C, H, W = x_shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols6 = cols.reshape(N, OH, OW, C, KH, KW)
    dxpad = xp.zeros((N, C, H + 2 * padding, W + 2 * padding), cols.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dxpad[:, :, kh:kh + stride * OH:stride, kw:kw + stride * OW:stride] += \
                cols6[:, :, :, :, kh, kw].transpose(0, 3, 1, 2)
    return dxpad[:, :, padding:padding + H, padding:padding + W]


# ---- the readable loops, compiled by numba ---------------------------------------------------
def _im2col_loops(x, KH, KW, stride, padding, cols):
    """Fill cols (N*OH*OW, C*KH*KW) from x (N, C, H, W); zeros where the window leaves the image."""
    N, C, H, W = x.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    for n in numba.prange(N):
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for kh in range(KH):
                        ih = oh * stride + kh - padding
                        base = (c * KH + kh) * KW
                        if ih < 0 or ih >= H:
                            for kw in range(KW):
                                cols[row, base + kw] = 0
                            continue
                        for kw in range(KW):
                            iw = ow * stride + kw - padding
                            cols[row, base + kw] = x[n, c, ih, iw] if 0 <= iw < W else 0


def _col2im_loops(cols, KH, KW, stride, padding, dx):
    """dx (N, C, H, W) <- sum of every cols entry at the pixel it was read from (dx zeroed first)."""
    N, C, H, W = dx.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    for n in numba.prange(N):          # each n owns its image: no write races in parallel mode
        dx[n] = 0
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                for c in range(C):
                    for kh in range(KH):
                        ih = oh * stride + kh - padding
                        if ih < 0 or ih >= H:
                            continue
                        base = (c * KH + kh) * KW
                        for kw in range(KW):
                            iw = ow * stride + kw - padding
                            if 0 <= iw < W:
                                dx[n, c, ih, iw] += cols[row, base + kw]


_im2col_numba = compiled(_im2col_loops, parallel=True)
_col2im_numba = compiled(_col2im_loops, parallel=True)


# ---- dispatchers ---------------------------------------------------------------------------
def im2col(x, KH, KW, stride=1, padding=0, out=None):
    """x: (N, C, H, W) -> cols: (N*OH*OW, C*KH*KW), written into ``out`` when given (NumPy path)."""
    if not use_numba(x):
        return im2col_reference(x, KH, KW, stride, padding)
    N, C, H, W = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols = np.empty((N * OH * OW, C * KH * KW), x.dtype) if out is None else out
    _im2col_numba(np.ascontiguousarray(x), KH, KW, stride, padding, cols)
    return cols


def col2im(cols, x_shape, KH, KW, stride=1, padding=0):
    """cols: (N*OH*OW, C*KH*KW) -> dx: (N, C, H, W), the adjoint of ``im2col``."""
    if not use_numba(cols):
        return col2im_reference(cols, x_shape, KH, KW, stride, padding)
    dx = np.empty(x_shape, cols.dtype)
    _col2im_numba(np.ascontiguousarray(cols), KH, KW, stride, padding, dx)
    return dx
