"""SNGP taken apart: {spectral normalisation off, on} x {softmax head, GP head, DDU density,
last-layer Laplace}, each head scored by its own uncertainty (``numpyuq compare --ablation``).

SNGP (Liu et al. 2020) is two ideas: a distance-preserving feature map (spectral normalisation on
residual layers) and a distance-aware output layer (a Laplace-approximated GP on random features).
DDU (Mukhoti et al. 2021) keeps the first and replaces the second by a class-conditional Gaussian
density fitted after training; last-layer Laplace (Kristiadi et al. 2020; Daxberger et al. 2021)
keeps an ordinary softmax layer and puts a Laplace posterior on its weights. The eight rows:

    feature map          head        trained                               own uncertainty
    plain / SN           softmax     the network, cross-entropy            Dempster-Shafer K / (K + sum e^z)
    plain / SN           GP          the network with SNGP's GP layer      GP posterior variance
    plain / SN           DDU         softmax network's features, post hoc  -log feature density
    plain / SN           Laplace     softmax network's last layer, post    predictive entropy
                                     hoc

"SN" bounds every hidden layer's spectral norm by 0.9 on moons (the SNGP seed), 3 on LeNet; the
softmax, DDU and Laplace rows of one feature map share one trained network. Each seed draws fresh
moons, trains all four networks from that seed, and scores every head on the test points and on
the data set's OOD sets (moons: the seed's blob, a nearer blob, a far ring; ``experiments/data.py``).
"""
import functools
import os
from dataclasses import dataclass, field

import numpy as np

from ..tasks import check_n_jobs, run_tasks
from ..uncertainty import DDU, LastLayerLaplace
from ..validation import check_choice, check_positive_int
from .compare import DATASET_DEFAULTS, format_cell, score
from .data import load_dataset
from .methods import Run, Trained, fit_post_hoc, train_gp_head

HEADS = {"softmax": "softmax", "gp": "GP", "ddu": "DDU density", "laplace": "last-layer Laplace"}
HEAD_GROUPS = (("softmax", "ddu", "laplace"), ("gp",))      # the heads of one group share a trained network
FEATURE_MAPS = {False: "plain", True: "spectrally normalised"}
DEFAULT_SEEDS = 5


def train_softmax(run, spectral_norm):
    return run.network(spectral_norm)


TRAIN_HEAD = {"softmax": train_softmax, "gp": train_gp_head,
              "ddu": functools.partial(fit_post_hoc, DDU), "laplace": functools.partial(fit_post_hoc, LastLayerLaplace)}


@dataclass
class AblationConfig:
    """The ablation's data set, seeds first_seed .. first_seed + seeds - 1, epochs (None: the data
    set's default), ``fast`` (a smoke run: few epochs, small sets) and ``jobs`` (tasks at once;
    None: the caller's joblib context, see ``numpyuq.tasks``)."""
    dataset: str = "moons"
    seeds: int = DEFAULT_SEEDS
    first_seed: int = 0
    epochs: int = None
    fast: bool = False
    jobs: int = None

    def __post_init__(self):
        check_choice(self.dataset, "dataset", tuple(DATASET_DEFAULTS))
        check_positive_int(self.seeds, "seeds")
        check_positive_int(self.first_seed, "first_seed", minimum=0)
        defaults = DATASET_DEFAULTS[self.dataset]
        if self.epochs is None:
            self.epochs = defaults["fast_epochs" if self.fast else "epochs"]
        check_positive_int(self.epochs, "epochs")
        self.jobs = check_n_jobs(self.jobs, "jobs")


@dataclass
class Ablation:
    """{(spectral_norm, head): [row per seed]}, rows as ``compare.score`` makes them, and the OOD
    set names."""
    config: AblationConfig
    rows: dict = field(default_factory=dict)
    ood: tuple = ()

    def summary(self):
        """{(spectral_norm, head): {metric: (mean, std over seeds)}}."""
        return {key: {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows])))
                      for k in rows[0]} for key, rows in self.rows.items()}


def ablation_task(dataset, seed, fast, epochs, spectral_norm, heads):
    """One task (``numpyuq.tasks``): the heads of one group on one feature map and seed, trained
    and scored.  Returns ({head: row}, the OOD set names)."""
    data = load_dataset(dataset, seed, fast, held_out_classes=5 if dataset == "digits28" else None)
    run = Run(data, seed, epochs, DATASET_DEFAULTS[dataset]["batch_size"])
    rows = {}
    for head in heads:
        model, seconds = TRAIN_HEAD[head](run, spectral_norm)
        rows[head] = score(Trained(head, model, seconds), data)[0]
    return rows, tuple(data.ood)


