# %% [markdown]
# # SNGP from scratch: spectral normalisation and a random-feature Gaussian process, in NumPy
#
# **What you will learn.** Why an ordinary deep classifier is confidently wrong far from its training
# data, and how SNGP (Liu et al. 2020, "Simple and Principled Uncertainty Estimation with
# Deterministic Deep Learning via Distance Awareness", https://arxiv.org/abs/2006.10108) fixes that
# with two changes: spectral normalisation of the hidden layers and a Gaussian-process output layer.
# We build each piece, check it against the textbook computation it replaces, then train the four
# methods of the TensorFlow tutorial "Uncertainty-aware deep learning with SNGP"
# (https://www.tensorflow.org/tutorials/understanding/sngp) on two moons and measure which of them
# knows what it does not know.
#
# **Run it:** `python tutorials/03_sngp_two_moons.py`. Figures go to `$OUT_DIR` (default `./figures`).
# `NUMPYUQ_FAST=1` shrinks the run for CI; `NUMPYUQ_SEEDS=5` adds the comparison over five seeds with
# mean and spread.

# %%
import math
import os
import time

import numpy as np
from matplotlib.figure import Figure
from scipy.spatial import cKDTree

from numpyuq.data import make_grid, make_moons_data, make_ood_data
from numpyuq.experiments.compare import CompareConfig, format_text, run_compare
from numpyuq.losses import SoftmaxCrossEntropy, softmax
from numpyuq.metrics import max_probability_uncertainty, mutual_information, ood_auroc
from numpyuq.models import DeepResNet, DeepResNetSNGP
from numpyuq.nn import RandomFeatureGP
from numpyuq.nn.spectral_norm import normalize, power_iteration
from numpyuq.optim import keras_adam
from numpyuq.plotting import plot_surfaces, show
from numpyuq.training import fit, predict_logits
from numpyuq.uncertainty import (DeepEnsemble, ResetCovariance, mc_dropout_predict, mean_field_logits,
                                 refit_covariance)

FAST = os.environ.get("NUMPYUQ_FAST") == "1"
SEEDS = int(os.environ.get("NUMPYUQ_SEEDS", "1"))
OUT_DIR = os.environ.get("OUT_DIR", "figures")
os.makedirs(OUT_DIR, exist_ok=True)
EPOCHS = 5 if FAST else 100
ENSEMBLE_SIZE = 2 if FAST else 10
MC_SAMPLES = 2 if FAST else 10
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The data, and the question
#
# Two moons, 500 points a class with noise 0.1, nudged apart as in the seed. A 100 x 100 grid over
# $[-3.5, 3.5]\times[-2.5, 2.5]$ on which we draw surfaces, and an out-of-domain (OOD) Gaussian blob at
# $(2.5, -1.75)$ that no model sees in training. A model that knows what it does not know should be
# uncertain on the blob, and more uncertain the farther a point is from the training data.

# %%
x_train, y_train = make_moons_data(seed=0)
x_test, y_test = make_moons_data(seed=1000)             # a fresh sample from the same distribution
x_ood = make_ood_data(seed=1)
grid = make_grid()
print("train", x_train.shape, "test", x_test.shape, "OOD", x_ood.shape, "grid", grid.shape)

# %% [markdown]
# ## 2. Spectral normalisation: a residual network that keeps distances
#
# A residual block $h \mapsto h + g(h)$ satisfies
# $(1 - \alpha)\|h - h'\| \le \|h + g(h) - h' - g(h')\| \le (1 + \alpha)\|h - h'\|$ whenever $g$ is
# $\alpha$-Lipschitz with $\alpha < 1$ (Liu et al. 2020, Proposition 1): distances in the input survive
# into the hidden representation, so far-away inputs cannot be mapped onto the training data. For
# $g(h) = \mathrm{ReLU}(h W + b)$ the Lipschitz constant is at most the spectral norm $\|W\|_2$, the
# largest singular value, so SNGP keeps every hidden kernel at $\|W\|_2 \le c = 0.9$.
#
# An SVD per training step would be expensive. Power iteration estimates $\|W\|_2$ from two persistent
# vectors: $v \leftarrow W u / \|W u\|$, $u \leftarrow W^\top v / \|W^\top v\|$, $\sigma = v^\top W u$.
# Each step multiplies the error by $(\sigma_2 / \sigma_1)^2$, and because $u, v$ persist across training
# steps while $W$ changes slowly, one step per training step suffices. Here it is against the SVD:

