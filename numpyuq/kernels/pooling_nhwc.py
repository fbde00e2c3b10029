"""Max pooling for channels-last (NHWC) images.  Same argmax convention as ``pooling.py`` (window
offset ki * size + kj, ties to the first). A convolution with ``pool=s`` runs these on its GEMM
output before its bias and ReLU (see ``nn/conv.py``)."""
import numba
import numpy as np

from . import cuda
from .dispatch import check_arrays, check_shape, check_window, compiled, use_cuda, use_numba
from .pooling import maxpool_backward_reference, maxpool_forward_reference, pool_output_size


def maxpool_nhwc_forward_reference(x, size, stride):
    """x: (N, H, W, C) -> (y, argmax): (N, OH, OW, C), via the NCHW reference on transposed views."""
    y, argmax = maxpool_forward_reference(x.transpose(0, 3, 1, 2), size, stride)
    return y.transpose(0, 2, 3, 1), argmax.transpose(0, 2, 3, 1)


def maxpool_nhwc_backward_reference(dy, argmax, x_shape, size, stride):
    N, H, W, C = x_shape
    dx = maxpool_backward_reference(dy.transpose(0, 3, 1, 2), argmax.transpose(0, 3, 1, 2),
                                    (N, C, H, W), size, stride)
    return dx.transpose(0, 2, 3, 1)


def _maxpool_nhwc_forward_loops(x, size, stride, y, argmax):
    N, OH, OW, C = y.shape
    if size == 2 and stride == 2:
        # LeNet's 2 x 2 windows, unrolled, with the channel loop innermost: the four candidates
        # are compared in the same order as below, in registers, and the loop vectorises (measured
        # 3.7x faster than the general loop at LeNet's first layer, 12x at its second). Flat views
        # with unsigned offsets spare numba's negative-index test (see kernels/im2col_nhwc.py).
        H, W = x.shape[1], x.shape[2]
        src, best_out, arg_out = x.reshape(-1), y.reshape(-1), argmax.reshape(-1)
        across, down = np.uint64(C), np.uint64(W * C)
        for n in numba.prange(N):
            for oh in range(OH):
                for ow in range(OW):
                    top_left = np.uint64(((n * H + 2 * oh) * W + 2 * ow) * C)
                    out = np.uint64(((n * OH + oh) * OW + ow) * C)
                    for c in range(np.uint64(C)):
                        i = top_left + c
                        best = src[i]
                        arg = 0
                        if src[i + across] > best:
                            best = src[i + across]
                            arg = 1
                        if src[i + down] > best:
                            best = src[i + down]
                            arg = 2
                        if src[i + down + across] > best:
                            best = src[i + down + across]
                            arg = 3
                        best_out[out + c] = best
                        arg_out[out + c] = arg
        return
    # Any other window: one output at a time with its window in registers (measured 2.8x faster
    # than keeping the running maximum in y and argmax with the channel loop innermost: mixed
    # float/int8 selects through memory do not vectorise).
    for n in numba.prange(N):
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    best = x[n, oh * stride, ow * stride, c]
                    arg = 0
                    for ki in range(size):
                        for kj in range(size):
                            v = x[n, oh * stride + ki, ow * stride + kj, c]
                            if v > best:
                                best = v
                                arg = ki * size + kj
                    y[n, oh, ow, c] = best
                    argmax[n, oh, ow, c] = arg


def _maxpool_nhwc_max_loops(x, size, stride, y):
    # Inference needs no winners: a plain max, with the channel loop innermost so that it vectorises.
    N, OH, OW, C = y.shape
    if size == 2 and stride == 2:
        # Unrolled, in the same order as below (measured 6x faster at LeNet's first layer).
        H, W = x.shape[1], x.shape[2]
        src, dst = x.reshape(-1), y.reshape(-1)
        across, down = np.uint64(C), np.uint64(W * C)
        for n in numba.prange(N):
            for oh in range(OH):
                for ow in range(OW):
                    top_left = np.uint64(((n * H + 2 * oh) * W + 2 * ow) * C)
                    out = np.uint64(((n * OH + oh) * OW + ow) * C)
                    for c in range(np.uint64(C)):
                        i = top_left + c
                        m = max(src[i], src[i + across])
                        m = max(m, src[i + down])
                        dst[out + c] = max(m, src[i + down + across])
        return
    for n in numba.prange(N):
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    y[n, oh, ow, c] = x[n, oh * stride, ow * stride, c]
                for ki in range(size):
                    for kj in range(size):
                        for c in range(C):
                            y[n, oh, ow, c] = max(y[n, oh, ow, c], x[n, oh * stride + ki, ow * stride + kj, c])


