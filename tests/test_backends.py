"""The backend-generic suite: every layer, loss, optimizer, model, uncertainty procedure and metric,
run on NumPy and on device arrays, with the same numbers.

The ``device`` fixture (tests/conftest.py) gives ``fakecupy`` (the strict stand-in of ``tests/fake_cupy.py``,
everywhere) and ``cupy`` (a real GPU, under the ``gpu`` mark, skipped without one). Each test
builds the same object twice from the same seed, once under NumPy and once under the device
backend, and checks that

* every output is still a device array (nothing fell back to the host silently), and
* the numbers agree with NumPy's to float tolerance (the device path runs the xp references
  where NumPy runs numba kernels, so sums may be taken in another order).
"""
import numpy as np
import pytest

import numpyuq
from numpyuq import backend
from numpyuq.backend import to_numpy
from numpyuq.gradcheck import check_loss, check_module


class on:
    """``with on(xp):`` builds new parameters and buffers with that backend."""

    def __init__(self, xp):
        self.name = "numpy" if xp is np else "cupy"

    def __enter__(self):
        backend.set_backend(self.name)

    def __exit__(self, *exc):
        backend.set_backend("numpy")


def twice(device, build):
    """``build()`` under NumPy and under the device backend: (host object, device object)."""
    host = build()
    with on(device):
        dev = build()
    return host, dev


def assert_on_device(device, *arrays):
    for a in arrays:
        assert isinstance(a, device.ndarray), f"expected a device array, got {type(a)}"


def assert_close(device_value, host_value, rtol=1e-5, atol=1e-6):
    np.testing.assert_allclose(to_numpy(device_value), to_numpy(host_value), rtol=rtol, atol=atol)


def host_and_device(device, array):
    return array, device.asarray(array)


# ---- layers -----------------------------------------------------------------------------------
def _layers():
    from numpyuq import nn
    return {
        "Dense": (lambda: nn.Dense(6, 4, seed=1), (5, 6)),
        "Dense relu": (lambda: nn.Dense(6, 4, activation="relu", seed=1), (5, 6)),
        "Conv2D": (lambda: nn.Conv2D(2, 3, 3, padding=1, seed=1), (2, 2, 6, 5)),
        "Conv2D NHWC relu pool": (lambda: nn.Conv2D(2, 3, 3, activation="relu", pool=2, data_format="NHWC",
                                                    seed=1), (2, 8, 8, 2)),
        "Conv2D NHWC rebuilt columns": (lambda: nn.Conv2D(6, 3, 3, activation="relu", pool=2, data_format="NHWC",
                                                          seed=1), (2, 8, 8, 6)),
        "MaxPool2D": (lambda: nn.MaxPool2D(2), (2, 3, 6, 6)),
        "ReLU": (lambda: nn.ReLU(), (4, 5)),
        "Softplus": (lambda: nn.Softplus(), (4, 5)),
        "Flatten": (lambda: nn.Flatten(), (2, 3, 2, 2)),
        "ChannelsLast": (lambda: nn.ChannelsLast(), (2, 3, 4, 4)),
        "Dropout": (lambda: nn.Dropout(0.5, seed=1), (4, 6)),
        "LayerNorm": (lambda: nn.LayerNorm(6), (4, 6)),
        "Evidence": (lambda: nn.Evidence("softplus"), (4, 3)),
        "Evidence exp": (lambda: nn.Evidence("exp"), (4, 3)),
        "Evidence relu": (lambda: nn.Evidence("relu"), (4, 3)),
        "Residual": (lambda: nn.Residual(nn.Dense(5, 5, seed=1)), (3, 5)),
        "SpectralNorm Dense": (lambda: nn.SpectralNorm(nn.Dense(6, 4, seed=1), norm_multiplier=0.5), (5, 6)),
        "SpectralNorm Conv2D operator": (lambda: nn.SpectralNorm(nn.Conv2D(2, 3, 3, seed=1), norm_multiplier=0.5,
                                                                 semantics="operator", input_shape=(2, 6, 6)),
                                         (2, 2, 6, 6)),
        "SpectralNorm Conv2D matrix": (lambda: nn.SpectralNorm(nn.Conv2D(2, 3, 3, seed=1), norm_multiplier=0.5,
                                                               semantics="matrix"), (2, 2, 6, 6)),
        "RandomFeatureGP": (lambda: nn.RandomFeatureGP(6, 3, num_inducing=16, seed=1), (5, 6)),
        "RandomFeatureGP LayerNorm": (lambda: nn.RandomFeatureGP(6, 3, num_inducing=16, normalize_input=True,
                                                                 kernel_scale=6.0, seed=1), (5, 6)),
    }


