"""Figures, written to files with matplotlib's object API (``Figure(...).savefig``).

The object API needs no backend, so importing this package never calls ``matplotlib.use`` or
changes anything else process-wide: in a notebook, inline figures keep working.

``calibration.py`` holds reliability diagrams, ``evaluation.py`` the EDL paper's rotation curves,
entropy CDFs and uncertainty histograms (for any model), ``surfaces.py`` the two-moons surfaces of
the SNGP seed and of each method's own uncertainty, ``ablation.py`` the SNGP ablation's bars. ``show(path)`` displays a written figure inline in a notebook.
"""
from .ablation import plot_ablation
from .calibration import plot_reliability
from .display import show
from .evaluation import plot_entropy_cdfs, plot_rotation_curves, plot_uncertainty_histograms
from .surfaces import plot_own_uncertainty_surfaces, plot_surfaces

__all__ = ["plot_ablation", "plot_reliability", "plot_surfaces", "plot_own_uncertainty_surfaces", "plot_rotation_curves", "plot_entropy_cdfs",
           "plot_uncertainty_histograms", "show"]
