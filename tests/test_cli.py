import pathlib
import subprocess
import sys

import pytest

from numpyuq.cli import main


def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "2", "--ensemble-size", "2", "--num-samples", "2",
          "--jobs", "1", "--no-progress"])
    out = capsys.readouterr().out
    for method in ("Deterministic", "SNGP", "MC dropout", "Deep ensemble"):
        assert method in out
    for name in ("moons_surfaces.png", "moons_reliability.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("script, expected", [("moons.py", "numpyuq"), ("lenet.py", "images/s")])
def test_benchmark_quick_produces_numbers(script, expected):
    """The benchmarks run in CI-size time with --quick; only that they report numbers is asserted."""
    path = pathlib.Path(__file__).parent.parent / "benchmarks" / script
    out = subprocess.run([sys.executable, str(path), "--quick"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert expected in out.stdout and any(ch.isdigit() for ch in out.stdout)
