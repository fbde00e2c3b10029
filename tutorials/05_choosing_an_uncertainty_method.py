# %% [markdown]
# # Choosing an uncertainty method: seven methods, two tasks, one table
#
# **What you will learn.** What the "uncertainty" of each of seven popular methods for deep
# classifiers means, what it costs, and where it fails, measured side by side on the same data with
# the same networks:
#
# | method | what it outputs | its own uncertainty | extra cost |
# | --- | --- | --- | --- |
# | deterministic softmax | $p = \mathrm{softmax}(z)$ | Dempster-Shafer $K / (K + \sum_k e^{z_k})$ | none |
# | MC dropout (Gal & Ghahramani 2016) | mean of $S$ dropout softmaxes | mutual information | $S\times$ inference |
# | deep ensemble (Lakshminarayanan et al. 2017) | mean of $M$ networks' softmaxes | mutual information | $M\times$ training and inference |
# | EDL (Sensoy et al. 2018) | Dirichlet $\alpha = e + 1$, $p = \alpha / S$ | $u = K / S$ | none |
# | SNGP (Liu et al. 2020) | mean-field softmax of a GP | GP posterior variance | spectral norm, one $M\times M$ precision |
# | DDU (Mukhoti et al. 2021) | the softmax of a spectrally normalised network | $-\log$ density of its features under class Gaussians | spectral norm, one fit after training |
# | last-layer Laplace (Daxberger et al. 2021) | probit softmax under a posterior on the last layer | predictive entropy | one Hessian after training |
#
# Mutual information is $H[\bar p] - \overline{H[p_s]}$: the part of the predictive entropy that
# comes from disagreement between samples (or members), not from the classes overlapping. $u = K/S$
# is the Dirichlet's missing evidence: near 1 when no class collected any. The GP variance grows
# with the distance (in the spectrally normalised feature space) from the training data, and so does
# DDU's minus log density. DDU and last-layer Laplace are *post hoc*: fitted on a network trained the
# ordinary way (tutorial 07 builds both by hand).
#
# Two tasks. **Two moons** (the SNGP seed): 1,000 points, an out-of-distribution (OOD) Gaussian blob
# that no model sees. **digits28** (the EDL seed's LeNet on scikit-learn's digits, upscaled to 28 x
# 28): every model is trained on the digits 0-4 only; the digits 5-9 are a *near* OOD set (same
# pen, unseen classes) and Fashion-MNIST (when Debian's `dataset-fashion-mnist` is installed) a
# *far* one. A score separates OOD from in-domain inputs if its AUROC (OOD as the positive class) is
# near 1; 0.5 is chance, and 0 means the score is *more* confident on OOD inputs.
#
# Everything here runs through `numpyuq.experiments.compare`, the code behind
# `numpyuq compare --task moons|digits28|fashion-mnist`.
#
# **Run it:** `python tutorials/05_choosing_an_uncertainty_method.py`: five seeds of everything, about
# 6 minutes on 2 cores (`NUMPYUQ_SEEDS=1`: under 2). Figures go to `$OUT_DIR` (default `./figures`).
# `NUMPYUQ_FAST=1` shrinks everything for CI (two seeds), and the claims below are then not checked.

# %%
import os

from numpyuq.experiments.compare import CompareConfig, format_markdown, run_compare, write_figures
from numpyuq.experiments.methods import METHODS

METHOD_NAMES = {name: method.title for name, method in METHODS.items()}


