"""The public API under generated bad inputs (hypothesis).

For each entry point one argument at a time is replaced by a generated bad value: wrong shapes and
ranks, empty arrays, NaN and infinity, wrong dtypes (complex, object, strings), out-of-range or
fractional labels, sizes of 0 and below, wrong types, lists. Each call must either succeed
correctly or raise ValueError / TypeError whose message names the argument, and in every case the
``state_dict`` of every model and optimizer involved must be bit-identical to before the call
(unless it succeeded at something meant to change them, such as ``fit``).

Each entry point's test also asserts that every one of its arguments was given bad values (the
draws are derandomised, so the same arguments are covered on every run, in any test order).
"""
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpyuq import io, metrics
from numpyuq.losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
from numpyuq.models import DeepResNet, EvidentialClassifier, LeNet
from numpyuq.nn import Conv2D, Dense, Dropout, MaxPool2D, RandomFeatureGP, SpectralNorm
from numpyuq.optim import SGD, Adam
from numpyuq.training import fit, predict_logits
from numpyuq.data import make_grid, make_moons_data
from numpyuq.nn import Evidence, LayerNorm
from numpyuq.callbacks import EarlyStopping, ModelCheckpoint
from numpyuq.experiments.data import load_dataset
from numpyuq.nn import ReLU, Sequential
from numpyuq.uncertainty import MCDropout, mean_field_logits, uncertainty_mass_from_logits
from numpyuq.uncertainty import DDU, LastLayerLaplace
from numpyuq.models import LeNet5
from numpyuq.data import make_ring_data
from numpyuq.tasks import run_tasks
from numpyuq.experiments.ablation import AblationConfig
from numpyuq.experiments.reproduce import ReproduceConfig
from tests.tiny_models import tiny_lenet, tiny_resnet, tiny_sngp
from numpyuq.uncertainty import DeepEnsemble, dirichlet_uncertainty, mc_dropout_predict, refit_covariance, sample_logits

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

N, D, K = 12, 2, 3
X = np.random.default_rng(0).normal(size=(N, D)).astype(np.float32)
Y = np.arange(N) % K
IMAGES = np.random.default_rng(1).random((6, 1, 28, 28), dtype=np.float32)
PROBS = np.full((N, K), 1.0 / K)


# ---- generated bad values, each tagged with its kind ------------------------------------------
def tagged(kind, strategy):
    return strategy.map(lambda value: (kind, value))


def with_value(array, index, value):
    out = np.array(array, dtype=np.float64 if array.dtype.kind != "f" else array.dtype)
    out.flat[index % out.size] = value
    return out


def bad_arrays(valid):
    """Bad versions of the float array ``valid`` (N, ...)."""
    flat = valid.reshape(valid.shape[0], -1)
    return st.one_of(
        tagged("none", st.just(None)),
        tagged("string", st.just("data")),
        tagged("scalar", st.floats(-3, 3)),
        tagged("empty", st.just(valid[:0])),
        tagged("non-finite", st.tuples(st.integers(0, valid.size - 1),
                                       st.sampled_from([np.nan, np.inf, -np.inf]))
               .map(lambda t: with_value(valid, *t))),
        tagged("rank-1", st.just(flat[:, 0].copy())),
        tagged("rank+1", st.just(valid[..., None])),
        tagged("wrong-width", st.integers(1, 5).filter(lambda w: w != flat.shape[1]).map(
            lambda w: np.ones((valid.shape[0], w), valid.dtype))),
        tagged("complex", st.just(valid.astype(np.complex64))),
        tagged("object", st.just(valid.astype(object))),
        tagged("bool", st.just(valid > 0)),
        tagged("list", st.just(valid.tolist())),
        tagged("float64", st.just(valid.astype(np.float64))),
        tagged("int", st.just(np.round(valid).astype(np.int64))),
        tagged("huge", st.just(np.full_like(valid, 1e30))),
    )


def bad_sizes():
    return st.one_of(
        tagged("zero", st.just(0)), tagged("negative", st.integers(-100, -1)),
        tagged("fraction", st.floats(0.1, 50).filter(lambda v: v != int(v))),
        tagged("nan", st.just(float("nan"))), tagged("bool", st.just(True)),
        tagged("string", st.just("8")), tagged("none", st.just(None)),
        tagged("numpy-int", st.integers(1, 4).map(np.int64)),
    )


