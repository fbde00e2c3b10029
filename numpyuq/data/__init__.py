"""Datasets: two moons (SNGP seed)."""
from .moons import make_grid, make_moons_data, make_ood_data

__all__ = ["make_moons_data", "make_grid", "make_ood_data"]
