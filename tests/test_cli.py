from numpyuq.cli import main


def test_demo_writes_the_surface_figure(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path), "--epochs", "3", "--no-progress"])
    out = capsys.readouterr().out
    assert "wrote" in out
    png = tmp_path / "moons_surfaces.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