# %%
w = rng.standard_normal((128, 128)) / math.sqrt(128)
sigma_svd = np.linalg.svd(w, compute_uv=False)
u, v = normalize(rng.standard_normal(128)), normalize(rng.standard_normal(128))
print(f"largest singular values (SVD): {sigma_svd[0]:.6f}, {sigma_svd[1]:.6f}")
for iterations in (1, 5, 20, 100, 400):
    _, _, sigma = power_iteration(w, u, v, iterations)
    print(f"  power iteration, {iterations:3d} steps: sigma = {sigma:.6f}, "
          f"relative error {abs(sigma - sigma_svd[0]) / sigma_svd[0]:.1e}")
assert abs(power_iteration(w, u, v, 400)[2] - sigma_svd[0]) / sigma_svd[0] < 1e-3

# %% [markdown]
# The seed's layer (tensorflow/models' `SpectralNormalization`) then *projects*: after each training
# step's power iteration, $W \leftarrow W\, c/\sigma$ whenever $\sigma > c$. `numpyuq.nn.SpectralNorm`
# does this (`mode="project"`), and also offers Miyato et al.'s re-parameterisation
# $\bar W = W \min(1, c/\sigma)$ differentiated through $\sigma$ (`mode="reparam"`); its gradient is
# derived in `numpyuq/nn/spectral_norm.py` and checked by finite differences in the tests.
#
# ## 3. The Gaussian-process output layer
#
# The last Dense layer is replaced by a GP with an RBF kernel $k(h, h') = \exp(-\|h - h'\|^2 / 2)$,
# approximated with $M$ random Fourier features (Rahimi & Recht 2007):
# $\phi(h) = \sqrt{2/M}\cos(h W + b)$ with frozen $W \sim N(0, 1)$, $b \sim U(0, 2\pi)$. Because
# $E[2\cos(w\cdot h + b)\cos(w\cdot h' + b)] = \exp(-\|h - h'\|^2/2)$, the inner product $\phi(h)\cdot\phi(h')$
# converges to the kernel at rate $1/\sqrt{M}$. Note the factor 2 in the exponent: the reference
# implementation's docstring omits it, and the numbers below show which formula the features follow.

# %%
points = rng.standard_normal((40, 3)) * 0.7
sq_dist = ((points[:, None] - points[None]) ** 2).sum(-1)
kernel = np.exp(-sq_dist / 2)
for m in (64, 1024, 16384):
    phi = RandomFeatureGP(3, 2, num_inducing=m, seed=m, dtype=np.float64).random_features(points)
    print(f"M = {m:5d}: max |phi.phi' - exp(-d^2/2)| = {np.abs(phi @ phi.T - kernel).max():.4f},  "
          f"max |phi.phi' - exp(-d^2)| = {np.abs(phi @ phi.T - np.exp(-sq_dist)).max():.4f}")
assert np.abs(phi @ phi.T - kernel).max() < 0.05

# %% [markdown]
# The output is $\text{logits} = \phi\beta$ with $\beta$ trained by gradient descent. For the
# uncertainty, SNGP takes a Laplace approximation of $\beta$'s posterior: under a Gaussian likelihood
# its precision is $P = \mathrm{ridge}\cdot I + \Phi^\top\Phi$ over the training features, and the
# predictive variance of a test point with features $\phi_*$ is $\mathrm{ridge}\;\phi_*^\top P^{-1}\phi_*$
# (Liu et al. 2020, eq. 8): small where the features resemble the training features, large elsewhere.
#
# We build $P$ by hand for a small GP fed with 2-d points, compare it with the layer's, and compare
# the layer's variance (a Cholesky factor $P = LL^\top$ and $\|L^{-1}\phi_*\|^2$, never an inverse)
# with the explicit inverse:

