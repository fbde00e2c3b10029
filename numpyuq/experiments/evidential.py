"""The EDL seed's experiment (labml.ai's "Evidential Deep Learning to Quantify Classification
Uncertainty", for Sensoy, Kaplan, Kandemir 2018) on MNIST-format images, with the paper's evaluations.

The seed's configuration: LeNet with dropout 0.5, 10 epochs at batch 64, labml's Adam (lr 1e-3,
decoupled weight decay 5e-3, eps 1e-8 added before the bias correction), the squared-error Bayes
risk, softplus evidence, and the KL term annealed by labml's relative piecewise schedule.

digits28 has 1,347 training images, 45x fewer than MNIST's 60,000: ten epochs there are 210 Adam
steps where the seed takes 9,380. Its default is therefore 40 epochs (840 steps); everything else
is the seed's. The schedule is relative to the whole run, so it anneals the same way.
"""
import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..evaluation import ROTATION_ANGLES, RotationCurve, entropy_cdf, rotate_images, split_by_correctness
from ..losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
from ..losses.annealed import SCHEDULES
from ..losses.evidential import LOSSES
from ..metrics import accuracy, max_probability_uncertainty, ood_auroc
from ..models import EvidentialClassifier, LeNet
from ..nn.evidence import EVIDENCE_FUNCTIONS
from ..optim import labml_adam
from ..training import fit
from ..uncertainty import TrackStatistics
from ..validation import check_choice, check_positive_int, check_probability, check_real
from .data import load_dataset
from .methods import predict_outputs

DATASETS = ("digits28", "fashion-mnist", "mnist")
DEFAULT_EPOCHS = {"digits28": 40, "fashion-mnist": 10, "mnist": 10}


@dataclass
class EvidentialConfig:
    """Everything that defines a run; the defaults are the seed's."""
    dataset: str = "digits28"
    loss: str = "mse"
    evidence: str = "softplus"
    schedule: str = "labml"
    epochs: int = None                  # None: DEFAULT_EPOCHS[dataset]
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-3
    dropout_rate: float = 0.5
    seed: int = 0
    threads: int = 2                    # fit's threads: each batch split over 2 (same steps, up to rounding)

    def __post_init__(self):
        for name, value, allowed in (("dataset", self.dataset, DATASETS), ("loss", self.loss, tuple(LOSSES)),
                                     ("evidence", self.evidence, tuple(EVIDENCE_FUNCTIONS)),
                                     ("schedule", self.schedule, SCHEDULES)):
            check_choice(value, name, allowed)
        if self.epochs is None:
            self.epochs = DEFAULT_EPOCHS[self.dataset]
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_positive_int(self.threads, "threads")
        check_real(self.lr, "lr", above=0)
        check_real(self.weight_decay, "weight_decay", at_least=0)
        check_probability(self.dropout_rate, "dropout_rate")


def load_experiment_data(config, mnist_path=None):
    """The data set of ``config`` with its OOD set (``experiments.data``): (Dataset, OOD images or
    None, the OOD set's name or why there is none). Digit models meet Fashion-MNIST's 10,000 test
    images, Fashion-MNIST models all of digits28."""
    data = load_dataset(config.dataset, seed=config.seed, mnist_path=mnist_path)
    if not data.ood:
        return data, None, "Fashion-MNIST is not installed (Debian's dataset-fashion-mnist)"
    ood_name = next(iter(data.ood))
    return data, data.ood[ood_name], ood_name


def make_model(config, evidential=True):
    """The seed's LeNet, as an EvidentialClassifier (or the plain softmax network)."""
    backbone = LeNet(dropout_rate=config.dropout_rate, seed=config.seed)
    return EvidentialClassifier(backbone, config.evidence) if evidential else backbone


def train(config, data, evidential=True, progress=True, verbose=False, track=True, callbacks=()):
    """Train the EDL (or softmax) LeNet of ``config`` on ``data``.  Returns (model, history, seconds).

    ``track`` evaluates the EDL statistics on the test set after every epoch, as labml's
    experiment does (about 1 s an epoch for 10,000 images); ``verbose`` prints them.
    """
    model = make_model(config, evidential)
    loss = AnnealedEvidentialLoss(config.loss, schedule=config.schedule) if evidential else SoftmaxCrossEntropy()
    callbacks = list(callbacks) + ([TrackStatistics(data.x_test, data.y_test, verbose=verbose)]
                                   if evidential and track else [])
    start = time.perf_counter()
    history = fit(model, loss, labml_adam(model.parameters(), config.lr, config.weight_decay), data.x_train, data.y_train,
                  epochs=config.epochs, batch_size=config.batch_size, callbacks=callbacks, seed=config.seed,
                  progress=progress, threads=config.threads)
    return model, history, time.perf_counter() - start


