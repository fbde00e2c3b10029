"""Five uncertainty methods side by side, on two moons and on digits: the comparison no single public
project makes (uncertainty-baselines and Fortuna have SNGP but no EDL; torch-uncertainty has EDL but
no SNGP).

    deterministic  a softmax network                       own uncertainty: Dempster-Shafer K / (K + sum e^z)
    MC dropout     the same network, dropout at test time  mutual information (Gal & Ghahramani 2016)
    deep ensemble  independently trained networks          mutual information (Lakshminarayanan et al. 2017)
    EDL            evidential network, Dirichlet output    u = K / S (Sensoy et al. 2018)
    SNGP           spectral norm + random-feature GP       GP posterior variance (Liu et al. 2020)

Every method trains on the same data from the same seed. In-domain: accuracy, NLL, Brier, ECE.
Out of distribution: AUROC and AUPR (OOD positive) by 1 - max probability and by the method's own
uncertainty, for each OOD set:

    moons          the SNGP seed's Gaussian blob at (2.5, -1.75)
    digits28       trained on digits 0-4: Fashion-MNIST test images (far OOD, when installed) and
                   the test digits 5-9 (near OOD: same pen, unseen classes)
    fashion-mnist  trained on all ten classes: the digits28 images

The networks are the seeds': the SNGP seed's DeepResNet on moons, the EDL seed's LeNet on images
(``LeNetSNGP`` for SNGP). ``CompareConfig(fast=True)`` (or ``NUMPYUQ_FAST=1``) shrinks epochs and
sets for tests and CI.
"""
import functools
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..backend import to_numpy
from ..data import load_digits28, load_fashion_mnist, make_grid, make_moons_data, make_ood_data
from ..losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy, softmax
from ..metrics import (classification_metrics, max_probability_uncertainty, mutual_information,
                       ood_aupr, ood_auroc)
from ..models import DeepResNet, DeepResNetSNGP, EvidentialClassifier, LeNet, LeNetSNGP
from ..optim import Adam, keras_adam
from ..training import fit, predict_logits
from ..uncertainty import DeepEnsemble, uncertainty_mass_from_logits, mc_dropout_predict, mean_field_logits, refit_covariance
from ..validation import check_choice, check_positive_int

TASKS = ("moons", "digits28", "fashion-mnist")
METHODS = ("deterministic", "mc_dropout", "ensemble", "edl", "sngp")
METHOD_NAMES = {"deterministic": "Deterministic", "mc_dropout": "MC dropout", "ensemble": "Deep ensemble",
                "edl": "EDL", "sngp": "SNGP"}
OWN_UNCERTAINTY = {"deterministic": "Dempster-Shafer", "mc_dropout": "mutual information",
                   "ensemble": "mutual information", "edl": "u = K / S", "sngp": "GP variance"}
IN_DOMAIN_CLASSES = 5          # digits28: train on 0-4, hold 5-9 out as near-OOD
FAR_OOD_SIZE = 2000            # Fashion-MNIST test images scored for digit models


@dataclass
class CompareConfig:
    """What ``numpyuq compare`` runs: seeds first_seed .. first_seed + seeds - 1.  ``epochs`` /
    ``ensemble_size`` None: the task's default."""
    task: str = "moons"
    seeds: int = 1
    first_seed: int = 0
    jobs: int = 2
    methods: tuple = METHODS
    epochs: int = None
    ensemble_size: int = None
    mc_samples: int = 10
    fast: bool = False

    def __post_init__(self):
        check_choice(self.task, "task", TASKS)
        self.methods = tuple(self.methods)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {self.methods!r}")
        check_positive_int(self.seeds, "seeds")
        check_positive_int(self.first_seed, "first_seed", minimum=0)
        check_positive_int(self.jobs, "jobs")
        check_positive_int(self.mc_samples, "mc_samples")
        defaults = TASK_DEFAULTS[self.task]
        if self.epochs is None:
            self.epochs = defaults["fast_epochs" if self.fast else "epochs"]
        if self.ensemble_size is None:
            self.ensemble_size = 2 if self.fast else defaults["ensemble_size"]
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.ensemble_size, "ensemble_size")


TASK_DEFAULTS = {
    "moons": dict(epochs=100, fast_epochs=10, ensemble_size=10, batch_size=128),
    "digits28": dict(epochs=40, fast_epochs=4, ensemble_size=5, batch_size=64),
    "fashion-mnist": dict(epochs=10, fast_epochs=1, ensemble_size=5, batch_size=64),
}


