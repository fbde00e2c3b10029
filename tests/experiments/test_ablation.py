"""The SNGP ablation: eight rows (two feature maps x four heads), each head scored by its own
uncertainty, shared networks where the heads are post hoc, and the files it writes."""
import numpy as np
import pytest

from numpyuq.experiments.ablation import (FEATURE_MAPS, HEADS, AblationConfig, format_markdown, run_ablation,
                                          write_results)
from numpyuq.models import DeepResNetSNGP
from numpyuq.uncertainty import DDU, LastLayerLaplace


@pytest.fixture(scope="module")
def smoke():
    return run_ablation(AblationConfig(seeds=2, fast=True, epochs=2), log=lambda *a: None)


def test_eight_rows_each_with_every_column_for_every_seed(smoke):
    assert set(smoke.rows) == {(sn, head) for sn in FEATURE_MAPS for head in HEADS}
    assert smoke.ood == ("blob", "near", "ring")
    for rows in smoke.rows.values():
        assert len(rows) == 2
        for row in rows:
            assert 0 <= row["accuracy"] <= 1 and row["nll"] > 0
            assert all(0 <= row[f"{name} AUROC own"] <= 1 for name in smoke.ood)
    # the softmax, DDU and Laplace heads of one feature map share its network: same predictions
    for sn in FEATURE_MAPS:
        accuracy = {head: [r["accuracy"] for r in smoke.rows[(sn, head)]] for head in ("softmax", "ddu")}
        assert accuracy["softmax"] == accuracy["ddu"]
    # but the heads' own uncertainties differ, so their AUROCs do
    assert smoke.rows[(True, "ddu")][0]["ring AUROC own"] != smoke.rows[(True, "softmax")][0]["ring AUROC own"]


def test_the_table_and_files(smoke, tmp_path):
    markdown = format_markdown(smoke)
    assert markdown.count("| spectrally normalised |") == 4 and markdown.count("| plain |") == 4
    assert "AUROC ring" in markdown and " ± " in markdown and "Smoke run" in markdown
    paths = write_results(smoke, tmp_path)
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["ablation_moons.md", "ablation_moons.csv", "ablation_moons.png"]
    lines = (tmp_path / "ablation_moons.csv").read_text().splitlines()
    assert lines[0] == "feature map,head,metric,mean,std,seed 0,seed 1"
    assert len(lines) == 1 + 8 * len(smoke.rows[(False, "gp")][0])


def test_heads_are_what_they_say(monkeypatch):
    """Each row trains the head it names on the feature map it names."""
    from numpyuq.experiments import ablation
    from numpyuq.experiments.data import load_dataset
    from numpyuq.experiments.methods import Run
    run = Run(load_dataset("moons", fast=True), seed=0, epochs=1, batch_size=128)
    for sn in FEATURE_MAPS:
        bound = 0.9 if sn else None
        gp, _ = ablation.TRAIN_HEAD["gp"](run, sn)
        ddu, _ = ablation.TRAIN_HEAD["ddu"](run, sn)
        laplace, _ = ablation.TRAIN_HEAD["laplace"](run, sn)
        softmax, _ = ablation.TRAIN_HEAD["softmax"](run, sn)
        assert isinstance(gp, DeepResNetSNGP) and gp.spec_norm_bound == bound
        assert isinstance(ddu, DDU) and isinstance(laplace, LastLayerLaplace)
        assert ddu.model is laplace.model is softmax and softmax.spec_norm_bound == bound


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="dataset"):
        AblationConfig(dataset="cifar")
    with pytest.raises(ValueError, match="seeds"):
        AblationConfig(seeds=0)
    assert AblationConfig().seeds == 5 and AblationConfig().epochs == 100
    assert np.isclose(AblationConfig(fast=True).epochs, 10)
