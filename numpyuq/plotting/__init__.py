"""Figures, written to files with matplotlib's object API (``Figure(...).savefig``).

The object API needs no backend, so importing this package never calls ``matplotlib.use`` or
changes anything else process-wide: in a notebook, inline figures keep working.

``calibration.py`` holds the general plots (reliability diagrams); ``surfaces.py`` the two-moons
surfaces of the SNGP seed.
"""
from .calibration import plot_reliability
from .surfaces import plot_surfaces

__all__ = ["plot_reliability", "plot_surfaces"]
