"""The seed's full configuration: every method >= 99% accurate; SNGP tells the OOD blob apart."""
import pytest

from numpyuq.experiments.two_moons import format_table, run_comparison


@pytest.mark.slow
def test_full_seed_configuration():
    data, results = run_comparison(seed=0, epochs=100, num_samples=10, ensemble_size=10, n_jobs=2,
                                   progress=False)
    print("\n" + format_table(results, data["y_test"]))
    scores = {r.name: r.metrics(data["y_test"]) for r in results}
    for name, m in scores.items():
        assert m["accuracy"] >= 0.99, name
    assert scores["SNGP"]["auroc_own"] >= 0.95
    assert scores["SNGP"]["auroc_maxprob"] >= 0.95
    assert scores["Deterministic"]["auroc_maxprob"] < 0.6
    assert scores["Deterministic"]["auroc_own"] < 0.6
    # Distance awareness: SNGP's variance on the OOD blob exceeds every in-domain test point's.
    sngp = next(r for r in results if r.name == "SNGP")
    assert sngp.uncertainty["ood"].min() > sngp.uncertainty["test"].max()
