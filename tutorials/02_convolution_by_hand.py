# %% [markdown]
# # Convolution by hand: direct loops, im2col + GEMM, the backward pass, and what the fast path changes
#
# **What you will learn.** How a convolution layer's forward and backward passes are derived, from
# four nested loops to one matrix product; why the input gradient is the *adjoint* of the gather that
# builds that matrix (and how to check it with one dot product); how numpyuq's gradient check proves
# the pair; what the fused layer that numpyuq trains with changes, with numbers you can reproduce; and
# why a first layer on one-channel images skips im2col altogether.
# It follows the treatment of cs231n's `conv_forward_naive` and `im2col` (https://cs231n.github.io/convolutional-networks/)
# and reads best after `01_backprop_by_hand.py`.
#
# **Run it:** `python tutorials/02_convolution_by_hand.py` (or open it as a notebook with jupytext).
# `NUMPYUQ_FAST=1` times fewer repetitions.

# %%
import os
import time

import numpy as np

from numpyuq.gradcheck import check_pair
from numpyuq.kernels.im2col import col2im_reference as col2im
from numpyuq.kernels.im2col import im2col_reference as im2col
from numpyuq.kernels.pooling import maxpool_forward_reference
from numpyuq.nn.conv import conv2d_backward, conv2d_forward, conv2d_nhwc_backward, conv2d_nhwc_forward

FAST = os.environ.get("NUMPYUQ_FAST") == "1"
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The definition, as four loops
#
# A convolution layer (a cross-correlation, as every deep-learning library computes it) slides each of
# $F$ kernels $w_f \in \mathbb{R}^{C \times K_H \times K_W}$ over the zero-padded image and takes a dot
# product at every position:
#
# $$y_{n f i j} = b_f + \sum_{c, k_h, k_w} w_{f c k_h k_w}\; x^{\text{pad}}_{n,\, c,\, i s + k_h,\, j s + k_w},
# \qquad O_H = \left\lfloor \frac{H + 2p - K_H}{s} \right\rfloor + 1.$$

