"""The convolution's forward GEMM fused with its im2col, in cache-sized chunks of images.

    cols = im2col_nhwc(x)            (N*OH*OW, KH*KW*C)
    y    = cols w_mat^T              (N*OH*OW, F)

Done in one piece, im2col writes all the columns to memory and the GEMM reads them back. Done in
chunks of images whose columns fit in about 4 MB, the GEMM reads each chunk while it is still in
(L3) cache. On LeNet at batch 64, against 1 MB chunks, 4 MB ones were measured 4-8% faster for
the second convolution (training and inference) and 3% for the first, as fast as one piece; 512
KB chunks were slower still (many small GEMMs, each waking BLAS's threads). The xp reference is
the same computation in one piece; it serves CuPy, where a GPU has no such cache to fit.
"""
from ..backend import get_array_module
from .dispatch import check_arrays, check_shape, check_window, use_numba
from .im2col import conv_output_size
from .im2col_nhwc import im2col_nhwc

CHUNK_BYTES = 4 << 20


def im2col_gemm_reference(x, w_mat, KH, KW, stride, padding):
    """x: (N, H, W, C), w_mat: (F, KH*KW*C) -> (cols: (N*OH*OW, KH*KW*C), y: (N*OH*OW, F))."""
    cols = im2col_nhwc(x, KH, KW, stride, padding)
    return cols, cols @ w_mat.T


def im2col_gemm(x, w_mat, KH, KW, stride, padding, pixels, keep_cols=True):
    """As the reference, in chunks of images; ``pixels`` = OH * OW output pixels per image.

    ``keep_cols=False`` (inference: no backward pass will need the columns) reuses one chunk-sized
    buffer, which stays in cache, and returns cols = None.
    """
    check_arrays(x, ndim=4, names=("x",))
    check_arrays(w_mat, ndim=2, names=("w_mat",))
    if w_mat.dtype != x.dtype:
        raise TypeError(f"w_mat must have dtype {x.dtype} like x, got {w_mat.dtype}")
    check_window(x.shape[1], x.shape[2], KH, KW, stride, padding)
    check_shape(w_mat, (w_mat.shape[0], KH * KW * x.shape[3]), "w_mat")
    if pixels != conv_output_size(x.shape[1], KH, stride, padding) * conv_output_size(x.shape[2], KW, stride, padding):
        raise ValueError(f"pixels must be OH * OW of the convolution, got {pixels}")
    if not use_numba(x):
        cols, y = im2col_gemm_reference(x, w_mat, KH, KW, stride, padding)
        return (cols if keep_cols else None), y
    xp = get_array_module(x)
    N = x.shape[0]
    chunk = max(1, CHUNK_BYTES // (pixels * w_mat.shape[1] * x.itemsize))
    cols = xp.empty(((N if keep_cols else min(N, chunk)) * pixels, w_mat.shape[1]), x.dtype)
    y = xp.empty((N * pixels, w_mat.shape[0]), x.dtype)
    for start in range(0, N, chunk):
        rows = slice(start * pixels, min(N, start + chunk) * pixels)
        chunk_cols = cols[rows] if keep_cols else cols[:rows.stop - rows.start]
        im2col_nhwc(x[start:start + chunk], KH, KW, stride, padding, out=chunk_cols)
        xp.matmul(chunk_cols, w_mat.T, out=y[rows])
    return (cols if keep_cols else None), y
