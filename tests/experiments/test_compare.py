"""The five-method comparison: the seed's moons configuration in full, digits28 in fast mode."""
import numpy as np
import pytest

from numpyuq.experiments.compare import (METHODS, SMOKE_NOTE, CompareConfig, format_markdown, format_text,
                                         load_comparison_data, run_compare, write_results)


def rebuilt(comparison, method):
    """The first seed's fitted ``method`` model, rebuilt from the state dict its task returned."""
    from numpyuq.experiments.methods import make_sngp
    assert method == "sngp"
    config = comparison.config
    model = make_sngp(config.dataset, comparison.data.num_classes, config.first_seed)
    model.load_state_dict(comparison.states[method])
    return model


@pytest.mark.slow
def test_moons_full_configuration():
    """Every method >= 99% accurate; SNGP's own uncertainty tells the OOD blob apart (>= 0.95),
    while the softmax network's does not."""
    comparison = run_compare(CompareConfig(dataset="moons"), progress=False, log=lambda *a: None)
    print("\n" + format_text(comparison))
    summary = comparison.summary()
    for method in METHODS:
        assert summary[method]["accuracy"][0] >= 0.99, method
    assert summary["sngp"]["blob AUROC own"][0] >= 0.95
    assert summary["deterministic"]["blob AUROC max-prob"][0] < 0.6
    # distance awareness: SNGP's variance on the blob exceeds every in-domain test point's
    (_, test_variance), (_, blob_variance) = (comparison.outputs["sngp"][k] for k in ("test", "blob"))
    assert blob_variance.min() > test_variance.max()
    norms = true_norms(rebuilt(comparison, "sngp"))
    assert len(norms) == 6 and max(norms) <= 0.9 * 1.01, norms


@pytest.mark.slow
def test_fast_digits_with_two_seeds_writes_table_and_figures(tmp_path):
    config = CompareConfig(dataset="digits28", seeds=2, fast=True, jobs=1)
    comparison = run_compare(config, progress=False, log=lambda *a: None)
    assert set(comparison.rows) == set(METHODS) and all(len(rows) == 2 for rows in comparison.rows.values())
    summary = comparison.summary()
    near = "digits 5-9 AUROC own"
    assert all(0 <= summary[m][near][0] <= 1 for m in METHODS)
    markdown = format_markdown(comparison)
    assert markdown.count("| Deterministic |") == 2 + len(comparison.data.ood) and " ± " in markdown
    paths = write_results(comparison, tmp_path)
    names = {p.split("/")[-1] for p in paths}
    assert {"compare_digits28.csv", "compare_digits28.md", "digits28_rotation.png",
            "digits28_reliability.png", "digits28_entropy_cdf_digits_5-9.png"} <= names
    rows = (tmp_path / "compare_digits28.csv").read_text().splitlines()
    assert rows[:2] == [f"# {SMOKE_NOTE}", "method,metric,mean,std,seed 0,seed 1"]    # a smoke run says so
    assert SMOKE_NOTE in (tmp_path / "compare_digits28.md").read_text()
    assert SMOKE_NOTE.upper() in format_text(comparison)


def test_digits_comparison_holds_classes_5_to_9_out():
    data = load_comparison_data("digits28", fast=True)
    assert set(np.unique(data.y_train)) == set(range(5)) and set(np.unique(data.y_test)) == set(range(5))
    assert data.num_classes == 5 and len(data.ood["digits 5-9"]) > 100


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="dataset must be one of"):
        CompareConfig(dataset="cifar")
    with pytest.warns(DeprecationWarning, match="renamed dataset"):
        assert CompareConfig(task="digits28").dataset == "digits28"
    with pytest.raises(ValueError, match="methods must be a non-empty subset"):
        CompareConfig(methods=("sngp", "bayes"))
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        CompareConfig(seeds=0)
    with pytest.raises(ValueError, match="jobs must be None"):
        CompareConfig(jobs=0)


def true_norms(model):
    """Largest singular value of each spectrally normalised layer's map, by 300 fresh power
    iterations (which converge to the explicit matrix's norm: tests/nn/test_spectral_norm.py)."""
    from numpyuq.nn import SpectralNorm
    from numpyuq.nn.spectral_norm import power_iteration
    norms = []
    for layer in model.modules():
        if isinstance(layer, SpectralNorm):
            u = np.random.default_rng(0).standard_normal(layer.u.shape).astype(layer.u.dtype)
            norms.append(power_iteration(layer.kernel(), u, layer.v, 300, layer.operator)[2])
    return norms


def test_every_normalised_layer_keeps_its_bound_after_training():
    config = CompareConfig(dataset="digits28", methods=("sngp",), epochs=10, jobs=1)
    comparison = run_compare(config, progress=False, log=lambda *a: None)
    norms = true_norms(rebuilt(comparison, "sngp"))
    print(norms)
    assert len(norms) == 3 and max(norms) <= 3.0 * 1.02, norms


@pytest.mark.slow
def test_digits_full_configuration_every_method_above_95_percent():
    """The seed's LeNet, 40 epochs on the digits 0-4: every method >= 95% test accuracy, and every
    own uncertainty tells the held-out digits apart better than chance."""
    comparison = run_compare(CompareConfig(dataset="digits28", jobs=2), progress=False, log=lambda *a: None)
    summary = comparison.summary()
    for method in METHODS:
        assert summary[method]["accuracy"][0] >= 0.95, method
        assert summary[method]["digits 5-9 AUROC own"][0] > 0.5, method


def test_adding_a_method_is_one_registry_entry(monkeypatch):
    """A method registered in experiments.methods.METHODS runs in the comparison with nothing else
    changed: here the softmax network with its max-probability score as a sixth method."""
    from numpyuq.experiments import methods

    class MaxProbability:
        uncertainty_kind = "1 - max p"

        def __init__(self, network):
            self.network = network

        def predict_with_uncertainty(self, x):
            probs = self.network.predict_proba(x)
            return probs, 1 - probs.max(axis=1)

    def train_max_probability(run):
        network, seconds = run.network()
        return MaxProbability(network), seconds

    monkeypatch.setitem(methods.METHODS, "max_prob", methods.Method("Max probability", "1 - max p",
                                                                     train_max_probability))
    config = CompareConfig(dataset="moons", methods=("deterministic", "max_prob"), epochs=2, fast=True)
    comparison = run_compare(config, progress=False, log=lambda *a: None)
    rows = comparison.rows
    assert rows["max_prob"][0]["accuracy"] == rows["deterministic"][0]["accuracy"]   # the same network
    assert rows["max_prob"][0]["blob AUROC own"] == rows["max_prob"][0]["blob AUROC max-prob"]


def test_the_calibration_split_is_never_trained_on_nor_the_test_set():
    data = load_comparison_data("digits28", fast=True)
    train = {row.tobytes() for row in data.x_train}
    assert len(data.y_cal) > 0 and not any(row.tobytes() in train for row in data.x_cal)
    assert not any(row.tobytes() in {r.tobytes() for r in data.x_test} for row in data.x_cal)
    moons = load_comparison_data("moons", fast=True)
    assert len(moons.y_train) == 1000 and len(moons.y_cal) == 100   # the SNGP seed's 1,000 training points