def show_table(markdown):
    """A Markdown table: rendered as a table in a notebook (and on the site), printed in a terminal."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(markdown))
    else:
        print(markdown)

FAST = os.environ.get("NUMPYUQ_FAST") == "1"
SEEDS = int(os.environ.get("NUMPYUQ_SEEDS", "2" if FAST else "5"))     # mean and spread over seeds
OUT_DIR = os.environ.get("OUT_DIR", "figures")
os.makedirs(OUT_DIR, exist_ok=True)


def mean(comparison, method, column):
    """Mean over seeds of one cell of the table."""
    return comparison.summary()[method][column][0]


# %% [markdown]
# ## 1. Two moons: who knows what it does not know?
#
# The seed's residual MLP (6 x 128), 100 epochs of Keras' Adam at lr 1e-4, for all seven methods
# (EDL puts a softplus evidence head and the annealed evidential loss on the same network; SNGP
# normalises the hidden layers to spectral norm 0.9 and replaces the output layer by a
# random-feature GP).

# %%
moons = run_compare(CompareConfig(dataset="moons", seeds=SEEDS, fast=FAST, jobs=2), progress=False)
show_table(format_markdown(moons))
for path in write_figures(moons, OUT_DIR):      # the figures below read them from there
    print("wrote", path)

# %% [markdown]
# ![seven methods on two moons](figures/moons_surfaces.png)
#
# Every method separates the moons. Only SNGP is uncertain on the blob: the other four extrapolate
# their decision boundary, and the blob lies deep inside one class's half-plane, where softmax,
# dropout samples, ensemble members and evidence all agree and are confident. Their AUROC is near 0,
# not 0.5: they are *more* confident on the blob than on the in-domain points near the boundary.
# EDL is no exception: the evidence a ReLU network produces grows linearly away from the data, so
# $u = K/S$ *falls* with distance. The surfaces show it. The checks below hold on every seed we ran.

# %%
if not FAST:
    for method in METHOD_NAMES:
        assert mean(moons, method, "accuracy") >= 0.99, method
    assert mean(moons, "sngp", "blob AUROC own") >= 0.95 and mean(moons, "ddu", "blob AUROC own") >= 0.95
    for method in ("deterministic", "mc_dropout", "ensemble", "edl"):
        assert mean(moons, method, "blob AUROC own") < 0.5, method
    u_test, u_blob = (moons.outputs["edl"][key][1] for key in ("test", "blob"))
    print(f"EDL's u: {u_test.mean():.4f} on test points, {u_blob.mean():.4f} on the blob")
    assert u_blob.mean() < u_test.mean()

# %% [markdown]
# ## 2. Digits: near and far out of distribution
#
# The EDL seed's LeNet (labml's Adam, 40 epochs at batch 64) on the digits 0-4; SNGP is `LeNetSNGP`:
# the convolutions normalised as operators on their input images (spectral norm at most 3) and a GP
# head on LayerNormed features. The ensemble has 5 members, MC dropout 10 samples.

# %%
digits = run_compare(CompareConfig(dataset="digits28", seeds=SEEDS, fast=FAST, jobs=2), progress=False)
show_table(format_markdown(digits))
for path in write_figures(digits, OUT_DIR):
    print("wrote", path)

# %% [markdown]
# ![rotation curves](figures/digits28_rotation.png)
#
# Rotating a "1" walks it out of the training distribution. The figure shows each method's class
# probabilities along the way (EDL's $u$ dashed).
#
# ![entropy on the held-out digits](figures/digits28_entropy_cdf_digits_5-9.png)
#
# The empirical CDF of the predictive entropy on the held-out digits 5-9: a method that is uncertain
# on them has its curve low and to the right.

# %%
oods = list(digits.data.ood)
print(f"{'method':14s} " + " ".join(f"{name + ' AUROC (own)':>28s}" for name in oods))
for method in METHOD_NAMES:
    print(f"{METHOD_NAMES[method]:14s} " + " ".join(f"{mean(digits, method, f'{name} AUROC own'):28.3f}"
                                                    for name in oods))
best = {name: max(METHOD_NAMES, key=lambda m: mean(digits, m, f"{name} AUROC own")) for name in oods}
print("best own score per OOD set:", {name: METHOD_NAMES[m] for name, m in best.items()})
harder = {m: min(oods, key=lambda name: mean(digits, m, f"{name} AUROC own")) for m in METHOD_NAMES}
print("the harder OOD set for each method:", {METHOD_NAMES[m]: name for m, name in harder.items()})
if not FAST:
    for method in METHOD_NAMES:
        assert mean(digits, method, "accuracy") >= 0.95, method
        assert all(mean(digits, method, f"{name} AUROC own") > 0.5 for name in oods), method

# %% [markdown]
# On images the picture changes: every method does better than chance on every OOD set (checked
# above), because a LeNet's features of an unseen shape are rarely as extreme as the blob's
# coordinates. The methods still differ, and the printout says by how much: which score separates
# each set best, and which set is the harder one for each method: "near" need not mean "harder".
# The tables give the mean and spread over the seeds (the same as `numpyuq compare --task digits28
# --seeds 5`).
#
# ## 3. What each costs
#
# The `train s` and `predict s` columns are measured on this machine, in this run. The ensemble
# trains $M$ networks (one after another inside its task; `--jobs` runs the comparison's tasks side
# by side), MC dropout runs $S$ forward passes per prediction, EDL and the deterministic network cost
# one training and one pass, and SNGP adds power iterations on each training step and a triangular
# solve per prediction (the variance). DDU and last-layer Laplace cost their network's training plus
# a fit after it (class covariances; a Hessian and its eigenvalues), and at prediction a density or
# a logit covariance per input.

# %%
for comparison in (moons, digits):
    costs = {METHOD_NAMES[m]: (mean(comparison, m, "train s"), mean(comparison, m, "predict s"))
             for m in METHOD_NAMES}
    cheapest = min(costs.values())[0]
    print(comparison.config.dataset + ": " + ", ".join(
        f"{name} train x{train / cheapest:.1f}, predict {predict:.2f} s" for name, (train, predict) in costs.items()))

# %% [markdown]
# ## 4. Choosing
#
# * **You need to know when an input is unlike anything in training** (OOD detection, distance
#   awareness): SNGP, or DDU if the network is already trained (it needs spectral normalisation in
#   training, and then only a density fit). They are the two of the seven whose uncertainty grows with
#   distance by construction, and each costs one network. Last-layer Laplace, also post hoc, bounds
#   the confidence far from the data but does not rank far inputs above hard in-domain ones here.
# * **You need calibrated probabilities in domain**: the deep ensemble, if you can pay $M$ trainings;
#   MC dropout is the cheap approximation, at $S$ passes per prediction.
# * **You want one network, one pass, and an explicit "I don't know" mass**: EDL. Its $u$ flags
#   ambiguous and misclassified inputs well (see `tutorials/04_evidential_mnist.py`), but it is not
#   distance aware, as the moons show.
# * **Whatever you choose**, measure on *your* OOD sets: near and far OOD rank the methods
#   differently, and a single seed can mislead.