LAYERS = list(_layers())


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_every_layer_runs_forward_and_backward_on_the_device(device, name, training):
    make, shape = _layers()[name]
    host_layer, dev_layer = twice(device, lambda: make().astype(np.float64))
    x, x_dev = host_and_device(device, np.random.default_rng(0).standard_normal(shape))
    y, y_dev = host_layer(x, training=training), dev_layer(x_dev, training=training)
    assert_on_device(device, y_dev)
    assert_close(y_dev, y)
    dy, dy_dev = host_and_device(device, np.random.default_rng(1).standard_normal(y.shape))
    dx, dx_dev = host_layer.backward(dy), dev_layer.backward(dy_dev)
    if dx is not None:
        assert_on_device(device, dx_dev)
        assert_close(dx_dev, dx)
    for (pname, p), (_, p_dev) in zip(host_layer.named_parameters(), dev_layer.named_parameters()):
        assert_on_device(device, p_dev.value, p_dev.grad)
        assert_close(p_dev.grad, p.grad, atol=1e-8)
    for (bname, b), (_, b_dev) in zip(host_layer.named_buffers(), dev_layer.named_buffers()):
        assert_on_device(device, b_dev)
        assert_close(b_dev, b)


@pytest.mark.parametrize("name", LAYERS)
def test_every_layer_passes_its_gradient_check_on_the_device(device, name):
    make, shape = _layers()[name]
    with on(device):
        layer = make().astype(np.float64)
    # Seed 1: with seed 0 one LayerNorm input gradient is ~1e-3 of the largest, where the central
    # difference loses its digits to cancellation (on NumPy as well; tests/nn checks LayerNorm too).
    x = device.asarray(np.random.default_rng(1).standard_normal(shape))
    report = check_module(layer, x, training=name == "Dropout")
    assert report.max_rel_error < 1e-6, report


# ---- losses -----------------------------------------------------------------------------------
def _losses():
    from numpyuq import losses
    return {"SoftmaxCrossEntropy": losses.SoftmaxCrossEntropy, "MaximumLikelihoodLoss": losses.MaximumLikelihoodLoss,
            "CrossEntropyBayesRisk": losses.CrossEntropyBayesRisk, "SquaredErrorBayesRisk": losses.SquaredErrorBayesRisk,
            "KLDivergenceLoss": losses.KLDivergenceLoss,
            "AnnealedEvidentialLoss": lambda: losses.AnnealedEvidentialLoss(risk="mse", schedule="paper")}


@pytest.mark.parametrize("name", list(_losses()))
def test_every_loss_matches_numpy_and_passes_its_gradient_check(device, name):
    make = _losses()[name]
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((6, 4)) if name == "SoftmaxCrossEntropy" else rng.random((6, 4)) * 3
    labels = np.array([0, 1, 2, 3, 1, 0])
    host_loss, dev_loss = make(), make()
    inputs_dev, labels_dev = device.asarray(inputs), device.asarray(labels)
    value, value_dev = host_loss(inputs, labels), dev_loss(inputs_dev, labels_dev)
    assert_close(value_dev, value)
    grad_dev = dev_loss.backward()
    assert_on_device(device, grad_dev)
    assert_close(grad_dev, host_loss.backward())
    assert check_loss(make(), inputs_dev, labels_dev).max_rel_error < 1e-6


