"""A published table, reproduced and extended: uncertainty-baselines' LeNet5 on Fashion-MNIST
(``numpyuq reproduce uncertainty-baselines``).

The table (google/uncertainty-baselines, ``baselines/mnist/README.md``, Fashion-MNIST):

    method              test NLL   test accuracy   test calibration error
    Deterministic       0.321      91.0%           -
    Ensemble (size=10)  0.200      93.2%           0.010
    Refined VI          0.259      90.6%           0.011
    Variational Inference 0.292    89.5%           0.011

The protocol, from that repository's ``baselines/mnist/deterministic.py`` and ``utils.py``, every
setting recorded in ``ReproduceConfig`` and written next to the results:

* LeNet5 (``models.LeNet5``): Glorot-uniform kernels, zero biases, Keras' channels-last flatten;
* images scaled to [0, 1], no mean/std normalisation; the first 50,000 training images train, the
  10,000 test images test; the other 10,000 training images are the calibration split (temperature
  scaling, conformal sets), never trained on;
* Adam, lr 1e-3, Keras' eps 1e-7 added before the bias correction (``optim.keras_adam``), batch 256,
  25 epochs (5,000 steps x 256 / 50,000); softmax cross-entropy;
* the ensemble: 10 members from independent initialisations (seeds 100-109), averaged probabilities;
* NLL = -mean log p(y) (of the averaged probabilities for the ensemble); accuracy of the argmax;
  calibration error = ECE with 10 equal-width bins [lo, hi), where a confidence of exactly 1.0 falls
  in no bin (uncertainty-baselines' convention), and beside it numpyuq's default (15 bins (lo, hi]).

The extension, on the same data and budget, one row each (seed 0): MC dropout (LeNet5 with a
Dropout of rate 0.5 before the last layer, 10 samples), EDL (the EDL seed's loss and schedule:
softplus evidence, squared-error Bayes risk, labml's KL annealing), SNGP (``LeNet5SNGP``), DDU
(a spectrally normalised LeNet5, bound 3, with class Gaussians) and last-layer Laplace (on the
deterministic seed-0 network). Calibration columns: NLL and ECE after temperature scaling, the mean
split-conformal (LAC) set size at 90%. OOD: digits28 (scikit-learn's digits at 28 x 28, scaled to
[0, 1] like the training images), AUROC of each method's own uncertainty. The VI rows stay as
published rows, not reproduced.

Every training is a task (``numpyuq.tasks``): the run goes through joblib (``--jobs``,
``--scheduler``, ``--cluster local``, ``--backend ray``), and each trained model's state is saved in
``<out>/models/`` as it arrives, so an interrupted run resumes from the models already trained.
"""
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field

import numpy as np

from ..metrics import accuracy, expected_calibration_error, nll, ood_auroc
from ..tasks import check_n_jobs, run_tasks
from ..validation import check_positive_int
from .compare import decision_metrics

TARGET = "uncertainty-baselines"
PUBLISHED = {       # baselines/mnist/README.md, Fashion-MNIST: (NLL, accuracy, calibration error)
    "Deterministic": (0.321, 0.910, None),
    "Ensemble (size=10)": (0.200, 0.932, 0.010),
    "Refined VI": (0.259, 0.906, 0.011),
    "Variational Inference": (0.292, 0.895, 0.011),
}
SOURCE = "https://github.com/google/uncertainty-baselines/blob/main/baselines/mnist/README.md"
EXTENSIONS = ("mc_dropout", "edl", "sngp", "ddu", "laplace")
UB_ECE = dict(num_bins=10, closed="left", top="none")        # uncertainty-baselines' ECE


