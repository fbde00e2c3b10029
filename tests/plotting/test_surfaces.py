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


def test_rank_scale_is_the_fraction_below_with_ties_shared():
    from numpyuq.plotting.surfaces import rank_scale
    np.testing.assert_allclose(rank_scale([10.0, -3.0, 5.0]), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(rank_scale([1.0, 2.0, 2.0, 3.0]), [0.0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(rank_scale(np.full(4, 7.0)), 0.5)
    # Any increasing map of a score gives the same picture; the units never matter.
    score = np.random.default_rng(0).standard_normal(50)
    np.testing.assert_array_equal(rank_scale(score), rank_scale(np.exp(3 * score) + 1e6))


def test_own_uncertainty_surfaces_lay_methods_out_in_panels(tmp_path):
    from numpyuq.plotting import plot_own_uncertainty_surfaces
    x, y = make_moons_data(sample_size=20, seed=0)
    grid = make_grid(n_grid=10)
    rows = [(f"m{i}", np.linalg.norm(grid - i, axis=1)) for i in range(5)]
    four = plot_own_uncertainty_surfaces(rows[:4], x, y, x_ood=x[:3], path=tmp_path / "four.png", n_grid=10)
    five = plot_own_uncertainty_surfaces(rows, x, y, x_ood=x[:3], path=tmp_path / "five.png", n_grid=10)
    (w4, h4), (w5, h5) = Image.open(four).size, Image.open(five).size
    assert w4 == w5 and 1.6 < h5 / h4 < 2.2          # four methods a row; the fifth opens a second