def bad_reals():
    return st.one_of(
        tagged("zero", st.just(0.0)), tagged("negative", st.floats(-1e6, -1e-9)),
        tagged("nan", st.just(float("nan"))), tagged("inf", st.just(float("inf"))),
        tagged("string", st.just("0.1")), tagged("none", st.just(None)), tagged("bool", st.just(True)),
        tagged("large", st.floats(1.0, 1e6)),
    )


def bad_labels(num_classes, length):
    valid = np.arange(length) % num_classes
    return st.one_of(
        tagged("too-large", st.integers(num_classes, 100).map(lambda v: np.r_[valid[:-1], v])),
        tagged("negative", st.integers(-100, -1).map(lambda v: np.r_[valid[:-1], v])),
        tagged("float", st.just(valid.astype(np.float64) + 0.5)),
        tagged("float-whole", st.just(valid.astype(np.float64))),
        tagged("short", st.integers(0, length - 1).map(lambda n: valid[:n])),
        tagged("2-d", st.just(valid[:, None])),
        tagged("one-hot", st.just(np.eye(num_classes)[valid])),
        tagged("strings", st.just(valid.astype(str))),
        tagged("none", st.just(None)),
        tagged("list", st.just(valid.tolist())),
        tagged("bool", st.just(valid > 0)),
    )


def bad_probabilities(valid):
    return st.one_of(
        bad_arrays(valid),
        tagged("logits", st.just(np.log(valid + 0.1) * 3)),
        tagged("unnormalised", st.floats(1.01, 3).map(lambda s: valid * s)),
        tagged("one-class", st.just(np.ones((valid.shape[0], 1)))),
    )


# ---- the cases ---------------------------------------------------------------------------------
@dataclass
class Case:
    """An entry point: ``build()`` -> (fresh stateful objects, valid kwargs); ``call(objects, **kwargs)``.

    ``mutates``: a successful call may change the objects' state (training).
    ``check``: what a successful call must return.
    """
    name: str
    build: object
    call: object
    bad: dict
    mutates: bool = False
    check: object = None
    aliases: dict = field(default_factory=dict)


def small_resnet():
    return tiny_resnet(num_classes=K, in_features=D)


def small_sngp():
    return tiny_sngp(num_classes=K, in_features=D)


def small_lenet():
    return tiny_lenet(num_classes=K)


def build_fit(make_model, loss=SoftmaxCrossEntropy):
    def build():
        model = make_model()
        optimizer = Adam(model.parameters(), lr=1e-3)
        x = IMAGES if isinstance(model, LeNet) else X
        y = Y[:len(x)]
        return [model, optimizer], dict(loss=loss(), x=x, y=y, epochs=1, batch_size=4, seed=0,
                                        validation_data=(x, y))
    return build


def call_fit(objects, **kw):
    model, optimizer = objects
    return fit(model, kw.pop("loss"), optimizer, kw.pop("x"), kw.pop("y"), progress=False, **kw)


def history_is_finite(history):
    assert len(history.loss) >= 1 and np.all(np.isfinite(history.loss))


def fit_bad(x, y):
    return {"x": bad_arrays(x), "y": bad_labels(K, len(x)), "epochs": bad_sizes(), "batch_size": bad_sizes(),
            "seed": st.one_of(tagged("negative", st.integers(-9, -1)), tagged("float", st.just(1.5)),
                              tagged("string", st.just("0")))}


def outputs_are_probabilities(out):
    out = np.asarray(out)
    assert out.ndim == 2 and np.all(np.isfinite(out)) and np.allclose(out.sum(axis=1), 1, atol=1e-4)


def outputs_are_finite(out):
    assert np.all(np.isfinite(np.asarray(out)))


def is_finite_number(value):
    assert np.isfinite(value)


def model_only(make_model):
    def build():
        model = make_model()
        x = IMAGES if isinstance(model, LeNet) else X
        return [model], dict(x=x)
    return build


