"""A padded convolution without the padding's multiply-adds (stride 1): one GEMM per class of output
positions whose windows meet the same kernel taps.

With SAME padding on small maps, many im2col entries are the padding's zeros. LeNet5's third layer
(7 x 7 maps, 5 x 5 kernels, padding 2) spends 31% of its multiply-adds on them, and its three GEMMs
already ran at one core's GEMM peak (``benchmarks/lenet.py --profile``): only doing fewer of them
makes it faster.

Along one axis (stride 1, padding p, kernel K, size S) output o reads input o + k - p, a real pixel
for the taps

    k in [max(0, p - o), min(K, S + p - o))

Neighbouring outputs with the same range form a class (``tap_classes``): each of the p outputs at a
border is a class of its own, the interior outputs one class. Two axes give up to (2p + 1)^2 classes,
and each class is a convolution *without* padding of a crop of the input by a crop of the kernel:

    y[:, O_h, O_w, :]         = im2col(x[:, crop]) w[:, T_h, T_w, :]^T       forward, one GEMM a class
    dw[:, T_h, T_w, :]       += dy_class^T im2col(x[:, crop])               weight gradient
    dx[:, crop]              += col2im(dy_class w[:, T_h, T_w, :])          input gradient

(O: the class's outputs, T: its taps). The plain pair below is these three lines with NumPy slices;
the compiled path gathers each class's columns straight from the unpadded input (no crop copy, no
padded copy) in cache-sized chunks of images, and runs a whole pass, every class's walks and GEMMs
(``kernels/blas.py``: NumPy's own GEMM), in one compiled call. Measured alone on one core (batch 128, float32):
LeNet5's third layer's three GEMMs 7.3 ms -> 5.4 ms; its second (14 x 14 maps, 16% on zeros)
2.2 -> 1.9 ms. ``Conv2D`` takes this path where ``worth_tap_classes`` says at least
SKIPPED_AT_LEAST of the multiply-adds are the padding's.
"""
import functools
import threading

import numpy as np
from numba.extending import register_jitable

from ..backend import get_array_module
from .blas import gemm, gemm_address
from .conv_gemm import images_per_chunk
from .dispatch import check_arrays, check_shape, check_window, compiled, use_numba
from .im2col_nhwc import col2im_nhwc_reference, im2col_nhwc_reference

SKIPPED_AT_LEAST = 0.1


def tap_classes(size, kernel, padding):
    """One axis, stride 1: [(o0, o1, k0, k1), ...], the outputs o0 .. o1 - 1 whose windows meet real
    input pixels (o + k - padding) at exactly the taps k0 .. k1 - 1. The output ranges tile
    0 .. size + 2 padding - kernel; a class with k1 <= k0 (padding >= kernel) meets no pixel."""
    classes = []
    for o in range(size + 2 * padding - kernel + 1):
        taps = (max(0, padding - o), min(kernel, size + padding - o))
        if classes and classes[-1][2:] == taps:
            classes[-1] = (classes[-1][0], o + 1) + taps
        else:
            classes.append((o, o + 1) + taps)
    return classes


@functools.lru_cache(maxsize=256)
def real_fraction(H, W, KH, KW, padding):
    """The fraction of a padded convolution's multiply-adds that meet real pixels (1 without padding)."""
    per_axis = [sum((o1 - o0) * max(0, k1 - k0) for o0, o1, k0, k1 in tap_classes(n, k, padding)) /
                ((n + 2 * padding - k + 1) * k) for n, k in ((H, KH), (W, KW))]
    return per_axis[0] * per_axis[1]


def worth_tap_classes(x, KH, KW, stride, padding):
    """Whether ``Conv2D`` runs x (N, H, W, C) through the tap classes: stride 1, NumPy arrays with
    kernels on, and at least SKIPPED_AT_LEAST of the multiply-adds on padding."""
    return (stride == 1 and padding > 0 and use_numba(x)
            and 1 - real_fraction(x.shape[1], x.shape[2], KH, KW, padding) >= SKIPPED_AT_LEAST)