def evaluate(model, data, ood_images=None):
    """The seed's statistics and the paper's evaluations of one model, one pass per image set.
    Returns a dict."""
    probs, own = predict_outputs(model, data.x_test)
    correct_u, wrong_u = split_by_correctness(own, probs, data.y_test)
    result = {"accuracy": accuracy(probs, data.y_test), "split": (correct_u, wrong_u),
              "uncertainty_correct": float(correct_u.mean()) if correct_u.size else float("nan"),
              "uncertainty_wrong": float(wrong_u.mean()) if wrong_u.size else float("nan")}
    # The paper's figure rotates one "1"; the mean over every test "1" is the steadier number.
    ones = data.x_test[data.y_test == 1]
    angles = np.asarray(ROTATION_ANGLES, dtype=np.float64)
    rotated = np.concatenate([rotate_images(image, angles) for image in ones]).astype(np.float32)
    rotated_probs, rotated_own = predict_outputs(model, rotated)
    A = len(angles)
    result["rotation"] = RotationCurve(angles, rotated[:A], rotated_probs[:A], rotated_own[:A])
    result["rotation_mean_uncertainty"] = rotated_own.reshape(len(ones), A).mean(axis=0)
    if ood_images is not None:
        ood_probs, ood_own = predict_outputs(model, ood_images)
        result["entropy_cdf"] = entropy_cdf(ood_probs)
        result["ood_auroc_own"] = ood_auroc(own, ood_own)
        result["ood_auroc_maxprob"] = ood_auroc(max_probability_uncertainty(probs),
                                                max_probability_uncertainty(ood_probs))
    return result


def save_run(model, config, out_dir):
    """Write the model (``numpyuq.io``) and its configuration (JSON) into ``out_dir``."""
    from .. import io
    stem = os.path.join(out_dir, f"evidential_{config.dataset}")
    io.save(model, stem + ".npz")
    with open(stem + ".json", "w") as f:
        json.dump(asdict(config), f, indent=2)
    return stem + ".npz"


def load_run(path):
    """The model and configuration saved by ``save_run`` (the JSON beside the .npz)."""
    from .. import io
    config_path = os.path.splitext(path)[0] + ".json"
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"no configuration {config_path!r} beside the model {path!r}: pass a model "
                                "that numpyuq evidential saved (it writes the .json beside the .npz)")
    with open(config_path) as f:
        fields = json.load(f)
    if "dropout" in fields:                          # saved before the field took DeepResNet's name
        fields["dropout_rate"] = fields.pop("dropout")
    config = EvidentialConfig(**fields)
    return io.load(make_model(config), path), config


def format_report(name, result):
    """The evaluation of one model as text lines."""
    lines = [f"{name}: test accuracy {result['accuracy']:.4f}; mean uncertainty of correct predictions "
             f"{result['uncertainty_correct']:.3f}, of wrong ones {result['uncertainty_wrong']:.3f}"]
    if "ood_auroc_own" in result:
        lines.append(f"  OOD AUROC by its own uncertainty {result['ood_auroc_own']:.3f}, "
                     f"by max probability {result['ood_auroc_maxprob']:.3f}")
    angles, u = result["rotation"].angles, result["rotation_mean_uncertainty"]
    lines.append("  own uncertainty of the test '1's rotated by " + ", ".join(
        f"{a:.0f}: {v:.2f}" for a, v in zip(angles[::3], u[::3])) + " degrees")
    return "\n".join(lines)


def write_figures(results, out_dir, dataset, ood_name):
    """Rotation curves, entropy CDFs and uncertainty histograms of every evaluated model."""
    from ..plotting import plot_entropy_cdfs, plot_rotation_curves, plot_uncertainty_histograms
    paths = [plot_rotation_curves([(name, r["rotation"]) for name, r in results.items()],
                                  os.path.join(out_dir, f"{dataset}_rotation.png")),
             plot_uncertainty_histograms([(name, r["split"]) for name, r in results.items()],
                                         os.path.join(out_dir, f"{dataset}_uncertainty_histograms.png"),
                                         xlabel="own uncertainty (u = K / S; for softmax, K / (K + sum e^z))")]
    if all("entropy_cdf" in r for r in results.values()):
        paths.append(plot_entropy_cdfs([(name, r["entropy_cdf"]) for name, r in results.items()],
                                       os.path.join(out_dir, f"{dataset}_entropy_cdf.png"),
                                       title=f"{ood_name} images, models trained on {dataset}"))
    return paths
