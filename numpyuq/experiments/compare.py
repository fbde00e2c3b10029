"""Seven uncertainty methods side by side, on two moons and on digits: the comparison no single public
project makes (uncertainty-baselines and Fortuna have SNGP but no EDL; torch-uncertainty has EDL but
no SNGP).

    deterministic  a softmax network                       own uncertainty: Dempster-Shafer K / (K + sum e^z)
    MC dropout     the same network, dropout at test time  mutual information (Gal & Ghahramani 2016)
    deep ensemble  independently trained networks          mutual information (Lakshminarayanan et al. 2017)
    EDL            evidential network, Dirichlet output    u = K / S (Sensoy et al. 2018)
    SNGP           spectral norm + random-feature GP       GP posterior variance (Liu et al. 2020)
    DDU            class Gaussians on spectrally normal-   -log feature density (Mukhoti et al. 2021)
                   ised features (post hoc)
    Laplace        last-layer Laplace on the determin-     predictive entropy (Daxberger et al. 2021)
                   istic network (post hoc)

The methods are the registry of ``experiments/methods.py`` and the data sets (with their OOD sets)
those of ``experiments/data.py``. Every method trains on the same data from the same seed. In-domain: accuracy, NLL, Brier, ECE.
Out of distribution: AUROC and AUPR (OOD positive) by 1 - max probability and by the method's own
uncertainty, for each OOD set:

    moons          the SNGP seed's Gaussian blob at (2.5, -1.75), a nearer blob at (-0.5, -0.7) and a
                   far ring 4 to 6 from the data's middle (``experiments/data.py``)
    digits28       trained on digits 0-4: Fashion-MNIST test images (far OOD, when installed) and
                   the test digits 5-9 (near OOD: same pen, unseen classes)
    fashion-mnist  trained on all ten classes: the digits28 images

``CompareConfig(fast=True)`` shrinks epochs and sets for tests and CI: a smoke run, and every
output it writes says so.
"""
import functools
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..calibration import NoFiniteTemperature, TemperatureScaling
from ..conformal import SplitConformal
from ..metrics import (aurc, classification_metrics, expected_calibration_error, max_probability_uncertainty, nll,
                       ood_aupr, ood_auroc)
from ..tasks import check_n_jobs, run_tasks
from ..validation import check_choice, check_positive_int
from .data import load_dataset
from .methods import METHODS, Run, method_groups, train_method

DATASETS = ("moons", "digits28", "fashion-mnist")
IN_DOMAIN_CLASSES = 5          # digits28: train on 0-4, hold 5-9 out as near-OOD
SMOKE_NOTE = "smoke run (--fast): a few epochs on small sets; the numbers check the pipeline, not the methods"


@dataclass
class CompareConfig:
    """What ``numpyuq compare`` runs: seeds first_seed .. first_seed + seeds - 1.  ``epochs`` /
    ``ensemble_size`` None: the data set's default. ``task`` is the former name of ``dataset``."""
    dataset: str = "moons"
    seeds: int = 1
    first_seed: int = 0
    jobs: int = None                  # tasks at once: None, the caller's joblib.parallel_config (numpyuq.tasks)
    methods: tuple = tuple(METHODS)
    epochs: int = None
    ensemble_size: int = None
    mc_samples: int = 10
    fast: bool = False
    task: str = None

    def __post_init__(self):
        if self.task is not None:
            warnings.warn("CompareConfig(task=...) is renamed dataset=...", DeprecationWarning, stacklevel=3)
            self.dataset, self.task = self.task, None
        check_choice(self.dataset, "dataset", DATASETS)
        self.methods = tuple(self.methods)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty subset of {tuple(METHODS)}, got {self.methods!r}")
        check_positive_int(self.seeds, "seeds")
        check_positive_int(self.first_seed, "first_seed", minimum=0)
        self.jobs = check_n_jobs(self.jobs, "jobs")
        check_positive_int(self.mc_samples, "mc_samples")
        defaults = DATASET_DEFAULTS[self.dataset]
        if self.epochs is None:
            self.epochs = defaults["fast_epochs" if self.fast else "epochs"]
        if self.ensemble_size is None:
            self.ensemble_size = 2 if self.fast else defaults["ensemble_size"]
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.ensemble_size, "ensemble_size")


