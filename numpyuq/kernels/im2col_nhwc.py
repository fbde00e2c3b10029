"""im2col / col2im for channels-last (NHWC) convolutions.

Same row order as the NCHW version (one row per output pixel, (n, oh, ow)), but the columns are
ordered (kh, kw, c). For every kernel row kh the KW * C input values a row needs are *contiguous*
in an NHWC image, so each copy is one run of KW * C floats (100 for LeNet's second layer; measured
6x faster than the NCHW loops there) and the GEMM output (N*OH*OW, F) already *is* the NHWC output,
with no layout pass.

With padding, the compiled path pads the input once (a copy of N (H + 2p) (W + 2p) C floats) and
runs loops that know no padding, instead of testing every window against the border: a SAME 5 x 5
convolution has a border band two pixels wide, and on 28 x 28 images with one channel (LeNet5's
first layer) the per-element border loop took most of the pass (4.0 ms of im2col at batch 256,
against 1.1 ms padded first; col2im the same way, into a padded buffer cut to size).

The loops copy through flat views with *unsigned* offsets (``np.uint64``). numba wraps a negative
signed index around, as NumPy does, and that per-element test kept LLVM from vectorising the
copies: unsigned offsets made im2col 1.6x faster on LeNet's first layer and col2im 4.5x on its
second (the per-pass table of ``benchmarks/lenet.py --profile`` times them now).
"""
import numba
import numpy as np

from ..backend import get_array_module
from . import cuda
from .dispatch import check_arrays, check_out, check_shape, check_window, compiled, use_cuda, use_numba
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


def _im2col_nhwc_loops(x, KH, KW, stride, cols):
    """Fill cols (N*OH*OW, KH*KW*C) from x (N, H, W, C), no padding (the dispatcher pads first).

    Each of a window's KH rows is one contiguous run of KW*C values of x (pixels ow*s .. ow*s + KW - 1
    of image row ih, all channels), copied as a single loop. Kernel row kh of the windows ow = 0, 1,
    ... of output row oh reads image row oh*s + kh, so sweeping ow inside kh reads that row while it
    is in L1 (measured 1.3x faster than one window at a time at LeNet's first layer, 1.05x at its
    second). No border test sits in this loop: one cost 0.1 ms there.
    """
    N, H, W, C = x.shape
    OH = (H - KH) // stride + 1
    OW = (W - KW) // stride + 1
    run = np.uint64(KW * C)
    src, dst = x.reshape(-1), cols.reshape(-1)
    row_len, step = np.uint64(KH * KW * C), np.uint64(stride * C)
    for n in numba.prange(N):
        for oh in range(OH):
            for kh in range(KH):
                out = np.uint64((n * OH + oh) * OW) * row_len + np.uint64(kh) * run   # cols[(n, oh, 0), kh]
                start = np.uint64(((n * H + oh * stride + kh) * W) * C)             # x[n, oh s + kh, 0, 0]
                for ow in range(OW):
                    for j in range(run):
                        dst[out + j] = src[start + j]
                    out += row_len
                    start += step


def _col2im_nhwc_loops(cols, KH, KW, stride, dx):
    """dx (N, H, W, C) <- every cols entry added back at the pixel it was read from (no padding:
    the dispatcher sums into a padded buffer and cuts it to size)."""
    N, H, W, C = dx.shape
    OH = (H - KH) // stride + 1
    OW = (W - KW) // stride + 1
    run, image_row = np.uint64(KW * C), np.uint64(W * C)
    src, dst = cols.reshape(-1), dx.reshape(-1)
    for n in numba.prange(N):          # each n owns its image: no write races in parallel mode
        dx[n] = 0
        for oh in range(OH):
            for ow in range(OW):
                start = np.uint64(((n * H + oh * stride) * W + ow * stride) * C)    # dx[n, oh s, ow s, 0]
                at = np.uint64(((n * OH + oh) * OW + ow) * KH * KW * C)             # cols[row, 0]
                for kh in range(KH):
                    for j in range(run):
                        dst[start + j] += src[at + j]
                    start += image_row
                    at += run


def pad_nhwc(x, padding):
    """x (N, H, W, C) with ``padding`` zeros on every side of H and W (x itself when 0)."""
    if not padding:
        return x
    return zero_padded(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))


def zero_padded(x, widths):
    """``np.pad(x, widths)`` (zeros, ``widths`` one (before, after) pair an axis) as one allocation
    and one slice copy: np.pad's Python took 5x as long at LeNet's 32-image slices, with the GIL
    held while the other split thread waited."""
    if len(widths) != x.ndim:
        raise ValueError(f"widths must give one (before, after) pair for each of x's {x.ndim} axes, got {widths!r}")
    out = np.zeros(tuple(n + a + b for n, (a, b) in zip(x.shape, widths)), x.dtype)
    out[tuple(slice(a, a + n) for n, (a, _) in zip(x.shape, widths))] = x
    return out


_im2col_nhwc_numba = compiled(_im2col_nhwc_loops, parallel=True)
_col2im_nhwc_numba = compiled(_col2im_nhwc_loops, parallel=True)


def written(result, out):
    """``result``, copied into ``out`` when one was given: every path honours ``out`` alike."""
    if out is None:
        return result
    out[...] = result
    return out


def im2col_nhwc(x, KH, KW, stride=1, padding=0, out=None):
    """x: (N, H, W, C) -> cols: (N*OH*OW, KH*KW*C), written into ``out`` (C-contiguous) when given."""
    check_arrays(x, ndim=4, names=("x",))
    check_window(x.shape[1], x.shape[2], KH, KW, stride, padding)
    N, H, W, C = x.shape
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    if out is not None:
        check_out(out, (N * OH * OW, KH * KW * C), x.dtype)
    if use_cuda(x):
        return cuda.im2col_nhwc(x, KH, KW, stride, padding, OH, OW, out)
    if not use_numba(x):
        return written(im2col_nhwc_reference(x, KH, KW, stride, padding), out)
    cols = np.empty((N * OH * OW, KH * KW * C), x.dtype) if out is None else out
    _im2col_nhwc_numba(np.ascontiguousarray(pad_nhwc(x, padding)), KH, KW, stride, cols)   # pad once
    return cols


def col2im_nhwc(cols, x_shape, KH, KW, stride=1, padding=0, out=None):
    """cols: (N*OH*OW, KH*KW*C) -> dx: (N, H, W, C), the adjoint of ``im2col_nhwc``; written into
    ``out`` (C-contiguous, of shape x_shape) when given."""
    check_arrays(cols, ndim=2, names=("cols",))
    N, H, W, C = x_shape
    check_window(H, W, KH, KW, stride, padding)
    OH, OW = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    check_shape(cols, (N * OH * OW, KH * KW * C), "cols")
    if out is not None:
        check_out(out, tuple(x_shape), cols.dtype)
    if use_cuda(cols):
        return written(cuda.col2im_nhwc(cols, tuple(x_shape), KH, KW, stride, padding, OH, OW), out)
    if not use_numba(cols):
        return written(col2im_nhwc_reference(cols, x_shape, KH, KW, stride, padding), out)
    if out is None:
        out = np.empty(x_shape, cols.dtype)
    if not padding:
        _col2im_nhwc_numba(np.ascontiguousarray(cols), KH, KW, stride, out)
        return out
    padded = np.empty((N, H + 2 * padding, W + 2 * padding, C), cols.dtype)    # summed into, then cut to size
    _col2im_nhwc_numba(np.ascontiguousarray(cols), KH, KW, stride, padded)
    out[...] = padded[:, padding:padding + H, padding:padding + W, :]
    return out
