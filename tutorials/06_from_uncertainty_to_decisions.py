# %% [markdown]
# # From uncertainty to decisions: temperature scaling, abstention and conformal prediction sets
#
# **What you will learn.** Three ways to act on a classifier's uncertainty, each derived in a few
# lines of NumPy first and then called from numpyuq: recalibrate its confidence with one temperature
# (Guo et al. 2017, https://arxiv.org/abs/1706.04599), abstain on the inputs it is least sure of (the
# risk-coverage curve), and predict *sets* of labels that contain the true one 90% of the time
# (split conformal prediction; Angelopoulos & Bates 2021, https://arxiv.org/abs/2107.07511). All
# seven methods of `numpyuq compare` go through the same three steps: they differ only in the
# probabilities and the uncertainty they hand over. Last, why "the ECE" of two libraries differs.
#
# **Run it:** `python tutorials/06_from_uncertainty_to_decisions.py` (digits28, about a minute on 2
# cores; `NUMPYUQ_FAST=1`: a few seconds, and the claims below are then not checked). Figures go to
# `$OUT_DIR` (default `./figures`).

# %%
import os

import numpy as np
from matplotlib.figure import Figure

from numpyuq import metrics
from numpyuq.calibration import NoFiniteTemperature, TemperatureScaling
from numpyuq.conformal import SplitConformal
from numpyuq.experiments.data import load_dataset
from numpyuq.experiments.methods import METHODS, Run, train_method
from numpyuq.plotting import plot_reliability

FAST = os.environ.get("NUMPYUQ_FAST") == "1"
OUT_DIR = os.environ.get("OUT_DIR", "figures")
os.makedirs(OUT_DIR, exist_ok=True)

# %% [markdown]
# ## The seven methods, and data none of them trained on
#
# The seven methods of `numpyuq compare` (its registry, `experiments.methods`) train on digits28's
# 1,347 training images, all ten digits. The 450 held-out images are split in two: a *calibration*
# half, on which every decision below is fitted, and an *evaluation* half, on which it is judged.
# Fitting and judging on the same images would grade the exam with its own answers.