DATASET_DEFAULTS = {
    "moons": dict(epochs=100, fast_epochs=10, ensemble_size=10, batch_size=128),
    "digits28": dict(epochs=40, fast_epochs=4, ensemble_size=5, batch_size=64),
    "fashion-mnist": dict(epochs=10, fast_epochs=1, ensemble_size=5, batch_size=64),
}


CALIBRATION_FRACTION = 0.1      # of the training data, held out for temperature scaling and conformal sets
CONFORMAL_ALPHA = 0.1           # sets that cover the label 90% of the time


def load_comparison_data(dataset, seed=0, fast=False):
    """The comparison's data: ``experiments.data.load_dataset``, with digits28 trained on 0-4, and a
    calibration split ``x_cal``, ``y_cal`` that no model trains on and that is never the test set:
    carved from the training images (10%); for two moons, whose points are drawn, 100 more points
    from the training distribution, so that the models keep the SNGP seed's 1,000 training points."""
    data = load_dataset(dataset, seed, fast, held_out_classes=IN_DOMAIN_CLASSES if dataset == "digits28" else None)
    if dataset == "moons":
        from ..data import make_moons_data
        data.x_cal, data.y_cal = make_moons_data(sample_size=round(CALIBRATION_FRACTION * len(data.y_train) / 2),
                                                 seed=seed + 2000)
        return data
    order = np.random.default_rng(seed).permutation(len(data.y_train))
    held = order[:int(round(CALIBRATION_FRACTION * len(order)))]
    kept = np.sort(order[len(held):])
    data.x_cal, data.y_cal = data.x_train[held], data.y_train[held]
    data.x_train, data.y_train = data.x_train[kept], data.y_train[kept]
    return data


def decision_metrics(cal_probs, cal_labels, probs, labels, own, ece=expected_calibration_error):
    """Temperature scaling fitted on the calibration split (on log-probabilities, which are logits
    for every method: softmax(log p) = p), NLL and ECE after it (``ece(probs, labels)``: numpyuq's
    convention unless given), split-conformal LAC sets at 90% fitted on the calibration split
    (coverage and mean size on the test set), and the AURC of the method's own uncertainty."""
    log_cal, log_test = (np.log(np.maximum(p, 1e-300)) for p in (cal_probs, probs))
    try:
        scaling = TemperatureScaling().fit(log_cal, cal_labels)
        scaled = scaling.predict_proba(log_test)
        temperature = {"T": scaling.temperature_, "nll T-scaled": nll(scaled, labels),
                       "ece T-scaled": ece(scaled, labels)}
    except NoFiniteTemperature:     # every calibration prediction right: shown as a dash
        temperature = {"T": float("nan"), "nll T-scaled": float("nan"), "ece T-scaled": float("nan")}
    sets = SplitConformal("lac").fit(cal_probs, cal_labels, CONFORMAL_ALPHA).evaluate(probs, labels)
    return {**temperature, "coverage 90%": sets["coverage"], "set size 90%": sets["mean_set_size"],
            "AURC own": aurc(probs, labels, own)}


def score(trained, data):
    """One method's row: in-domain metrics, OOD AUROC / AUPR by max probability and by its own
    uncertainty for each OOD set, train and predict seconds.  Returns (row dict, predictions)."""
    start = time.perf_counter()
    outputs = {"test": trained.predict(data.x_test)}
    outputs.update({name: trained.predict(x) for name, x in data.ood.items()})
    predict_seconds = time.perf_counter() - start
    probs, own = outputs["test"]
    row = classification_metrics(probs, data.y_test)
    if getattr(data, "x_cal", None) is not None:
        row.update(decision_metrics(trained.predict(data.x_cal)[0], data.y_cal, probs, data.y_test, own))
    for name in data.ood:
        ood_probs, ood_own = outputs[name]
        by_max_prob = (max_probability_uncertainty(probs), max_probability_uncertainty(ood_probs))
        row[f"{name} AUROC max-prob"] = ood_auroc(*by_max_prob)
        row[f"{name} AUROC own"] = ood_auroc(own, ood_own)
        row[f"{name} AUPR max-prob"] = ood_aupr(*by_max_prob)
        row[f"{name} AUPR own"] = ood_aupr(own, ood_own)
    row["train s"], row["predict s"] = trained.train_seconds, predict_seconds
    return row, outputs