# %%
gp = RandomFeatureGP(2, 2, num_inducing=256, seed=0, dtype=np.float64)
refit_covariance(gp, x_train)                      # one inference pass that builds P from x_train
phi_train = gp.random_features(x_train)
precision_by_hand = np.eye(256) + phi_train.T @ phi_train
print(f"precision: max |by hand - layer| = {np.abs(precision_by_hand - gp.precision).max():.1e}")
assert np.allclose(precision_by_hand, gp.precision, rtol=1e-12, atol=1e-9)
phi_probe = gp.random_features(np.array([[0.5, 0.0], [2.5, -1.75], [-3.0, 2.0]]))   # data, blob, corner
variance_explicit = np.diag(phi_probe @ np.linalg.inv(precision_by_hand) @ phi_probe.T)
variance_layer = gp.predictive_variance(phi_probe)
print("variance at a data point, the blob, a far corner:", np.round(variance_layer, 4))
print(f"Cholesky vs explicit inverse: max relative difference "
      f"{np.abs(variance_layer - variance_explicit).max() / variance_explicit.max():.1e}")
assert np.allclose(variance_layer, variance_explicit, rtol=1e-8)
assert variance_layer[0] < variance_layer[1] and variance_layer[0] < variance_layer[2]

# %% [markdown]
# ## 4. From a variance to probabilities: the mean-field approximation
#
# The logits are Gaussian, $f \sim N(\text{logits}, \sigma^2)$, and the predictive probability is
# $E[\mathrm{softmax}(f)]$. SNGP replaces the integral by
# $\mathrm{softmax}(\text{logits} / \sqrt{1 + \lambda\sigma^2})$ with $\lambda = \pi/8$ (eq. 10): high
# variance pulls the probabilities towards uniform. For two classes this is MacKay's probit
# approximation of $E[\mathrm{sigmoid}(f)]$ for one Gaussian logit against a fixed one, which we check
# against Gauss-Hermite quadrature (exact to about $10^{-10}$) and plain Monte-Carlo sampling:

# %%
nodes, weights = np.polynomial.hermite_e.hermegauss(80)
worst = 0.0
for mean in (0.5, 2.0, 4.0):
    for var in (0.1, 1.0, 10.0):
        exact = (weights / (1 + np.exp(-(mean + math.sqrt(var) * nodes)))).sum() / weights.sum()
        mean_field = softmax(mean_field_logits(np.array([[mean, 0.0]]), np.array([var])))[0, 0]
        monte_carlo = (1 / (1 + np.exp(-(mean + math.sqrt(var) * rng.standard_normal(20000))))).mean()
        worst = max(worst, abs(mean_field - exact))
        print(f"mean {mean:3.1f}, var {var:4.1f}: quadrature {exact:.4f}, mean field {mean_field:.4f}, "
              f"Monte Carlo {monte_carlo:.4f}")
print(f"largest mean-field error: {worst:.4f}")
assert worst < 0.02

# %% [markdown]
# ## 5. The four methods, each trained once
#
# All four use the seed's `DeepResNet`: a frozen random projection of the 2-d input to 128
# dimensions, six residual blocks $h \leftarrow h + \mathrm{Dropout}_{0.1}(\mathrm{ReLU}(hW_l + b_l))$,
# and an output layer; Keras' Adam (learning rate $10^{-4}$, $\epsilon = 10^{-7}$ added before the bias
# correction: `numpyuq.optim.keras_adam`), batch 128, 100 epochs.
#
# * **Deterministic**: the plain network, probabilities from its softmax.
# * **MC dropout** (Gal & Ghahramani 2016): the *same* trained network with dropout left on at
#   prediction time, averaging the softmax over 10 masks.
# * **Deep ensemble** (Lakshminarayanan et al. 2017): 10 networks from different seeds, averaged. (The
#   seed's notebook hands one Adam instance to all ten, so its moments leak from member to member;
#   each of ours has its own optimizer.)
# * **SNGP**: spectrally normalised hidden layers ($c = 0.9$) and the GP output layer. The seed resets
#   the precision at every epoch start, so that it ends as ridge $I$ plus the last epoch's features;
#   `ResetCovariance` leaves the same precision but computes only the last epoch's updates.