# %%
def conv_loops(x, w, b, stride, padding):
    """The definition: x (N, C, H, W), w (F, C, KH, KW), b (F,) -> y (N, F, OH, OW)."""
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    OH, OW = (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1
    y = np.empty((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = x_pad[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    y[n, f, i, j] = (window * w[f]).sum() + b[f]
    return y


x = rng.standard_normal((2, 3, 7, 6))
w = rng.standard_normal((4, 3, 3, 3)) * 0.3
b = rng.standard_normal(4)
y_loops = conv_loops(x, w, b, stride=2, padding=1)
print("x", x.shape, "-> y", y_loops.shape)

# %% [markdown]
# ## 2. The same map as one matrix product: im2col + GEMM
#
# The loops compute $N O_H O_W \times F$ dot products of length $C K_H K_W$. Gather every window into a
# row of a matrix, $\text{cols} \in \mathbb{R}^{(N O_H O_W) \times (C K_H K_W)}$ (*im2col*), view the
# kernels as $W \in \mathbb{R}^{F \times (C K_H K_W)}$, and all of them are one GEMM:
#
# $$Y = \text{cols}\; W^\top + b \;\in\; \mathbb{R}^{(N O_H O_W) \times F}.$$
#
# That is numpyuq's textbook pair `conv2d_forward` / `conv2d_backward` (the first thing in
# `numpyuq/nn/conv.py`), and it agrees with the loops to rounding.

# %%
cols = im2col(x, 3, 3, 2, 1)
print("cols", cols.shape, "= (N OH OW, C KH KW)")
y, cache = conv2d_forward(x, w, b, stride=2, padding=1)
print(f"textbook pair vs loops: max |difference| {np.abs(y - y_loops).max():.1e}")
assert np.allclose(y, y_loops, rtol=1e-12, atol=1e-12)

# %% [markdown]
# ## 3. The backward pass
#
# Given $dY = \partial L / \partial Y$ (one row per output pixel), the GEMM's gradients are those of
# a dense layer (tutorial 1): $dW = dY^\top \text{cols}$, $db = \sum_{\text{rows}} dY$, and
# $d\,\text{cols} = dY\, W$. What is left is to carry $d\,\text{cols}$ back to the pixels.
#
# im2col is linear: $\text{cols} = G x$ for a 0/1 matrix $G$ that copies each pixel into every window
# that contains it. So $\partial L/\partial x = G^\top d\,\text{cols}$: *add* each column entry back to
# the pixel it came from. That is col2im, and "col2im is the transpose of im2col" has a one-line test,
# the adjoint identity $\langle G x, c \rangle = \langle x, G^\top c \rangle$ for any $x$ and $c$:

# %%
c = rng.standard_normal(cols.shape)
lhs, rhs = np.vdot(im2col(x, 3, 3, 2, 1), c), np.vdot(x, col2im(c, x.shape, 3, 3, 2, 1))
print(f"<im2col(x), c> = {lhs:.12f}\n<x, col2im(c)> = {rhs:.12f}")
assert abs(lhs - rhs) < 1e-10 * abs(lhs)

# %% [markdown]
# Where windows overlap (stride smaller than the kernel), a pixel sits in several rows and its
# gradient is the sum of theirs; a pixel in no window (cropped by the stride) gets zero.

# %%
dy = rng.standard_normal(y.shape)
dx, dw, db = conv2d_backward(dy, cache)
print("dx", dx.shape, "dw", dw.shape, "db", db.shape)

# %% [markdown]
# ## 4. The proof: a central finite-difference check
#
# `check_pair` perturbs every element of $x$, $w$ and $b$ by $\pm\epsilon$, with a random upstream
# gradient, and compares with the pair's backward (float64, $\epsilon = 10^{-5}$).

# %%
report = check_pair(conv2d_forward, conv2d_backward, {"x": x, "w": w, "b": b}, stride=2, padding=1)
print(report)
assert report.max_rel_error < 1e-6

# %% [markdown]
# ## 5. What the fast path changes
#
# `Conv2D` trains with a *fused* pair (`conv2d_nhwc_forward` / `conv2d_nhwc_backward`). It computes the
# same function, with four changes:
#
# 1. **Channels-last (NHWC).** With columns ordered $(k_h, k_w, c)$, each window row is $K_W C$
#    contiguous floats, so im2col is a few long copies; and the GEMM output $(N O_H O_W, F)$ already is
#    the NHWC output, with no transpose.
# 2. **Fused ReLU and max-pooling.** The bias is constant over a pooling window and ReLU is monotone,
#    so $\mathrm{relu}(b + \max z) = \max \mathrm{relu}(z + b)$: pool first, and the bias and ReLU touch a
#    quarter of the values. The full activation is never written back to memory.
# 3. **Chunks.** im2col + GEMM and GEMM + col2im run over chunks of images whose columns fit in cache
#    (2 MB), so the columns are read back from cache instead of memory.
# 4. **Rebuilt columns.** When the window rows are long ($K_W C \ge 16$), the layer keeps its input
#    $x$ instead of $\text{cols}$ ($K_H K_W$ times larger) and rebuilds the columns chunk by chunk for $dW$.
#
# First, it is the same function: the fused pair against the textbook pair followed by a plain ReLU
# and a plain max-pooling, at LeNet's second layer (20 -> 50 channels, 5 x 5, on 12 x 12 maps).

# %%
x = rng.standard_normal((8, 20, 12, 12))
w, b = rng.standard_normal((50, 20, 5, 5)) * 0.05, rng.standard_normal(50) * 0.1
z, _ = conv2d_forward(x, w, b)
expected, _ = maxpool_forward_reference(np.maximum(z, 0), 2, 2)
x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
fused, fused_cache = conv2d_nhwc_forward(x_nhwc, w, b, activation="relu", pool=2)
print(f"fused vs textbook + ReLU + pool: max |difference| {np.abs(fused.transpose(0, 3, 1, 2) - expected).max():.1e}")
assert np.allclose(fused.transpose(0, 3, 1, 2), expected, rtol=1e-12, atol=1e-12)
print("the fused layer kept its input:", fused_cache.cols is None and fused_cache.x is not None,
      f"({x.size * 8 / 1e6:.2f} MB instead of {x.shape[0] * 8 * 8 * 20 * 25 * 8 / 1e6:.2f} MB of columns)")

# %% [markdown]
# Then the time of a training step (forward and backward) of that layer at batch 64 in float32, the
# textbook composition against the fused pair. Run it on your machine: the ratio depends on the CPU
# and its BLAS (`python benchmarks/lenet.py --profile` gives the same split layer by layer, for the
# whole network).

# %%
def median_ms(step, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


x32 = rng.standard_normal((64, 20, 12, 12)).astype(np.float32)
w32, b32 = (w.astype(np.float32), b.astype(np.float32))
x32_nhwc = np.ascontiguousarray(x32.transpose(0, 2, 3, 1))
dy_pooled = rng.standard_normal((64, 50, 4, 4)).astype(np.float32)


def textbook_step():
    z, conv_cache = conv2d_forward(x32, w32, b32)
    relu = np.maximum(z, 0)
    pooled, argmax = maxpool_forward_reference(relu, 2, 2)
    dz = np.zeros_like(relu)                        # route dy to each window's winner, then the ReLU mask
    for k in range(4):
        dz[:, :, k // 2::2, k % 2::2] += dy_pooled * (argmax == k)
    conv2d_backward(dz * (relu > 0), conv_cache)


def fused_step():
    _, cache = conv2d_nhwc_forward(x32_nhwc, w32, b32, activation="relu", pool=2)
    conv2d_nhwc_backward(dy_pooled.transpose(0, 2, 3, 1).copy(), cache)


repeats = 5 if FAST else 30
textbook_step(), fused_step()                      # warm up (the numba kernels compile once)
textbook_ms, fused_ms = median_ms(textbook_step, repeats), median_ms(fused_step, repeats)
print(f"LeNet conv2 training step, batch 64: textbook {textbook_ms:.2f} ms, fused {fused_ms:.2f} ms "
      f"({textbook_ms / fused_ms:.1f}x)")

# %% [markdown]
# The fused layer is gradient-checked like every other (`tests/nn/test_conv.py` checks every option:
# activation, pooling, stride, padding, kept and rebuilt columns, against the textbook composition
# above). The plain pair stays in the library as the reference a reader can follow line by line.

# %% [markdown]
# ## 6. A first layer on grayscale: no im2col at all
#
# With one input channel, every im2col row is $K_H$ runs of only $K_W$ floats, and the GEMM's inner
# dimension is $K_H K_W = 25$: a thin product that BLAS runs far below its peak, after a gather that
# copies 5 floats at a time. `Conv2D` therefore runs single-channel inputs at stride 1 with *direct*
# loops (`numpyuq/kernels/conv_single_channel.py`). The plain pair there is the definition read one
# tap at a time, each tap a shifted copy of the image times one weight per filter:
#
# $$z_{n, o_h, o_w, f} = \sum_{k_h, k_w} w_{f k_h k_w}\, x^{\text{pad}}_{n,\, o_h + k_h,\, o_w + k_w},
# \qquad dW_{f k_h k_w} = \sum_{n, o_h, o_w} dz_{n, o_h, o_w, f}\, x^{\text{pad}}_{n,\, o_h + k_h,\, o_w + k_w}.$$
#
# The compiled loops compute each output plane as one flat loop over the padded image at its row
# stride, with the 25 taps unrolled inside it, so that the CPU's vector unit works on 16 output
# pixels at a time. First, the plain pair against the four loops of section 1 (uncertainty-baselines'
# LeNet5 first layer: 6 filters, 5 x 5, SAME padding):

# %%
from numpyuq.kernels.conv_single_channel import (conv_single_channel, conv_single_channel_reference,  # noqa: E402
                                                  conv_single_channel_weights)
from numpyuq.kernels.conv_gemm import im2col_gemm  # noqa: E402

images = rng.standard_normal((3, 28, 28))
kernels = rng.standard_normal((6, 5, 5))
z_direct = conv_single_channel_reference(images, kernels, padding=2).reshape(3, 28, 28, 6)
z_loops = conv_loops(images[:, None], kernels[:, None], np.zeros(6), stride=1, padding=2)
print(f"direct plain pair vs the four loops: max |difference| {np.abs(z_direct.transpose(0, 3, 1, 2) - z_loops).max():.1e}")
assert np.allclose(z_direct.transpose(0, 3, 1, 2), z_loops, rtol=1e-12, atol=1e-12)

# %% [markdown]
# Then its time against im2col + GEMM, forward and weight gradient, at batch 128 in float32 (the
# GEMM path keeps its columns for $dW = dz^\top \text{cols}$, as it would in training):

# %%
images32 = rng.random((128, 28, 28), dtype=np.float32)
kernels32 = rng.standard_normal((6, 5, 5)).astype(np.float32)
kernel_rows = kernels32.reshape(6, 25)
dz32 = rng.standard_normal((128 * 28 * 28, 6)).astype(np.float32)


def gemm_path():
    cols, _ = im2col_gemm(images32[..., None], kernel_rows, 5, 5, 1, 2)
    return np.dot(cols.T, dz32)


def direct_path():
    conv_single_channel(images32, kernels32, padding=2)
    return conv_single_channel_weights(images32, dz32, 5, 5, padding=2)


def race(label, old_name, old, new_name, new):
    """Check that two paths give the same dW (float32: up to the order of the sums), then time both."""
    old(), new()                                    # warm up (compiles the loops on first use)
    dw_old, dw_new = old(), new()
    relative = np.abs(dw_new - dw_old).max() / np.abs(dw_old).max()
    print(f"dW, {new_name} vs {old_name} in float32: max |difference| / max |dW| = {relative:.1e}")
    assert relative < 1e-5
    old_ms, new_ms = median_ms(old, repeats), median_ms(new, repeats)
    print(f"{label}: {old_name} {old_ms:.2f} ms, {new_name} {new_ms:.2f} ms ({old_ms / new_ms:.2f}x)")


race("first layer, batch 128, forward + dW", "im2col + GEMM", lambda: gemm_path().T,
     "direct", lambda: direct_path().reshape(6, 25))

# %% [markdown]
# The direct loops cost grows with the number of filters, while im2col + GEMM costs about the same
# for any: `Conv2D` takes the direct path up to 20 filters (LeNet's first layer has 20, LeNet5's 6),
# where it measured as fast or faster inside whole training steps.

# %% [markdown]
# ## 7. SAME padding on small maps: skip the zeros
#
# uncertainty-baselines' LeNet5 pads every convolution to keep its size ("SAME"). On its third layer
# (7 x 7 maps, 5 x 5 kernels, padding 2) many im2col entries are the padding's zeros: along one axis,
# output $o$ reads input $o + k - p$, a real pixel only for the taps
#
# $$k \in [\max(0, p - o),\ \min(K, S + p - o)),$$
#
# 3, 4, 5, 5, 5, 4, 3 taps for the seven outputs: 29 of 35. Over both axes only $(29/35)^2 = 0.69$ of
# the multiply-adds meet a pixel, and the layer's GEMMs already run near the CPU's peak, so doing fewer
# of them is what makes the layer faster. Outputs whose windows meet the *same* taps form a class
# (each border row or column its own, the interior one); each class is an unpadded convolution of a
# crop of the input by a crop of the kernel (`numpyuq/kernels/conv_tap_classes.py`):
#
# $$y[:, O_h, O_w] = \mathrm{im2col}(x_{\text{crop}})\; w[:, T_h, T_w]^\top .$$
#
# The classes of one axis, and the plain pair against the padded im2col + GEMM of section 2:

# %%
from numpyuq.kernels.conv_gemm import im2col_gemm_reference  # noqa: E402
from numpyuq.kernels.conv_tap_classes import (conv_tap_classes, conv_tap_classes_backward,  # noqa: E402
                                              conv_tap_classes_reference, real_fraction, tap_classes)

for o0, o1, k0, k1 in tap_classes(7, 5, 2):
    print(f"outputs {o0}..{o1 - 1}: taps {k0}..{k1 - 1}")
print(f"share of the multiply-adds on real pixels: {real_fraction(7, 7, 5, 5, 2):.3f}")
maps = rng.standard_normal((2, 7, 7, 16))
kernel_rows = rng.standard_normal((120, 5 * 5 * 16))
by_classes = conv_tap_classes_reference(maps, kernel_rows, 5, 5, 2)
padded = im2col_gemm_reference(maps, kernel_rows, 5, 5, 1, 2)[1]
print(f"tap classes vs padded im2col + GEMM: max |difference| {np.abs(by_classes - padded).max():.1e}")
assert np.allclose(by_classes, padded, rtol=1e-12, atol=1e-12)

# %% [markdown]
# Then the time of a training step's three products (forward, weight and input gradients) at batch
# 128 in float32, on one core: one padded GEMM a pass against 25 smaller ones that skip the zeros.

# %%
from threadpoolctl import threadpool_limits  # noqa: E402

from numpyuq.kernels.conv_gemm import gemm_col2im, im2col_gemm_weights  # noqa: E402

maps32 = rng.standard_normal((128, 7, 7, 16)).astype(np.float32)
rows32 = rng.standard_normal((120, 400)).astype(np.float32)
dy32 = rng.standard_normal((128 * 49, 120)).astype(np.float32)


def padded_pass():
    im2col_gemm(maps32, rows32, 5, 5, 1, 2, keep_cols=False)
    gemm_col2im(dy32, rows32, maps32.shape, 5, 5, 1, 2)
    return im2col_gemm_weights(maps32, dy32, 5, 5, 1, 2)


def classes_pass():
    conv_tap_classes(maps32, rows32, 5, 5, 2)
    return conv_tap_classes_backward(maps32, dy32, rows32, 5, 5, 2)[1]


with threadpool_limits(1):
    race("7 x 7 layer, batch 128, three passes", "padded", padded_pass, "tap classes", classes_pass)

# %% [markdown]
# The gain is less than the 31% of multiply-adds skipped: 25 smaller GEMMs each pack their crop of the
# kernel, and the smallest (a corner: one output position per image) run below the peak. `Conv2D` takes
# this path at stride 1 where at least a tenth of the multiply-adds meet the padding (LeNet5's second
# and third layers; not its first, 28 x 28, at 8%).
