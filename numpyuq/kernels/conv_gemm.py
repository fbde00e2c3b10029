"""The convolution's GEMMs fused with im2col (forward) and col2im (backward), in cache-sized
chunks of images.

    forward:  cols = im2col_nhwc(x)                 (N*OH*OW, KH*KW*C)
              y    = cols w_mat^T                   (N*OH*OW, F)
    backward: dx   = col2im_nhwc(dy w_mat)          (N, H, W, C)
              dw   = dy^T im2col_nhwc(x)            (F, KH*KW*C), when the columns were not kept

Done in one piece, im2col writes all the columns to memory and the GEMM reads them back. Done in
chunks of images whose columns fit in about 2 MB, the GEMM reads each chunk while it is still in
(L3) cache. On LeNet at batch 64 with BLAS's two threads, 4 MB chunks had measured 4-8% faster
than 1 MB ones for the second convolution, and 2 MB ones as fast as 4 MB. With each batch split
over two threads (``parallel.DataParallel``, ``predict(threads=2)``), the two threads' chunks share
the cache, and 2 MB chunks measured 4-5% faster training steps than 4 MB ones (batch 64 and 128)
and 4-7% faster inference. The xp reference is the same computation in one piece; it serves CuPy,
where a GPU has no such cache to fit.

The backward pass is the mirror image: col2im reads each chunk of dcols = dy w_mat right after the
GEMM wrote it, instead of 8 MB (LeNet's second layer at batch 64) or 16 MB (batch 128) from
memory. Measured on that layer's dcols GEMM + col2im + its weight GEMM: 12% faster at batch
128, 2% at 64.

A layer whose im2col rows are long runs (LeNet's second: 100 floats) need not keep its columns
for the weight gradient at all: ``im2col_gemm_weights`` rebuilds them chunk by chunk in cache,
at copy speed, from the layer's input (1/25 of their size). That spares writing them to memory in
the forward pass and reading them back in the backward pass: LeNet's training step measured 1.4%
faster at batch 64 and 3% at 128, and the layer keeps 0.7 MB instead of 8 MB a batch of 64.
"""
import numpy as np

from ..backend import get_array_module
from .dispatch import check_arrays, check_shape, check_window, use_numba
from .im2col import conv_output_size
from .im2col_nhwc import col2im_nhwc, im2col_nhwc

CHUNK_BYTES = 2 << 20


def output_pixels(H, W, KH, KW, stride, padding):
    """OH * OW: the output pixels of one image, the rows it adds to cols."""
    return conv_output_size(H, KH, stride, padding) * conv_output_size(W, KW, stride, padding)