@dataclass
class ReproduceConfig:
    """Every setting of the reproduction (``fast``: a smoke run on a subset, for CI)."""
    train_size: int = 50000
    calibration_size: int = 10000
    test_size: int = 10000
    epochs: int = 25
    batch_size: int = 256
    lr: float = 1e-3
    adam_eps: float = 1e-7
    adam_eps_placement: str = "before the bias correction (Keras)"
    seeds: tuple = (0, 1, 2)
    ensemble_size: int = 10
    ensemble_first_seed: int = 100
    mc_dropout_rate: float = 0.5
    mc_samples: int = 10
    sn_bound: float = 3.0
    extensions: tuple = EXTENSIONS
    scaling: str = "[0, 1], no mean/std normalisation"
    fast: bool = False
    jobs: int = None

    def __post_init__(self):
        if self.fast:
            self.train_size, self.calibration_size, self.test_size = 2000, 500, 500
            self.epochs, self.seeds, self.ensemble_size = 1, (0,), 2
        for name in ("train_size", "calibration_size", "test_size", "epochs", "batch_size", "ensemble_size",
                     "mc_samples"):
            check_positive_int(getattr(self, name), name)
        self.seeds, self.extensions = tuple(self.seeds), tuple(self.extensions)
        unknown = [e for e in self.extensions if e not in EXTENSIONS]
        if unknown:
            raise ValueError(f"extensions must be a subset of {EXTENSIONS}, got {self.extensions!r}")
        self.jobs = check_n_jobs(self.jobs, "jobs")

    def recorded(self):
        """The settings that decide the results (not ``jobs``: the engine changes no bit)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()
                if k != "jobs"}


# ---- data -----------------------------------------------------------------------------------------
@dataclass
class ReproduceData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_cal: np.ndarray
    y_cal: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_ood: np.ndarray


_DATA = {}


def load_data(train_size, calibration_size, test_size):
    """Fashion-MNIST in [0, 1]: the first ``train_size`` training images, the next
    ``calibration_size`` as the calibration split, the first ``test_size`` test images; digits28
    (all of it, in [0, 1]) as the OOD set. Cached per process."""
    key = (train_size, calibration_size, test_size)
    if key not in _DATA:
        from ..data import load_digits28, load_fashion_mnist
        fashion = load_fashion_mnist(normalization=None)
        if train_size + calibration_size > len(fashion.y_train):
            raise ValueError(f"train_size + calibration_size must be <= {len(fashion.y_train)}, got "
                             f"{train_size} + {calibration_size}")
        digits = load_digits28(normalization=None)
        cal = slice(train_size, train_size + calibration_size)
        _DATA[key] = ReproduceData(fashion.x_train[:train_size], fashion.y_train[:train_size], fashion.x_train[cal],
                                   fashion.y_train[cal], fashion.x_test[:test_size], fashion.y_test[:test_size],
                                   np.concatenate([digits.x_train, digits.x_test]))
    return _DATA[key]


# ---- the trainings: one task each --------------------------------------------------------------------
def build_model(kind, seed, config):
    """The untrained model of a training ``kind`` and its loss. Kinds: deterministic, member,
    mc_dropout, edl, sngp, sn (the spectrally normalised softmax LeNet5 DDU reads)."""
    from ..losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
    from ..models import EvidentialClassifier, LeNet5, LeNet5SNGP
    if kind in ("deterministic", "member"):
        return LeNet5(seed=seed), SoftmaxCrossEntropy()
    if kind == "mc_dropout":
        return LeNet5(dropout_rate=config["mc_dropout_rate"], seed=seed), SoftmaxCrossEntropy()
    if kind == "edl":
        return EvidentialClassifier(LeNet5(seed=seed), "softplus"), AnnealedEvidentialLoss("mse", schedule="labml")
    if kind == "sngp":
        return LeNet5SNGP(spec_norm_bound=config["sn_bound"], seed=seed), SoftmaxCrossEntropy()
    if kind == "sn":
        return LeNet5(spec_norm_bound=config["sn_bound"], seed=seed), SoftmaxCrossEntropy()
    raise ValueError(f"unknown training kind {kind!r}")


def train_one(kind, seed, config, progress=False):
    """One training (a task): (state dict, seconds). ``config``: ``ReproduceConfig.recorded()``."""
    from ..optim import keras_adam
    from ..training import fit
    from ..uncertainty import refit_covariance
    data = load_data(config["train_size"], config["calibration_size"], config["test_size"])
    model, loss = build_model(kind, seed, config)
    optimizer = keras_adam(model.parameters(), lr=config["lr"], eps=config["adam_eps"])
    start = time.perf_counter()
    fit(model, loss, optimizer, data.x_train, data.y_train, epochs=config["epochs"], batch_size=config["batch_size"],
        seed=seed, progress=progress)
    if kind == "sngp":
        refit_covariance(model, data.x_train)
    return model.state_dict(), time.perf_counter() - start


def trainings(config):
    """Every (kind, seed) the run trains."""
    runs = [("deterministic", s) for s in config.seeds]
    runs += [("member", config.ensemble_first_seed + i) for i in range(config.ensemble_size)]
    first = config.seeds[0]
    runs += [(kind, first) for kind in ("mc_dropout", "edl", "sngp") if kind in config.extensions]
    if "ddu" in config.extensions:
        runs.append(("sn", first))
    return runs


# ---- resume: every trained state on disk as it arrives ---------------------------------------------
def model_path(out_dir, kind, seed):
    return os.path.join(out_dir, "models", f"{kind}_seed{seed}.npz")


def save_state(path, state, seconds):
    """Write atomically: a state file is whole or absent, never half-written."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".partial.npz"
    np.savez(temporary, __seconds__=np.float64(seconds), **state)
    os.replace(temporary, path)


