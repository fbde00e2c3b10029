# %% [markdown]
# # Evidential deep learning, by hand: a Dirichlet over the softmax
#
# **What you will learn.** How a classifier can say "I don't know" by predicting the parameters of a
# Dirichlet distribution instead of one probability vector: Sensoy, Kaplan, Kandemir, "Evidential Deep
# Learning to Quantify Classification Uncertainty" (NeurIPS 2018, https://arxiv.org/abs/1806.01768),
# as labml.ai's annotated experiment implements it
# (https://nn.labml.ai/uncertainty/evidence/experiment.html). We derive the three losses and the KL
# regulariser, check every gradient by finite differences, train the seed's LeNet, and run the paper's
# evaluations against a softmax LeNet trained the same way.
#
# **Run it:** `python tutorials/04_evidential_mnist.py` (digits28, a few minutes on 2 CPU cores).
# `NUMPYUQ_DATASET=fashion-mnist` trains on the real 60,000 Fashion-MNIST images (Debian's
# `dataset-fashion-mnist`); `NUMPYUQ_FAST=1` shrinks the run for CI. Figures go to `$OUT_DIR`
# (default `./figures`).

# %%
import os

import numpy as np
from matplotlib.figure import Figure

from numpyuq.experiments import evidential as edl
from numpyuq.gradcheck import check_pair
from numpyuq.losses import KLDivergenceLoss, SquaredErrorBayesRisk
from numpyuq.losses.evidential import (cross_entropy_bayes_risk_backward, cross_entropy_bayes_risk_forward,
                                       kl_divergence_backward, kl_divergence_forward,
                                       maximum_likelihood_backward, maximum_likelihood_forward,
                                       squared_error_bayes_risk_backward, squared_error_bayes_risk_forward)
from numpyuq.nn.evidence import softplus_backward, softplus_forward
from numpyuq.optim import RelativePiecewise
from numpyuq.plotting import plot_entropy_cdfs, plot_rotation_curves, plot_uncertainty_histograms, show
from numpyuq.uncertainty import dirichlet_measures