# ---- optimizers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["SGD", "SGD momentum", "Adam", "AdamW"])
def test_optimizers_update_device_parameters_like_numpy(device, optimizer):
    from numpyuq import nn, optim
    make_opt = {"SGD": lambda p: optim.SGD(p, lr=0.1), "SGD momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                "Adam": lambda p: optim.Adam(p, lr=0.01), "AdamW": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1,
                                                                                     decoupled=True)}[optimizer]
    host_layer, dev_layer = twice(device, lambda: nn.Dense(4, 3, seed=2))
    host_opt, dev_opt = make_opt(host_layer.parameters()), make_opt(dev_layer.parameters())
    for step in range(3):
        for layer, opt, xp in ((host_layer, host_opt, np), (dev_layer, dev_opt, device)):
            opt.zero_grad()
            layer(xp.asarray(np.ones((2, 4), np.float32)), training=True)
            layer.backward(xp.asarray(np.full((2, 3), 0.5 + step, np.float32)))
            opt.step()
    for (_, p), (_, p_dev) in zip(host_layer.named_parameters(), dev_layer.named_parameters()):
        assert_on_device(device, p_dev.value)
        assert_close(p_dev.value, p.value)
    state = dev_opt.state_dict()
    assert all(isinstance(v, device.ndarray) for k, v in state.items() if k not in ("step_count", "lr"))


# ---- models: a short fit of each ------------------------------------------------------------------
def _models():
    from numpyuq import models
    return {
        "LeNet": (lambda: models.LeNet(seed=0, channels=(4, 6), num_hidden=16), (12, 1, 28, 28), "ce"),
        "LeNetSNGP": (lambda: models.LeNetSNGP(seed=0, channels=(4, 6), num_hidden=16, num_inducing=32),
                      (12, 1, 28, 28), "ce"),
        "EvidentialClassifier(LeNet)": (lambda: models.EvidentialClassifier(models.LeNet(seed=0, channels=(4, 6),
                                                                                         num_hidden=16)),
                                        (12, 1, 28, 28), "edl"),
        "DeepResNet": (lambda: models.DeepResNet(3, num_hidden=16, seed=0), (40, 2), "ce"),
        "DeepResNetSNGP": (lambda: models.DeepResNetSNGP(3, num_hidden=16, num_inducing=32, seed=0), (40, 2), "ce"),
    }


@pytest.mark.parametrize("name", list(_models()))
def test_a_short_fit_of_every_model_matches_numpy(device, name):
    from numpyuq import losses, optim
    from numpyuq.training import fit
    make, shape, kind = _models()[name]
    rng = np.random.default_rng(0)
    x = rng.random(shape, dtype=np.float32)
    y = np.arange(shape[0]) % (10 if len(shape) == 4 else 3)
    results = []
    for xp in (np, device):
        with on(xp):
            model = make()
            loss = losses.SoftmaxCrossEntropy() if kind == "ce" else losses.AnnealedEvidentialLoss(risk="mse")
            history = fit(model, loss, optim.Adam(model.parameters(), lr=1e-3), xp.asarray(x), xp.asarray(y),
                          batch_size=8, epochs=2, progress=False)
            probs = model.predict(xp.asarray(x))
        results.append((model, history, probs))
    (host, host_history, host_probs), (dev, dev_history, dev_probs) = results
    np.testing.assert_allclose(dev_history.loss, host_history.loss, rtol=1e-4)
    assert_on_device(device, dev_probs)
    assert_close(dev_probs, host_probs, rtol=1e-4, atol=1e-5)
    for (_, p), (_, p_dev) in zip(host.named_parameters(), dev.named_parameters()):
        assert_on_device(device, p_dev.value)
        # atol 1e-4 = lr / 10: Adam divides each gradient by its own running size, so a weight whose
        # float32 gradient is near zero (summed in another order by the host's direct convolution)
        # moves by up to a fraction of lr either way; a wrong gradient moves it by about lr.
        assert_close(p_dev.value, p.value, rtol=1e-4, atol=1e-4)


