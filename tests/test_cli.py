"""The numpyuq command: the demo prints the table and writes its figures."""
from numpyuq.cli import main


def test_demo_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "2", "--ensemble-size", "2", "--num-samples", "2",
          "--jobs", "1", "--no-progress"])
    out = capsys.readouterr().out
    for method in ("Deterministic", "SNGP", "MC dropout", "Deep ensemble"):
        assert method in out
    for name in ("moons_surfaces.png", "moons_reliability.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
