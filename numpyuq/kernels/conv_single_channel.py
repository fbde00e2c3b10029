"""Direct convolution of single-channel images (stride 1): a network's first layer on grayscale.

    z[n, oh, ow, f] = sum_{kh, kw} w[f, kh, kw] x_pad[n, oh + kh, ow + kw]            forward
    dw[f, kh, kw]   = sum_{n, oh, ow} dz[n, oh, ow, f] x_pad[n, oh + kh, ow + kw]     weight gradient

x: (N, H, W) images (the one channel dropped), w: (F, KH, KW), z and dz: (N*OH*OW, F), the
channels-last rows the im2col GEMM of ``conv_gemm.py`` produces, so the rest of ``Conv2D``
(pooling, bias, ReLU) runs on either unchanged.

Why not im2col + GEMM here: with one channel every im2col row is KH runs of only KW floats (5), and
the GEMM's inner dimension is KH KW (25), the shape BLAS handles worst. On LeNet5's first layer
(28 x 28, SAME, F = 6, batch 256) im2col + GEMM took 3.0 ms and the GEMM over the kept columns for
dw 2.3 ms, against a FLOP bound of 0.13 ms. The direct loops read each image in place instead:

* forward: each output plane is one flat loop over the padded image's pixels at its row stride
  (the KW - 1 pixels past each row's end are computed and dropped), with the KH KW taps unrolled
  inside it. The kernel size is a compile-time constant of each twin (``twins``), so LLVM unrolls
  the taps and vectorises across 16 output pixels: one store per 25 multiply-adds. Then the planes
  are transposed to channels-last rows.
* weight gradient: dz is transposed to planes (zeros in the dropped pixels), then every tap is one
  dot product over the plane, vectorised as a reduction (``fastmath={"reassoc", "contract"}``: the
  sums are reordered and fused into multiply-adds, which changes rounding only), five taps of a
  kernel row to a pass over the plane.
The loops run over a plane length rounded up to a multiple of STEP floats, the vectorised loop's
step (zero rows below each image keep the extra reads inside it): left as scalar tail iterations,
the last ones cost as much as the vectorised body. Measured alone on one core (batch 128, LeNet5's
layer: 28 x 28, SAME, F = 6): forward 0.5 ms and weight gradient 0.6 ms, against 1.7 ms for im2col +
GEMM and 1.1 ms for the weight GEMM over kept columns. With F filters the direct loops cost F times
one filter's while im2col + GEMM costs about the same for any F: at 32 filters the GEMM path was
the faster alone; inside LeNet's training steps (20 filters) the two ran level, so ``Conv2D`` takes
the direct loops up to ``DIRECT_UP_TO_FILTERS`` = 20 (``benchmarks/lenet.py --profile``).
"""
import functools

import numpy as np
from numba.extending import register_jitable

from ..backend import get_array_module
from .dispatch import check_arrays, check_shape, check_window, compiled, use_numba
from .im2col_nhwc import zero_padded
from .pooling_nhwc import check_argmax, maxpool_nhwc_backward, maxpool_nhwc_forward_reference

DIRECT_UP_TO_FILTERS = 20
STEP = 64        # floats a vectorised loop iteration covers (16-float vectors, 4 interleaved)


def output_size(H, W, KH, KW, padding):
    return H + 2 * padding - KH + 1, W + 2 * padding - KW + 1


def pad_images(x, padding):
    """x (N, H, W) with ``padding`` zeros on every side of H and W."""
    return get_array_module(x).pad(x, ((0, 0), (padding, padding), (padding, padding)))


