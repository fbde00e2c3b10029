# %% [markdown]
# # From SNGP to DDU and last-layer Laplace: which part of SNGP does what
#
# **What you will learn.** SNGP (tutorial 03) is two ideas: a *feature map that keeps distances*
# (spectral normalisation on residual layers) and an *output layer that knows distance* (a
# Laplace-approximated Gaussian process on random features). Two well-known methods each take one
# idea further, and both fit on a network that has already been trained:
#
# * **DDU** (Mukhoti et al. 2021, "Deep Deterministic Uncertainty: A Simple Baseline",
#   https://arxiv.org/abs/2102.11582) keeps the spectrally normalised features and replaces the GP by
#   a Gaussian density per class, fitted in closed form after training.
# * **Last-layer Laplace** (Kristiadi et al. 2020, https://arxiv.org/abs/2002.10118; Daxberger et al.
#   2021, "Laplace Redux", https://arxiv.org/abs/2106.14806) keeps an ordinary softmax layer and puts a
#   Laplace posterior on its weights: the same approximation SNGP makes for its GP, on a different layer.
#
# We build each in a few lines of NumPy, check the lines against numpyuq's `DDU` and
# `LastLayerLaplace`, and look at what each one's uncertainty does over the plane. The last cell
# points to `numpyuq compare --ablation`, which crosses both ideas over five seeds.
#
# **Run it:** `python tutorials/07_from_sngp_to_ddu_and_laplace.py`. Figures go to `$OUT_DIR`
# (default `./figures`); `NUMPYUQ_FAST=1` shrinks the run for CI.

# %%
import math
import os

import numpy as np
import scipy.linalg
import scipy.special

from numpyuq.experiments.data import load_dataset
from numpyuq.experiments.methods import Run, train_sngp
from numpyuq.losses import softmax
from numpyuq.metrics import ood_auroc
from numpyuq.plotting import plot_own_uncertainty_surfaces, show
from numpyuq.uncertainty import DDU, LastLayerLaplace, penultimate_features

FAST = os.environ.get("NUMPYUQ_FAST") == "1"
OUT_DIR = os.environ.get("OUT_DIR", "figures")
os.makedirs(OUT_DIR, exist_ok=True)
EPOCHS = 10 if FAST else 100

# %% [markdown]
# ## 1. Three networks from one recipe
#
# The SNGP seed's residual network (6 blocks of 128 units) trained three ways on the same two moons:
# plain with a softmax head, spectrally normalised (each hidden layer's norm at most 0.9) with a
# softmax head, and SNGP itself (spectrally normalised, GP head). `Run` is the comparison's training
# context: it trains each softmax network once and shares it. The data come with three
# out-of-distribution (OOD) sets: the seed's blob, a nearer blob, and a ring far from the data.

# %%
data = load_dataset("moons", seed=0, fast=FAST)
run = Run(data, seed=0, epochs=EPOCHS, batch_size=128)
plain, _ = run.network(spectral_norm=False)
normalised, _ = run.network(spectral_norm=True)
sngp, _ = train_sngp(run)
x_train, y_train = data.x_train, data.y_train
print("OOD sets:", {name: points.shape for name, points in data.ood.items()})

# %% [markdown]
# ## 2. DDU: SNGP's feature map, a density instead of the GP
#
# After training, read the penultimate features f(x) (what the last layer sees) of the training set
# and fit one Gaussian per class:
#
#     mu_k = mean of the features of class k,   Sigma_k = their covariance,   pi_k = N_k / N
#     log q(f) = logsumexp_k [ log pi_k + log N(f; mu_k, Sigma_k) ]
#
# Minus log q(f(x)) is DDU's epistemic uncertainty: large where no class has features. It keeps
# SNGP's feature map (distances in the input survive into the features, so far inputs get far
# features) and changes the head: no random features, no GP, no retraining; the softmax still makes
# the predictions. Here it is by hand, with the Cholesky factor doing the log-determinant and the
# Mahalanobis distance in one go:

# %%
def class_gaussians(features, labels, num_classes):
    """(means (K, D), Cholesky factors (K, D, D), log priors (K,)), np.cov's 1 / (N_k - 1)."""
    means = np.array([features[labels == k].mean(axis=0) for k in range(num_classes)])
    factors = np.array([np.linalg.cholesky(np.cov(features[labels == k], rowvar=False)) for k in range(num_classes)])
    log_priors = np.log(np.bincount(labels, minlength=num_classes) / len(labels))
    return means, factors, log_priors


def log_feature_density(features, means, factors, log_priors):
    """log q(f) (N,): log N(f; mu, L L^T) = -(D log 2 pi + 2 sum log diag L + |L^-1 (f - mu)|^2) / 2."""
    D = features.shape[1]
    per_class = []
    for mu, L in zip(means, factors):
        z = scipy.linalg.solve_triangular(L, (features - mu).T, lower=True)
        per_class.append(-0.5 * (D * math.log(2 * math.pi) + 2 * np.log(np.diag(L)).sum() + (z * z).sum(axis=0)))
    return scipy.special.logsumexp(np.stack(per_class, axis=1) + log_priors, axis=1)


features = penultimate_features(normalised, x_train)
gaussians = class_gaussians(features, y_train, 2)
by_hand = -log_feature_density(penultimate_features(normalised, data.x_test), *gaussians)
ddu = DDU(normalised).fit(x_train, y_train)
print("max |by hand - DDU.uncertainty|:", np.abs(by_hand - ddu.uncertainty(data.x_test)).max())
assert np.allclose(by_hand, ddu.uncertainty(data.x_test), rtol=1e-8, atol=1e-8)