@dataclass
class TaskData:
    """Training and test arrays, the OOD sets by name, and what the task's figures need."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    ood: dict
    num_classes: int
    grid: np.ndarray = None             # moons: the plane
    rotation_image: np.ndarray = None   # images: a test "1", rotated for the rotation curves


def load_task(task, seed=0, fast=False):
    """The data of ``task`` for one seed (moons draws fresh points per seed; images are fixed)."""
    if task == "moons":
        x, y = make_moons_data(seed=seed)
        x_test, y_test = make_moons_data(seed=seed + 1000)
        return TaskData("moons", x, y, x_test, y_test, {"blob": make_ood_data(seed=seed + 1)}, 2,
                        grid=make_grid(n_grid=40 if fast else 100))
    if task == "digits28":
        digits = load_digits28(normalization="seed")
        keep_train, keep_test = digits.y_train < IN_DOMAIN_CLASSES, digits.y_test < IN_DOMAIN_CLASSES
        ood = {"digits 5-9": digits.x_test[~keep_test]}
        try:
            fashion = load_fashion_mnist(normalization=(digits.mean, digits.std)).x_test
            ood = {"Fashion-MNIST": fashion[:500 if fast else FAR_OOD_SIZE], **ood}
        except FileNotFoundError:
            pass                        # Debian's dataset-fashion-mnist is not installed: near OOD only
        x_test, y_test = digits.x_test[keep_test], digits.y_test[keep_test]
        return TaskData("digits28", digits.x_train[keep_train], digits.y_train[keep_train], x_test, y_test, ood,
                        IN_DOMAIN_CLASSES, rotation_image=x_test[np.flatnonzero(y_test == 1)[0]])
    fashion = load_fashion_mnist(normalization="seed")
    digits = load_digits28(normalization=(fashion.mean, fashion.std))
    train = slice(0, 6000) if fast else slice(None)
    test = slice(0, 1000) if fast else slice(None)
    return TaskData("fashion-mnist", fashion.x_train[train], fashion.y_train[train], fashion.x_test[test],
                    fashion.y_test[test], {"digits28": np.concatenate([digits.x_train, digits.x_test])}, 10,
                    rotation_image=fashion.x_test[np.flatnonzero(fashion.y_test == 1)[0]])


# ---- networks and optimizers (top-level functions: the ensemble pickles them for joblib) --------
RESNET_CONFIG = dict(num_layers=6, num_hidden=128)


def make_network(task, num_classes, seed):
    """The seed's softmax network for ``task``."""
    if task == "moons":
        return DeepResNet(num_classes, seed=seed, **RESNET_CONFIG)
    return LeNet(num_classes=num_classes, seed=seed)


def make_sngp(task, num_classes, seed):
    if task == "moons":
        return DeepResNetSNGP(num_classes, spec_norm_bound=0.9, seed=seed, **RESNET_CONFIG)
    return LeNetSNGP(num_classes=num_classes, seed=seed)


def make_optimizer(task, params):
    """Keras' Adam at lr 1e-4 (the SNGP seed) on moons; labml's Adam (the EDL seed) on images."""
    if task == "moons":
        return keras_adam(params, lr=1e-4)
    return Adam(params, lr=1e-3, weight_decay=5e-3, decoupled=True, eps=1e-8, eps_placement="raw")


# ---- the five methods ---------------------------------------------------------------------------
def on_host(*arrays):
    """Float64 NumPy copies of a method's outputs, wherever they were computed: the tables use
    scikit-learn and the figures matplotlib, both on the host."""
    return tuple(to_numpy(a).astype(np.float64) for a in arrays)


@dataclass
class Trained:
    """A fitted method: ``predict(x) -> (probs (N, K), own uncertainty (N,))`` as NumPy float64."""
    method: str
    predict: object
    train_seconds: float
    model: object = None


