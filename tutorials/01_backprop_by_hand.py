# %% [markdown]
# # Backpropagation by hand: Dense, ReLU, softmax cross-entropy, and the proof by finite differences
#
# **What you will learn.** How the backward pass of a layer is derived on paper, how numpyuq's module
# protocol chains those derivations through a network, and how a central finite-difference check
# proves each one to about eight digits. Everything else in numpyuq (spectral normalisation, the
# random-feature GP, convolutions and pooling) is built and checked the same way.
#
# **Run it:** `python tutorials/01_backprop_by_hand.py` (or open it as a notebook with jupytext).

# %%
import numpy as np

from numpyuq.gradcheck import check_loss, check_module, check_pair
from numpyuq.losses import SoftmaxCrossEntropy
from numpyuq.losses.cross_entropy import softmax
from numpyuq.nn.activations import relu_backward, relu_forward
from numpyuq.nn import Dense, ReLU, Sequential
from numpyuq.nn.dense import dense_backward, dense_forward

rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A dense layer on paper
#
# $y = x w + b$ with $x \in \mathbb{R}^{N\times D}$, $w \in \mathbb{R}^{D\times M}$, $b \in \mathbb{R}^M$.
# Suppose some scalar loss $L$ sits downstream and we are handed $dy = \partial L / \partial y$
# (same shape as $y$). Each output $y_{nm} = \sum_d x_{nd} w_{dm} + b_m$, so by the chain rule
#
# $$\frac{\partial L}{\partial x_{nd}} = \sum_m dy_{nm} w_{dm} \;\Rightarrow\; dx = dy\, w^\top, \qquad
#   \frac{\partial L}{\partial w_{dm}} = \sum_n x_{nd}\, dy_{nm} \;\Rightarrow\; dw = x^\top dy, \qquad
#   db = \textstyle\sum_n dy_{n\cdot}.$$
#
# A useful sanity check: every gradient has the shape of the thing it is the gradient of.
# numpyuq writes this as a pair of pure functions; the forward returns what the backward needs.

# %%
x = rng.standard_normal((4, 3))
w = rng.standard_normal((3, 2))
b = rng.standard_normal(2)
y, cache = dense_forward(x, w, b)
dy = rng.standard_normal(y.shape)
dx, dw, db = dense_backward(dy, cache)
print("shapes:", x.shape, "->", y.shape, "| dx", dx.shape, "dw", dw.shape, "db", db.shape)

# %% [markdown]
# ## 2. Checking it with finite differences
#
# Take $L = \sum y \odot dy$: its gradient with respect to $y$ is exactly $dy$, so the backward pass
# must return $\partial L/\partial x$. A central difference estimates the same number without calculus:
# $\partial L/\partial t \approx (L(t+\epsilon) - L(t-\epsilon)) / 2\epsilon$, with error $O(\epsilon^2)$.
# In float64 with $\epsilon = 10^{-5}$ the truncation and round-off errors are both near $10^{-11}$.

# %%
def loss_at(x_value):
    return (dense_forward(x_value, w, b)[0] * dy).sum()


eps = 1e-5
numeric = np.zeros_like(x)
for index in np.ndindex(*x.shape):
    bumped = x.copy()
    bumped[index] += eps
    upper = loss_at(bumped)
    bumped[index] -= 2 * eps
    numeric[index] = (upper - loss_at(bumped)) / (2 * eps)
error = np.abs(numeric - dx).max() / np.abs(dx).max()
print(f"dense dx: max relative error {error:.1e}")
assert error < 1e-8

# %% [markdown]
# ## 3. ReLU and the softmax cross-entropy
#
# ReLU, $y = \max(x, 0)$, passes the gradient where the input was positive: $dx = dy \odot [x > 0]$
# (keep test inputs away from 0, where the function has a kink and finite differences straddle it).
#
# For logits $z_n$ and label $y_n$, $L = -\frac1N \sum_n \log \mathrm{softmax}(z_n)_{y_n}$. With
# $p = \mathrm{softmax}(z)$, $\partial \log p_y / \partial z_k = [k = y] - p_k$, hence the famously simple
#
# $$\frac{\partial L}{\partial z} = \frac{p - \mathrm{onehot}(y)}{N}.$$
#
# The forward computes $\log p$ as $z - \max z - \log\sum e^{z - \max z}$, so $|z| = 10^4$ is harmless.

# %%
z = rng.standard_normal((4, 5))
z[np.abs(z) < 0.05] = 0.5                        # off the kink
relu_out, relu_cache = relu_forward(z)
dz = rng.standard_normal(z.shape)
(dz_in,) = relu_backward(dz, relu_cache)
np.testing.assert_array_equal(dz_in, dz * (z > 0))
report = check_pair(relu_forward, relu_backward, {"x": z})
print(f"ReLU: gradient check {report.max_rel_error:.1e}")
assert report.max_rel_error < 1e-6

# %%
logits = rng.standard_normal((5, 3))
labels = np.array([0, 2, 1, 1, 0])
loss = SoftmaxCrossEntropy()
value = loss(logits, labels)
dlogits = loss.backward()
np.testing.assert_allclose(dlogits, (softmax(logits) - np.eye(3)[labels]) / 5)
report = check_loss(loss, logits, labels)
print(f"cross-entropy: loss {float(value):.4f}, gradient check {report.max_rel_error:.1e}")
assert report.max_rel_error < 1e-6
print("extreme logits:", float(loss(np.array([[1e4, -1e4]]), np.array([1]))))

# %% [markdown]
# ## 4. Chaining: the module protocol
#
# A `Module` keeps what its backward needs during `forward(x, training)`; `backward(dy)` returns
# $dx$ and *adds* parameter gradients into `p.grad`. `Sequential` runs the backward passes in
# reverse order: the output gradient of one layer is the input gradient of the next. That is the
# whole of backpropagation.

# %%
net = Sequential(Dense(2, 16, seed=1, dtype=np.float64), ReLU(), Dense(16, 3, seed=2, dtype=np.float64))
x = rng.standard_normal((8, 2))
logits = net(x)
loss(logits, rng.integers(0, 3, 8))
net.zero_grad()
dx = net.backward(loss.backward())
for name, p in net.named_parameters():
    print(f"{name:12s} value {p.value.shape}  grad norm {np.linalg.norm(p.grad):.4f}")

# %% [markdown]
# `check_module` does step 2 for a whole module: every element of the input and of every trainable
# parameter, a random upstream gradient, and the module's state restored between perturbed passes.

# %%
report = check_module(net, x)
print(report)
assert report.max_rel_error < 1e-6
