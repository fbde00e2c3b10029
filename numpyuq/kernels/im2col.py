"""im2col / col2im for NCHW convolutions: the textbook version, and the oracle the tests check the
channels-last kernels against. ``Conv2D`` computes through ``im2col_nhwc`` in every layout (NCHW
inputs are transposed in and out), which was measured faster than dedicated NCHW numba kernels
for C >= 16; so this file holds only the vectorised xp references.

Layout: cols has one row per output pixel, ordered (n, oh, ow), and one column per kernel tap,
ordered (c, kh, kw), so that
    y (N*OH*OW, F) = cols (N*OH*OW, C*KH*KW) @ w.reshape(F, C*KH*KW).T
is a single contiguous GEMM, and so are dw = cols^T dy and dcols = dy w.

col2im is the adjoint of im2col: it scatter-adds each column entry back to the input pixel it came
from (overlapping windows add up), which is exactly dx = im2col^T(dcols).
"""
from ..backend import get_array_module


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
