import sys
import types

from numpyuq.plotting import display


def test_a_terminal_gets_the_path(capsys, tmp_path):
    path = tmp_path / "f.png"
    assert display.show(path) == path
    assert capsys.readouterr().out.strip() == f"wrote {path}"


def test_a_notebook_gets_the_image(monkeypatch, tmp_path):
    shown = []
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    fake_display = types.ModuleType("IPython.display")
    fake_display.Image = lambda filename: ("image", filename)
    fake_display.display = shown.append
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", fake_display)
    assert display.in_notebook()
    display.show(tmp_path / "f.png")
    assert shown == [("image", str(tmp_path / "f.png"))]


def test_plain_ipython_without_a_kernel_is_a_terminal(monkeypatch):
    fake_ipython = types.ModuleType("IPython")
    fake_ipython.get_ipython = lambda: types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "IPython", fake_ipython)
    assert not display.in_notebook()
