"""Reliability diagrams: a PNG is written, and importing the plots changes no process-wide setting."""
import numpy as np

from numpyuq.plotting import plot_reliability
from tests.helpers import run_python


def test_importing_plotting_leaves_the_matplotlib_backend_alone():
    script = ("import matplotlib; matplotlib.use('svg'); before = matplotlib.get_backend(); "
              "import numpyuq.plotting, numpyuq.plotting.surfaces, numpyuq.plotting.calibration; "
              "print(before, matplotlib.get_backend())")
    out = run_python(script)
    assert out.returncode == 0, out.stderr
    before, after = out.stdout.split()
    assert before == after == "svg"


def test_reliability_diagram_is_written(tmp_path, rng):
    probs = rng.dirichlet(np.ones(3), size=200)
    labels = rng.integers(0, 3, 200)
    path = plot_reliability([("a", probs), ("b", probs[::-1])], labels, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path == tmp_path / "r.png"
