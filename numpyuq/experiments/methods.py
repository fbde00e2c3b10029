"""The uncertainty methods of the experiments, one registry entry each: how to build and train it on
a data set, and what its own uncertainty is. Every trained method is a model with numpyuq's one face
(``predict_proba``, ``uncertainty``, ``predict_with_uncertainty``), so scoring it needs nothing
method-specific. Adding a method is one entry in ``METHODS``.

    deterministic  a softmax network                       Dempster-Shafer K / (K + sum e^z)
    mc_dropout     the same network, dropout at test time  mutual information (Gal & Ghahramani 2016)
    ensemble       independently trained networks          mutual information (Lakshminarayanan et al. 2017)
    edl            evidential network, Dirichlet output    u = K / S (Sensoy et al. 2018)
    sngp           spectral norm + random-feature GP       GP variance (Liu et al. 2020)
    ddu            class Gaussians on the features of a    -log feature density (Mukhoti et al. 2021)
                   spectrally normalised softmax network
    laplace        Laplace posterior on the deterministic  predictive entropy (Daxberger et al. 2021)
                   network's last layer

DDU and last-layer Laplace are post hoc: they fit on a network trained the ordinary way, which the
run trains once and shares (the deterministic network for Laplace and MC dropout, the spectrally
normalised softmax network for DDU); their training seconds are the network's plus the fit's.

The networks are the seeds': the SNGP seed's DeepResNet (6 x 128) with Keras' Adam at lr 1e-4 on
moons, the EDL seed's LeNet with labml's Adam on images (``LeNetSNGP`` for SNGP). Spectral
normalisation bounds each hidden layer's norm by 0.9 on moons (the SNGP seed) and 3 on LeNet
(``LeNetSNGP``'s default: a cap, LeNet has no residual connections).
"""
import functools
import time
from dataclasses import dataclass, field

import numpy as np

from ..backend import to_numpy
from ..losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
from ..models import DeepResNet, DeepResNetSNGP, EvidentialClassifier, LeNet, LeNetSNGP
from ..optim import keras_adam, labml_adam
from ..training import fit
from ..uncertainty import DDU, DeepEnsemble, LastLayerLaplace, MCDropout, refit_covariance

RESNET_CONFIG = dict(num_layers=6, num_hidden=128)
SPEC_NORM_BOUND = {"moons": 0.9, "images": 3.0}


def spec_norm_bound(dataset, spectral_norm):
    """The bound c of ``dataset``'s networks, or None without spectral normalisation."""
    return SPEC_NORM_BOUND["moons" if dataset == "moons" else "images"] if spectral_norm else None


# ---- networks and optimizers (top-level functions: the ensemble pickles them for joblib) --------
def make_network(dataset, num_classes, seed, spectral_norm=False):
    """The seed's softmax network for ``dataset``: DeepResNet on moons, LeNet on images; with
    ``spectral_norm`` its hidden layers spectrally normalised (SNGP's feature map, softmax head)."""
    bound = spec_norm_bound(dataset, spectral_norm)
    if dataset == "moons":
        return DeepResNet(num_classes, spec_norm_bound=bound, seed=seed, **RESNET_CONFIG)
    return LeNet(num_classes=num_classes, spec_norm_bound=bound, seed=seed)


def make_sngp(dataset, num_classes, seed, spectral_norm=True):
    """The SNGP version of ``make_network``'s network: the GP head, on the spectrally normalised
    feature map (or, ``spectral_norm=False``, on the plain one: the ablation's GP-only row)."""
    bound = spec_norm_bound(dataset, spectral_norm)
    if dataset == "moons":
        return DeepResNetSNGP(num_classes, spec_norm_bound=bound, seed=seed, **RESNET_CONFIG)
    return LeNetSNGP(num_classes=num_classes, spec_norm_bound=bound, seed=seed)


def make_optimizer(dataset, params):
    """Keras' Adam at lr 1e-4 (the SNGP seed) on moons; labml's Adam (the EDL seed) on images."""
    return keras_adam(params, lr=1e-4) if dataset == "moons" else labml_adam(params)


@dataclass
class Run:
    """One training context: a data set, a seed and the budget every method of it trains with."""
    data: object                      # experiments.data.Dataset
    seed: int
    epochs: int
    batch_size: int
    ensemble_size: int = 10
    mc_samples: int = 10
    jobs: int = 1                     # the ensemble's n_jobs (1 inside a task: the task is the unit of parallelism)
    progress: bool = False
    shared: dict = field(default_factory=dict)    # what methods share (the deterministic network)

    def fit(self, model, loss):
        """Train ``model`` on the run's data with the data set's optimizer; returns the seconds."""
        start = time.perf_counter()
        fit(model, loss, make_optimizer(self.data.name, model.parameters()), self.data.x_train, self.data.y_train,
            epochs=self.epochs, batch_size=self.batch_size, seed=self.seed, progress=self.progress)
        return time.perf_counter() - start

    def network(self, spectral_norm=False):
        """The trained softmax network (spectrally normalised or not) and its training seconds,
        trained once per run."""
        key = "sn_network" if spectral_norm else "network"
        if key not in self.shared:
            network = make_network(self.data.name, self.data.num_classes, self.seed, spectral_norm)
            self.shared[key] = network, self.fit(network, SoftmaxCrossEntropy())
        return self.shared[key]