CASES_LIST = [
    Case("fit resnet", build_fit(small_resnet), call_fit, fit_bad(X, Y), mutates=True, check=history_is_finite),
    Case("fit sngp", build_fit(small_sngp), call_fit, fit_bad(X, Y), mutates=True, check=history_is_finite),
    Case("fit lenet", build_fit(small_lenet), call_fit, fit_bad(IMAGES, Y[:6]), mutates=True,
         check=history_is_finite),
    Case("fit evidential", build_fit(lambda: EvidentialClassifier(small_resnet()), AnnealedEvidentialLoss),
         call_fit, fit_bad(X, Y), mutates=True, check=history_is_finite),
    Case("predict", model_only(small_resnet), lambda o, **kw: predict_logits(o[0], **kw),
         {"x": bad_arrays(X), "batch_size": bad_sizes()}, check=outputs_are_finite),
    Case("model.predict sngp", model_only(small_sngp), lambda o, **kw: o[0].predict(**kw),
         {"x": bad_arrays(X), "batch_size": bad_sizes()}, check=outputs_are_probabilities),
    Case("model.predict lenet", model_only(small_lenet), lambda o, **kw: o[0].predict(**kw),
         {"x": bad_arrays(IMAGES), "batch_size": bad_sizes()}, check=outputs_are_probabilities),
    Case("model.evaluate", lambda: ([small_resnet()], dict(x=X, y=Y)), lambda o, **kw: o[0].evaluate(**kw),
         {"x": bad_arrays(X), "y": bad_labels(K, N)}, check=lambda r: [is_finite_number(v) for v in r.values()]),
    Case("mc_dropout_predict", model_only(small_resnet), lambda o, **kw: mc_dropout_predict(o[0], **kw),
         {"x": bad_arrays(X), "num_samples": bad_sizes(), "batch_size": bad_sizes()},
         check=outputs_are_probabilities),
    Case("refit_covariance", model_only(small_sngp), lambda o, **kw: refit_covariance(o[0], **kw),
         {"x": bad_arrays(X), "batch_size": bad_sizes()}, mutates=True),
    Case("Adam", lambda: ([small_resnet()], dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8)),
         lambda o, **kw: Adam(o[0].parameters(), **kw),
         {"lr": bad_reals(), "eps": bad_reals().filter(lambda t: t[0] != "zero"),
          "betas": st.one_of(tagged("one", st.just((1.0, 0.9))), tagged("negative", st.just((-0.1, 0.9))),
                             tagged("single", st.just((0.9,))), tagged("string", st.just("0.9")))}),
    Case("SGD", lambda: ([small_resnet()], dict(lr=1e-2, momentum=0.9)),
         lambda o, **kw: SGD(o[0].parameters(), **kw), {"lr": bad_reals(), "momentum": bad_reals()}),
    Case("Dense", lambda: ([], dict(in_features=3, out_features=2)), lambda o, **kw: Dense(**kw),
         {"in_features": bad_sizes(), "out_features": bad_sizes()}),
    Case("Conv2D", lambda: ([], dict(in_channels=1, out_channels=2, kernel_size=3, stride=1, padding=0)),
         lambda o, **kw: Conv2D(**kw),
         {"in_channels": bad_sizes(), "out_channels": bad_sizes(), "kernel_size": bad_sizes(),
          "stride": bad_sizes(), "padding": st.one_of(tagged("negative", st.integers(-5, -1)),
                                                       tagged("fraction", st.just(0.5)))}),
    Case("MaxPool2D", lambda: ([], dict(size=2, stride=2)), lambda o, **kw: MaxPool2D(**kw),
         {"size": bad_sizes(), "stride": bad_sizes()}),
    Case("Dropout", lambda: ([], dict(rate=0.5)), lambda o, **kw: Dropout(**kw),
         {"rate": st.one_of(bad_reals().filter(lambda t: t[0] != "zero"), tagged("one", st.just(1.0)))}),
    Case("RandomFeatureGP", lambda: ([], dict(in_features=2, units=2, num_inducing=8, l2_regularization=1e-6,
                                              kernel_scale=1.0, cov_ridge_penalty=1.0)),
         lambda o, **kw: RandomFeatureGP(**kw),
         {"in_features": bad_sizes(), "units": bad_sizes(), "num_inducing": bad_sizes(),
          "l2_regularization": bad_reals().filter(lambda t: t[0] not in ("zero", "large")),
          "kernel_scale": bad_reals().filter(lambda t: t[0] != "large"),
          "cov_ridge_penalty": bad_reals().filter(lambda t: t[0] != "large")}),
    Case("SpectralNorm", lambda: ([], dict(norm_multiplier=0.9, iterations=1)),
         lambda o, **kw: SpectralNorm(Dense(3, 3), **kw),
         {"norm_multiplier": bad_reals().filter(lambda t: t[0] != "large"), "iterations": bad_sizes()}),
    Case("DeepResNet", lambda: ([], dict(num_classes=2, num_layers=1, num_hidden=4, dropout_rate=0.1)),
         lambda o, **kw: DeepResNet(**kw),
         {"num_classes": st.one_of(bad_sizes(), tagged("one", st.just(1))), "num_hidden": bad_sizes(),
          "num_layers": st.one_of(tagged("negative", st.integers(-5, -1)), tagged("string", st.just("2"))),
          "dropout_rate": st.one_of(bad_reals().filter(lambda t: t[0] != "zero"), tagged("one", st.just(1.0)))}),
    Case("LeNet", lambda: ([], dict(num_classes=10, num_hidden=8, channels=(2, 3))), lambda o, **kw: LeNet(**kw),
         {"num_classes": st.one_of(bad_sizes(), tagged("one", st.just(1))), "num_hidden": bad_sizes(),
          "channels": st.one_of(tagged("zero", st.just((0, 3))), tagged("single", st.just((2,)))),
          "dtype": st.one_of(tagged("float16", st.just(np.float16)), tagged("int", st.just(np.int32)),
                             tagged("string", st.just("half")))}),
    Case("metrics.nll", lambda: ([], dict(probs=PROBS, labels=Y)), lambda o, **kw: metrics.nll(**kw),
         {"probs": bad_probabilities(PROBS), "labels": bad_labels(K, N)}, check=is_finite_number),
    Case("metrics.expected_calibration_error", lambda: ([], dict(probs=PROBS, labels=Y, num_bins=10)),
         lambda o, **kw: metrics.expected_calibration_error(**kw),
         {"probs": bad_probabilities(PROBS), "labels": bad_labels(K, N), "num_bins": bad_sizes()},
         check=is_finite_number),
    Case("metrics.accuracy", lambda: ([], dict(probs=PROBS, labels=Y)), lambda o, **kw: metrics.accuracy(**kw),
         {"probs": bad_probabilities(PROBS), "labels": bad_labels(K, N)}, check=is_finite_number),
    Case("metrics.ood_auroc", lambda: ([], dict(uncertainty_in=PROBS[:, 0].copy(), uncertainty_out=PROBS[:, 1] + 1)),
         lambda o, **kw: metrics.ood_auroc(**kw),
         {"uncertainty_in": bad_arrays(PROBS[:, :1].ravel()[:, None]).map(
             lambda t: (t[0], t[1].ravel() if t[0] in ("rank+1",) and hasattr(t[1], "ravel") else t[1])),
          "uncertainty_out": bad_probabilities(PROBS)}, check=is_finite_number),
    Case("metrics.mutual_information", lambda: ([], dict(prob_samples=np.stack([PROBS] * 3))),
         lambda o, **kw: metrics.mutual_information(**kw),
         {"prob_samples": bad_probabilities(PROBS)}, check=outputs_are_finite),
]


