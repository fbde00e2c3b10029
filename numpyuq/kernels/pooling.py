"""Max pooling over (size x size) windows with a stride, NCHW, forward and backward.

The forward keeps, for every output, the offset (ki * size + kj) of the winning input inside its
window; the backward routes dy to exactly that input (ties go to the first offset in row-major
order, so the gradient lands on one element, as in PyTorch).
"""
import numba
import numpy as np

from ..backend import get_array_module
from .dispatch import check_arrays, check_shape, check_window, compiled, use_numba


def pool_output_size(size, window, stride):
    return (size - window) // stride + 1


# ---- xp reference: one strided slice per window offset ----------------------------------------
def maxpool_forward_reference(x, size, stride):
    """x: (N, C, H, W) -> (y: (N, C, OH, OW), argmax: (N, C, OH, OW) int8 offsets)."""
    xp = get_array_module(x)
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, size, stride), pool_output_size(W, size, stride)
    y = argmax = None
    for ki in range(size):
        for kj in range(size):
            window = x[:, :, ki:ki + stride * OH:stride, kj:kj + stride * OW:stride]
            if y is None:
                y, argmax = window.copy(), xp.zeros((N, C, OH, OW), xp.int8)
                continue
            better = window > y                   # strict: ties keep the earlier offset
            y = xp.where(better, window, y)
            argmax = xp.where(better, xp.int8(ki * size + kj), argmax)
    return y, argmax


def maxpool_backward_reference(dy, argmax, x_shape, size, stride):
    """dx: (N, C, H, W) with dy routed to each window's argmax (adds where windows overlap)."""
    xp = get_array_module(dy)
    OH, OW = dy.shape[2], dy.shape[3]
    dx = xp.zeros(x_shape, dy.dtype)
    for ki in range(size):
        for kj in range(size):
            dx[:, :, ki:ki + stride * OH:stride, kj:kj + stride * OW:stride] += dy * (argmax == ki * size + kj)
    return dx


# ---- loops, compiled by numba ------------------------------------------------------------------
def _maxpool_forward_loops(x, size, stride, y, argmax):
    N, C, OH, OW = y.shape
    for n in numba.prange(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best = x[n, c, oh * stride, ow * stride]
                    best_k = 0
                    for ki in range(size):
                        for kj in range(size):
                            v = x[n, c, oh * stride + ki, ow * stride + kj]
                            if v > best:
                                best = v
                                best_k = ki * size + kj
                    y[n, c, oh, ow] = best
                    argmax[n, c, oh, ow] = best_k


def _maxpool_backward_loops(dy, argmax, size, stride, dx):
    N, C, OH, OW = dy.shape
    for n in numba.prange(N):
        dx[n] = 0
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    k = argmax[n, c, oh, ow]
                    dx[n, c, oh * stride + k // size, ow * stride + k % size] += dy[n, c, oh, ow]


_maxpool_forward_numba = compiled(_maxpool_forward_loops, parallel=True)
_maxpool_backward_numba = compiled(_maxpool_backward_loops, parallel=True)


def maxpool_forward(x, size, stride):
    """x: (N, C, H, W) -> (y, argmax), both (N, C, OH, OW)."""
    check_arrays(x, ndim=4, names=("x",))
    check_window(x.shape[2], x.shape[3], size, size, stride, 0)
    if not use_numba(x):
        return maxpool_forward_reference(x, size, stride)
    N, C, H, W = x.shape
    OH, OW = pool_output_size(H, size, stride), pool_output_size(W, size, stride)
    y = np.empty((N, C, OH, OW), x.dtype)
    argmax = np.empty((N, C, OH, OW), np.int8)
    _maxpool_forward_numba(np.ascontiguousarray(x), size, stride, y, argmax)
    return y, argmax


def maxpool_backward(dy, argmax, x_shape, size, stride):
    """dy: (N, C, OH, OW) -> dx: (N, C, H, W)."""
    check_arrays(dy, ndim=4, names=("dy",))
    N, C, H, W = x_shape
    check_window(H, W, size, size, stride, 0)
    check_shape(dy, (N, C, pool_output_size(H, size, stride), pool_output_size(W, size, stride)), "dy")
    check_shape(argmax, dy.shape, "argmax")
    if argmax.dtype != np.int8 or argmax.size and not 0 <= int(argmax.min()) <= int(argmax.max()) < size * size:
        raise ValueError(f"argmax must hold int8 window offsets in [0, {size * size})")
    if not use_numba(dy):
        return maxpool_backward_reference(dy, argmax, x_shape, size, stride)
    dx = np.empty(x_shape, dy.dtype)
    _maxpool_backward_numba(np.ascontiguousarray(dy), argmax, size, stride, dx)
    return dx