def classes_2d(H, W, KH, KW, padding):
    """Every (rows, cols) class of the 2-D output whose windows meet at least one real pixel."""
    return [(rows, cols) for rows in tap_classes(H, KH, padding) for cols in tap_classes(W, KW, padding)
            if rows[3] > rows[2] and cols[3] > cols[2]]


def crop(x, rows, cols, padding):
    """x (N, H, W, C) -> the view a class reads: (N, O_h + T_h - 1, O_w + T_w - 1, C)."""
    (o0, o1, k0, k1), (p0, p1, l0, l1) = rows, cols
    return x[:, o0 + k0 - padding:o1 + k1 - 1 - padding, p0 + l0 - padding:p1 + l1 - 1 - padding, :]


def kernel_crop(w_mat, KH, KW, rows, cols, out=None):
    """w_mat (F, KH*KW*C) -> the class's taps (F, T_h*T_w*C), columns ordered (kh, kw, c) as im2col's;
    written into the front of the flat buffer ``out`` when given."""
    F = w_mat.shape[0]
    taps = w_mat.reshape(F, KH, KW, -1)[:, rows[2]:rows[3], cols[2]:cols[3], :]
    if out is None:
        return get_array_module(w_mat).ascontiguousarray(taps).reshape(F, -1)
    crop = out[:taps.size].reshape(taps.shape)
    crop[...] = taps
    return crop.reshape(F, -1)


def output_shape(x_shape, KH, KW, padding):
    N, H, W, _ = x_shape
    return N, H + 2 * padding - KH + 1, W + 2 * padding - KW + 1


# ---- the plain pair -----------------------------------------------------------------------------
def conv_tap_classes_reference(x, w_mat, KH, KW, padding):
    """x: (N, H, W, C), w_mat: (F, KH*KW*C) -> y: (N*OH*OW, F), the padded convolution (stride 1)
    computed class by class, each an unpadded im2col GEMM of a crop."""
    xp = get_array_module(x)
    F = w_mat.shape[0]
    y = xp.zeros(output_shape(x.shape, KH, KW, padding) + (F,), x.dtype)   # classes meeting no pixel: 0
    for rows, cols in classes_2d(x.shape[1], x.shape[2], KH, KW, padding):
        (o0, o1, k0, k1), (p0, p1, l0, l1) = rows, cols
        # $y[:, O_h, O_w] = \mathrm{im2col}(x_{\mathrm{crop}})\, w[:, T_h, T_w]^\top$
        block = im2col_nhwc_reference(crop(x, rows, cols, padding), k1 - k0, l1 - l0, 1, 0)
        y[:, o0:o1, p0:p1, :] = (block @ kernel_crop(w_mat, KH, KW, rows, cols).T).reshape(-1, o1 - o0, p1 - p0, F)
    return y.reshape(-1, F)


def conv_tap_classes_backward_reference(x, dy, w_mat, KH, KW, padding):
    """x: (N, H, W, C), dy: (N*OH*OW, F), w_mat: (F, KH*KW*C) -> dx: (N, H, W, C), dw_mat: (F, KH*KW*C)."""
    xp = get_array_module(x)
    F, C = w_mat.shape[0], x.shape[3]
    dy4 = dy.reshape(output_shape(x.shape, KH, KW, padding) + (F,))
    dx, dw4 = xp.zeros(x.shape, x.dtype), xp.zeros((F, KH, KW, C), x.dtype)
    for rows, cols in classes_2d(x.shape[1], x.shape[2], KH, KW, padding):
        (o0, o1, k0, k1), (p0, p1, l0, l1) = rows, cols
        d = dy4[:, o0:o1, p0:p1, :].reshape(-1, F)                          # the class's rows of dy
        region = crop(x, rows, cols, padding)
        # $dw[:, T_h, T_w] \mathrel{+}= dy_c^\top \mathrm{im2col}(x_{\mathrm{crop}})$
        dw4[:, k0:k1, l0:l1, :] += (d.T @ im2col_nhwc_reference(region, k1 - k0, l1 - l0, 1, 0)).reshape(
            F, k1 - k0, l1 - l0, C)
        # $dx_{\mathrm{crop}} \mathrel{+}= \mathrm{col2im}(dy_c\, w[:, T_h, T_w])$
        crop(dx, rows, cols, padding)[...] += col2im_nhwc_reference(
            d @ kernel_crop(w_mat, KH, KW, rows, cols), region.shape, k1 - k0, l1 - l0, 1, 0)
    return dx, dw4.reshape(F, -1)