# %%
data = load_dataset("digits28")
run = Run(data, seed=0, epochs=2 if FAST else 20, batch_size=64, ensemble_size=3, mc_samples=5)
order = np.random.default_rng(0).permutation(len(data.y_test))
calibration, evaluation = order[:len(order) // 2], order[len(order) // 2:]
y_cal, y_eval = data.y_test[calibration], data.y_test[evaluation]
outputs = {}
for name in METHODS:
    trained = train_method(name, run)
    probs, own = trained.predict(data.x_test)
    outputs[name] = ((probs[calibration], own[calibration]), (probs[evaluation], own[evaluation]))
print(f"{len(data.y_train)} training, {len(y_cal)} calibration, {len(y_eval)} evaluation images")

# %% [markdown]
# ## 1. Temperature scaling, by hand
#
# Divide every logit by one T > 0. With $\beta = 1/T$ and $p = \mathrm{softmax}(\beta z)$ the mean
# negative log-likelihood and its derivatives are
#
# $$f(\beta) = \frac1N \sum_n \Big[\log\sum_k e^{\beta z_{nk}} - \beta z_{n y_n}\Big],\quad
#   f'(\beta) = \frac1N \sum_n \big(\mathbb{E}_{p_n}[z] - z_{n y_n}\big),\quad
#   f''(\beta) = \frac1N \sum_n \mathrm{Var}_{p_n}[z] \ge 0,$$
#
# so $f$ is convex in $\beta$ and Newton's method finds its minimum in a few steps. Any method's
# log-probabilities serve as logits ($\mathrm{softmax}(\log p) = p$), EDL's included. The argmax, and
# so the accuracy, never changes.

# %%
def newton_temperature(logits, labels, steps=20):
    beta = 1.0
    for _ in range(steps):
        z = beta * logits
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        mean = (p * logits).sum(axis=1)
        gradient = np.mean(mean - logits[np.arange(len(labels)), labels])
        hessian = np.mean((p * logits ** 2).sum(axis=1) - mean ** 2)
        beta -= gradient / hessian
    return 1 / beta


print(f"{'method':18s} {'T by hand':>10s} {'numpyuq T':>10s} {'NLL before':>11s} {'after':>7s}")
for name, ((cal_probs, _), (test_probs, _)) in outputs.items():
    cal_logits, test_logits = np.log(np.maximum(cal_probs, 1e-300)), np.log(np.maximum(test_probs, 1e-300))
    try:
        scaling = TemperatureScaling().fit(cal_logits, y_cal)
    except NoFiniteTemperature as err:        # e.g. every calibration prediction right
        print(f"{METHODS[name].title:18s} {err}")
        continue
    scaled = scaling.predict_proba(test_logits)
    by_hand = newton_temperature(cal_logits, y_cal)
    print(f"{METHODS[name].title:18s} {by_hand:10.4f} {scaling.temperature_:10.4f} "
          f"{metrics.nll(test_probs, y_eval):11.4f} {metrics.nll(scaled, y_eval):7.4f}")
    assert abs(by_hand - scaling.temperature_) < 1e-6 * scaling.temperature_
    assert (scaled.argmax(axis=1) == test_probs.argmax(axis=1)).all()          # accuracy unchanged

# %% [markdown]
# ## 2. Abstaining: the risk-coverage curve
#
# Sort the test inputs by the method's own uncertainty, keep the most certain fraction, and measure
# the error among those kept. A useful uncertainty makes the error fall as fewer inputs are kept; the
# area under that curve (AURC) summarises it, and a random order gives about the overall error.

# %%
fig = Figure(figsize=(6, 4))
ax = fig.subplots()
for name, (_, (test_probs, own)) in outputs.items():
    coverage, risk = metrics.risk_coverage_curve(test_probs, y_eval, own)
    ax.plot(coverage, risk, label=f"{METHODS[name].title} (AURC {metrics.aurc(test_probs, y_eval, own):.4f})")
    errors = test_probs.argmax(axis=1) != y_eval
    kept = np.argsort(own, kind="stable")[:len(own) // 2]                         # by hand: the half kept
    print(f"{METHODS[name].title:18s} error, all inputs {errors.mean():.4f}; the most certain half {errors[kept].mean():.4f}")
    if not FAST:
        assert errors[kept].mean() <= errors.mean()
ax.set_xlabel("coverage (fraction of inputs kept)")
ax.set_ylabel("error among the kept inputs")
ax.legend(fontsize=7)
fig.tight_layout()
path = os.path.join(OUT_DIR, "risk_coverage.png")
fig.savefig(path, dpi=90)
print("wrote", path)

# %% [markdown]
# ![risk-coverage](figures/risk_coverage.png)
#
# ## 3. Prediction sets with a 90% guarantee
#
# The LAC score of a labelled input is $s = 1 - p_y$. On the calibration split take the
# $k$-th smallest score, $k = \lceil (n + 1)(1 - \alpha) \rceil$, as the threshold $q$; a new input's
# set is every label with $1 - p_k \le q$. If calibration and test points are exchangeable, the set
# holds the true label with probability at least $1 - \alpha$: on average over inputs (not for each
# one), and only as long as the data do not shift.

# %%
alpha = 0.1
for name, ((cal_probs, _), (test_probs, _)) in outputs.items():
    scores = 1 - cal_probs[np.arange(len(y_cal)), y_cal]
    k = int(np.ceil((len(scores) + 1) * (1 - alpha)))
    threshold = np.sort(scores)[k - 1]
    sets_by_hand = 1 - test_probs <= threshold + 1e-8
    conformal = SplitConformal("lac").fit(cal_probs, y_cal, alpha)
    assert (conformal.predict_sets(test_probs) == sets_by_hand).all()
    result = conformal.evaluate(test_probs, y_eval)
    print(f"{METHODS[name].title:18s} coverage {result['coverage']:.3f}, mean set size {result['mean_set_size']:.3f}")
    if not FAST:
        assert result["coverage"] >= 1 - alpha - 0.05       # the guarantee, up to this test set's sampling error

# %% [markdown]
# ## 4. "The ECE" depends on its bins
#
# The expected calibration error averages |accuracy - confidence| over confidence bins, weighted by
# their size. Libraries choose the bins differently: 15 equal-width bins (numpyuq), equal numbers of
# points (the adaptive ECE), or uncertainty-baselines' 10 bins [lo, hi) in which a confidence of
# exactly 1.0 falls in no bin. The arguments of `metrics.expected_calibration_error` name each choice
# (the API page lists the libraries' conventions). The reliability diagrams show how many points each
# bin holds: a bin of three points far from the diagonal is no evidence.

# %%
for name, (_, (test_probs, _)) in outputs.items():
    print(f"{METHODS[name].title:18s} ECE {metrics.expected_calibration_error(test_probs, y_eval):.4f}, "
          f"adaptive {metrics.expected_calibration_error(test_probs, y_eval, binning='mass'):.4f}, "
          f"uncertainty-baselines' {metrics.expected_calibration_error(test_probs, y_eval, 10, closed='left', top='none'):.4f}")
path = plot_reliability([(METHODS[name].title, test_probs) for name, (_, (test_probs, _)) in outputs.items()],
                        y_eval, os.path.join(OUT_DIR, "decisions_reliability.png"))
print("wrote", path)

# %% [markdown]
# ![reliability](figures/decisions_reliability.png)
#
# `numpyuq compare` puts all of this in one table for every method: the fitted T, NLL and ECE after
# it, conformal coverage and set size at 90%, and the AURC of the method's own uncertainty.