# ---- the tasks: one (group of methods, seed) each, run wherever joblib sends them ------------------
@dataclass(frozen=True)
class CompareTask:
    """One task: the methods of one group (those that share a trained network; every other method
    alone) trained and scored on one seed. Settings only, so it pickles to any worker; ``keep``
    (the first seed) also returns what the figures need and the models' state dicts."""
    dataset: str
    seed: int
    fast: bool
    methods: tuple
    epochs: int
    batch_size: int
    ensemble_size: int
    mc_samples: int
    keep: bool = False

    @property
    def label(self):
        return f"({', '.join(self.methods)}; seed {self.seed})"


@dataclass
class MethodResult:
    """What a task returns for one method: its table row, and for the kept seed its outputs
    {"test" or OOD set: (probs, own)}, its figure arrays and its state dict (None without one)."""
    row: dict
    outputs: dict = None
    figure: dict = None
    state: dict = None


@functools.lru_cache(maxsize=8)
def cached_comparison_data(dataset, seed, fast):
    """``load_comparison_data``, once per process: a worker loads each data set (and seed) once,
    however many tasks it runs, and no data travel with the tasks."""
    return load_comparison_data(dataset, seed, fast)


def figure_arrays(name, trained, data):
    """What the figures need of one fitted method, as arrays: moons, its (probs, own) on the grid;
    images, its rotation curve (with u = K / S for EDL)."""
    from ..evaluation import rotation_curve
    if data.grid is not None:
        return {"grid": trained.predict(data.grid)}
    own = (lambda x: trained.predict(x)[1]) if name == "edl" else None
    return {"rotation": rotation_curve(lambda x: trained.predict(x)[0], data.rotation_image, uncertainty=own)}


def run_compare_task(task):
    """Train and score the methods of ``task``: {method: MethodResult}."""
    data = cached_comparison_data(task.dataset, task.seed, task.fast)
    run = Run(data, task.seed, task.epochs, task.batch_size, task.ensemble_size, task.mc_samples, jobs=1)
    results = {}
    for name in task.methods:
        trained = train_method(name, run)
        row, outputs = score(trained, data)
        if not task.keep:
            results[name] = MethodResult(row)
            continue
        state_dict = getattr(trained.model, "state_dict", None)
        results[name] = MethodResult(row, outputs, figure_arrays(name, trained, data),
                                     state_dict() if callable(state_dict) else None)
    return results


def compare_tasks(config):
    """Every (group, seed) task of ``config``, as one flat list: a cluster sees all the work at once."""
    batch_size = DATASET_DEFAULTS[config.dataset]["batch_size"]
    return [CompareTask(config.dataset, seed, config.fast, group, config.epochs, batch_size, config.ensemble_size,
                        config.mc_samples, keep=seed == config.first_seed)
            for seed in range(config.first_seed, config.first_seed + config.seeds)
            for group in method_groups(config.methods)]


@dataclass
class Comparison:
    """Per-seed rows {method: [row per seed]}; for the first seed, its data and each method's
    outputs {"test" or OOD set: (probs, own)}, figure arrays and state dict."""
    config: CompareConfig
    rows: dict = field(default_factory=dict)
    data: object = None
    outputs: dict = None
    figures: dict = None
    states: dict = None

    def summary(self):
        """{method: {metric: (mean, std over seeds)}}."""
        return {m: {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows])))
                    for k in rows[0]} for m, rows in self.rows.items()}