# ---- the loops: one class's columns, gathered from (and added back to) the unpadded images --------
# Unsigned offsets, for the reason kernels/im2col_nhwc.py gives. ``register_jitable``: a plain Python
# function that compiled loops may call too (``_forward_loops`` below).
@register_jitable
def _class_loops(images, block, n0, n1, rows, cols, padding, add_back):
    """The walk over one class's window rows, rows = (o0, o1, k0, k1), cols = (p0, p1, l0, l1), images
    n0 .. n1 - 1, each window row one run of T_w * C floats:

        add_back False (gather):          block[((n - n0), o, p), (k, l, c)] = images[n, o + k - padding, p + l - padding, c]
        add_back True (its adjoint):      images[n, o + k - padding, p + l - padding, c] += block[row, (k, l, c)]
    """
    N, H, W, C = images.shape
    o0, o1, k0, k1 = rows
    p0, p1, l0, l1 = cols
    run = np.uint64((l1 - l0) * C)
    pixels, columns = images.reshape(-1), block.reshape(-1)
    at = np.uint64(0)
    for n in range(n0, n1):
        for o in range(o0, o1):
            for p in range(p0, p1):
                for k in range(k0, k1):
                    start = np.uint64(((n * H + o + k - padding) * W + p + l0 - padding) * C)
                    if add_back:
                        for j in range(run):
                            pixels[start + j] += columns[at + j]
                    else:
                        for j in range(run):
                            columns[at + j] = pixels[start + j]
                    at += run


@register_jitable
def _kernel_crop_loops(w_mat, KW, C, k0, k1, l0, l1, crops, add_back):
    """Between w_mat (F, KH*KW*C) and its taps k0 .. k1 - 1, l0 .. l1 - 1 as (F, T) at the front of
    the flat ``crops`` buffer, columns ordered (k, l, c) as im2col's, a kernel row's taps one
    contiguous run of (l1 - l0) C floats:

        add_back False (``kernel_crop`` in loops):   crops[f, (k, l, c)] = w_mat[f, (k, l, c)]
        add_back True (a crop's gradient back):      w_mat[f, (k, l, c)] += crops[f, (k, l, c)]

    Returns the (F, T) view of ``crops``."""
    F, taps = w_mat.shape
    run = np.uint64((l1 - l0) * C)
    w_class = crops[:F * (k1 - k0) * (l1 - l0) * C].reshape(F, -1)
    kernel, crop = w_mat.reshape(-1), w_class.reshape(-1)
    at = np.uint64(0)
    for f in range(F):
        for tap_h in range(k0, k1):
            start = np.uint64(f * taps + (tap_h * KW + l0) * C)
            if add_back:
                for j in range(run):
                    kernel[start + j] += crop[at + j]
            else:
                for j in range(run):
                    crop[at + j] = kernel[start + j]
            at += run
    return w_class


