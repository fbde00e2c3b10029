"""im2col / col2im for channels-last (NHWC) convolutions.

Same row order as the NCHW version (one row per output pixel, (n, oh, ow)), but the columns are
ordered (kh, kw, c). For every kernel row kh the KW * C input values a row needs are *contiguous*
in an NHWC image, so each copy is one run of KW * C floats (100 for LeNet's second layer; measured
6x faster than the NCHW loops there) and the GEMM output (N*OH*OW, F) already *is* the NHWC output,
with no layout pass.
"""
import numba
import numpy as np

from ..backend import get_array_module
from .dispatch import check_arrays, check_shape, check_window, compiled, use_numba
from .im2col import conv_output_size


def im2col_nhwc_reference(x, KH, KW, stride, padding):
    """x: (N, H, W, C) -> cols: (N*OH*OW, KH*KW*C), one strided slice per kernel offset."""
    xp = get_array_module(x)
    N, H, W, C = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    xpad = xp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    cols = xp.empty((N, OH, OW, KH, KW, C), x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            cols[:, :, :, kh, kw, :] = xpad[:, kh:kh + stride * OH:stride, kw:kw + stride * OW:stride, :]
    return cols.reshape(N * OH * OW, KH * KW * C)


def col2im_nhwc_reference(cols, x_shape, KH, KW, stride, padding):
    """Adjoint of im2col_nhwc: cols (N*OH*OW, KH*KW*C) -> dx (N, H, W, C), summing overlaps."""
    xp = get_array_module(cols)
    N, H, W, C = x_shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols6 = cols.reshape(N, OH, OW, KH, KW, C)
    dxpad = xp.zeros((N, H + 2 * padding, W + 2 * padding, C), cols.dtype)
    for kh in range(KH):
        for kw in range(KW):
            dxpad[:, kh:kh + stride * OH:stride, kw:kw + stride * OW:stride, :] += cols6[:, :, :, kh, kw, :]
    return dxpad[:, padding:padding + H, padding:padding + W, :]


def _im2col_nhwc_loops(x, KH, KW, stride, padding, cols):
    """Fill cols (N*OH*OW, KH*KW*C) from x (N, H, W, C); zeros where the window leaves the image.

    For a window row inside the image, the KW*C values are one contiguous run of x (pixels
    ow*s .. ow*s + KW - 1 of image row ih, all channels), copied as a single loop.
    """
    N, H, W, C = x.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    run = KW * C
    rows = x.reshape(N, H, W * C)
    for n in numba.prange(N):
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                iw0 = ow * stride - padding
                for kh in range(KH):
                    ih = oh * stride + kh - padding
                    col = kh * run
                    if 0 <= ih < H and iw0 >= 0 and iw0 + KW <= W:
                        start = iw0 * C
                        for j in range(run):
                            cols[row, col + j] = rows[n, ih, start + j]
                        continue
                    for kw in range(KW):
                        iw = iw0 + kw
                        inside = 0 <= ih < H and 0 <= iw < W
                        for c in range(C):
                            cols[row, col + kw * C + c] = x[n, ih, iw, c] if inside else 0


def _col2im_nhwc_loops(cols, KH, KW, stride, padding, dx):
    """dx (N, H, W, C) <- every cols entry added back at the pixel it was read from."""
    N, H, W, C = dx.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    run = KW * C
    rows = dx.reshape(N, H, W * C)
    for n in numba.prange(N):          # each n owns its image: no write races in parallel mode
        dx[n] = 0
        for oh in range(OH):
            for ow in range(OW):
                row = (n * OH + oh) * OW + ow
                iw0 = ow * stride - padding
                for kh in range(KH):
                    ih = oh * stride + kh - padding
                    if ih < 0 or ih >= H:
                        continue
                    col = kh * run
                    if iw0 >= 0 and iw0 + KW <= W:
                        start = iw0 * C
                        for j in range(run):
                            rows[n, ih, start + j] += cols[row, col + j]
                        continue
                    for kw in range(KW):
                        iw = iw0 + kw
                        if 0 <= iw < W:
                            for c in range(C):
                                dx[n, ih, iw, c] += cols[row, col + kw * C + c]


_im2col_nhwc_numba = compiled(_im2col_nhwc_loops, parallel=True)
_col2im_nhwc_numba = compiled(_col2im_nhwc_loops, parallel=True)


def im2col_nhwc(x, KH, KW, stride=1, padding=0, out=None):
    """x: (N, H, W, C) -> cols: (N*OH*OW, KH*KW*C), written into ``out`` when given (NumPy path)."""
    check_arrays(x, ndim=4, names=("x",))
    check_window(x.shape[1], x.shape[2], KH, KW, stride, padding)
    if not use_numba(x):
        return im2col_nhwc_reference(x, KH, KW, stride, padding)
    N, H, W, C = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    cols = np.empty((N * OH * OW, KH * KW * C), x.dtype) if out is None else out
    _im2col_nhwc_numba(np.ascontiguousarray(x), KH, KW, stride, padding, cols)
    return cols


def col2im_nhwc(cols, x_shape, KH, KW, stride=1, padding=0):
    """cols: (N*OH*OW, KH*KW*C) -> dx: (N, H, W, C), the adjoint of ``im2col_nhwc``."""
    check_arrays(cols, ndim=2, names=("cols",))
    N, H, W, C = x_shape
    check_window(H, W, KH, KW, stride, padding)
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    check_shape(cols, (N * OH * OW, KH * KW * C), "cols")
    if not use_numba(cols):
        return col2im_nhwc_reference(cols, x_shape, KH, KW, stride, padding)
    dx = np.empty(x_shape, cols.dtype)
    _col2im_nhwc_numba(np.ascontiguousarray(cols), KH, KW, stride, padding, dx)
    return dx