# %%
def train(model, callbacks=()):
    start = time.perf_counter()
    fit(model, SoftmaxCrossEntropy(), keras_adam(model.parameters(), lr=1e-4), x_train, y_train, epochs=EPOCHS,
        batch_size=128, callbacks=callbacks, seed=0, progress=False)
    return time.perf_counter() - start


def make_member(seed):
    return DeepResNet(num_classes=2, num_layers=6, num_hidden=128, seed=seed)


resnet = make_member(0)
sngp = DeepResNetSNGP(num_classes=2, num_layers=6, num_hidden=128, spec_norm_bound=0.9, seed=0)
print(f"DeepResNet trained in {train(resnet):.2f} s")
print(f"SNGP trained in {train(sngp, [ResetCovariance()]):.2f} s")
start = time.perf_counter()
ensemble = DeepEnsemble(make_member, size=ENSEMBLE_SIZE, seed=1).fit(x_train, y_train, epochs=EPOCHS,
                                                                    n_jobs=1, progress=False)
print(f"ensemble of {ENSEMBLE_SIZE} trained in {time.perf_counter() - start:.2f} s")
hidden_norms = [np.linalg.svd(block.branch[0].layer.w.value, compute_uv=False)[0] for block in sngp.blocks]
print("largest singular value of each SNGP hidden kernel:", np.round(hidden_norms, 3))
# The projection divides by the power-iteration estimate, which approaches the true norm from below
# as the persistent vectors converge: after a few hundred steps the bound holds to 1%.
if not FAST:
    assert max(hidden_norms) <= 0.9 * 1.01


# %%
def predict_all(points):
    """Probabilities (N, 2) of each method on ``points``, and each method's own uncertainty (N,)."""
    logits = predict_logits(resnet, points)
    mc_probs, mc_samples = mc_dropout_predict(resnet, points, num_samples=MC_SAMPLES, return_samples=True)
    ens_probs, ens_samples = ensemble.predict(points, return_samples=True)
    sngp_logits, sngp_variance = sngp.predict_with_variance(points)
    return {
        "Deterministic": (np.asarray(softmax(logits), np.float64), None),
        "MC dropout": (mc_probs, mutual_information(mc_samples)),
        "Deep ensemble": (ens_probs, mutual_information(ens_samples)),
        "SNGP": (np.asarray(softmax(mean_field_logits(sngp_logits, sngp_variance)), np.float64), sngp_variance),
    }


on_test, on_ood, on_grid = predict_all(x_test), predict_all(x_ood), predict_all(grid)
print(f"{'method':14s} {'accuracy':>8s} {'AUROC, 1 - max p':>17s} {'AUROC, own':>11s}")
for name in on_test:
    probs, own = on_test[name]
    accuracy = (probs.argmax(axis=1) == y_test).mean()
    auroc = ood_auroc(max_probability_uncertainty(probs), max_probability_uncertainty(on_ood[name][0]))
    auroc_own = ood_auroc(own, on_ood[name][1]) if own is not None else float("nan")
    print(f"{name:14s} {accuracy:8.3f} {auroc:17.3f} {auroc_own:11.3f}")
path = plot_surfaces([(name, on_grid[name][0][:, 0]) for name in on_grid], x_train, y_train, x_ood,
                     os.path.join(OUT_DIR, "03_sngp_two_moons_surfaces.png"))
show(path)

# %% [markdown]
# AUROC asks how well a score tells the OOD blob from in-domain test points: 1 is perfect, 0.5 is
# chance, and below 0.5 the blob looks *more* certain than the data. "Own" scores each method by its
# own uncertainty: the GP variance for SNGP, the mutual information between the prediction and the
# dropout mask or ensemble member for the other two.
#
# ## 6. Distance awareness, measured
#
# The surfaces (figure above) show only SNGP's uncertainty growing away from the data. To put a
# number on it, we take every grid point's distance to its nearest training point and average each
# method's uncertainty $1 - \max_k p_k$ over bands of distance:

