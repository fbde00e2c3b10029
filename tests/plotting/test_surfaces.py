"""Two-moons surfaces: a PNG with one row per method."""
import numpy as np
from PIL import Image

from numpyuq.data import make_grid, make_moons_data
from numpyuq.plotting import plot_surfaces


def test_surfaces_figure_has_a_row_per_method(tmp_path):
    x, y = make_moons_data(sample_size=20, seed=0)
    p0 = 1 / (1 + np.exp(-make_grid(n_grid=10)[:, 0]))
    one = plot_surfaces([("a", p0)], x, y, path=tmp_path / "one.png", n_grid=10)
    two = plot_surfaces([("a", p0), ("b", 1 - p0)], x, y, x_ood=x[:3], path=tmp_path / "two.png", n_grid=10)
    height_one, height_two = Image.open(one).size[1], Image.open(two).size[1]
    assert 1.8 < height_two / height_one < 2.2
