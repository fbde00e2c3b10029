import numpy as np

from numpyuq.data import make_grid, make_moons_data, make_ood_data


def test_moons_defaults_follow_the_seed():
    x, y = make_moons_data()
    assert x.shape == (1000, 2) and np.bincount(y).tolist() == [500, 500]
    x2, y2 = make_moons_data(seed=0)
    np.testing.assert_array_equal(x, x2)
    assert not np.array_equal(x, make_moons_data(seed=1)[0])


def test_grid_and_ood_blob():
    grid = make_grid()
    assert grid.shape == (10000, 2)
    np.testing.assert_allclose(grid.min(axis=0), [-3.5, -2.5])
    np.testing.assert_allclose(grid[1] - grid[0], [7 / 99, 0])
    ood = make_ood_data()
    assert ood.shape == (500, 2)
    np.testing.assert_allclose(ood.mean(axis=0), [2.5, -1.75], atol=0.02)
    np.testing.assert_allclose(ood.var(axis=0), [0.01, 0.01], rtol=0.2)


def test_ring_data_lies_within_its_radii_all_around():
    from numpyuq.data import make_ring_data
    ring = make_ring_data(sample_size=400, center=(1.0, -1.0), radii=(2.0, 3.0), seed=5)
    radius = np.linalg.norm(ring - [1.0, -1.0], axis=1)
    assert ring.shape == (400, 2) and radius.min() >= 2.0 and radius.max() <= 3.0
    np.testing.assert_array_equal(ring, make_ring_data(sample_size=400, center=(1.0, -1.0), radii=(2.0, 3.0), seed=5))
    import pytest
    with pytest.raises(ValueError, match="radii"):
        make_ring_data(radii=(3.0, 2.0))
    with pytest.raises(ValueError, match="sample_size"):
        make_ring_data(sample_size=0)
