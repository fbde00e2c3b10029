"""The SNGP seed's comparison on two moons: deterministic net, SNGP, MC dropout, deep ensemble.

Every method is trained on the same 1,000 points and scored on a *fresh* two-moons sample
(in-domain accuracy, ECE) and on the OOD blob at (2.5, -1.75) (AUROC of in-domain vs OOD, by the
maximum probability and by the method's own uncertainty).
"""
import time
from dataclasses import dataclass, field

import numpy as np

from ..data import make_grid, make_moons_data, make_ood_data
from ..losses import SoftmaxCrossEntropy, softmax
from ..metrics import (accuracy, dempster_shafer, expected_calibration_error,
                       max_probability_uncertainty, mutual_information, ood_auroc)
from ..models import DeepResNet, DeepResNetSNGP
from ..optim import keras_adam
from ..training import fit, predict
from ..uncertainty import DeepEnsemble, ResetCovariance, mc_dropout_predict, mean_field_logits

RESNET_CONFIG = dict(num_classes=2, num_layers=6, num_hidden=128)


@dataclass
class MethodResult:
    """Probabilities (N, 2) and uncertainty scores (N,) on the test, OOD and grid points."""
    name: str
    own_uncertainty: str
    probs: dict = field(default_factory=dict)
    uncertainty: dict = field(default_factory=dict)
    train_seconds: float = 0.0
    predict_seconds: float = 0.0

    def metrics(self, y_test):
        return {
            "accuracy": accuracy(self.probs["test"], y_test),
            "ece": expected_calibration_error(self.probs["test"], y_test),
            "auroc_maxprob": ood_auroc(max_probability_uncertainty(self.probs["test"]),
                                       max_probability_uncertainty(self.probs["ood"])),
            "auroc_own": ood_auroc(self.uncertainty["test"], self.uncertainty["ood"]),
        }


def make_member(seed):
    """One deterministic DeepResNet of the seed's configuration (picklable, for joblib)."""
    return DeepResNet(**RESNET_CONFIG, seed=seed)


def _train(model, x, y, epochs, seed, callbacks=(), progress=True):
    start = time.perf_counter()
    fit(model, SoftmaxCrossEntropy(), keras_adam(model.parameters(), lr=1e-4), x, y, epochs=epochs,
        batch_size=128, callbacks=callbacks, seed=seed, progress=progress)
    return time.perf_counter() - start


def run_comparison(seed=0, epochs=100, num_samples=10, ensemble_size=10, n_jobs=1, progress=True):
    """Train and score all four methods.  Returns (data dict, list of MethodResult)."""
    x, y = make_moons_data(seed=seed)
    x_test, y_test = make_moons_data(seed=seed + 1000)
    data = {"x": x, "y": y, "x_test": x_test, "y_test": y_test,
            "x_ood": make_ood_data(seed=seed + 1), "grid": make_grid()}
    points = {k: data[k] for k in ("x_test", "x_ood", "grid")}
    names = {"x_test": "test", "x_ood": "ood", "grid": "grid"}
    results = []

    # Deterministic network: softmax; own uncertainty the Dempster-Shafer score K / (K + sum e^logit).
    det = MethodResult("Deterministic", "Dempster-Shafer")
    model = DeepResNet(**RESNET_CONFIG, seed=seed)
    det.train_seconds = _train(model, x, y, epochs, seed, progress=progress)
    start = time.perf_counter()
    for key, pts in points.items():
        logits = predict(model, pts)
        det.probs[names[key]] = np.asarray(softmax(logits), np.float64)
        det.uncertainty[names[key]] = dempster_shafer(logits)
    det.predict_seconds = time.perf_counter() - start
    results.append(det)

    # SNGP: mean-field probabilities; own uncertainty the GP posterior variance.
    sngp = MethodResult("SNGP", "GP variance")
    sngp_model = DeepResNetSNGP(**RESNET_CONFIG, spec_norm_bound=0.9, seed=seed)
    sngp.train_seconds = _train(sngp_model, x, y, epochs, seed, [ResetCovariance()], progress)
    start = time.perf_counter()
    for key, pts in points.items():
        logits, variance = sngp_model.predict_with_variance(pts)
        sngp.probs[names[key]] = np.asarray(softmax(mean_field_logits(logits, variance)), np.float64)
        sngp.uncertainty[names[key]] = variance
    sngp.predict_seconds = time.perf_counter() - start
    results.append(sngp)

    # MC dropout on the deterministic network (as the seed); own uncertainty the mutual information.
    mc = MethodResult("MC dropout", "mutual information", train_seconds=det.train_seconds)
    start = time.perf_counter()
    for key, pts in points.items():
        probs, samples = mc_dropout_predict(model, pts, num_samples=num_samples, return_samples=True)
        mc.probs[names[key]], mc.uncertainty[names[key]] = probs, mutual_information(samples)
    mc.predict_seconds = time.perf_counter() - start
    results.append(mc)

    # Deep ensemble of independently trained networks; own uncertainty the mutual information.
    ens = MethodResult("Deep ensemble", "mutual information")
    start = time.perf_counter()
    ensemble = DeepEnsemble(make_member, size=ensemble_size, seed=seed + 1).fit(
        x, y, epochs=epochs, n_jobs=n_jobs, progress=progress)
    ens.train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for key, pts in points.items():
        probs, samples = ensemble.predict(pts, return_samples=True)
        ens.probs[names[key]], ens.uncertainty[names[key]] = probs, mutual_information(samples)
    ens.predict_seconds = time.perf_counter() - start
    results.append(ens)
    return data, results


def format_table(results, y_test):
    """The comparison as a fixed-width text table."""
    header = (f"{'method':15s} {'accuracy':>8s} {'ECE':>6s} {'AUROC(maxprob)':>15s} "
              f"{'AUROC(own)':>11s}  {'own uncertainty':20s} {'train s':>8s} {'predict s':>9s}")
    lines = [header, "-" * len(header)]
    for r in results:
        m = r.metrics(y_test)
        lines.append(f"{r.name:15s} {m['accuracy']:8.3f} {m['ece']:6.3f} {m['auroc_maxprob']:15.3f} "
                     f"{m['auroc_own']:11.3f}  {r.own_uncertainty:20s} {r.train_seconds:8.2f} "
                     f"{r.predict_seconds:9.2f}")
    return "\n".join(lines)