def run_compare(config, progress=True, log=print):
    """Train and score every method for every seed: every (group of methods, seed) one task of
    ``numpyuq.tasks.run_tasks``, ``config.jobs`` at a time (None: the caller's joblib context).
    Returns a Comparison; the same bits whichever engine ran the tasks."""
    tasks = compare_tasks(config)
    results = run_tasks(run_compare_task, [(task.label, (task,)) for task in tasks], n_jobs=config.jobs,
                        progress=progress, desc=f"compare {config.dataset}: tasks")
    by_seed = {}
    for task, result in zip(tasks, results):
        by_seed.setdefault(task.seed, {}).update(result)
    comparison = Comparison(config, {m: [] for m in config.methods})
    for seed, result in sorted(by_seed.items()):
        for method in config.methods:
            comparison.rows[method].append(result[method].row)
        log(f"seed {seed}: " + ", ".join(f"{METHODS[m].title} acc {result[m].row['accuracy']:.3f}"
                                         for m in config.methods))
    first = by_seed[config.first_seed]
    comparison.data = cached_comparison_data(config.dataset, config.first_seed, config.fast)
    comparison.outputs, comparison.figures, comparison.states = (
        {m: getattr(first[m], part) for m in config.methods} for part in ("outputs", "figure", "state"))
    return comparison