def run_ablation(config, progress=False, log=print):
    """Train the four networks and fit the eight heads for every seed, every (seed, feature map,
    group of heads) one task of ``numpyuq.tasks.run_tasks``; score each.  Returns an Ablation."""
    ablation = Ablation(config, {(sn, head): [] for sn in FEATURE_MAPS for head in HEADS})
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    keys = [(seed, sn, heads) for seed in seeds for sn in FEATURE_MAPS for heads in HEAD_GROUPS]
    tasks = [(f"({FEATURE_MAPS[sn]}: {', '.join(heads)}; seed {seed})",
              (config.dataset, seed, config.fast, config.epochs, sn, heads)) for seed, sn, heads in keys]
    results = run_tasks(ablation_task, tasks, n_jobs=config.jobs, progress=progress, desc="ablation tasks")
    by_seed = {}
    for (seed, sn, _), (rows, ood) in zip(keys, results):
        by_seed.setdefault(seed, {}).update({(sn, head): row for head, row in rows.items()})
        ablation.ood = ood
    for seed, rows in sorted(by_seed.items()):
        for key in ablation.rows:
            ablation.rows[key].append(rows[key])
        log(f"seed {seed}: " + ", ".join(f"{'SN' if sn else 'plain'} {head} {rows[(sn, head)]['accuracy']:.3f}"
                                         for sn, head in ablation.rows))
    return ablation


def columns(ablation):
    """(metric keys, headers) of the table: in-domain metrics, then the AUROC of each head's own
    uncertainty on each OOD set."""
    keys = ["accuracy", "nll", "ece"] + [f"{name} AUROC own" for name in ablation.ood]
    return keys, ["accuracy", "NLL", "ECE"] + [f"AUROC {name}" for name in ablation.ood]


def format_markdown(ablation):
    """The ablation table in Markdown, mean ± std over seeds."""
    summary, seeds = ablation.summary(), ablation.config.seeds
    keys, headers = columns(ablation)
    lines = ["| feature map | head | " + " | ".join(headers) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in headers) + " |"]
    for (spectral_norm, head), cells in summary.items():
        lines.append(f"| {FEATURE_MAPS[spectral_norm]} | {HEADS[head]} | "
                     + " | ".join(format_cell(*cells[k], seeds) for k in keys) + " |")
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "one seed"
    note = "**Smoke run (--fast): the numbers check the pipeline, not the methods.**\n\n" if ablation.config.fast else ""
    return (f"{note}SNGP ablation on {ablation.config.dataset} ({spread}, {ablation.config.epochs} epochs). "
            "AUROC of each head's own uncertainty (OOD positive): softmax Dempster-Shafer, GP variance, "
            "-log feature density (DDU), predictive entropy (Laplace).\n\n" + "\n".join(lines))


def write_csv(ablation, path):
    """Long form: feature map, head, metric, mean, std, one column per seed."""
    import csv
    seeds = range(ablation.config.first_seed, ablation.config.first_seed + ablation.config.seeds)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["feature map", "head", "metric", "mean", "std", *[f"seed {s}" for s in seeds]])
        for (spectral_norm, head), cells in ablation.summary().items():
            for metric, (mean, std) in cells.items():
                writer.writerow([FEATURE_MAPS[spectral_norm], HEADS[head], metric, f"{mean:.6g}", f"{std:.6g}",
                                 *[f"{r[metric]:.6g}" for r in ablation.rows[(spectral_norm, head)]]])
    return path


def write_results(ablation, out_dir):
    """Markdown, CSV and the figure into ``out_dir``.  Returns the paths."""
    from ..plotting import plot_ablation

    stem = os.path.join(out_dir, f"ablation_{ablation.config.dataset}")
    with open(stem + ".md", "w") as f:
        f.write(format_markdown(ablation) + "\n")
    summary = ablation.summary()
    bars = {name: {(FEATURE_MAPS[sn], HEADS[head]): summary[(sn, head)][f"{name} AUROC own"] for sn, head in summary}
            for name in ablation.ood}
    return [stem + ".md", write_csv(ablation, stem + ".csv"),
            plot_ablation(bars, list(HEADS.values()), list(FEATURE_MAPS.values()), stem + ".png",
                          title=f"SNGP ablation on {ablation.config.dataset}: OOD AUROC of each head's own "
                                f"uncertainty ({ablation.config.seeds} seed(s), mean ± std)")]