def ensemble_member(seed):
    return DeepResNet(K, num_layers=1, num_hidden=4, in_features=D, seed=seed)


def build_ensemble():
    ensemble = DeepEnsemble(ensemble_member, size=2)
    ensemble.fit(X, Y, epochs=1, progress=False)
    return [ensemble], dict(x=X, y=Y, epochs=1, batch_size=8, n_jobs=1)


CASES_LIST += [
    Case("DeepEnsemble.fit", build_ensemble, lambda o, **kw: o[0].fit(progress=False, **kw),
         {"x": bad_arrays(X), "y": bad_labels(K, N), "epochs": bad_sizes(), "batch_size": bad_sizes(),
          "n_jobs": st.one_of(tagged("zero", st.just(0)), tagged("negative", st.integers(-9, -2)),
                              tagged("string", st.just("2")))},
         mutates=True),
    Case("DeepEnsemble.evaluate", lambda: (build_ensemble()[0], dict(x=X, y=Y)),
         lambda o, **kw: o[0].evaluate(**kw), {"x": bad_arrays(X), "y": bad_labels(K, N)},
         check=lambda r: [is_finite_number(v) for v in r.values()]),
    Case("sample_logits", lambda: ([], dict(logits=PROBS, variance=np.ones(N), num_samples=3)),
         lambda o, **kw: sample_logits(**kw),
         {"logits": bad_arrays(PROBS), "variance": bad_arrays(np.ones(N)), "num_samples": bad_sizes()},
         check=outputs_are_finite),
    Case("dirichlet_uncertainty", lambda: ([], dict(evidence=PROBS * 5)), lambda o, **kw: dirichlet_uncertainty(**kw),
         {"evidence": st.one_of(bad_arrays(PROBS * 5), tagged("negative", st.just(-PROBS)))},
         check=lambda r: outputs_are_probabilities(r[0]), aliases={"evidence": ("evidence",)}),
    Case("Evidence", lambda: ([], dict(function="softplus", max_logit=10.0)), lambda o, **kw: Evidence(**kw),
         {"function": st.one_of(tagged("unknown", st.just("tanh")), tagged("none", st.just(None))),
          "max_logit": bad_reals().filter(lambda t: t[0] != "large")}),
    Case("AnnealedEvidentialLoss", lambda: ([], dict(risk="mse", schedule="labml", annealing_epochs=10)),
         lambda o, **kw: AnnealedEvidentialLoss(**kw),
         {"risk": st.one_of(tagged("unknown", st.just("l2")), tagged("number", st.just(3))),
          "schedule": tagged("unknown", st.just("cosine")),
          "annealing_epochs": bad_reals().filter(lambda t: t[0] not in ("large", "string", "none", "bool"))}),
    Case("LayerNorm", lambda: ([], dict(num_features=4, eps=1e-5)), lambda o, **kw: LayerNorm(**kw),
         {"num_features": bad_sizes(), "eps": bad_reals().filter(lambda t: t[0] != "large")}),
    Case("make_moons_data", lambda: ([], dict(sample_size=10, noise=0.1, seed=0)),
         lambda o, **kw: make_moons_data(**kw),
         {"sample_size": bad_sizes(), "noise": bad_reals().filter(lambda t: t[0] not in ("zero", "large")),
          "seed": st.one_of(tagged("negative", st.integers(-9, -1)), tagged("string", st.just("0")))},
         check=lambda r: outputs_are_finite(r[0])),
    Case("make_grid", lambda: ([], dict(n_grid=5)), lambda o, **kw: make_grid(**kw),
         {"n_grid": st.one_of(bad_sizes(), tagged("one", st.just(1))),
          "x_range": st.one_of(tagged("reversed", st.just((1.0, -1.0))), tagged("scalar", st.just(3.0)),
                               tagged("nan", st.just((float("nan"), 1.0))))}, check=outputs_are_finite),
]