@register_jitable
def _class_rows_loops(grid, rows, n0, n1, o0, o1, p0, p1, to_grid):
    """Between a (N, OH, OW, F) grid and a class's rows (one an output position of images n0 .. n1 - 1,
    ordered (n, o, p) as the walk's), a grid row's positions p0 .. p1 - 1 one contiguous run:

        to_grid True:    grid[n, o, p, :] = rows[((n - n0), o - o0, p - p0), :]     (forward outputs)
        to_grid False:   rows[...] = grid[n, o, p, :]                              (dy's rows)
    """
    N, OH, OW, F = grid.shape
    run = np.uint64((p1 - p0) * F)
    cells, flat = grid.reshape(-1), rows.reshape(-1)
    at = np.uint64(0)
    for n in range(n0, n1):
        for o in range(o0, o1):
            start = np.uint64(((n * OH + o) * OW + p0) * F)
            if to_grid:
                for j in range(run):
                    cells[start + j] = flat[at + j]
            else:
                for j in range(run):
                    flat[at + j] = cells[start + j]
            at += run


# ---- the whole layer: every class and chunk in one compiled call ---------------------------------
# Called class by class from Python, the products and walks were ~100 calls a pass, and fit's two
# threads took turns at the interpreter between them: each layer ran 20-30% slower beside the other
# thread than alone, where two processes lost nothing. Inside one nogil call (``blas.gemm``: NumPy's
# own GEMM, called from the compiled loops) the threads meet the interpreter once a pass.
def _forward_loops(x, w_mat, KW, padding, plan, y, blocks, outputs, crops, address):
    """The forward pass over a plan (``plan_table``: o0, o1, k0, k1, p0, p1, l0, l1, images a chunk,
    a row a class) into y (N, OH, OW, F), the flat buffers holding each chunk's columns, outputs and
    the class's kernel crop, ``address`` BLAS's GEMM for ``blas.gemm``:

        for each class, for each chunk of images n0 .. n1 - 1:
            block = im2col(x[n0:n1, crop]);  y[n0:n1, O_h, O_w] = block w[:, T_h, T_w]^T
    """
    N, C, F = x.shape[0], x.shape[3], w_mat.shape[0]
    for c in range(plan.shape[0]):
        o0, o1, k0, k1, p0, p1, l0, l1, chunk = plan[c]
        w_class = _kernel_crop_loops(w_mat, KW, C, k0, k1, l0, l1, crops, False)
        T = w_class.shape[1]
        for n0 in range(0, N, chunk):
            n1 = min(N, n0 + chunk)
            rows = (n1 - n0) * (o1 - o0) * (p1 - p0)
            block = blocks[:rows * T].reshape(rows, T)
            _class_loops(x, block, n0, n1, (o0, o1, k0, k1), (p0, p1, l0, l1), padding, False)
            out = outputs[:rows * F].reshape(rows, F)
            gemm(address, block, w_class.T, out)
            _class_rows_loops(y, out, n0, n1, o0, o1, p0, p1, True)


def _backward_loops(x, dy, w_mat, KW, padding, plan, dx, dw, input_grad, param_grads,
                    blocks, grads, crops, dw_crops, parts, address):
    """The backward pass over a plan, dy (N, OH, OW, F) -> added into dx (N, H, W, C) when
    ``input_grad`` and dw (F, KH*KW*C) when ``param_grads``:

        for each class, for each chunk:   d = dy[n0:n1, O_h, O_w]
            dw[:, T_h, T_w] += d^T im2col(x[n0:n1, crop])
            dx[n0:n1, crop] += col2im(d w[:, T_h, T_w])

    A class's weight gradient is summed chunk by chunk in its own buffer, then added to dw.
    """
    N, C, F = x.shape[0], x.shape[3], w_mat.shape[0]
    for c in range(plan.shape[0]):
        o0, o1, k0, k1, p0, p1, l0, l1, chunk = plan[c]
        w_class = _kernel_crop_loops(w_mat, KW, C, k0, k1, l0, l1, crops, False)
        T = w_class.shape[1]
        dw_class = dw_crops[:F * T].reshape(F, T)
        for n0 in range(0, N, chunk):
            n1 = min(N, n0 + chunk)
            rows = (n1 - n0) * (o1 - o0) * (p1 - p0)
            d = grads[:rows * F].reshape(rows, F)                  # the class's rows of dy
            _class_rows_loops(dy, d, n0, n1, o0, o1, p0, p1, False)
            block = blocks[:rows * T].reshape(rows, T)
            if param_grads:
                _class_loops(x, block, n0, n1, (o0, o1, k0, k1), (p0, p1, l0, l1), padding, False)
                if n0 == 0:
                    gemm(address, d.T, block, dw_class)
                else:
                    part = parts[:F * T].reshape(F, T)
                    gemm(address, d.T, block, part)
                    dw_class += part
            if input_grad:
                gemm(address, d, w_class, block)
                _class_loops(dx, block, n0, n1, (o0, o1, k0, k1), (p0, p1, l0, l1), padding, True)
        if param_grads:                                          # dw[:, T_h, T_w] += dw_class
            _kernel_crop_loops(dw, KW, C, k0, k1, l0, l1, dw_crops, True)


