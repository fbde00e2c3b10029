"""The numpyuq command: the demo prints the table and writes its figures."""
import json

import pytest

from numpyuq.cli import main


@pytest.mark.slow
def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "2", "--ensemble-size", "2", "--num-samples", "2",
          "--jobs", "1", "--no-progress"])
    out = capsys.readouterr().out
    for method in ("Deterministic", "SNGP", "MC dropout", "Deep ensemble", "EDL", "DDU", "Last-layer Laplace"):
        assert method in out
    for name in ("moons_surfaces.png", "moons_own_uncertainty.png", "moons_reliability.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "compare_moons.csv").exists() and (tmp_path / "compare_moons.md").exists()


def test_compare_ablation_prints_and_writes_the_table_and_figure(tmp_path, capsys):
    main(["compare", "--ablation", "--fast", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert "| spectrally normalised | DDU density |" in out and "whole ablation" in out
    assert (tmp_path / "ablation_moons.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "ablation_moons.csv").exists() and (tmp_path / "ablation_moons.md").exists()


def test_compare_checks_everything_before_training(tmp_path):
    import pytest
    for argv in (["--task", "cifar"], ["--methods", "sngp,bayes"], ["--methods", ""], ["--seeds", "0"],
                 ["--jobs", "0"], ["--out", "/proc/numpyuq"], ["--ablation", "--seeds", "0"],
                 ["--ablation", "--dataset", "cifar"]):
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


# ---- every subcommand under random bad arguments ---------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NOT_INTEGERS = st.sampled_from(["two", "1.5", "", "1e3", "0x10", "--", "nan"])
POSITIVE_INTEGER_OPTIONS = {"demo": ["--epochs", "--num-samples", "--ensemble-size", "--jobs"],
                            "compare": ["--seeds", "--jobs", "--epochs"],
                            "reproduce": ["--jobs"],
                            "evidential": ["--epochs", "--batch-size", "--threads"]}
SEED_OPTIONS = {"demo": ["--seed"], "compare": [], "reproduce": [], "evidential": ["--seed"]}
CHOICE_OPTIONS = {"demo": [], "compare": ["--dataset", "--task", "--backend", "--cluster"],
                  "reproduce": ["--backend", "--cluster"],
                  "evidential": ["--dataset", "--loss", "--evidence", "--schedule"]}
POSITIONAL = {"reproduce": ["uncertainty-baselines"]}


@st.composite
def bad_command_lines(draw):
    """A subcommand and one option given a value it must refuse (or an option it does not have)."""
    command = draw(st.sampled_from(sorted(POSITIVE_INTEGER_OPTIONS)))
    kinds = ["positive", "unknown option"] + (["seed"] if SEED_OPTIONS[command] else []) \
        + (["choice"] if CHOICE_OPTIONS[command] else []) + (["path"] if command == "evidential" else []) \
        + (["methods"] if command == "compare" else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "positive":
        option = draw(st.sampled_from(POSITIVE_INTEGER_OPTIONS[command]))
        value = draw(st.one_of(NOT_INTEGERS, st.integers(-10**6, 0).map(str)))
        return command, [option, value]
    if kind == "seed":
        return command, ["--seed", draw(st.one_of(NOT_INTEGERS, st.integers(-10**6, -1).map(str)))]
    if kind == "choice":
        option = draw(st.sampled_from(CHOICE_OPTIONS[command]))
        return command, [option, draw(st.sampled_from(["cifar", "MNIST", "", "softmax", "l2", "tanh", "x"]))]
    if kind == "path":
        option = draw(st.sampled_from(["--evaluate", "--mnist-path"]))
        return command, [option, "/nonexistent/" + draw(st.text("abc", min_size=1, max_size=5))] + \
            (["--dataset", "mnist"] if option == "--mnist-path" else [])
    if kind == "methods":
        return command, ["--methods", draw(st.sampled_from(["", "sngp,bayes", ",", "SNGP", "edl;sngp"]))]
    return command, [draw(st.sampled_from(["--lr", "--gpu", "-x", "--out-dir", "--weight-decay"])), "1"]


@settings(max_examples=120, deadline=None, derandomize=True)
@given(bad_command_lines())
def test_every_subcommand_refuses_bad_arguments_with_one_line_and_writes_nothing(tmp_path_factory, case):
    import contextlib
    import io
    command, argv = case
    out = tmp_path_factory.mktemp("cli") / "out"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exit_info:
        main([command, *POSITIONAL.get(command, []), *argv, "--out", str(out), "--no-progress"])
    message = stderr.getvalue()
    assert exit_info.value.code == 2, (command, argv, message)
    assert message.count("\n") == 1 and "Traceback" not in message and "error:" in message, message
    assert not out.exists(), (command, argv)


def test_a_run_that_fails_once_started_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    from numpyuq.experiments import compare
    def fail(*args, **kwargs):
        raise FloatingPointError("training loss became nan in epoch 0, batch 3: lower the learning rate")
    monkeypatch.setattr(compare, "run_compare", fail)
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--fast", "--out", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.count("\n") == 1 and "training loss became nan" in err
    with pytest.raises(FloatingPointError):          # --debug shows the traceback instead
        main(["compare", "--fast", "--debug", "--out", str(tmp_path / "out"), "--no-progress"])


def test_a_failing_task_is_named_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    """One (method, seed) task raises: the run stops with one line naming it and the cause, and
    writes no table or figure (--jobs 1 runs the tasks in this process, where the patch holds)."""
    import dataclasses

    from numpyuq.experiments import methods
    def boom(run):
        raise RuntimeError("the evidence overflowed")
    monkeypatch.setitem(methods.METHODS, "edl", dataclasses.replace(methods.METHODS["edl"], train=boom))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--fast", "--epochs", "1", "--methods", "deterministic,edl", "--seeds", "2", "--jobs", "1",
              "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1 and err.count("\n") == 1, err
    assert "task (edl; seed 0) failed: RuntimeError: the evidence overflowed" in err
    assert not out.exists() or not any(out.iterdir())