def _maxpool_nhwc_backward_loops(dy, argmax, size, stride, dx):
    N, OH, OW, C = dy.shape
    H, W = dx.shape[1], dx.shape[2]
    if stride == size:
        # Windows tile the image: every dx entry inside them is written once (the winner gets dy,
        # the others 0), with the channel loop innermost; only a cropped border needs zeros.
        # Flat views with unsigned offsets, as in the forward pass.
        grad, arg, dst = dy.reshape(-1), argmax.reshape(-1), dx.reshape(-1)
        zero = dx.dtype.type(0)
        for n in numba.prange(N):
            if OH * size != H or OW * size != W:
                dx[n] = 0
            for oh in range(OH):
                for ow in range(OW):
                    at = np.uint64(((n * OH + oh) * OW + ow) * C)                 # dy[n, oh, ow, 0]
                    for ki in range(size):
                        for kj in range(size):
                            k = ki * size + kj
                            out = np.uint64(((n * H + oh * size + ki) * W + ow * size + kj) * C)
                            for c in range(np.uint64(C)):
                                # Both operands loaded first: a select, not a branch on the data
                                # (winners fall at random; the branch made LeNet5's first layer,
                                # C = 6, too short to vectorise, 1.3 ms instead of 0.3 at batch 128).
                                g = grad[at + c]
                                dst[out + c] = g if arg[at + c] == k else zero
        return
    for n in numba.prange(N):
        dx[n] = 0
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    k = argmax[n, oh, ow, c]
                    dx[n, oh * stride + k // size, ow * stride + k % size, c] += dy[n, oh, ow, c]


_maxpool_nhwc_forward_numba = compiled(_maxpool_nhwc_forward_loops, parallel=True)
_maxpool_nhwc_backward_numba = compiled(_maxpool_nhwc_backward_loops, parallel=True)
_maxpool_nhwc_max_numba = compiled(_maxpool_nhwc_max_loops, parallel=True)


def maxpool_nhwc_forward(x, size, stride, with_argmax=True):
    """x: (N, H, W, C) -> (y, argmax), both (N, OH, OW, C).  ``with_argmax=False`` (inference)
    skips the winners: argmax is None."""
    check_arrays(x, ndim=4, names=("x",))
    check_window(x.shape[1], x.shape[2], size, size, stride, 0)
    N, H, W, C = x.shape
    OH, OW = pool_output_size(H, size, stride), pool_output_size(W, size, stride)
    if use_cuda(x):
        y, argmax = cuda.maxpool_nhwc_forward(x, size, stride, OH, OW)
        return y, (argmax if with_argmax else None)
    if not use_numba(x):
        y, argmax = maxpool_nhwc_forward_reference(x, size, stride)
        return y, (argmax if with_argmax else None)
    y = np.empty((N, OH, OW, C), x.dtype)
    if not with_argmax:
        _maxpool_nhwc_max_numba(np.ascontiguousarray(x), size, stride, y)
        return y, None
    argmax = np.empty((N, OH, OW, C), np.int8)
    _maxpool_nhwc_forward_numba(np.ascontiguousarray(x), size, stride, y, argmax)
    return y, argmax


def check_argmax(argmax, shape, size):
    """argmax has ``shape`` and holds int8 offsets inside a size x size window."""
    check_shape(argmax, shape, "argmax")
    if argmax.dtype != np.int8 or argmax.size and not 0 <= int(argmax.min()) <= int(argmax.max()) < size * size:
        raise ValueError(f"argmax must hold int8 window offsets in [0, {size * size})")


def maxpool_nhwc_backward(dy, argmax, x_shape, size, stride):
    """dy: (N, OH, OW, C) -> dx: (N, H, W, C)."""
    check_arrays(dy, ndim=4, names=("dy",))
    N, H, W, C = x_shape
    check_window(H, W, size, size, stride, 0)
    check_shape(dy, (N, pool_output_size(H, size, stride), pool_output_size(W, size, stride), C), "dy")
    check_argmax(argmax, dy.shape, size)
    if use_cuda(dy):
        return cuda.maxpool_nhwc_backward(dy, argmax, tuple(x_shape), size, stride)
    if not use_numba(dy):
        return maxpool_nhwc_backward_reference(dy, argmax, x_shape, size, stride)
    dx = np.empty(x_shape, dy.dtype)
    _maxpool_nhwc_backward_numba(np.ascontiguousarray(dy), np.ascontiguousarray(argmax), size, stride, dx)
    return dx