# ---- entry points added since the cases above were written ----------------------------------------
def build_face(make_model, x):
    """A model (or method wrapper) with the one face: (objects to snapshot, kwargs)."""
    def build():
        model = make_model()
        owner = getattr(model, "model", model)          # a wrapper (MC dropout, DDU, Laplace): its network
        return [owner], dict(x=x, _model=model)
    return build


def call_face(method):
    def call(objects, _model, **kw):
        return getattr(_model, method)(**kw)
    return call


def build_wrapped(make):
    def build():
        objects, kwargs = make()
        kwargs["_model"] = objects[0]
        return objects, kwargs
    return build


FACES = [("resnet", lambda: small_resnet(), X), ("sngp", lambda: small_sngp(), X), ("lenet", small_lenet, IMAGES),
         ("edl", lambda: EvidentialClassifier(small_resnet()), X),
         ("mc dropout", lambda: MCDropout(tiny_resnet(num_classes=K, in_features=D, dropout_rate=0.3), 3), X),
         ("ddu", lambda: DDU(small_resnet()).fit(X, Y), X),
         ("laplace", lambda: LastLayerLaplace(small_resnet()).fit(X, Y), X),
         ("lenet5", lambda: LeNet5(channels=(2, 2, 2), num_hidden=4, num_classes=K, seed=0), IMAGES)]