def train_methods(config, data, seed, progress=False):
    """Every method of ``config`` trained on ``data`` from ``seed``: {method: Trained}."""
    task, K = config.task, data.num_classes
    batch_size = TASK_DEFAULTS[task]["batch_size"]
    optimizer = functools.partial(make_optimizer, task)

    def train(model, loss):
        start = time.perf_counter()
        fit(model, loss, optimizer(model.parameters()), data.x_train, data.y_train, epochs=config.epochs,
            batch_size=batch_size, seed=seed, progress=progress)
        return time.perf_counter() - start

    trained = {}
    if {"deterministic", "mc_dropout"} & set(config.methods):
        network = make_network(task, K, seed)
        seconds = train(network, SoftmaxCrossEntropy())

        def deterministic(x, network=network):
            logits = predict_logits(network, x).astype(np.float64)
            return on_host(softmax(logits), uncertainty_mass_from_logits(logits))

        def dropout(x, network=network):
            probs, samples = mc_dropout_predict(network, x, num_samples=config.mc_samples, return_samples=True,
                                                seed=seed)
            return on_host(probs, mutual_information(samples))

        if "deterministic" in config.methods:
            trained["deterministic"] = Trained("deterministic", deterministic, seconds, network)
        if "mc_dropout" in config.methods:    # the same network: training costs nothing more
            trained["mc_dropout"] = Trained("mc_dropout", dropout, seconds, network)
    if "ensemble" in config.methods:
        start = time.perf_counter()
        ensemble = DeepEnsemble(functools.partial(make_network, task, K), size=config.ensemble_size,
                                make_optimizer=optimizer, seed=1000 + seed * config.ensemble_size)
        ensemble.fit(data.x_train, data.y_train, epochs=config.epochs, batch_size=batch_size, n_jobs=config.jobs,
                     progress=progress)

        def ensemble_predict(x, ensemble=ensemble):
            probs, samples = ensemble.predict(x, return_samples=True)
            return on_host(probs, mutual_information(samples))

        trained["ensemble"] = Trained("ensemble", ensemble_predict, time.perf_counter() - start, ensemble)
    if "edl" in config.methods:
        edl = EvidentialClassifier(make_network(task, K, seed), "softplus")
        seconds = train(edl, AnnealedEvidentialLoss("mse", schedule="labml"))

        def edl_predict(x, edl=edl):
            measures = edl.measures(x)
            return on_host(measures.probs, measures.uncertainty_mass)

        trained["edl"] = Trained("edl", edl_predict, seconds, edl)
    if "sngp" in config.methods:
        sngp = make_sngp(task, K, seed)
        start = time.perf_counter()
        train(sngp, SoftmaxCrossEntropy())
        # The precision of the final model from clean (inference-mode) features; see refit_covariance.
        refit_covariance(sngp, data.x_train)
        seconds = time.perf_counter() - start

        def sngp_predict(x, sngp=sngp):
            logits, variance = sngp.predict_with_variance(x)         # one pass: probs from the same logits
            return on_host(softmax(mean_field_logits(logits, variance)), variance)

        trained["sngp"] = Trained("sngp", sngp_predict, seconds, sngp)
    return {m: trained[m] for m in config.methods}


def score(trained, data):
    """One method's row: in-domain metrics, OOD AUROC / AUPR by max probability and by its own
    uncertainty for each OOD set, train and predict seconds.  Returns (row dict, predictions)."""
    start = time.perf_counter()
    outputs = {"test": trained.predict(data.x_test)}
    outputs.update({name: trained.predict(x) for name, x in data.ood.items()})
    predict_seconds = time.perf_counter() - start
    probs, own = outputs["test"]
    row = classification_metrics(probs, data.y_test)
    for name in data.ood:
        ood_probs, ood_own = outputs[name]
        by_max_prob = (max_probability_uncertainty(probs), max_probability_uncertainty(ood_probs))
        row[f"{name} AUROC max-prob"] = ood_auroc(*by_max_prob)
        row[f"{name} AUROC own"] = ood_auroc(own, ood_own)
        row[f"{name} AUPR max-prob"] = ood_aupr(*by_max_prob)
        row[f"{name} AUPR own"] = ood_aupr(own, ood_own)
    row["train s"], row["predict s"] = trained.train_seconds, predict_seconds
    return row, outputs


@dataclass
class Comparison:
    """Per-seed rows {method: [row per seed]}, and the first seed's data, fitted methods and outputs
    (for the figures)."""
    config: CompareConfig
    rows: dict = field(default_factory=dict)
    data: TaskData = None
    trained: dict = None
    outputs: dict = None

    def summary(self):
        """{method: {metric: (mean, std over seeds)}}."""
        return {m: {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows])))
                    for k in rows[0]} for m, rows in self.rows.items()}


def run_compare(config, progress=True, log=print):
    """Train and score every method for every seed.  Returns a Comparison."""
    comparison = Comparison(config, {m: [] for m in config.methods})
    for seed in range(config.first_seed, config.first_seed + config.seeds):
        data = load_task(config.task, seed, config.fast)
        trained = train_methods(config, data, seed, progress=progress)
        outputs = {}
        for method, fitted in trained.items():
            row, outputs[method] = score(fitted, data)
            comparison.rows[method].append(row)
        if seed == config.first_seed:
            comparison.data, comparison.trained, comparison.outputs = data, trained, outputs
        log(f"seed {seed}: " + ", ".join(f"{METHOD_NAMES[m]} acc {comparison.rows[m][-1]['accuracy']:.3f}"
                                         for m in config.methods))
    return comparison


