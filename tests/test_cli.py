"""The numpyuq command: the demo prints the table and writes its figures."""
import json

import pytest

from numpyuq.cli import main


@pytest.mark.slow
def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "2", "--ensemble-size", "2", "--num-samples", "2",
          "--jobs", "1", "--no-progress"])
    out = capsys.readouterr().out
    for method in ("Deterministic", "SNGP", "MC dropout", "Deep ensemble", "EDL"):
        assert method in out
    for name in ("moons_surfaces.png", "moons_reliability.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "compare_moons.csv").exists() and (tmp_path / "compare_moons.md").exists()


def test_compare_checks_everything_before_training(tmp_path):
    import pytest
    for argv in (["--task", "cifar"], ["--methods", "sngp,laplace"], ["--methods", ""], ["--seeds", "0"],
                 ["--jobs", "0"], ["--out", "/proc/numpyuq"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["compare", *argv] + (["--out", str(tmp_path / "never")] if "--out" not in argv else []))
        assert exit_info.value.code == 2, argv
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_evidential_trains_saves_and_evaluates(tmp_path, capsys):
    main(["evidential", "--epochs", "1", "--baseline", "--threads", "1", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert json.loads((tmp_path / "evidential_digits28.json").read_text())["threads"] == 1
    assert "epoch   1/1" in out and "EDL: test accuracy" in out and "softmax: test accuracy" in out
    for name in ("evidential_digits28.npz", "evidential_digits28.json", "digits28_rotation.png",
                 "digits28_uncertainty_histograms.png"):
        assert (tmp_path / name).exists()
    main(["evidential", "--evaluate", str(tmp_path / "evidential_digits28.npz"), "--out", str(tmp_path / "again"),
          "--no-progress"])
    assert "loaded" in capsys.readouterr().out


def test_bad_arguments_fail_before_any_work(tmp_path, capsys):
    import pytest
    for argv in (["evidential", "--epochs", "0"], ["evidential", "--loss", "l2"], ["evidential", "--threads", "0"],
                 ["demo", "--jobs", "0"],
                 ["demo", "--ensemble-size", "0"], ["demo", "--num-samples", "0"], ["demo", "--seed", "-1"],
                 ["evidential", "--evaluate", str(tmp_path / "none.npz")],
                 ["evidential", "--mnist-path", str(tmp_path / "nowhere")],
                 ["evidential", "--out", "/proc/numpyuq"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv + (["--out", str(tmp_path / "never")] if "--out" not in argv else []))
        assert exit_info.value.code == 2, argv
    assert not (tmp_path / "never").exists()


def test_python_dash_m_numpyuq_runs_the_command():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "numpyuq", "evidential", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "--schedule {labml,paper,none}" in out.stdout


def test_version_from_the_command_and_python_dash_m():
    import subprocess
    import sys
    import numpyuq
    out = subprocess.run([sys.executable, "-m", "numpyuq", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == f"numpyuq {numpyuq.__version__}"


def test_every_option_has_help_with_its_default():
    from numpyuq.cli import build_parser
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            if action.dest in ("help",) or action.const is True:
                continue
            assert action.help and "default" in action.help, (name, action.dest)
