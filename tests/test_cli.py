from numpyuq.cli import main


def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "2", "--ensemble-size", "2", "--num-samples", "2",
          "--jobs", "1", "--no-progress"])
    out = capsys.readouterr().out
    for method in ("Deterministic", "SNGP", "MC dropout", "Deep ensemble"):
        assert method in out
    png = tmp_path / "moons_surfaces.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_moons_benchmark_quick_produces_numbers():
    import pathlib
    import subprocess
    import sys
    script = pathlib.Path(__file__).parent.parent / "benchmarks" / "moons.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "numpyuq" in out.stdout and " s" in out.stdout


def test_lenet_benchmark_quick_produces_numbers():
    import pathlib
    import subprocess
    import sys
    script = pathlib.Path(__file__).parent.parent / "benchmarks" / "lenet.py"
    out = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "images/s" in out.stdout and "GFLOP/s" in out.stdout