for label, make, data in FACES:
    for method, check in (("predict_proba", outputs_are_probabilities), ("uncertainty", outputs_are_finite),
                          ("predict_with_uncertainty", lambda r: (outputs_are_probabilities(r[0]),
                                                                  outputs_are_finite(r[1])))):
        CASES_LIST.append(Case(f"{label}.{method}", build_face(make, data), call_face(method),
                               {"x": bad_arrays(data)}, check=check))
CASES_LIST += [
    Case("uncertainty_mass_from_logits", lambda: ([], dict(logits=PROBS)),
         lambda o, **kw: uncertainty_mass_from_logits(**kw), {"logits": bad_arrays(PROBS)}, check=outputs_are_finite),
    Case("mean_field_logits", lambda: ([], dict(logits=PROBS, variance=np.ones(N))),
         lambda o, **kw: mean_field_logits(**kw),
         {"variance": st.one_of(tagged("negative", st.just(-np.ones(N))), tagged("short", st.just(np.ones(N - 1))),
                                tagged("nan", st.just(np.full(N, np.nan)))),
          "lambda_": bad_reals().filter(lambda t: t[0] not in ("zero", "large"))}, check=outputs_are_finite),
    Case("MCDropout", lambda: ([], dict(model=small_resnet(), num_samples=3, seed=0)), lambda o, **kw: MCDropout(**kw),
         {"model": st.one_of(tagged("class", st.just(DeepResNet)), tagged("array", st.just(X))),
          "num_samples": bad_sizes(), "seed": tagged("negative", st.just(-1))}),
    Case("EarlyStopping", lambda: ([], dict(monitor="val_loss", patience=1, min_delta=0.0, mode="auto")),
         lambda o, **kw: EarlyStopping(**kw),
         {"monitor": tagged("number", st.just(3)), "patience": bad_sizes().filter(lambda t: t[0] != "zero"),
          "min_delta": bad_reals().filter(lambda t: t[0] not in ("zero", "large")),
          "mode": tagged("unknown", st.sampled_from(["up", "", None]))}),
    Case("ModelCheckpoint", lambda: ([], dict(path="run.npz")), lambda o, **kw: ModelCheckpoint(**kw),
         {"path": st.one_of(tagged("none", st.just(None)), tagged("missing folder", st.just("/no/such/dir/run.npz")),
                            tagged("number", st.just(3)))}),
    Case("load_dataset", lambda: ([], dict(dataset="moons", seed=0, fast=True)),
         lambda o, **kw: load_dataset(**kw),
         {"dataset": tagged("unknown", st.sampled_from(["cifar", "MNIST", "", None])),
          "held_out_classes": st.one_of(tagged("moons", st.just(5)))}),
    Case("Sequential", lambda: ([], dict(layers=[Dense(2, 3)])), lambda o, layers: Sequential(*layers),
         {"layers": st.one_of(tagged("class", st.just([Dense(2, 3), ReLU])), tagged("array", st.just([X])),
                              tagged("string", st.just(["relu"])))}),
    Case("DeepEnsemble", lambda: ([], dict(make_member=ensemble_member, size=2)), lambda o, **kw: DeepEnsemble(**kw),
         {"make_member": st.one_of(tagged("class", st.just(DeepResNet)), tagged("model", st.just(small_resnet()))),
          "size": bad_sizes()}),
    Case("LeNet5", lambda: ([], dict(num_classes=10, num_hidden=4, channels=(2, 2, 2), dropout_rate=0.0)),
         lambda o, **kw: LeNet5(**kw),
         {"num_classes": st.one_of(bad_sizes(), tagged("one", st.just(1))), "num_hidden": bad_sizes(),
          "channels": st.one_of(tagged("zero", st.just((0, 2, 2))), tagged("pair", st.just((2, 3)))),
          "dropout_rate": st.one_of(bad_reals().filter(lambda t: t[0] != "zero"), tagged("one", st.just(1.0))),
          "spec_norm_bound": st.one_of(tagged("zero", st.just(0.0)), tagged("negative", st.just(-1.0)),
                                       tagged("string", st.just("3")))}),
    Case("make_ring_data", lambda: ([], dict(sample_size=10, radii=(1.0, 2.0), seed=0)),
         lambda o, **kw: make_ring_data(**kw),
         {"sample_size": bad_sizes(), "radii": st.one_of(tagged("reversed", st.just((2.0, 1.0))),
                                                         tagged("single", st.just((1.0,))))},
         check=outputs_are_finite),
    Case("DDU.fit", lambda: ([], dict(x=X, y=Y, _ddu=DDU(small_resnet()))), lambda o, _ddu, **kw: _ddu.fit(**kw),
         {"y": st.one_of(tagged("absent class", st.just(np.zeros(N, np.int64))),
                         tagged("short", st.just(Y[:-1])), tagged("out of range", st.just(Y + K)))}),
    Case("LastLayerLaplace.fit", lambda: ([], dict(x=X, y=Y, _laplace=LastLayerLaplace(small_resnet()))),
         lambda o, _laplace, **kw: _laplace.fit(**kw),
         {"y": st.one_of(tagged("short", st.just(Y[:-1])), tagged("out of range", st.just(Y + K)))}),
    Case("run_tasks", lambda: ([], dict(function=abs, tasks=[("a", (-1,))], n_jobs=1)),
         lambda o, **kw: run_tasks(**kw),
         {"n_jobs": st.one_of(tagged("zero", st.just(0)), tagged("negative", st.integers(-9, -2)),
                              tagged("float", st.just(1.5)), tagged("bool", st.just(True)))}),
    Case("AblationConfig", lambda: ([], dict(dataset="moons", seeds=1, jobs=None)), lambda o, **kw: AblationConfig(**kw),
         {"dataset": tagged("unknown", st.sampled_from(["cifar", ""])), "seeds": bad_sizes(),
          "jobs": st.one_of(tagged("zero", st.just(0)), tagged("string", st.just("2")))}),
    Case("ReproduceConfig", lambda: ([], dict(epochs=1, batch_size=8, extensions=("laplace",))),
         lambda o, **kw: ReproduceConfig(**kw),
         {"epochs": bad_sizes(), "batch_size": bad_sizes(),
          "extensions": tagged("unknown", st.just(("bayes",)))}),
]