def load_state(path):
    with np.load(path) as archive:
        state = {k: archive[k] for k in archive.files if k != "__seconds__"}
        return state, float(archive["__seconds__"])


def check_resumable(config, out_dir):
    """Write ``config.json`` (every setting), or check that the one there is this run's."""
    path = os.path.join(out_dir, "config.json")
    recorded = config.recorded()
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        if previous != recorded:
            changed = sorted(k for k in set(previous) | set(recorded) if previous.get(k) != recorded.get(k))
            raise ValueError(f"{out_dir!r} holds a run with other settings ({', '.join(changed)}): resume it with "
                             "the same settings, or use another --out")
        return
    os.makedirs(out_dir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(recorded, f, indent=2)


def train_all(config, out_dir, progress=True, log=print):
    """Train what is not on disk yet (tasks through joblib), saving each state as it arrives.
    Returns ({(kind, seed): (state, seconds)}, how many were loaded from disk)."""
    check_resumable(config, out_dir)
    recorded = config.recorded()
    done = {run: load_state(model_path(out_dir, *run)) for run in trainings(config)
            if os.path.exists(model_path(out_dir, *run))}
    todo = [run for run in trainings(config) if run not in done]
    if done:
        log(f"resuming: {len(done)} model(s) already trained in {out_dir}, {len(todo)} to go")

    def arrived(index, result):
        save_state(model_path(out_dir, *todo[index]), *result)

    sequential = config.jobs == 1
    results = run_tasks(train_one, [(f"({kind}, seed {seed})", (kind, seed, recorded, sequential and progress))
                                    for kind, seed in todo],
                        n_jobs=config.jobs, progress=progress, desc="models", on_result=arrived)
    loaded = len(done)
    done.update(zip(todo, results))
    return done, loaded


# ---- evaluation ---------------------------------------------------------------------------------------
def rebuilt(kind, seed, config, state):
    model, _ = build_model(kind, seed, config.recorded())
    model.load_state_dict(state)
    return model


def ub_ece(probs, labels):
    """ECE in uncertainty-baselines' convention."""
    return expected_calibration_error(probs, labels, **UB_ECE)


def metrics_row(probs, labels, cal_probs, cal_labels, own, ood_own):
    """Every column of the table for one method; the calibration columns are the comparison's
    (``compare.decision_metrics``), with the ECE after temperature scaling in uncertainty-baselines'
    convention."""
    return {"nll": nll(probs, labels), "accuracy": accuracy(probs, labels), "ece ub": ub_ece(probs, labels),
            "ece": expected_calibration_error(probs, labels),
            **decision_metrics(cal_probs, cal_labels, probs, labels, own, ece=ub_ece),
            "ood auroc": ood_auroc(own, ood_own)}


def lenet5_member(seed):
    """An ensemble member: uncertainty-baselines' LeNet5 from ``seed``."""
    from ..models import LeNet5
    return LeNet5(seed=seed)


def evaluate(config, trained, log=print):
    """{row title: (list of per-seed rows, train seconds)} for every reproduced and extended method."""
    from ..uncertainty import DDU, DeepEnsemble, LastLayerLaplace, MCDropout
    from .methods import predict_outputs
    data = load_data(config.train_size, config.calibration_size, config.test_size)

    def row_of(model):
        (probs, own), (cal_probs, _), (_, ood_own) = (predict_outputs(model, x)
                                                       for x in (data.x_test, data.x_cal, data.x_ood))
        return metrics_row(probs, data.y_test, cal_probs, data.y_cal, own, ood_own)

    rows = {}
    deterministic = {s: rebuilt("deterministic", s, config, trained[("deterministic", s)][0]) for s in config.seeds}
    rows["Deterministic"] = ([row_of(m) for m in deterministic.values()],
                             [trained[("deterministic", s)][1] for s in config.seeds])
    member_runs = [("member", config.ensemble_first_seed + i) for i in range(config.ensemble_size)]
    ensemble = DeepEnsemble(lenet5_member, size=config.ensemble_size, seed=config.ensemble_first_seed)
    ensemble.load_state_dict({f"members.{i}.{name}": value for i, run in enumerate(member_runs)
                              for name, value in trained[run][0].items()})
    rows[f"Ensemble (size={config.ensemble_size})"] = ([row_of(ensemble)], [sum(trained[run][1] for run in member_runs)])
    first = config.seeds[0]
    titles = {"mc_dropout": f"MC dropout (rate {config.mc_dropout_rate}, {config.mc_samples} samples)",
              "edl": "EDL", "sngp": "SNGP", "ddu": f"DDU (spectral norm {config.sn_bound})",
              "laplace": "Last-layer Laplace"}
    for extension in config.extensions:
        if extension == "mc_dropout":
            model = MCDropout(rebuilt("mc_dropout", first, config, trained[("mc_dropout", first)][0]),
                              num_samples=config.mc_samples, seed=first)
            seconds = trained[("mc_dropout", first)][1]
        elif extension in ("edl", "sngp"):
            model, seconds = rebuilt(extension, first, config, trained[(extension, first)][0]), \
                trained[(extension, first)][1]
        elif extension == "ddu":
            model = DDU(rebuilt("sn", first, config, trained[("sn", first)][0])).fit(data.x_train, data.y_train)
            seconds = trained[("sn", first)][1]
        else:
            model = LastLayerLaplace(deterministic[first]).fit(data.x_train, data.y_train)
            seconds = trained[("deterministic", first)][1]
        rows[titles[extension]] = ([row_of(model)], [seconds])
        log(f"evaluated {titles[extension]}")
    return rows


def single_networks(out_dir):
    """[(name, nll, accuracy, ece ub)] of every network the run in ``out_dir`` trained with the
    deterministic protocol (its seeds and its ensemble members), each alone on the test set, from the
    models on disk: the spread of one network's numbers, which the published Deterministic row (one
    figure) has to be read against."""
    with open(os.path.join(out_dir, "config.json")) as f:
        config = ReproduceConfig(**json.load(f))          # the recorded settings are the config's fields
    data = load_data(config.train_size, config.calibration_size, config.test_size)
    runs = [run for run in trainings(config) if run[0] in ("deterministic", "member")]
    missing = [model_path(out_dir, *run) for run in runs if not os.path.exists(model_path(out_dir, *run))]
    if missing:
        raise FileNotFoundError(f"{len(missing)} model(s) of the run in {out_dir!r} are not trained yet, "
                                f"e.g. {missing[0]}: run the reproduction (it resumes) first")
    networks = []
    for kind, seed in runs:
        probs = rebuilt(kind, seed, config, load_state(model_path(out_dir, kind, seed))[0]).predict_proba(data.x_test)
        networks.append((f"{kind} {seed}", nll(probs, data.y_test), accuracy(probs, data.y_test),
                         ub_ece(probs, data.y_test)))
    return networks


# ---- the table ----------------------------------------------------------------------------------------
# The targets: (row, metric, lowest, highest); accuracy as a fraction.
TARGETS = (("Deterministic", "accuracy", 0.910 - 0.007, 0.910 + 0.007), ("Deterministic", "nll", 0.321 - 0.04, 0.321 + 0.04),
           ("Ensemble (size=10)", "accuracy", 0.927, 1.0), ("Ensemble (size=10)", "nll", 0.0, 0.23),
           ("Ensemble (size=10)", "ece ub", 0.0, 0.02))
BUDGET_MINUTES = 75

COLUMNS = (("nll", "test NLL"), ("accuracy", "test accuracy"), ("ece ub", "ECE (UB: 10 bins [lo, hi))"),
           ("ece", "ECE (numpyuq: 15 bins (lo, hi])"), ("nll T-scaled", "NLL after T"),
           ("ece T-scaled", "ECE (UB) after T"),
           ("set size 90%", "set size (90%)"), ("ood auroc", "OOD AUROC (digits28, own)"))


@dataclass
class Reproduction:
    config: ReproduceConfig
    rows: dict = field(default_factory=dict)     # title: (per-seed rows, train seconds)
    wall_seconds: float = 0.0
    resumed: int = 0                             # models loaded from an earlier, interrupted run


def cell(values, digits=3, percent=False):
    values = [v for v in values if v is not None]
    if not values or any(np.isnan(v) for v in values):
        return "—"
    scale, unit = (100, "%") if percent else (1, "")
    mean = np.mean(values) * scale
    text = f"{mean:.{1 if percent else digits}f}{unit}"
    if len(values) > 1:
        text += f" ± {np.std(values) * scale:.{1 if percent else digits}f}"
    return text


def format_markdown(result):
    """Published rows beside numpyuq's, every metric in both conventions, the settings and costs."""
    config = result.config
    header = "| method | source | " + " | ".join(h for _, h in COLUMNS) + " | train s |"
    lines = [header, "| --- | --- | " + " | ".join("---:" for _ in COLUMNS) + " | ---: |"]
    for title, (nll_value, acc, ece) in PUBLISHED.items():
        published = {"nll": nll_value, "accuracy": acc, "ece ub": ece}
        source = "published" if title in ("Deterministic", "Ensemble (size=10)") else "published, not reproduced"
        lines.append(f"| {title} | {source} | " + " | ".join(
            "—" if published.get(key) is None else cell([published[key]], percent=key == "accuracy")
            for key, _ in COLUMNS) + " | |")
        ours = title if title in result.rows else None
        if title == "Ensemble (size=10)":
            ours = f"Ensemble (size={config.ensemble_size})"
        if ours in result.rows:
            rows, seconds = result.rows[ours]
            spread = f"numpyuq, {len(rows)} seeds" if len(rows) > 1 else "numpyuq"
            lines.append(f"| {ours} | {spread} | " + " | ".join(cell([r[key] for r in rows], percent=key == "accuracy")
                                                              for key, _ in COLUMNS) + f" | {sum(seconds):.0f} |")
    for title, (rows, seconds) in result.rows.items():
        if title.startswith(("Deterministic", "Ensemble")):
            continue
        lines.append(f"| {title} | numpyuq, extension | " + " | ".join(
            cell([r[key] for r in rows], percent=key == "accuracy") for key, _ in COLUMNS) + f" | {sum(seconds):.0f} |")
    smoke = ("**Smoke run (--fast): a subset, one epoch; the numbers check the pipeline, not the protocol.**\n\n"
             if config.fast else "")
    checks = []
    for title, key, low, high in TARGETS:
        if title in result.rows and not config.fast:
            value = float(np.mean([r[key] for r in result.rows[title][0]]))
            checks.append(f"{title} {key} {value:.4f} in [{low:.3f}, {high:.3f}]: {'met' if low <= value <= high else 'MISSED'}")
    if checks:
        minutes = result.wall_seconds / 60
        verdict = "met" if minutes <= BUDGET_MINUTES else "MISSED"
        if result.resumed:
            verdict = "not measured whole (resumed)"
        checks.append(f"wall time {minutes:.1f} min within {BUDGET_MINUTES} min: {verdict}")
    settings = ", ".join(f"{k} {v}" for k, v in config.recorded().items() if k != "fast")
    resumed = (f" (resumed: {result.resumed} of its models came from an earlier, interrupted run, whose time is "
               "not counted)" if result.resumed else "")
    return (f"{smoke}uncertainty-baselines' LeNet5 on Fashion-MNIST ({SOURCE}), reproduced: "
            f"{result.wall_seconds / 60:.1f} min wall time{resumed}. "
            "Deterministic: mean ± std over its seeds; one seed for the other rows. UB = uncertainty-baselines' "
            "convention. T = temperature fitted on the calibration split (the 10,000 training images the "
            "models never see). Train s: the sum of the trainings' seconds (the ensemble's 10, for its row).\n\n"
            + "\n".join(lines) + f"\n\nSettings: {settings}."
            + ("\n\nTargets (the reproduction's issue): " + "; ".join(checks) + "." if checks else ""))


def write_results(result, out_dir):
    """Markdown and CSV (long form: method, metric, one column per seed) into ``out_dir``."""
    import csv
    stem = os.path.join(out_dir, "reproduce_uncertainty_baselines")
    with open(stem + ".md", "w") as f:
        f.write(format_markdown(result) + "\n")
    with open(stem + ".csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["method", "metric", "mean", "std", "values"])
        for title, (rows, _) in result.rows.items():
            for key, _ in COLUMNS:
                values = [r[key] for r in rows]
                writer.writerow([title, key, f"{np.mean(values):.6g}", f"{np.std(values):.6g}",
                                 " ".join(f"{v:.6g}" for v in values)])
    return [stem + ".md", stem + ".csv"]


def reproduce(config, out_dir, progress=True, log=print):
    """Train (or resume), evaluate, and return the Reproduction."""
    start = time.perf_counter()
    load_data(config.train_size, config.calibration_size, config.test_size)     # missing data fails first
    trained, loaded = train_all(config, out_dir, progress=progress, log=log)
    rows = evaluate(config, trained, log=log)
    return Reproduction(config, rows, time.perf_counter() - start, loaded)
