"""CUDA kernels for CuPy arrays, beside the xp references they replace on a GPU.

The references of ``im2col_nhwc.py`` and ``pooling_nhwc.py`` copy one strided slice per window
offset: 25 kernel launches for a 5 x 5 im2col, 25 more for its col2im. Each kernel here is one
``cupy.ElementwiseKernel`` launch with one thread per output element, written as a *gather*, so
that no two threads write the same element and no atomics are needed:

* ``im2col_nhwc``: cols[row, (kh, kw, c)] reads x at the window pixel, or 0 in the padding;
* ``col2im_nhwc``: dx[n, ih, iw, c] sums the cols entries of every window that covers the pixel;
* ``maxpool_nhwc_forward``: each output scans its window (ties and NaNs as the references);
* ``maxpool_nhwc_backward``: dx[n, ih, iw, c] sums dy of every window whose winner it is.

Same layouts, results and conventions as the references; the dispatchers choose these for CuPy
arrays when CuPy can compile (``dispatch.use_cuda``). The kernels are compiled on first use, so
importing numpyuq never imports CuPy. ``tests/kernels/test_cuda.py`` compares each with its
reference; without CUDA (the CuPy stand-in of the tests) those tests are skipped.
"""
import functools
import sys

_INDEX = """
    const ptrdiff_t c = i % C;
    const ptrdiff_t pixel = i / C;
"""


@functools.cache
def _kernels():
    cupy = sys.modules["cupy"]
    im2col = cupy.ElementwiseKernel(
        "raw T x, int32 H, int32 W, int32 C, int32 KH, int32 KW, int32 OH, int32 OW, int32 stride, int32 padding",
        "T cols",
        """
        const ptrdiff_t K = (ptrdiff_t)KH * KW * C;
        const ptrdiff_t row = i / K, col = i % K;
        const int kh = col / (KW * C), kw = (col / C) % KW, c = col % C;
        const ptrdiff_t n = row / ((ptrdiff_t)OH * OW);
        const int oh = (row / OW) % OH, ow = row % OW;
        const int ih = oh * stride - padding + kh, iw = ow * stride - padding + kw;
        cols = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((n * H + ih) * W + iw) * C + c] : (T)0;
        """,
        "numpyuq_im2col_nhwc")
    col2im = cupy.ElementwiseKernel(
        "raw T cols, int32 H, int32 W, int32 C, int32 KH, int32 KW, int32 OH, int32 OW, int32 stride, int32 padding",
        "T dx",
        _INDEX + """
        const int iw = pixel % W, ih = (pixel / W) % H;
        const ptrdiff_t n = pixel / ((ptrdiff_t)H * W);
        const ptrdiff_t K = (ptrdiff_t)KH * KW * C;
        T total = 0;
        for (int kh = 0; kh < KH; ++kh) {
            const int top = ih + padding - kh;                  // oh * stride, if a window row starts here
            if (top < 0 || top % stride != 0 || top / stride >= OH) continue;
            for (int kw = 0; kw < KW; ++kw) {
                const int left = iw + padding - kw;
                if (left < 0 || left % stride != 0 || left / stride >= OW) continue;
                const ptrdiff_t row = (n * OH + top / stride) * OW + left / stride;
                total += cols[row * K + (kh * KW + kw) * C + c];
            }
        }
        dx = total;
        """,
        "numpyuq_col2im_nhwc")
    pool_forward = cupy.ElementwiseKernel(
        "raw T x, int32 H, int32 W, int32 C, int32 OH, int32 OW, int32 size, int32 stride",
        "T y, int8 argmax",
        _INDEX + """
        const int ow = pixel % OW, oh = (pixel / OW) % OH;
        const ptrdiff_t n = pixel / ((ptrdiff_t)OH * OW);
        const ptrdiff_t corner = ((n * H + oh * stride) * W + ow * stride) * C + c;
        T best = x[corner];
        int arg = 0;
        for (int ki = 0; ki < size; ++ki) {
            for (int kj = 0; kj < size; ++kj) {
                const T v = x[corner + ((ptrdiff_t)ki * W + kj) * C];
                if (v > best) { best = v; arg = ki * size + kj; }  // strict: ties go to the first
            }
        }
        y = best;
        argmax = arg;
        """,
        "numpyuq_maxpool_nhwc_forward")
    pool_backward = cupy.ElementwiseKernel(
        "raw T dy, raw int8 argmax, int32 H, int32 W, int32 C, int32 OH, int32 OW, int32 size, int32 stride",
        "T dx",
        _INDEX + """
        const int iw = pixel % W, ih = (pixel / W) % H;
        const ptrdiff_t n = pixel / ((ptrdiff_t)H * W);
        T total = 0;
        for (int ki = 0; ki < size; ++ki) {
            const int top = ih - ki;
            if (top < 0 || top % stride != 0 || top / stride >= OH) continue;
            for (int kj = 0; kj < size; ++kj) {
                const int left = iw - kj;
                if (left < 0 || left % stride != 0 || left / stride >= OW) continue;
                const ptrdiff_t at = ((n * OH + top / stride) * OW + left / stride) * C + c;
                if (argmax[at] == ki * size + kj) total += dy[at];
            }
        }
        dx = total;
        """,
        "numpyuq_maxpool_nhwc_backward")
    return im2col, col2im, pool_forward, pool_backward


def im2col_nhwc(x, KH, KW, stride, padding, OH, OW, out=None):
    """x: (N, H, W, C) CuPy -> cols (N*OH*OW, KH*KW*C)."""
    N, H, W, C = x.shape
    cupy = sys.modules["cupy"]
    cols = out if out is not None else cupy.empty((N * OH * OW, KH * KW * C), x.dtype)
    _kernels()[0](cupy.ascontiguousarray(x), H, W, C, KH, KW, OH, OW, stride, padding, cols)
    return cols


def col2im_nhwc(cols, x_shape, KH, KW, stride, padding, OH, OW):
    """cols (N*OH*OW, KH*KW*C) CuPy -> dx (N, H, W, C)."""
    N, H, W, C = x_shape
    dx = sys.modules["cupy"].empty(x_shape, cols.dtype)
    _kernels()[1](sys.modules["cupy"].ascontiguousarray(cols), H, W, C, KH, KW, OH, OW, stride, padding, dx)
    return dx


def maxpool_nhwc_forward(x, size, stride, OH, OW):
    """x (N, H, W, C) CuPy -> (y, argmax int8), both (N, OH, OW, C)."""
    cupy = sys.modules["cupy"]
    N, H, W, C = x.shape
    y = cupy.empty((N, OH, OW, C), x.dtype)
    argmax = cupy.empty((N, OH, OW, C), cupy.int8)
    _kernels()[2](cupy.ascontiguousarray(x), H, W, C, OH, OW, size, stride, y, argmax)
    return y, argmax


def maxpool_nhwc_backward(dy, argmax, x_shape, size, stride):
    """dy, argmax (N, OH, OW, C) CuPy -> dx (N, H, W, C)."""
    cupy = sys.modules["cupy"]
    N, OH, OW, C = dy.shape
    H, W = x_shape[1], x_shape[2]
    dx = cupy.empty(x_shape, dy.dtype)
    _kernels()[3](cupy.ascontiguousarray(dy), cupy.ascontiguousarray(argmax), H, W, C, OH, OW, size, stride, dx)
    return dx
