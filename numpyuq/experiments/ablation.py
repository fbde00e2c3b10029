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

from ..uncertainty import DDU, LastLayerLaplace
from ..validation import check_choice, check_positive_int
from .compare import DATASET_DEFAULTS, format_cell, score
from .data import load_dataset
from .methods import Run, Trained, fit_post_hoc, train_gp_head

HEADS = {"softmax": "softmax", "gp": "GP", "ddu": "DDU density", "laplace": "last-layer Laplace"}
FEATURE_MAPS = {False: "plain", True: "spectrally normalised"}
DEFAULT_SEEDS = 5


def train_softmax(run, spectral_norm):
    return run.network(spectral_norm)


TRAIN_HEAD = {"softmax": train_softmax, "gp": train_gp_head,
              "ddu": functools.partial(fit_post_hoc, DDU), "laplace": functools.partial(fit_post_hoc, LastLayerLaplace)}


@dataclass
class AblationConfig:
    """The ablation's data set, seeds first_seed .. first_seed + seeds - 1, epochs (None: the data
    set's default) and ``fast`` (a smoke run: few epochs, small sets)."""
    dataset: str = "moons"
    seeds: int = DEFAULT_SEEDS
    first_seed: int = 0
    epochs: int = None
    fast: bool = False

    def __post_init__(self):
        check_choice(self.dataset, "dataset", tuple(DATASET_DEFAULTS))
        check_positive_int(self.seeds, "seeds")
        check_positive_int(self.first_seed, "first_seed", minimum=0)
        defaults = DATASET_DEFAULTS[self.dataset]
        if self.epochs is None:
            self.epochs = defaults["fast_epochs" if self.fast else "epochs"]
        check_positive_int(self.epochs, "epochs")


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


def run_ablation(config, progress=False, log=print):
    """Train the four networks and fit the eight heads for every seed; score each.  Returns an Ablation."""
    ablation = Ablation(config, {(sn, head): [] for sn in FEATURE_MAPS for head in HEADS})
    held_out = 5 if config.dataset == "digits28" else None
    for seed in range(config.first_seed, config.first_seed + config.seeds):
        data = load_dataset(config.dataset, seed, config.fast, held_out_classes=held_out)
        run = Run(data, seed, config.epochs, DATASET_DEFAULTS[config.dataset]["batch_size"], progress=progress)
        for (spectral_norm, head), rows in ablation.rows.items():
            model, seconds = TRAIN_HEAD[head](run, spectral_norm)
            rows.append(score(Trained(head, model, seconds), data)[0])
        ablation.ood = tuple(data.ood)
        log(f"seed {seed}: " + ", ".join(f"{'SN' if sn else 'plain'} {head} {rows[-1]['accuracy']:.3f}"
                                         for (sn, head), rows in ablation.rows.items()))
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
