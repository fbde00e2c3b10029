"""Max pooling for channels-last (NHWC) images: the innermost loop runs over contiguous channels,
so the compare-and-select vectorises.  Same argmax convention as ``pooling.py`` (window offset
ki * size + kj, ties to the first)."""
import numba
import numpy as np

from .dispatch import check_arrays, check_shape, check_window, compiled, use_numba
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
    for n in numba.prange(N):
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    y[n, oh, ow, c] = x[n, oh * stride, ow * stride, c]
                    argmax[n, oh, ow, c] = 0
                for ki in range(size):
                    for kj in range(size):
                        k = ki * size + kj
                        for c in range(C):
                            v = x[n, oh * stride + ki, ow * stride + kj, c]
                            if v > y[n, oh, ow, c]:
                                y[n, oh, ow, c] = v
                                argmax[n, oh, ow, c] = k


def _maxpool_nhwc_backward_loops(dy, argmax, size, stride, dx):
    N, OH, OW, C = dy.shape
    for n in numba.prange(N):
        dx[n] = 0
        for oh in range(OH):
            for ow in range(OW):
                for c in range(C):
                    k = argmax[n, oh, ow, c]
                    dx[n, oh * stride + k // size, ow * stride + k % size, c] += dy[n, oh, ow, c]


_maxpool_nhwc_forward_numba = compiled(_maxpool_nhwc_forward_loops, parallel=True)
_maxpool_nhwc_backward_numba = compiled(_maxpool_nhwc_backward_loops, parallel=True)


def maxpool_nhwc_forward(x, size, stride):
    """x: (N, H, W, C) -> (y, argmax), both (N, OH, OW, C)."""
    check_arrays(x, ndim=4, names=("x",))
    check_window(x.shape[1], x.shape[2], size, size, stride, 0)
    if not use_numba(x):
        return maxpool_nhwc_forward_reference(x, size, stride)
    N, H, W, C = x.shape
    OH, OW = pool_output_size(H, size, stride), pool_output_size(W, size, stride)
    y = np.empty((N, OH, OW, C), x.dtype)
    argmax = np.empty((N, OH, OW, C), np.int8)
    _maxpool_nhwc_forward_numba(np.ascontiguousarray(x), size, stride, y, argmax)
    return y, argmax


def maxpool_nhwc_backward(dy, argmax, x_shape, size, stride):
    """dy: (N, OH, OW, C) -> dx: (N, H, W, C)."""
    check_arrays(dy, ndim=4, names=("dy",))
    N, H, W, C = x_shape
    check_window(H, W, size, size, stride, 0)
    check_shape(dy, (N, pool_output_size(H, size, stride), pool_output_size(W, size, stride), C), "dy")
    check_shape(argmax, dy.shape, "argmax")
    if argmax.dtype != np.int8 or argmax.size and not 0 <= int(argmax.min()) <= int(argmax.max()) < size * size:
        raise ValueError(f"argmax must hold int8 window offsets in [0, {size * size})")
    if not use_numba(dy):
        return maxpool_nhwc_backward_reference(dy, argmax, x_shape, size, stride)
    dx = np.empty(x_shape, dy.dtype)
    _maxpool_nhwc_backward_numba(np.ascontiguousarray(dy), np.ascontiguousarray(argmax), size, stride, dx)
    return dx
