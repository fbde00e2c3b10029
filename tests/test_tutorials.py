"""Every tutorial runs as a plain script (fast settings), as a reader would run it."""
import os
import pathlib
import subprocess
import sys

import pytest

TUTORIALS = sorted((pathlib.Path(__file__).parent.parent / "tutorials").glob("*.py"))
QUICK = ("01_backprop_by_hand", "02_convolution_by_hand")      # the others train networks: over 5 s


@pytest.mark.parametrize("path", [pytest.param(p, marks=() if p.stem in QUICK else pytest.mark.slow)
                                  for p in TUTORIALS], ids=lambda p: p.stem)
def test_tutorial_runs(path, tmp_path):
    env = dict(os.environ, NUMPYUQ_FAST="1", OUT_DIR=str(tmp_path), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, str(path)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_tutorial_executes_as_a_notebook(tmp_path, monkeypatch):
    """The README says the tutorials open as notebooks: convert one with jupytext and execute every
    cell in a Jupyter kernel (what ``make setup`` installs)."""
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    path = TUTORIALS[0].parent / "01_backprop_by_hand.py"
    monkeypatch.setenv("OUT_DIR", str(tmp_path))
    monkeypatch.setenv("NUMPYUQ_FAST", "1")
    notebook = jupytext.read(path)
    assert sum(cell.cell_type == "markdown" for cell in notebook.cells) >= 3   # the prose became cells
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    assert any(out.get("output_type") == "stream" for out in outputs)           # it printed its checks
