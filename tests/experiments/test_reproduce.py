"""The uncertainty-baselines reproduction: a smoke run's table has every row and column (numbers
not checked), an interrupted run resumes from the models on disk with the same result, and a
folder of another run's settings is refused."""
import json
import os

import numpy as np
import pytest

from numpyuq.experiments import reproduce as rep


def fashion_installed():
    try:
        rep.load_data(2000, 500, 500)
    except FileNotFoundError:
        return False
    return True


pytestmark = pytest.mark.skipif(not fashion_installed(), reason="Debian's dataset-fashion-mnist is not installed")


def test_the_data_follow_the_protocol():
    data = rep.load_data(2000, 500, 500)
    assert data.x_train.shape == (2000, 1, 28, 28) and data.x_cal.shape == (500, 1, 28, 28)
    assert 0 <= data.x_train.min() and data.x_train.max() <= 1 and data.x_ood.max() <= 1      # [0, 1], no z-score
    from numpyuq.data import load_fashion_mnist
    full = load_fashion_mnist(normalization=None)
    np.testing.assert_array_equal(data.x_train, full.x_train[:2000])              # the first images train
    np.testing.assert_array_equal(data.x_cal, full.x_train[2000:2500])            # the next calibrate


@pytest.mark.slow
def test_smoke_run_table_resume_and_settings(tmp_path):
    config = rep.ReproduceConfig(fast=True, extensions=("mc_dropout", "laplace"), jobs=1)
    logs = []
    first = rep.reproduce(config, str(tmp_path), progress=False, log=logs.append)
    markdown = rep.format_markdown(first)
    for title in ("| Deterministic | published |", "| Ensemble (size=10) | published |",
                  "| Refined VI | published, not reproduced |", "| MC dropout (rate 0.5, 10 samples) |",
                  "| Last-layer Laplace |", "Smoke run"):
        assert title in markdown, title
    header = markdown.split("\n\n")[2].splitlines()[0]
    assert all(h in header for _, h in rep.COLUMNS)
    assert json.loads((tmp_path / "config.json").read_text()) == config.recorded()
    models = sorted(os.listdir(tmp_path / "models"))
    assert models == ["deterministic_seed0.npz", "mc_dropout_seed0.npz", "member_seed100.npz", "member_seed101.npz"]
    # each network of the deterministic protocol alone: the seed's NLL is the table's Deterministic NLL
    networks = rep.single_networks(str(tmp_path))
    assert [n[0] for n in networks] == ["deterministic 0", "member 100", "member 101"]
    assert networks[0][1] == pytest.approx(first.rows["Deterministic"][0][0]["nll"], rel=1e-12)
    assert all(np.isfinite(n[1:]).all() for n in networks)
    # interrupted after three models: the rerun trains only the fourth, and gives the same table
    os.remove(tmp_path / "models" / "member_seed101.npz")
    with pytest.raises(FileNotFoundError, match="1 model"):
        rep.single_networks(str(tmp_path))
    again = rep.reproduce(config, str(tmp_path), progress=False, log=logs.append)
    assert any("resuming: 3 model(s) already trained" in line and "1 to go" in line for line in logs)
    for title, (rows, _) in first.rows.items():
        for key, _ in rep.COLUMNS:
            assert [r[key] for r in rows] == [r[key] for r in again.rows[title][0]], (title, key)
    paths = rep.write_results(again, str(tmp_path))
    assert [os.path.basename(p) for p in paths] == ["reproduce_uncertainty_baselines.md",
                                                    "reproduce_uncertainty_baselines.csv"]
    other = rep.ReproduceConfig(fast=True, extensions=("mc_dropout", "laplace"))
    other.epochs = 2                                    # a folder of another run's settings is refused
    with pytest.raises(ValueError, match="other settings \\(epochs\\)"):
        rep.check_resumable(other, str(tmp_path))


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="extensions must be a subset"):
        rep.ReproduceConfig(extensions=("bayes",))
    with pytest.raises(ValueError, match="epochs"):
        rep.ReproduceConfig(epochs=0)
    with pytest.raises(ValueError, match="train_size \\+ calibration_size must be"):
        rep.load_data(55000, 10000, 100)


@pytest.mark.slow
def test_the_command_smoke_run_writes_the_table(tmp_path, capsys):
    """What CI runs: the command with --fast (a subset, one epoch, two members): every published
    and extended row, every column, the settings; the numbers are not checked."""
    from numpyuq.cli import main
    main(["reproduce", "uncertainty-baselines", "--fast", "--jobs", "2", "--out", str(tmp_path), "--no-progress"])
    table = (tmp_path / "reproduce_uncertainty_baselines.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| method", "| ---"))]
    assert len(rows) == 4 + 2 + len(rep.EXTENSIONS)          # published, numpyuq's two, the extensions
    assert all(row.count("|") == len(rep.COLUMNS) + 4 for row in rows)
    assert "Settings: train_size 2000" in table and (tmp_path / "config.json").exists()
    assert len(list((tmp_path / "models").iterdir())) == 1 + 2 + 4   # deterministic, members, extensions
    assert "wrote" in capsys.readouterr().out