_forward_numba = compiled(_forward_loops)
_backward_numba = compiled(_backward_loops)


# ---- dispatchers --------------------------------------------------------------------------------
def check_tap_class_arguments(x, w_mat, KH, KW, padding):
    """x: (N, H, W, C) and w_mat: (F, KH*KW*C) float arrays of one dtype, a window that fits."""
    check_arrays(x, ndim=4, names=("x",))
    check_arrays(w_mat, ndim=2, names=("w_mat",))
    if w_mat.dtype != x.dtype:
        raise TypeError(f"w_mat must have dtype {x.dtype} like x, got {w_mat.dtype}")
    check_window(x.shape[1], x.shape[2], KH, KW, 1, padding)
    check_shape(w_mat, (w_mat.shape[0], KH * KW * x.shape[3]), "w_mat")


@functools.lru_cache(maxsize=64)
def class_plan(N, H, W, C, KH, KW, padding, itemsize):
    """For N images: ((rows, cols, ((n0, n1), ...)), ...), each class's images in chunks whose columns
    fill about CHUNK_BYTES (``conv_gemm.images_per_chunk``); the sizes the buffers need: the most rows
    of any chunk, the largest chunk of columns, the largest kernel crop's columns; and whether the
    classes cover every output (not when a padding as wide as the kernel leaves windows that meet no
    pixel: those outputs are 0, and only then must the output be zeroed first)."""
    plan, most_rows, largest, widest = [], 0, 0, 0
    classes = classes_2d(H, W, KH, KW, padding)
    for rows, cols in classes:
        positions = (rows[1] - rows[0]) * (cols[1] - cols[0])
        K = (rows[3] - rows[2]) * (cols[3] - cols[2]) * C
        chunk = min(N, images_per_chunk(positions, K, itemsize))
        plan.append((rows, cols, tuple((start, min(N, start + chunk)) for start in range(0, N, chunk))))
        most_rows, largest, widest = max(most_rows, chunk * positions), max(largest, chunk * positions * K), max(widest, K)
    covered = len(classes) == len(tap_classes(H, KH, padding)) * len(tap_classes(W, KW, padding))
    return tuple(plan), most_rows, largest, widest, covered


@functools.lru_cache(maxsize=64)
def plan_table(N, H, W, C, KH, KW, padding, itemsize):
    """``class_plan``'s classes as the compiled loops read them: an int64 row (o0, o1, k0, k1, p0, p1,
    l0, l1, images a chunk) a class, read-only (it is cached and shared)."""
    plan = class_plan(N, H, W, C, KH, KW, padding, itemsize)[0]
    table = np.array([rows + cols + (chunks[0][1] - chunks[0][0],) for rows, cols, chunks in plan],
                     np.int64).reshape(-1, 9)
    table.flags.writeable = False
    return table


_workspaces = threading.local()