# ---- the uncertainty procedures ------------------------------------------------------------------
def test_mc_dropout_and_deep_ensembles_on_the_device(device):
    from numpyuq.models import DeepResNet
    from numpyuq.uncertainty import DeepEnsemble, mc_dropout_predict
    x = np.random.default_rng(0).random((20, 2), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    host_model, dev_model = twice(device, lambda: DeepResNet(2, num_hidden=16, dropout_rate=0.3, seed=0))
    probs, samples = mc_dropout_predict(host_model, x, num_samples=4, return_samples=True)
    probs_dev, samples_dev = mc_dropout_predict(dev_model, device.asarray(x), num_samples=4, return_samples=True)
    assert_on_device(device, probs_dev, samples_dev)
    assert_close(samples_dev, samples)
    results = []
    for xp in (np, device):
        with on(xp):
            ensemble = DeepEnsemble(lambda seed: DeepResNet(2, num_hidden=16, seed=seed), size=2).fit(
                x, y, epochs=2, batch_size=8, n_jobs=2, progress=False)
            results.append(ensemble.predict(xp.asarray(x), return_samples=True))
    assert_on_device(device, *results[1])
    for got, want in zip(results[1], results[0]):
        assert_close(got, want, rtol=1e-4)


# ---- SNGP, EDL statistics, metrics -------------------------------------------------------------
def test_sngp_prediction_with_variance_on_the_device(device):
    from numpyuq import models
    from numpyuq.uncertainty import mc_probabilities, mean_field_logits, refit_covariance
    host_model, dev_model = twice(device, lambda: models.DeepResNetSNGP(3, num_hidden=16, num_inducing=32, seed=0))
    x, x_dev = host_and_device(device, np.random.default_rng(0).random((30, 2), dtype=np.float32))
    refit_covariance(host_model, x)
    refit_covariance(dev_model, x_dev)
    logits, variance = host_model.predict_with_variance(x)
    logits_dev, variance_dev = dev_model.predict_with_variance(x_dev)
    assert_on_device(device, logits_dev, variance_dev)
    assert_close(logits_dev, logits)
    assert_close(variance_dev, variance, rtol=1e-4)
    assert_close(mean_field_logits(logits_dev, variance_dev), mean_field_logits(logits, variance), rtol=1e-4)
    probs_dev = mc_probabilities(logits_dev, variance_dev, num_samples=20)
    assert_on_device(device, probs_dev)
    assert_close(probs_dev, mc_probabilities(logits, variance, num_samples=20), rtol=1e-4)
    assert_close(dev_model.predict(x_dev), host_model.predict(x), rtol=1e-4)


def test_evidential_statistics_on_the_device(device):
    from numpyuq.uncertainty import dirichlet_measures, dirichlet_uncertainty, evidential_statistics
    evidence = np.random.default_rng(0).random((8, 4)) * 5
    labels = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    evidence_dev = device.asarray(evidence)
    for got, want in zip(dirichlet_uncertainty(evidence_dev), dirichlet_uncertainty(evidence)):
        assert_on_device(device, got)
        assert_close(got, want)
    for got, want in zip(dirichlet_measures(evidence_dev), dirichlet_measures(evidence)):
        assert_on_device(device, got)
        assert_close(got, want)
    for key, want in evidential_statistics(evidence, labels).items():
        assert_close(evidential_statistics(evidence_dev, device.asarray(labels))[key], want)


def test_metrics_on_the_device(device):
    from numpyuq import metrics
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, 50)
    probs_dev, labels_dev = device.asarray(probs), device.asarray(labels)
    for name in ("accuracy", "nll", "brier_score", "expected_calibration_error"):
        assert getattr(metrics, name)(probs_dev, labels_dev) == pytest.approx(getattr(metrics, name)(probs, labels))
    entropy_dev = metrics.predictive_entropy(probs_dev)
    assert_on_device(device, entropy_dev)
    assert_close(entropy_dev, metrics.predictive_entropy(probs))
    scores_in, scores_out = rng.random(20), rng.random(30) + 0.3
    assert metrics.ood_auroc(device.asarray(scores_in), device.asarray(scores_out)) == pytest.approx(
        metrics.ood_auroc(scores_in, scores_out))
    assert metrics.classification_metrics(probs_dev, labels_dev) == pytest.approx(
        metrics.classification_metrics(probs, labels))