# %%
distance = cKDTree(x_train).query(grid)[0]
bands = np.array([0.0, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0])
band_of = np.digitize(distance, bands) - 1
centres = [(bands[i] + bands[i + 1]) / 2 for i in range(len(bands) - 1)]
fig = Figure(figsize=(6.5, 4))
ax = fig.subplots()
far_over_near = {}
for name, (probs, _) in on_grid.items():
    uncertainty = max_probability_uncertainty(probs)
    means = [uncertainty[band_of == i].mean() for i in range(len(centres))]
    far_over_near[name] = (means[0], means[-1])
    ax.plot(centres, means, "o-", label=name)
ax.set_xlabel("distance to the nearest training point")
ax.set_ylabel("mean uncertainty, 1 - max p")
ax.set_title("Distance awareness on the two-moons grid")
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(OUT_DIR, "sngp_distance_awareness.png"), dpi=90)
show(os.path.join(OUT_DIR, "sngp_distance_awareness.png"))
for name, (near, far) in far_over_near.items():
    print(f"{name:14s} uncertainty within 0.1 of the data {near:.3f}, beyond 2.0 {far:.3f}")
if not FAST:
    assert far_over_near["SNGP"][1] > 0.3 > far_over_near["Deterministic"][1]

# %% [markdown]
# The deterministic net, MC dropout and the ensemble are uncertain only along their decision
# boundary, which runs between the moons and out to infinity: a point far away is as certain as the
# class interiors, unless it happens to lie near the boundary's extension. SNGP's uncertainty grows
# with the distance to the data, because spectral normalisation keeps far points far in the hidden
# space and the GP variance grows there. It pays in-domain: tempered by the variance, its
# probabilities near the data are a little less confident, which shows as a higher ECE in the
# comparison table of `numpyuq demo`.
#
# ## 7. Two precisions: the seed's per-epoch reset, and a refit
#
# The seed's precision comes from the last epoch's *training* passes: dropout on, and the weights
# moving between batches. `refit_covariance` rebuilds it from one clean inference pass of the final
# model. The two are different matrices, and they give different variances:

# %%
_, variance_epoch = sngp.predict_with_variance(x_ood)
_, variance_train_epoch = sngp.predict_with_variance(x_train)
refit_covariance(sngp, x_train)
_, variance_refit = sngp.predict_with_variance(x_ood)
_, variance_train_refit = sngp.predict_with_variance(x_train)
print("mean GP variance   on the blob   on the training data")
print(f"per-epoch reset    {variance_epoch.mean():11.3f}   {variance_train_epoch.mean():.4f}")
print(f"refit              {variance_refit.mean():11.3f}   {variance_train_refit.mean():.4f}")
for on_blob, on_data in ((variance_epoch, variance_train_epoch), (variance_refit, variance_train_refit)):
    assert on_blob.mean() > 10 * on_data.mean()
if not FAST:
    assert variance_refit.mean() > variance_epoch.mean() and variance_train_refit.mean() < variance_train_epoch.mean()

# %% [markdown]
# Both keep the blob's variance more than ten times the training data's, which is what the OOD
# score needs; they differ in scale. Dropout in training adds noise to the features, so the seed's
# precision is built from noisier, more spread-out features than the clean refit: it covers more of
# the feature space, which gives it a *lower* variance far from the data and a *higher* one on the
# clean training points, as the numbers above show. `numpyuq demo` and `numpyuq compare` use the
# refit: the posterior of the model you actually deploy.
#
# ## 8. Over five seeds
#
# One seed can mislead. With `NUMPYUQ_SEEDS=5` this cell repeats the whole comparison (training
# included, EDL added as a fifth method) over seeds 0-4 with `numpyuq.experiments.compare`, the
# machinery behind `numpyuq compare --task moons --seeds 5`, and prints mean and spread.

# %%
if SEEDS > 1:
    comparison = run_compare(CompareConfig(dataset="moons", seeds=SEEDS, epochs=EPOCHS, jobs=2), progress=False)
    print(format_text(comparison))