# ---- the table ------------------------------------------------------------------------------------
def format_cell(mean, std, seeds, digits=3):
    return f"{mean:.{digits}f}" if seeds == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(summary, seeds, columns, headers):
    lines = ["| method | " + " | ".join(headers) + " |", "| --- | " + " | ".join("---:" for _ in headers) + " |"]
    for method, cells in summary.items():
        values = [format_cell(*cells[c], seeds, 2 if c.endswith(" s") else 3) for c in columns]
        lines.append(f"| {METHOD_NAMES[method]} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def format_markdown(comparison):
    """Markdown: an in-domain table (with costs) and one table per OOD set, mean ± std over seeds."""
    summary, seeds = comparison.summary(), comparison.config.seeds
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    parts = [f"In domain ({spread}); own uncertainty: "
             + ", ".join(f"{METHOD_NAMES[m]} {OWN_UNCERTAINTY[m]}" for m in summary) + ".\n",
             markdown_table(summary, seeds, ["accuracy", "nll", "brier", "ece", "train s", "predict s"],
                            ["accuracy", "NLL", "Brier", "ECE", "train s", "predict s"])]
    for name in comparison.data.ood:
        columns = [f"{name} {metric} {score}" for metric in ("AUROC", "AUPR") for score in ("max-prob", "own")]
        parts += [f"\nOut of distribution: {name} (OOD is the positive class).\n",
                  markdown_table(summary, seeds, columns, ["AUROC, 1 - max p", "AUROC, own", "AUPR, 1 - max p",
                                                           "AUPR, own"])]
    return "\n".join(parts)


def format_text(comparison):
    """The table for a terminal: one block per method (the OOD columns do not fit one line)."""
    summary, seeds = comparison.summary(), comparison.config.seeds
    lines = [f"{comparison.config.task}: {seeds} seed(s), mean" + (" ± std" if seeds > 1 else "")]
    for method, cells in summary.items():
        lines.append(f"\n{METHOD_NAMES[method]} (own uncertainty: {OWN_UNCERTAINTY[method]})")
        for column, (mean, std) in cells.items():
            lines.append(f"  {column:32s} {format_cell(mean, std, seeds, 2 if column.endswith(' s') else 3)}")
    return "\n".join(lines)


def write_csv(comparison, path):
    """Long form: method, metric, mean, std, then one column per seed."""
    import csv
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "metric", "mean", "std", *[f"seed {s}" for s in range(comparison.config.seeds)]])
        summary = comparison.summary()
        for method, rows in comparison.rows.items():
            for metric, (mean, std) in summary[method].items():
                writer.writerow([METHOD_NAMES[method], metric, f"{mean:.6g}", f"{std:.6g}",
                                 *[f"{r[metric]:.6g}" for r in rows]])
    return path


# ---- the figures -----------------------------------------------------------------------------------
def write_figures(comparison, out_dir):
    """moons: the probability and uncertainty surfaces of every method; images: rotation curves,
    entropy CDFs on each OOD set, reliability diagrams.  Returns the paths written."""
    from ..evaluation import entropy_cdf, rotation_curve
    from ..plotting import plot_entropy_cdfs, plot_reliability, plot_rotation_curves, plot_surfaces

    data, trained, outputs = comparison.data, comparison.trained, comparison.outputs
    names = [METHOD_NAMES[m] for m in trained]
    paths = [plot_reliability([(n, outputs[m]["test"][0]) for n, m in zip(names, trained)], data.y_test,
                              os.path.join(out_dir, f"{data.name}_reliability.png"))]
    if data.grid is not None:
        rows = [(n, fitted.predict(data.grid)[0][:, 0]) for n, fitted in zip(names, trained.values())]
        paths.append(plot_surfaces(rows, data.x_train, data.y_train, data.ood["blob"],
                                   os.path.join(out_dir, "moons_surfaces.png"), n_grid=int(len(data.grid) ** 0.5)))
        return paths
    curves = [(n, rotation_curve(lambda x, f=fitted: f.predict(x)[0], data.rotation_image,
                                 uncertainty=(lambda x, f=fitted: f.predict(x)[1]) if m == "edl" else None))
              for n, (m, fitted) in zip(names, trained.items())]
    paths.append(plot_rotation_curves(curves, os.path.join(out_dir, f"{data.name}_rotation.png"),
                                      uncertainty_label="u = K / S (EDL)"))
    for ood_name in data.ood:
        slug = ood_name.replace(" ", "_").replace("/", "_")
        paths.append(plot_entropy_cdfs([(n, entropy_cdf(outputs[m][ood_name][0])) for n, m in zip(names, trained)],
                                       os.path.join(out_dir, f"{data.name}_entropy_cdf_{slug}.png"),
                                       title=f"{ood_name} (out of distribution)"))
    return paths


def write_results(comparison, out_dir):
    """Table as CSV and Markdown, and the figures, into ``out_dir``.  Returns the paths."""
    stem = os.path.join(out_dir, f"compare_{comparison.config.task}")
    with open(stem + ".md", "w") as f:
        f.write(format_markdown(comparison) + "\n")
    return [write_csv(comparison, stem + ".csv"), stem + ".md", *write_figures(comparison, out_dir)]