# ---- moving models, saving and loading -----------------------------------------------------------
def test_models_move_between_backends_and_files_load_on_either(device, tmp_path):
    from numpyuq import io, models
    model = models.DeepResNetSNGP(3, num_hidden=8, num_inducing=16, seed=0)
    x = np.random.default_rng(0).random((5, 2), dtype=np.float32)
    on_host = model.predict(x)
    model.to("cupy")
    assert all(isinstance(a, device.ndarray) for a in model.state_arrays().values())
    assert_close(model.predict(device.asarray(x)), on_host)
    io.save(model, tmp_path / "m.npz")                      # saved from the device
    model.to("numpy")
    assert all(isinstance(a, np.ndarray) for a in model.state_arrays().values())
    with on(device):
        loaded = io.load(models.DeepResNetSNGP(3, num_hidden=8, num_inducing=16, seed=5), tmp_path / "m.npz")
    assert all(isinstance(a, device.ndarray) for a in loaded.state_arrays().values())
    assert_close(loaded.predict(device.asarray(x)), on_host)


# ---- end to end -------------------------------------------------------------------------------------
def test_the_two_moons_comparison_gives_numpys_numbers(device, tmp_path):
    from numpyuq.experiments.compare import CompareConfig, run_compare
    config = CompareConfig(dataset="moons", seeds=1, fast=True, epochs=3)
    host = run_compare(config, progress=False)
    with on(device):
        dev = run_compare(config, progress=False)
    for method, metrics in host.summary().items():
        for name, (mean, _) in metrics.items():
            if not name.endswith(" s"):                      # timings differ, everything else agrees
                assert dev.summary()[method][name][0] == pytest.approx(mean, rel=1e-3, abs=1e-4, nan_ok=True), \
                    (method, name)


def test_a_short_evidential_training_on_digits28_gives_numpys_numbers(device):
    from numpyuq.experiments import evidential as edl
    data = edl.load_dataset("digits28")
    config = edl.EvidentialConfig(dataset="digits28", epochs=1)
    host_model, host_history, _ = edl.train(config, data, progress=False)
    with on(device):
        dev_model, dev_history, _ = edl.train(config, data, progress=False)     # TrackStatistics too
    np.testing.assert_allclose(dev_history.loss, host_history.loss, rtol=1e-4)
    for key in ("test_accuracy", "test_u_correct", "test_u_wrong"):
        np.testing.assert_allclose(dev_history.metrics[key], host_history.metrics[key], rtol=1e-4)
    host_eval, dev_eval = edl.evaluate(host_model, data), edl.evaluate(dev_model, data)
    for key in ("accuracy", "uncertainty_correct", "uncertainty_wrong"):
        assert dev_eval[key] == pytest.approx(host_eval[key], rel=1e-4), key
    assert_close(dev_eval["rotation_mean_uncertainty"], host_eval["rotation_mean_uncertainty"], rtol=1e-4)
    probs_dev = dev_model.predict(device.asarray(data.x_test))
    assert_on_device(device, probs_dev)
    assert_close(probs_dev, host_model.predict(data.x_test), rtol=1e-3, atol=1e-5)


def test_the_environment_variable_chooses_the_backend():
    from tests.helpers import run_python
    code = ("import sys; from tests import fake_cupy; sys.modules['cupy'] = fake_cupy; "
            "from numpyuq.models import DeepResNet; import numpyuq; "
            "print(numpyuq.get_backend(), type(DeepResNet(2, num_hidden=4).parameters()[0].value).__module__)")
    out = run_python(code, env={"NUMPYUQ_BACKEND": "cupy"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["cupy", "tests.fake_cupy"]
    bad = run_python("import numpyuq; numpyuq.get_backend()", env={"NUMPYUQ_BACKEND": "gpu"})
    assert bad.returncode != 0 and "NUMPYUQ_BACKEND must be one of" in bad.stderr


def test_set_backend_cupy_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "cupy", None)       # import cupy -> ImportError
    with pytest.raises(ImportError, match="pip install"):
        numpyuq.set_backend("cupy")
    assert numpyuq.get_backend() == "numpy"