# %% [markdown]
# `DDU` does the same in float64, and adds what a library needs: a jitter on the covariance's
# diagonal that grows tenfold until the Cholesky factorisation succeeds (128 features from a few
# hundred points of a 2-D data set are nearly collinear), and clear errors for an absent class.
#
# ## 3. Last-layer Laplace: a softmax layer, with a posterior on its weights
#
# SNGP's GP head is a Laplace approximation: a Gaussian posterior on the output weights of its random
# features, with the curvature of the loss as precision. Last-layer Laplace makes the same
# approximation on the trained softmax layer itself. With u_n = [f(x_n), 1] and the last layer's
# weights Theta (D + 1, K), the Hessian of the summed cross-entropy in the flattened weights is
#
#     H = sum_n (u_n u_n^T) kron (diag(p_n) - p_n p_n^T)
#
# (exact: the logits are linear in Theta). The prior N(0, 1/delta) gets delta from MacKay's fixed
# point on the marginal likelihood, delta = gamma / |Theta|^2 with gamma = sum_i lambda_i / (lambda_i +
# delta) over H's eigenvalues; the predictive scales each mean logit by its variance (the probit
# approximation): p = softmax(z / sqrt(1 + pi/8 var z)). It keeps the network as trained (no
# spectral normalisation needed) and changes only how its last layer is read.

# %%
def laplace_by_hand(features, theta, iterations=200):
    """(posterior covariance (P, P), delta) for a softmax last layer Theta (D + 1, K)."""
    u = np.hstack([features, np.ones((len(features), 1))])
    p = softmax(u @ theta)
    H = sum(np.kron(np.outer(u_n, u_n), np.diag(p_n) - np.outer(p_n, p_n)) for u_n, p_n in zip(u, p))
    eigenvalues, delta = np.clip(np.linalg.eigvalsh(H), 0, None), 1.0
    for _ in range(iterations):
        delta = (eigenvalues / (eigenvalues + delta)).sum() / (theta ** 2).sum()
    return np.linalg.inv(H + delta * np.eye(len(H))), delta


laplace = LastLayerLaplace(plain).fit(x_train, y_train)
covariance, delta = laplace_by_hand(penultimate_features(plain, x_train), laplace.theta())
u_test = np.hstack([penultimate_features(plain, data.x_test), np.ones((len(data.x_test), 1))])
K = laplace.theta().shape[1]                 # weights flattened row by row: entry (i, k) at i * K + k
logit_variance = np.stack([np.einsum("ni,ij,nj->n", u_test, covariance[k::K, k::K], u_test) for k in range(K)],
                          axis=1)             # var z_k = u^T Sigma[(., k), (., k)] u
probit = softmax((u_test @ laplace.theta()) / np.sqrt(1 + math.pi / 8 * logit_variance))
print(f"prior precision: by hand {delta:.6g}, LastLayerLaplace {laplace.prior_precision_:.6g}")
print("max |by hand - LastLayerLaplace.predict_proba|:", np.abs(probit - laplace.predict_proba(data.x_test)).max())
assert np.isclose(delta, laplace.prior_precision_, rtol=1e-6)
assert np.allclose(probit, laplace.predict_proba(data.x_test), atol=1e-6)

# %% [markdown]
# The library builds H with one matrix product per block instead of a sum of Kronecker products,
# and for heads with many parameters (LeNet's 500 x 10) keeps only its two Kronecker factors
# (KFAC), never the full (P, P) matrix.
#
# ## 4. Each method's own uncertainty over the plane
#
# Four scores in four units: the softmax's Dempster-Shafer mass K / (K + sum e^z), SNGP's GP variance,
# DDU's minus log density, Laplace's predictive entropy. Colour is each score's rank among the grid
# points, the one scale on which the panels compare (and what an OOD AUROC sees: only the order).

# %%
methods = {"softmax (Dempster-Shafer)": plain, "SNGP (GP variance)": sngp,
           "DDU (-log density)": ddu, "last-layer Laplace (entropy)": laplace}
n_grid = int(round(len(data.grid) ** 0.5))
rows = [(name, model.predict_with_uncertainty(data.grid)[1]) for name, model in methods.items()]
path = plot_own_uncertainty_surfaces(rows, x_train, y_train, data.ood["blob"],
                                     os.path.join(OUT_DIR, "07_own_uncertainty.png"), n_grid=n_grid)
show(path)
print("OOD AUROC of each method's own uncertainty (test points vs each OOD set):")
for name, model in methods.items():
    own_test = model.predict_with_uncertainty(data.x_test)[1]
    scores = {ood: ood_auroc(own_test, model.predict_with_uncertainty(points)[1]) for ood, points in data.ood.items()}
    print(f"  {name:30s} " + "  ".join(f"{ood} {value:.3f}" for ood, value in scores.items()))
    if not FAST and name.startswith(("SNGP", "DDU")):
        assert min(scores.values()) > 0.95, (name, scores)

# %% [markdown]
# What to read from it. The GP variance and DDU's density grow with the distance from the training
# data in every direction: both read a feature map that keeps distances, and both heads measure
# distance in it. The softmax's uncertainty lives on the decision boundary only, and grows nowhere
# else. Last-layer Laplace widens the boundary band and keeps the confidence from reaching 1 far away
# (Kristiadi et al. 2020 prove this for ReLU networks), but far points are still more confident than
# points near the boundary, so its OOD AUROC stays low on this task.
#
# Which idea did the work? Turn spectral normalisation off under each head and look again:
# `numpyuq compare --ablation` does that over five seeds (the README's "SNGP taken apart" has its
# table). On two moons the head matters more than the feature map: the seed's residual network keeps
# distances even without spectral normalisation, so DDU and the GP head both work on the plain one.