# ---- the methods: (run) -> (fitted model, training seconds) --------------------------------------
def train_deterministic(run):
    return run.network()


def train_mc_dropout(run):
    network, seconds = run.network()                 # the same network: training costs nothing more
    return MCDropout(network, num_samples=run.mc_samples, seed=run.seed), seconds


def train_ensemble(run):
    start = time.perf_counter()
    data = run.data
    ensemble = DeepEnsemble(functools.partial(make_network, data.name, data.num_classes), size=run.ensemble_size,
                            make_optimizer=functools.partial(make_optimizer, data.name),
                            seed=1000 + run.seed * run.ensemble_size)
    ensemble.fit(data.x_train, data.y_train, epochs=run.epochs, batch_size=run.batch_size, n_jobs=run.jobs,
                 progress=run.progress)
    return ensemble, time.perf_counter() - start


def train_edl(run):
    edl = EvidentialClassifier(make_network(run.data.name, run.data.num_classes, run.seed), "softplus")
    return edl, run.fit(edl, AnnealedEvidentialLoss("mse", schedule="labml"))


def train_gp_head(run, spectral_norm):
    sngp = make_sngp(run.data.name, run.data.num_classes, run.seed, spectral_norm)
    start = time.perf_counter()
    run.fit(sngp, SoftmaxCrossEntropy())
    # The precision of the final model from clean (inference-mode) features; see refit_covariance.
    refit_covariance(sngp, run.data.x_train)
    return sngp, time.perf_counter() - start


def train_sngp(run):
    return train_gp_head(run, spectral_norm=True)


def fit_post_hoc(head, run, spectral_norm):
    """A post-hoc head (DDU, LastLayerLaplace) fitted on the run's shared network: (head, seconds of
    the network's training plus the head's fit)."""
    network, seconds = run.network(spectral_norm)
    start = time.perf_counter()
    fitted = head(network).fit(run.data.x_train, run.data.y_train)
    return fitted, seconds + time.perf_counter() - start


def train_ddu(run):
    return fit_post_hoc(DDU, run, spectral_norm=True)


def train_laplace(run):
    return fit_post_hoc(LastLayerLaplace, run, spectral_norm=False)


@dataclass(frozen=True)
class Method:
    """A registry entry: its title, its own uncertainty in a few words, how to train it, and, for a
    post-hoc method, the trained network it is fitted on."""
    title: str
    own_uncertainty: str
    train: object                     # (Run) -> (fitted model, training seconds)
    post_hoc_on: str = None           # None: trained for itself
    network: str = None               # the Run.shared network it uses: methods that share one train together


METHODS = {
    "deterministic": Method("Deterministic", "Dempster-Shafer", train_deterministic, network="network"),
    "mc_dropout": Method("MC dropout", "mutual information", train_mc_dropout, "the deterministic network",
                         "network"),
    "ensemble": Method("Deep ensemble", "mutual information", train_ensemble),
    "edl": Method("EDL", "u = K / S", train_edl),
    "sngp": Method("SNGP", "GP variance", train_sngp),
    "ddu": Method("DDU", "-log feature density", train_ddu, "a spectrally normalised softmax network", "sn_network"),
    "laplace": Method("Last-layer Laplace", "predictive entropy", train_laplace, "the deterministic network",
                      "network"),
}


def method_groups(methods):
    """``methods`` split into the groups that train together (those sharing a network; every other
    method alone), in first-appearance order: the comparison's tasks per seed."""
    groups = {}
    for name in methods:
        groups.setdefault(METHODS[name].network or name, []).append(name)
    return [tuple(group) for group in groups.values()]


@dataclass
class Trained:
    """A fitted method: its registry name, the fitted model, and its training seconds."""
    method: str
    model: object
    train_seconds: float

    def predict(self, x):
        """(probs (N, K), own uncertainty (N,)) as NumPy float64 (``predict_outputs``)."""
        return predict_outputs(self.model, x)


def predict_outputs(model, x):
    """"Probabilities plus the method's own uncertainty", for any model with numpyuq's face:
    ``model.predict_with_uncertainty(x)`` as NumPy float64 (N, K), (N,). On the host: the tables use
    scikit-learn and the figures matplotlib, wherever the model computed."""
    probs, own = model.predict_with_uncertainty(x)
    return to_numpy(probs).astype(np.float64), to_numpy(own).astype(np.float64)


def train_method(name, run):
    """Train registry method ``name`` in ``run``.  Returns a Trained."""
    model, seconds = METHODS[name].train(run)
    return Trained(name, model, seconds)