def snapshot(objects):
    """Bytes of every state_dict entry of every object (models and optimizers)."""
    states = []
    for obj in objects:
        state = obj.state_dict()
        states.append({k: (np.asarray(v).dtype.str, np.shape(v), np.asarray(v).tobytes()) for k, v in state.items()})
    return states


def run_case(case, data):
    objects, kwargs = case.build()
    argument = data.draw(st.sampled_from(sorted(case.bad)), label="argument")
    kind, value = data.draw(case.bad[argument], label="bad value")
    kwargs[argument] = value
    before = snapshot(objects)
    try:
        result = case.call(objects, **kwargs)
    except (ValueError, TypeError, FileNotFoundError) as err:          # a missing folder: FileNotFoundError
        message = str(err)
        names = (argument, *case.aliases.get(argument, ()))
        assert any(name in message for name in names), f"{case.name}: {argument}={kind}: {message!r}"
        assert snapshot(objects) == before, f"{case.name}: {argument}={kind} failed after changing state"
        return argument
    if case.check is not None:
        case.check(result)
    if not case.mutates:
        assert snapshot(objects) == before, f"{case.name}: {argument}={kind} changed state"
    return argument


@pytest.mark.parametrize("case", CASES_LIST, ids=lambda c: c.name)
def test_bad_input_fails_cleanly_or_succeeds(case):
    covered = set()

    @SETTINGS
    @given(data=st.data())
    def run(data):
        covered.add(run_case(case, data))
    run()
    assert covered == set(case.bad), f"{case.name}: no bad value was tried for {sorted(set(case.bad) - covered)}"


def test_loading_bad_files_changes_nothing(tmp_path):
    model = small_resnet()
    before = snapshot([model])
    np.save(tmp_path / "array.npy", np.zeros(3))
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "text.npz").write_text("not an archive")
    io.save(small_sngp(), tmp_path / "other.npz")
    io.save(model, tmp_path / "good.npz")
    (tmp_path / "truncated.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:200])
    for name in ("array.npy", "empty.npz", "text.npz", "other.npz", "truncated.npz"):
        with pytest.raises(ValueError, match=name):
            io.load(model, tmp_path / name)
        assert snapshot([model]) == before