FAST = os.environ.get("NUMPYUQ_FAST") == "1"
DATASET = os.environ.get("NUMPYUQ_DATASET", "digits28")
OUT_DIR = os.environ.get("OUT_DIR", "figures")
os.makedirs(OUT_DIR, exist_ok=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Evidence, the Dirichlet, and the uncertainty mass
#
# A softmax network maps an image to one point on the probability simplex, and nothing in that point
# says how much data supports it. EDL instead reads the network's $K$ outputs as *evidence*
# $e_k \ge 0$ for each class (after an evidence function: ReLU, softplus or a clipped exp), and places a
# Dirichlet over the class probabilities with $\alpha_k = e_k + 1$. Its strength $S = \sum_k \alpha_k$
# counts the evidence; its mean $\hat p_k = \alpha_k / S$ is the prediction; and subjective logic's
# *uncertainty mass* $u = K / S$ is 1 with no evidence at all and shrinks as evidence accumulates
# (eq. 1 of the paper; the belief masses $b_k = e_k / S$ and $u$ sum to 1).

# %%
evidence = np.array([[0.0, 0.0, 0.0],        # no evidence: uniform, u = 1
                     [8.0, 0.0, 0.0],        # evidence for class 0
                     [80.0, 0.0, 0.0],       # ten times more of it
                     [40.0, 40.0, 0.0]])     # much evidence, but split between two classes
measures = dirichlet_measures(evidence)
for e, p, u, mi, aleatoric in zip(evidence, measures.probs, measures.uncertainty_mass,
                                  measures.mutual_information, measures.expected_entropy):
    print(f"evidence {e}: p = {np.round(p, 3)}, u = {u:.3f}, "
          f"mutual information (epistemic) {mi:.3f}, expected entropy (aleatoric) {aleatoric:.3f}")
assert measures.uncertainty_mass[0] == 1.0 and measures.uncertainty_mass[2] < measures.uncertainty_mass[1]

# %% [markdown]
# The last row is the interesting one: the prediction is as uncertain as a coin flip, but the model
# has seen plenty of evidence; the Dirichlet separates this *aleatoric* uncertainty (the expected
# entropy is high) from the *epistemic* kind (the mutual information is small, and so is u).
#
# ## 2. Three losses, and their gradients
#
# With one-hot targets $y$, the paper offers three ways to fit the Dirichlet to the label:
#
# * type-II maximum likelihood (eq. 3): $\sum_k y_k(\log S - \log\alpha_k)$, the negative log of the
#   marginal likelihood of the label;
# * the Bayes risk of the cross-entropy (eq. 4): $\sum_k y_k(\psi(S) - \psi(\alpha_k))$, with $\psi$ the
#   digamma function, because $E[\log p_k] = \psi(\alpha_k) - \psi(S)$ under $\mathrm{Dir}(\alpha)$;
# * the Bayes risk of the squared error (eq. 5), the seed's choice:
#   $\sum_k (y_k - \hat p_k)^2 + \hat p_k(1 - \hat p_k)/(S + 1)$, the squared bias plus the variance of
#   $p_k$ under the Dirichlet.
#
# Each depends on $e$ only through $\alpha = e + 1$, so the gradient is $\partial L/\partial\alpha$. For the
# squared error, with $\partial\hat p_k/\partial\alpha_j = ([k = j] - \hat p_k)/S$ and $\partial S/\partial\alpha_j = 1$:
#
# $$\frac{\partial L}{\partial\alpha_j} = \frac{g_j - \sum_k g_k\hat p_k}{S} - \sum_k\frac{\hat p_k(1 - \hat p_k)}{(S + 1)^2},
# \qquad g_k = -2(y_k - \hat p_k) + \frac{1 - 2\hat p_k}{S + 1}.$$
#
# The others are shorter (the trigamma $\psi'$ appears for eq. 4); all are derived in
# `numpyuq/losses/evidential.py`. Here each is checked through the softplus evidence function, from
# logits to loss, against central finite differences:

# %%
def through_softplus(loss_forward, loss_backward):
    def forward(z, targets):
        e, e_cache = softplus_forward(z)
        loss, l_cache = loss_forward(e, targets)
        return loss, (e_cache, l_cache)

    def backward(dy, cache):
        (de,) = loss_backward(dy, cache[1])
        return softplus_backward(de, cache[0])
    return forward, backward


targets = np.eye(10)[rng.integers(0, 10, 8)]
logits = rng.standard_normal((8, 10)) * 2
pairs = {"maximum likelihood": (maximum_likelihood_forward, maximum_likelihood_backward),
         "cross-entropy Bayes risk": (cross_entropy_bayes_risk_forward, cross_entropy_bayes_risk_backward),
         "squared-error Bayes risk": (squared_error_bayes_risk_forward, squared_error_bayes_risk_backward),
         "KL regulariser": (kl_divergence_forward, kl_divergence_backward)}
for name, pair in pairs.items():
    report = check_pair(*through_softplus(*pair), {"logits": logits}, targets=targets)
    print(f"{name:25s} max relative error {report.max_rel_error:.1e}")
    assert report.max_rel_error < 1e-6

# %% [markdown]
# ## 3. Why a KL term, and why anneal it
#
# The losses above reward evidence for the right class but never penalise evidence for the wrong ones
# as long as the right class dominates. The regulariser removes the target's evidence,
# $\tilde\alpha = y + (1 - y)\alpha$, and penalises $\mathrm{KL}(\mathrm{Dir}(\tilde\alpha)\,\|\,\mathrm{Dir}(1))$, the
# divergence from the "I know nothing" Dirichlet: misleading evidence shrinks towards zero, which is
# what makes u large on inputs that fit no class.

# %%
kl = KLDivergenceLoss()
for wrong_evidence in (0.0, 1.0, 10.0, 100.0):
    e = np.array([[50.0, wrong_evidence, 0.0]])
    print(f"evidence for the wrong class {wrong_evidence:5.1f}: KL {float(kl(e, np.array([0]))):.3f}; "
          f"squared-error risk {float(SquaredErrorBayesRisk()(e, np.array([0]))):.4f}")

# %% [markdown]
# Switched on fully from the first step, the KL term would also stop the network from collecting
# evidence for the right class, and everything would sit at u = 1. So its weight $\lambda_t$ grows during
# training. The paper uses $\lambda_t = \min(1, t/10)$ for epoch $t$. labml, whose experiment is our seed,
# uses a piecewise-linear schedule over the *samples* seen: 0 at the start, 0.01 after 20% of
# training, 1 at the end. Over the seed's 10 epochs the two are very different:

# %%
epochs, samples = 10, 60_000
labml = RelativePiecewise([(0, 0.0), (0.2, 0.01), (1, 1.0)], epochs * samples)
fraction = np.linspace(0, 1, 201)
fig = Figure(figsize=(5.5, 3.5))
ax = fig.subplots()
ax.plot(fraction * epochs, [labml(f * epochs * samples) for f in fraction], label="labml (the seed)")
ax.plot(fraction * epochs, np.minimum(1, np.floor(fraction * epochs * 0.999) / 10), label="paper: min(1, t / 10)")
ax.set_xlabel("epoch")
ax.set_ylabel("KL coefficient")
ax.legend()
fig.tight_layout()
fig.savefig(os.path.join(OUT_DIR, "edl_kl_schedules.png"), dpi=90)
show(os.path.join(OUT_DIR, "edl_kl_schedules.png"))
print("coefficient at the end of each epoch, labml:", " ".join(f"{labml((t + 1) * samples):.3f}" for t in range(epochs)))
print("coefficient during each epoch, paper:       ", " ".join(f"{min(1, t / 10):.3f}" for t in range(epochs)))

# %% [markdown]
# ## 4. Training the seed's LeNet
#
# `AnnealedEvidentialLoss` is both the loss and a `fit` callback, so the schedule sees the sample
# counter without a second training loop; `TrackStatistics` prints labml's per-epoch statistics on the
# test set. The configuration is the seed's: LeNet with dropout 0.5, batch 64, labml's Adam (lr
# $10^{-3}$, decoupled weight decay $5\cdot10^{-3}$), squared-error risk, softplus evidence. digits28 is 45
# times smaller than MNIST, so it trains 40 epochs instead of 10 (`numpyuq/experiments/evidential.py`
# says why). The softmax LeNet is trained with the same network, optimizer and epochs.

# %%
config = edl.EvidentialConfig(dataset=DATASET, epochs=3 if FAST else None)
data, ood_images, ood_name = edl.load_experiment_data(config)
print(f"{DATASET}: {len(data.y_train)} training and {len(data.y_test)} test images; OOD set: "
      f"{ood_name if ood_images is not None else 'none (' + ood_name + ')'}")
edl_model, history, edl_seconds = edl.train(config, data, progress=False, verbose=True)
softmax_model, _, softmax_seconds = edl.train(config, data, evidential=False, progress=False)
print(f"EDL trained in {edl_seconds:.1f} s, softmax in {softmax_seconds:.1f} s")

# %% [markdown]
# ## 5. The paper's evaluations
#
# **Uncertainty of right and wrong answers.** A useful u is small when the model is right and large
# when it is wrong. For the softmax network we use its own uncertainty in numpyuq's vocabulary: the
# same mass read from its logits, $K / (K + \sum_k e^{z_k})$ (evidence $e^{z}$; the Dempster-Shafer score).

# %%
results = {"EDL": edl.evaluate(edl_model, data, ood_images),
           "softmax": edl.evaluate(softmax_model, data, ood_images)}
for name, result in results.items():
    print(edl.format_report(name, result))
path = plot_uncertainty_histograms([(name, r["split"]) for name, r in results.items()],
                                   os.path.join(OUT_DIR, "edl_uncertainty_histograms.png"),
                                   xlabel="u = K / S for EDL, K / (K + sum e^z) for softmax")
show(path)
if not FAST and DATASET == "digits28":
    assert results["EDL"]["accuracy"] >= 0.97
    assert results["EDL"]["uncertainty_wrong"] > 2 * results["EDL"]["uncertainty_correct"]

# %% [markdown]
# **A rotating digit** (the paper's Figure 1). A "1" is rotated from 0 to 180 degrees. The softmax
# network jumps from one confident answer to another; EDL's u rises as soon as the digit stops looking
# like anything it was trained on. The digits of scikit-learn's set write "1" with a foot, so once it
# lies on its side it looks like a "4", and both models say so: u falls again there. That is the
# method's limit, not a bug: evidence is only as good as the features that produce it.

# %%
path = plot_rotation_curves([(name, r["rotation"]) for name, r in results.items()],
                            os.path.join(OUT_DIR, "edl_rotation.png"))
show(path)
u = results["EDL"]["rotation_mean_uncertainty"]
print("mean u of the test 1s by angle:", " ".join(f"{a:.0f}:{v:.2f}" for a, v in zip(results["EDL"]["rotation"].angles, u)))
if not FAST:
    assert u[1:].mean() > u[0]

# %% [markdown]
# **Images of another kind** (the paper's notMNIST figure). For a digit model we show it Fashion-MNIST;
# a model that knows it has never seen such images spreads its probabilities, so the CDF of the
# predictive entropy stays low until near the maximum $\log 10$. Alongside, the AUROC of telling these
# images from the test digits by each model's own uncertainty.

# %%
if ood_images is not None:
    path = plot_entropy_cdfs([(name, r["entropy_cdf"]) for name, r in results.items()],
                             os.path.join(OUT_DIR, "edl_entropy_cdf.png"),
                             title=f"{ood_name} images, models trained on {DATASET}")
    show(path)
    for name, result in results.items():
        grid, cdf = result["entropy_cdf"]
        print(f"{name:8s} fraction of OOD images with entropy below half the maximum: "
              f"{cdf[len(cdf) // 2]:.2f}; OOD AUROC, own uncertainty {result['ood_auroc_own']:.3f}")

# %% [markdown]
# EDL spreads its probabilities on the unfamiliar images far more than the softmax network does,
# which is the paper's claim. Ranking them against the test set is another matter: EDL is also less
# sure of the familiar digits, so its AUROC need not beat the softmax network's maximum probability,
# and on digits28 it does not. `numpyuq compare` puts this next to SNGP, MC dropout and ensembles.
#
# ## 6. Reproduction hazards
#
# * **Weight decay.** labml's Adam applies weight decay *decoupled* (`p *= 1 - lr * wd`, biases too),
#   like AdamW, where `torch.optim.Adam(weight_decay=...)` adds an L2 gradient. With wd = 5e-3 the two
#   regularise differently; `Adam(decoupled=True)` is the seed's.
# * **Where eps goes.** labml (and Keras, the SNGP seed's) add eps to $\sqrt{v}$ *before* the bias
#   correction, Kingma & Ba's $\hat\epsilon$; torch adds it after. `Adam(eps_placement="raw")` is the seed's.
# * **Dead ReLU evidence.** With ReLU evidence a class whose logit is negative has zero evidence *and*
#   zero gradient; a network can stop learning a class. Softplus (the seed's) never has exactly zero.
# * **Which clock the schedule reads.** The paper anneals by epochs, labml by samples seen, with its
#   counter advanced by the batch before the coefficient is read. Section 3 prints both over the
#   seed's 10 epochs: labml's stays near zero for the first fifth of training, then climbs to 1 at
#   the very end; the paper's steps up by 0.1 an epoch and never reaches 1 within 10 epochs.
# * **exp evidence overflows.** $e^{z}$ is infinite in float32 beyond z = 88; every implementation clips
#   the logits (we clip at 10). The uncertainty mass has an exact log-space form,
#   `uncertainty_from_log_evidence`, which is also the Dempster-Shafer score of a softmax network.