def workspace(*sizes, dtype):
    """Flat scratch buffers of these sizes for this thread, kept from call to call (grown when too
    small). Freed and allocated again each call, a thread's multi-megabyte buffers were handed back
    to the OS and faulted in again: glibc trims a worker thread's heap eagerly, and in ``fit``'s
    second thread that cost more page faults a step than anything else."""
    kept = getattr(_workspaces, "buffers", None)
    if kept is None:
        kept = _workspaces.buffers = {}
    buffers = []
    for slot, size in enumerate(sizes):
        buffer = kept.get((slot, np.dtype(dtype).char))
        if buffer is None or buffer.size < size:
            buffer = kept[slot, np.dtype(dtype).char] = np.empty(size, dtype)
        buffers.append(buffer)
    return buffers


def conv_tap_classes(x, w_mat, KH, KW, padding):
    """As ``conv_tap_classes_reference``: x (N, H, W, C), w_mat (F, KH*KW*C) -> y (N*OH*OW, F)."""
    check_tap_class_arguments(x, w_mat, KH, KW, padding)
    address = gemm_address(x.dtype) if use_numba(x) else 0
    if not address:
        return conv_tap_classes_reference(x, w_mat, KH, KW, padding)
    x, w_mat = np.ascontiguousarray(x), np.ascontiguousarray(w_mat)
    F = w_mat.shape[0]
    _, most_rows, largest, widest, covered = class_plan(*x.shape, KH, KW, padding, x.itemsize)
    y = (np.empty if covered else np.zeros)(output_shape(x.shape, KH, KW, padding) + (F,), x.dtype)
    # One buffer each for every chunk's columns, outputs and kernel crop, kept by this thread from
    # call to call (``workspace``): fresh multi-megabyte arrays meant fresh pages to fault in.
    blocks, outputs, crops = workspace(largest, most_rows * F, F * widest, dtype=x.dtype)
    _forward_numba(x, w_mat, KW, padding, plan_table(*x.shape, KH, KW, padding, x.itemsize), y,
                   blocks, outputs, crops, address)
    return y.reshape(-1, F)


def conv_tap_classes_backward(x, dy, w_mat, KH, KW, padding, input_grad=True, param_grads=True):
    """As ``conv_tap_classes_backward_reference``: -> dx (N, H, W, C) and dw_mat (F, KH*KW*C), either
    None when not asked for."""
    check_tap_class_arguments(x, w_mat, KH, KW, padding)
    check_arrays(dy, ndim=2, names=("dy",))
    if dy.dtype != x.dtype:
        raise TypeError(f"dy must have dtype {x.dtype} like x, got {dy.dtype}")
    N, C, F = x.shape[0], x.shape[3], w_mat.shape[0]
    _, OH, OW = output_shape(x.shape, KH, KW, padding)
    check_shape(dy, (N * OH * OW, F), "dy")
    address = gemm_address(x.dtype) if use_numba(x) else 0
    if not address:
        dx, dw_mat = conv_tap_classes_backward_reference(x, dy, w_mat, KH, KW, padding)
        return (dx if input_grad else None), (dw_mat if param_grads else None)
    x, w_mat = np.ascontiguousarray(x), np.ascontiguousarray(w_mat)
    dy4 = np.ascontiguousarray(dy).reshape(N, OH, OW, F)
    dx = np.zeros(x.shape, x.dtype) if input_grad else np.empty((0, 0, 0, 0), x.dtype)   # skipped: untouched
    dw_mat = np.zeros(w_mat.shape, x.dtype) if param_grads else np.empty((0, 0), x.dtype)
    _, most_rows, largest, widest, _ = class_plan(*x.shape, KH, KW, padding, x.itemsize)
    buffers = workspace(largest, most_rows * F, F * widest, F * widest, F * widest, dtype=x.dtype)
    _backward_numba(x, dy4, w_mat, KW, padding, plan_table(*x.shape, KH, KW, padding, x.itemsize), dx, dw_mat,
                    input_grad, param_grads, *buffers, address)
    return (dx if input_grad else None), (dw_mat if param_grads else None)