# ---- the table ------------------------------------------------------------------------------------
def format_cell(mean, std, seeds, digits=3):
    if np.isnan(mean):                  # not defined for this method here (e.g. no finite temperature)
        return "—"
    return f"{mean:.{digits}f}" if seeds == 1 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def markdown_table(summary, seeds, columns, headers):
    lines = ["| method | " + " | ".join(headers) + " |", "| --- | " + " | ".join("---:" for _ in headers) + " |"]
    for method, cells in summary.items():
        values = [format_cell(*cells[c], seeds, 2 if c.endswith(" s") else 3) for c in columns]
        lines.append(f"| {METHODS[method].title} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def format_markdown(comparison):
    """Markdown: an in-domain table (with costs) and one table per OOD set, mean ± std over seeds."""
    summary, seeds = comparison.summary(), comparison.config.seeds
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    parts = [f"**{SMOKE_NOTE}.**\n"] if comparison.config.fast else []
    post_hoc = [f"{METHODS[m].title} on {METHODS[m].post_hoc_on}" for m in summary if METHODS[m].post_hoc_on]
    parts += [f"In domain ({spread}); own uncertainty: "
             + ", ".join(f"{METHODS[m].title} {METHODS[m].own_uncertainty}" for m in summary) + ". "
             + (f"Post hoc (fitted on a network trained for another row; train s includes it): {'; '.join(post_hoc)}.\n"
                if post_hoc else "\n"),
             markdown_table(summary, seeds, ["accuracy", "nll", "brier", "ece", "train s", "predict s"],
                            ["accuracy", "NLL", "Brier", "ECE", "train s", "predict s"])]
    if "T" in next(iter(summary.values())):
        parts += ["\nCalibration and decisions: temperature T fitted on a calibration split (held out from the "
                  "training data, or drawn beside it for two moons), NLL and ECE after it (a dash: every calibration "
                  "prediction right in some seed, so no finite T); split-conformal LAC sets for 90% coverage; the area "
                  "under the risk-coverage curve of the own uncertainty (AURC, lower is better).\n",
                  markdown_table(summary, seeds, ["T", "nll T-scaled", "ece T-scaled", "coverage 90%", "set size 90%",
                                                  "AURC own"],
                                 ["T", "NLL after T", "ECE after T", "coverage (90%)", "set size (90%)", "AURC, own"])]
    for name in comparison.data.ood:
        columns = [f"{name} {metric} {score}" for metric in ("AUROC", "AUPR") for score in ("max-prob", "own")]
        parts += [f"\nOut of distribution: {name} (OOD is the positive class).\n",
                  markdown_table(summary, seeds, columns, ["AUROC, 1 - max p", "AUROC, own", "AUPR, 1 - max p",
                                                           "AUPR, own"])]
    return "\n".join(parts)


def format_text(comparison):
    """The table for a terminal: one block per method (the OOD columns do not fit one line)."""
    summary, seeds = comparison.summary(), comparison.config.seeds
    lines = [f"{SMOKE_NOTE.upper()}\n"] if comparison.config.fast else []
    lines += [f"{comparison.config.dataset}: {seeds} seed(s), mean" + (" ± std" if seeds > 1 else "")]
    for method, cells in summary.items():
        lines.append(f"\n{METHODS[method].title} (own uncertainty: {METHODS[method].own_uncertainty})")
        for column, (mean, std) in cells.items():
            lines.append(f"  {column:32s} {format_cell(mean, std, seeds, 2 if column.endswith(' s') else 3)}")
    return "\n".join(lines)


def write_csv(comparison, path):
    """Long form: method, metric, mean, std, then one column per seed (after a comment line that
    says so when the run was a smoke run)."""
    import csv
    with open(path, "w", newline="") as f:
        if comparison.config.fast:
            f.write(f"# {SMOKE_NOTE}\n")
        writer = csv.writer(f)
        writer.writerow(["method", "metric", "mean", "std", *[f"seed {s}" for s in range(comparison.config.seeds)]])
        summary = comparison.summary()
        for method, rows in comparison.rows.items():
            for metric, (mean, std) in summary[method].items():
                writer.writerow([METHODS[method].title, metric, f"{mean:.6g}", f"{std:.6g}",
                                 *[f"{r[metric]:.6g}" for r in rows]])
    return path


# ---- the figures -----------------------------------------------------------------------------------
def write_figures(comparison, out_dir):
    """moons: the probability and uncertainty surfaces of every method; images: rotation curves,
    entropy CDFs on each OOD set, reliability diagrams.  Returns the paths written."""
    from ..evaluation import entropy_cdf
    from ..plotting import (plot_entropy_cdfs, plot_own_uncertainty_surfaces, plot_reliability, plot_rotation_curves,
                            plot_surfaces)

    data, outputs, figures = comparison.data, comparison.outputs, comparison.figures
    methods = list(outputs)
    names = [METHODS[m].title for m in methods]
    paths = [plot_reliability([(n, outputs[m]["test"][0]) for n, m in zip(names, methods)], data.y_test,
                              os.path.join(out_dir, f"{data.name}_reliability.png"))]
    if data.grid is not None:
        n_grid = int(round(len(data.grid) ** 0.5))
        paths.append(plot_surfaces([(n, figures[m]["grid"][0][:, 0]) for n, m in zip(names, methods)], data.x_train,
                                   data.y_train, data.ood["blob"], os.path.join(out_dir, "moons_surfaces.png"),
                                   n_grid=n_grid))
        own = [(f"{n}: {METHODS[m].own_uncertainty}", figures[m]["grid"][1]) for n, m in zip(names, methods)]
        paths.append(plot_own_uncertainty_surfaces(own, data.x_train, data.y_train, data.ood["blob"],
                                                   os.path.join(out_dir, "moons_own_uncertainty.png"), n_grid=n_grid))
        return paths
    curves = [(n, figures[m]["rotation"]) for n, m in zip(names, methods)]
    paths.append(plot_rotation_curves(curves, os.path.join(out_dir, f"{data.name}_rotation.png"),
                                      uncertainty_label="u = K / S (EDL)"))
    for ood_name in data.ood:
        slug = ood_name.replace(" ", "_").replace("/", "_")
        paths.append(plot_entropy_cdfs([(n, entropy_cdf(outputs[m][ood_name][0])) for n, m in zip(names, methods)],
                                       os.path.join(out_dir, f"{data.name}_entropy_cdf_{slug}.png"),
                                       title=f"{ood_name} (out of distribution)"))
    return paths


def write_results(comparison, out_dir):
    """Table as CSV and Markdown, and the figures, into ``out_dir``.  Returns the paths."""
    stem = os.path.join(out_dir, f"compare_{comparison.config.dataset}")
    with open(stem + ".md", "w") as f:
        f.write(format_markdown(comparison) + "\n")
    return [write_csv(comparison, stem + ".csv"), stem + ".md", *write_figures(comparison, out_dir)]