def images_per_chunk(pixels, row_length, itemsize):
    """How many images' rows of ``row_length`` items fill about CHUNK_BYTES (at least one image)."""
    return max(1, CHUNK_BYTES // (pixels * row_length * itemsize))


def im2col_gemm_reference(x, w_mat, KH, KW, stride, padding):
    """x: (N, H, W, C), w_mat: (F, KH*KW*C) -> (cols: (N*OH*OW, KH*KW*C), y: (N*OH*OW, F))."""
    cols = im2col_nhwc(x, KH, KW, stride, padding)
    return cols, cols @ w_mat.T


def im2col_gemm(x, w_mat, KH, KW, stride, padding, keep_cols=True):
    """As the reference, in chunks of images.

    ``keep_cols=False`` (inference: no backward pass will need the columns) reuses one chunk-sized
    buffer, which stays in cache, and returns cols = None.
    """
    check_arrays(x, ndim=4, names=("x",))
    check_arrays(w_mat, ndim=2, names=("w_mat",))
    if w_mat.dtype != x.dtype:
        raise TypeError(f"w_mat must have dtype {x.dtype} like x, got {w_mat.dtype}")
    check_window(x.shape[1], x.shape[2], KH, KW, stride, padding)
    check_shape(w_mat, (w_mat.shape[0], KH * KW * x.shape[3]), "w_mat")
    if not use_numba(x):
        cols, y = im2col_gemm_reference(x, w_mat, KH, KW, stride, padding)
        return (cols if keep_cols else None), y
    xp = get_array_module(x)
    N = x.shape[0]
    pixels = output_pixels(x.shape[1], x.shape[2], KH, KW, stride, padding)
    chunk = images_per_chunk(pixels, w_mat.shape[1], x.itemsize)
    cols = xp.empty(((N if keep_cols else min(N, chunk)) * pixels, w_mat.shape[1]), x.dtype)
    y = xp.empty((N * pixels, w_mat.shape[0]), x.dtype)
    for start in range(0, N, chunk):
        rows = slice(start * pixels, min(N, start + chunk) * pixels)
        chunk_cols = cols[rows] if keep_cols else cols[:rows.stop - rows.start]
        im2col_nhwc(x[start:start + chunk], KH, KW, stride, padding, out=chunk_cols)
        xp.matmul(chunk_cols, w_mat.T, out=y[rows])
    return (cols if keep_cols else None), y


def gemm_col2im_reference(dy, w_mat, x_shape, KH, KW, stride, padding):
    """dy: (N*OH*OW, F), w_mat: (F, KH*KW*C) -> dx = col2im(dy w_mat): (N, H, W, C)."""
    return col2im_nhwc(dy @ w_mat, x_shape, KH, KW, stride, padding)


def gemm_col2im(dy, w_mat, x_shape, KH, KW, stride=1, padding=0):
    """As the reference, in chunks of images whose dcols fill about CHUNK_BYTES."""
    check_arrays(dy, w_mat, ndim=2, names=("dy", "w_mat"))
    N, H, W, C = x_shape
    check_window(H, W, KH, KW, stride, padding)
    pixels = output_pixels(H, W, KH, KW, stride, padding)
    check_shape(w_mat, (dy.shape[1], KH * KW * C), "w_mat")
    check_shape(dy, (N * pixels, dy.shape[1]), "dy")
    if not use_numba(dy):
        return gemm_col2im_reference(dy, w_mat, x_shape, KH, KW, stride, padding)
    chunk = images_per_chunk(pixels, w_mat.shape[1], dy.itemsize)
    dx = np.empty(x_shape, dy.dtype)
    dcols = np.empty((min(N, chunk) * pixels, w_mat.shape[1]), dy.dtype)
    for start in range(0, N, chunk):
        stop = min(N, start + chunk)
        chunk_dcols = dcols[:(stop - start) * pixels]
        np.matmul(dy[start * pixels:stop * pixels], w_mat, out=chunk_dcols)
        col2im_nhwc(chunk_dcols, (stop - start, H, W, C), KH, KW, stride, padding, out=dx[start:stop])
    return dx


def im2col_gemm_weights_reference(x, dy, KH, KW, stride, padding):
    """x: (N, H, W, C), dy: (N*OH*OW, F) -> dw_mat = dy^T im2col(x): (F, KH*KW*C)."""
    return dy.T @ im2col_nhwc(x, KH, KW, stride, padding)


def im2col_gemm_weights(x, dy, KH, KW, stride=1, padding=0):
    """As the reference, rebuilding the columns in chunks of images into one cache-sized buffer."""
    check_arrays(x, ndim=4, names=("x",))
    check_arrays(dy, ndim=2, names=("dy",))
    if dy.dtype != x.dtype:
        raise TypeError(f"dy must have dtype {x.dtype} like x, got {dy.dtype}")
    N, H, W, C = x.shape
    check_window(H, W, KH, KW, stride, padding)
    pixels = output_pixels(H, W, KH, KW, stride, padding)
    check_shape(dy, (N * pixels, dy.shape[1]), "dy")
    if not use_numba(x):
        return im2col_gemm_weights_reference(x, dy, KH, KW, stride, padding)
    K = KH * KW * C
    chunk = images_per_chunk(pixels, K, x.itemsize)
    cols = np.empty((min(N, chunk) * pixels, K), x.dtype)
    dw, part = np.empty((dy.shape[1], K), x.dtype), np.empty((dy.shape[1], K), x.dtype)
    for start in range(0, N, chunk):
        stop = min(N, start + chunk)
        chunk_cols = cols[:(stop - start) * pixels]
        im2col_nhwc(x[start:stop], KH, KW, stride, padding, out=chunk_cols)
        np.matmul(dy[start * pixels:stop * pixels].T, chunk_cols, out=part if start else dw)
        if start:
            dw += part
    return dw
