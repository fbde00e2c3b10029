"""The EDL seed's experiment on digits28: the issue's numbers, configuration checks, save and reload."""
import numpy as np
import pytest

from numpyuq.experiments import evidential as edl


@pytest.fixture(scope="module")
def digits():
    return edl.load_dataset("digits28")


@pytest.mark.slow
def test_seed_configuration_on_digits28(digits):
    """A typical run (the median of three seeds by test accuracy) reaches test accuracy >= 97% and its
    wrong predictions are at least twice as uncertain as its correct ones; in at least two of the
    three runs rotated "1"s are more uncertain than upright ones. One run alone can end inside one
    of the loss spikes that EDL training has on 1,347 images; its final numbers then depend on float
    rounding (seed 0 ends at 0.89-0.98 accuracy depending on which GEMM sums a weight gradient, and
    with the direct first-layer convolution its upright "1"s ended at uncertainty 0.47, against
    0.15-0.17 for seeds 1 and 2), so no single seed is asserted."""
    config = edl.EvidentialConfig()
    assert (config.epochs, config.batch_size, config.loss, config.evidence, config.schedule) == (40, 64, "mse", "softplus", "labml")
    runs = []
    for seed in range(3):
        model, history, _ = edl.train(edl.EvidentialConfig(seed=seed), digits, progress=False)
        result = edl.evaluate(model, digits)
        print(f"\ndigits28, seed configuration, seed {seed}: {edl.format_report('EDL', result)}")
        runs.append((result["accuracy"], seed, result, history))
    _, seed, result, history = sorted(runs, key=lambda run: run[:2])[1]
    assert result["accuracy"] >= 0.97, [run[:2] for run in runs]
    assert result["uncertainty_wrong"] > 2 * result["uncertainty_correct"]
    rotated_ones_more_uncertain = [u[1:].mean() > u[0] and u.max() > 3 * u[0]
                                   for u in (run[2]["rotation_mean_uncertainty"] for run in runs)]
    assert sum(rotated_ones_more_uncertain) >= 2, [run[2]["rotation_mean_uncertainty"][0] for run in runs]
    assert history.metrics["kl_coef"][-1] > 0.95 and len(history.metrics["test_accuracy"]) == 40


def test_config_checks_everything():
    for kwargs, match in (({"dataset": "cifar"}, "dataset must be one of"), ({"loss": "l2"}, "loss must be one of"),
                          ({"evidence": "tanh"}, "evidence must be one of"), ({"schedule": "x"}, "schedule must be"),
                          ({"epochs": 0}, "epochs must be >= 1"), ({"dropout_rate": 1.0}, "dropout_rate must lie in")):
        with pytest.raises(ValueError, match=match):
            edl.EvidentialConfig(**kwargs)
    assert edl.EvidentialConfig(dataset="fashion-mnist").epochs == 10


def test_saved_run_evaluates_the_same_without_training(tmp_path, digits):
    config = edl.EvidentialConfig(epochs=1, evidence="exp")
    model, _, _ = edl.train(config, digits, progress=False)
    path = edl.save_run(model, config, str(tmp_path))
    loaded, loaded_config = edl.load_run(path)
    assert loaded_config == config and loaded.evidence.function == "exp"
    np.testing.assert_array_equal(loaded.predict(digits.x_test), model.predict(digits.x_test))
    with pytest.raises(FileNotFoundError, match="no configuration"):
        edl.load_run(str(tmp_path / "other.npz"))