# ---- the plain pair -----------------------------------------------------------------------------
def conv_single_channel_reference(x, w, padding=0):
    """x: (N, H, W), w: (F, KH, KW) -> z: (N*OH*OW, F), one shifted product per tap."""
    xp = get_array_module(x)
    N, H, W = x.shape
    F, KH, KW = w.shape
    OH, OW = output_size(H, W, KH, KW, padding)
    xpad = pad_images(x, padding)
    z = xp.zeros((N, OH, OW, F), x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            # $z_{n,o_h,o_w,f} \mathrel{+}= w_{f,k_h,k_w}\, x_{n,o_h+k_h,o_w+k_w}$
            z += xpad[:, kh:kh + OH, kw:kw + OW, None] * w[:, kh, kw]
    return z.reshape(N * OH * OW, F)


def conv_single_channel_weights_reference(x, dz, KH, KW, padding=0):
    """x: (N, H, W), dz: (N*OH*OW, F) -> dw: (F, KH, KW), one contraction per tap."""
    xp = get_array_module(x)
    N, H, W = x.shape
    OH, OW = output_size(H, W, KH, KW, padding)
    xpad = pad_images(x, padding)
    dz = dz.reshape(N, OH, OW, -1)
    dw = xp.empty((dz.shape[3], KH, KW), x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            # $dw_{f,k_h,k_w} = \sum_{n,o_h,o_w} dz_{n,o_h,o_w,f}\, x_{n,o_h+k_h,o_w+k_w}$
            dw[:, kh, kw] = xp.tensordot(xpad[:, kh:kh + OH, kw:kw + OW], dz, axes=3)
    return dw


# ---- the loops (compiled once per kernel size) ---------------------------------------------------
# Offsets are unsigned (np.uint64) for the reason kernels/im2col_nhwc.py gives: numba's wrap-around
# test on signed indices keeps LLVM from vectorising.
def _forward_loops(KH, KW, pool=0):
    """The forward loops for a KH x KW kernel (the sizes fixed, so that the taps unroll). pool = 0:
    z gets the output's channels-last rows. pool = s: z gets the rows of its s x s max-pooling
    (stride s) straight from the planes, and argmax their winners (int8, window offset ki s + kj,
    ties to the first, as ``pooling_nhwc``), when ``with_argmax``: the full output is never written
    as rows, nor read again by a pooling pass (LeNet5's first layer, batch 128, one core: the layer's
    forward pass 0.67 -> 0.50 ms, its inference pass 0.69 -> 0.44 ms)."""

    def loops(xpad, OH, OW, w, z, planes, argmax, with_argmax):
        """z (N*OH*OW, F), or (N*PH*PW, F) pooled, <- the convolutions of xpad (N, HP, WP) with
        w (F, KH, KW); planes: an (F, L) work buffer, L a multiple of the vector loop's step
        covering (OH - 1) WP + OW."""
        N, HP, WP = xpad.shape
        F, L = planes.shape
        src, taps, plane, dst = xpad.reshape(-1), w.reshape(-1), planes.reshape(-1), z.reshape(-1)
        arg = argmax.reshape(-1)
        out = np.uint64(0)
        for n in range(N):
            image = np.uint64(n * HP * WP)
            for f in range(F):
                at, first = np.uint64(f * L), f * KH * KW
                for j in range(np.uint64(L)):
                    total = z.dtype.type(0)
                    for kh in range(KH):
                        for kw in range(KW):
                            total += taps[first + kh * KW + kw] * src[image + np.uint64(kh * WP + kw) + j]
                    plane[at + j] = total
            if pool == 0:
                for oh in range(OH):             # planes -> channels-last rows, dropping the row ends
                    for ow in range(OW):
                        pixel = np.uint64(oh * WP + ow)
                        for f in range(F):
                            dst[out] = plane[np.uint64(f * L) + pixel]
                            out += np.uint64(1)
            else:                                # planes -> the pooled rows and their winners
                for ph in range(OH // pool):
                    for pw in range(OW // pool):
                        corner = np.uint64(ph * pool * WP + pw * pool)
                        for f in range(F):
                            window = np.uint64(f * L) + corner
                            best, k = plane[window], 0
                            for ki in range(pool):
                                for kj in range(pool):
                                    value = plane[window + np.uint64(ki * WP + kj)]
                                    if value > best:
                                        best, k = value, ki * pool + kj
                            dst[out] = best
                            if with_argmax:
                                arg[out] = k
                            out += np.uint64(1)

    return loops


def _weights_loops(KH, KW, pool=0):
    """The weight-gradient loops for a KH x KW kernel. pool = 0: dz holds the output's rows
    (N*OH*OW, F). pool = s: dz holds the rows of its s x s max-pooling (N*PH*PW, F), argmax their
    winners (int8, window offset ki s + kj), and each winner's pixel of the planes gets its gradient
    (the pooling's backward pass; the other pixels stay 0), then 0 again once the image is done:
    two scattered stores a pooled value instead of writing every pixel of every window.

    Each kernel row's taps are summed five at a time: one pass over a plane feeds five dot
    products, each gradient value loaded once for five multiply-adds; every dot product is still its
    own vectorised sum, bit for bit the sum of one pass per tap. Both together, on LeNet's first
    layer (32 images, one core): 0.54 -> 0.33 ms; LeNet5's (128 images): 0.69 -> 0.54 ms."""

    @register_jitable
    def route_to_winners(grad, arg, plane, row, PH, PW, F, L, WP, store):
        """One image's pooled gradients (rows ``row`` .. of grad, F a row) into the pixels of the
        planes that won their windows (``store``), or 0 into those pixels (not ``store``)."""
        zero = plane.dtype.type(0)
        for f in range(F):                       # plane by plane (pool: a compile-time divisor)
            at = row + np.uint64(f)
            for ph in range(PH):
                for pw in range(PW):
                    k = np.uint64(arg[at])
                    pixel = np.uint64(f * L + ph * pool * WP + pw * pool)
                    pixel += k // np.uint64(pool) * np.uint64(WP) + k % np.uint64(pool)
                    plane[pixel] = grad[at] if store else zero
                    at += np.uint64(F)

    def loops(xpad, OH, OW, dz, argmax, dw, planes):
        """dw (F, KH, KW) <- sum over images of each tap's dot product of dz's planes with xpad;
        planes: an (F, L) work buffer of zeros (the dropped row ends and the tail stay zero)."""
        N, HP, WP = xpad.shape
        F, L = planes.shape
        src, grad, plane, out = xpad.reshape(-1), dz.reshape(-1), planes.reshape(-1), dw.reshape(-1)
        arg = argmax.reshape(-1)
        zero = dw.dtype.type(0)
        for i in range(F * KH * KW):
            out[i] = 0
        row = np.uint64(0)
        PH, PW = (OH // pool, OW // pool) if pool else (OH, OW)
        for n in range(N):
            if pool == 0:
                for oh in range(OH):             # channels-last rows -> planes
                    for ow in range(OW):
                        pixel = np.uint64(oh * WP + ow)
                        for f in range(F):
                            plane[np.uint64(f * L) + pixel] = grad[row]
                            row += np.uint64(1)
            else:                                # pooled rows -> their winners' pixels
                route_to_winners(grad, arg, plane, row, PH, PW, F, L, WP, True)
            image = np.uint64(n * HP * WP)
            for f in range(F):
                at = np.uint64(f * L)
                for kh in range(KH):
                    for kw in range(0, KW, 5):   # taps kw .. kw + 4 of row kh, one pass
                        start = image + np.uint64(kh * WP + kw)
                        t0 = t1 = t2 = t3 = t4 = zero
                        for j in range(np.uint64(L)):
                            g = plane[at + j]
                            t0 += g * src[start + j]
                            if kw + 1 < KW:
                                t1 += g * src[start + j + np.uint64(1)]
                            if kw + 2 < KW:
                                t2 += g * src[start + j + np.uint64(2)]
                            if kw + 3 < KW:
                                t3 += g * src[start + j + np.uint64(3)]
                            if kw + 4 < KW:
                                t4 += g * src[start + j + np.uint64(4)]
                        tap = (f * KH + kh) * KW + kw
                        out[tap] += t0
                        if kw + 1 < KW:
                            out[tap + 1] += t1
                        if kw + 2 < KW:
                            out[tap + 2] += t2
                        if kw + 3 < KW:
                            out[tap + 3] += t3
                        if kw + 4 < KW:
                            out[tap + 4] += t4
            if pool:                             # the winners' pixels back to 0 for the next image
                route_to_winners(grad, arg, plane, row, PH, PW, F, L, WP, False)
                row += np.uint64(PH * PW * F)

    return loops


@functools.lru_cache(maxsize=None)
def twins(KH, KW):
    """The numba twins (forward, weights) for a KH x KW kernel, compiled on first use."""
    return pooled_forward_twin(KH, KW, 0), pooled_weights_twin(KH, KW, 0)


@functools.lru_cache(maxsize=None)
def pooled_forward_twin(KH, KW, pool):
    """The numba twin of the forward loops for a KH x KW kernel whose output an s x s max-pooling
    follows (pool = s; 0: none), compiled on first use."""
    return compiled(_forward_loops(KH, KW, pool))


@functools.lru_cache(maxsize=None)
def pooled_weights_twin(KH, KW, pool):
    """The numba twin of the weight-gradient loops for a KH x KW kernel whose output an s x s
    max-pooling follows (pool = s; 0: none), compiled on first use."""
    return compiled(_weights_loops(KH, KW, pool), fastmath={"reassoc", "contract"})


# ---- dispatchers --------------------------------------------------------------------------------
def check_single_channel_input(x, KH, KW, padding):
    """x is an (N, H, W) float array that a KH x KW window fits with ``padding`` (as im2col checks)."""
    check_arrays(x, ndim=3, names=("x",))
    check_window(x.shape[1], x.shape[2], KH, KW, 1, padding)


def plane_length(H, W, KH, KW, padding):
    """L: the flat span from the first output pixel to the last at the padded row stride
    ((OH - 1)(W + 2p) + OW), rounded up to a multiple of STEP so that no loop has a scalar tail."""
    OH, OW = output_size(H, W, KH, KW, padding)
    return -(-((OH - 1) * (W + 2 * padding) + OW) // STEP) * STEP


def padded_for_loops(x, KH, KW, padding):
    """x (N, H, W) padded on every side, with zero rows added at the bottom so that the loops' reads
    of a plane length L past any tap stay inside the image (they meet only zeros of dz's planes)."""
    N, H, W = x.shape
    WP = W + 2 * padding
    rows = -(-((KH - 1) * WP + KW - 1 + plane_length(H, W, KH, KW, padding)) // WP)
    return zero_padded(x, ((0, 0), (padding, rows - H - padding), (padding, padding)))


def conv_single_channel(x, w, padding=0):
    """x: (N, H, W), w: (F, KH, KW) -> z: (N*OH*OW, F) channels-last rows, stride 1."""
    check_arrays(x, w, ndim=3, names=("x", "w"))
    check_single_channel_input(x, w.shape[1], w.shape[2], padding)
    if not use_numba(x):
        return conv_single_channel_reference(x, w, padding)
    N, H, W = x.shape
    F, KH, KW = w.shape
    OH, OW = output_size(H, W, KH, KW, padding)
    z = np.empty((N * OH * OW, F), x.dtype)
    forward, _ = twins(KH, KW)
    forward(padded_for_loops(x, KH, KW, padding), OH, OW, np.ascontiguousarray(w), z,
            np.empty((F, plane_length(H, W, KH, KW, padding)), x.dtype), np.empty(0, np.int8), False)
    return z


def conv_single_channel_pooled(x, w, padding, pool, with_argmax=True):
    """x: (N, H, W), w: (F, KH, KW) -> (p, argmax), both (N*PH*PW, F): the s x s max-pooling (stride s,
    pool = s) of ``conv_single_channel``'s output, PH = OH // s, and its winners (int8 window offsets,
    as ``pooling_nhwc.maxpool_nhwc_forward``; None without ``with_argmax``)."""
    check_arrays(x, w, ndim=3, names=("x", "w"))
    check_single_channel_input(x, w.shape[1], w.shape[2], padding)
    N, H, W = x.shape
    F, KH, KW = w.shape
    OH, OW = output_size(H, W, KH, KW, padding)
    check_pool(pool, OH, OW)
    if not use_numba(x):
        z = conv_single_channel_reference(x, w, padding).reshape(N, OH, OW, F)
        p, argmax = maxpool_nhwc_forward_reference(z, pool, pool)
        return p.reshape(-1, F), (argmax.reshape(-1, F) if with_argmax else None)
    rows = N * (OH // pool) * (OW // pool)
    p = np.empty((rows, F), x.dtype)
    argmax = np.empty((rows, F) if with_argmax else 0, np.int8)
    pooled_forward_twin(KH, KW, pool)(padded_for_loops(x, KH, KW, padding), OH, OW, np.ascontiguousarray(w), p,
                                      np.empty((F, plane_length(H, W, KH, KW, padding)), x.dtype), argmax,
                                      with_argmax)
    return p, (argmax if with_argmax else None)


def check_pool(pool, OH, OW):
    """pool: an s x s max-pooling window (stride s) that fits the OH x OW convolution output."""
    if isinstance(pool, bool) or not isinstance(pool, (int, np.integer)) or not 1 <= pool <= min(OH, OW):
        raise ValueError(f"pool must be an integer in [1, {min(OH, OW)}] (the {OH} x {OW} output's smaller "
                         f"side; a larger pooling window does not fit), got {pool!r}")


def check_gradient_input(x, grad, name, KH, KW, padding):
    """x: (N, H, W) as ``check_single_channel_input``; grad: 2-D, of x's dtype. -> (OH, OW)."""
    check_arrays(x, ndim=3, names=("x",))
    check_arrays(grad, ndim=2, names=(name,))
    if grad.dtype != x.dtype:
        raise TypeError(f"{name} must have dtype {x.dtype} like x, got {grad.dtype}")
    check_single_channel_input(x, KH, KW, padding)
    return output_size(x.shape[1], x.shape[2], KH, KW, padding)


def conv_single_channel_weights(x, dz, KH, KW, padding=0):
    """x: (N, H, W), dz: (N*OH*OW, F) -> dw: (F, KH, KW), the gradient of ``conv_single_channel``'s w."""
    OH, OW = check_gradient_input(x, dz, "dz", KH, KW, padding)
    check_shape(dz, (x.shape[0] * OH * OW, dz.shape[1]), "dz")
    if not use_numba(x) or not np.isfinite(x).all():
        # The loops also multiply dz's zero row ends by pixels that no tap reads there, and 0 * inf
        # would turn a sum the plain pair leaves infinite (or finite) into NaN.
        return conv_single_channel_weights_reference(x, dz, KH, KW, padding)
    return run_weights_loops(x, dz, np.zeros(0, np.int8), 0, KH, KW, padding)


def conv_single_channel_pooled_weights(x, dp, argmax, KH, KW, padding, pool):
    """x: (N, H, W), dp: (N*PH*PW, F), the gradient of the s x s max-pooling (stride s) of the
    convolution's output, argmax: its winners (N*PH*PW, F) int8 -> dw: (F, KH, KW). The same as the
    pooling's backward pass followed by ``conv_single_channel_weights``, without writing the
    N*OH*OW*F gradient between them (s^2 times dp's size)."""
    OH, OW = check_gradient_input(x, dp, "dp", KH, KW, padding)
    check_pool(pool, OH, OW)
    pooled = (x.shape[0], OH // pool, OW // pool, dp.shape[1])
    check_shape(dp, (pooled[0] * pooled[1] * pooled[2], pooled[3]), "dp")
    check_argmax(argmax, dp.shape, pool)
    if not use_numba(x) or not np.isfinite(x).all():
        dz = maxpool_nhwc_backward(dp.reshape(pooled), argmax.reshape(pooled), pooled[:1] + (OH, OW, pooled[3]), pool, pool)
        return conv_single_channel_weights_reference(x, dz.reshape(-1, pooled[3]), KH, KW, padding)
    return run_weights_loops(x, dp, argmax, pool, KH, KW, padding)


def run_weights_loops(x, dz, argmax, pool, KH, KW, padding):
    """The weight-gradient twin on checked arguments."""
    N, H, W = x.shape
    OH, OW = output_size(H, W, KH, KW, padding)
    F = dz.shape[1]
    dw = np.empty((F, KH, KW), x.dtype)
    weights = twins(KH, KW)[1] if pool == 0 else pooled_weights_twin(KH, KW, pool)
    weights(padded_for_loops(x, KH, KW, padding), OH, OW, np.ascontiguousarray(dz), np.ascontiguousarray(argmax),
            dw, np.zeros((F, plane_length(H, W, KH, KW, padding)), x.dtype))
    return dw
