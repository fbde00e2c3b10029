"""The SNGP seed's data: two moons, a grid over the plane, an out-of-domain Gaussian blob, and a
far-away ring of out-of-domain points."""
import numpy as np
import sklearn.datasets

from ..seeding import as_generator
from ..validation import check_positive_int, check_real

DEFAULT_X_RANGE = (-3.5, 3.5)
DEFAULT_Y_RANGE = (-2.5, 2.5)
DEFAULT_N_GRID = 100


def make_moons_data(sample_size=500, noise=0.1, seed=0):
    """Two interleaved moons, ``sample_size`` points per class, shifted apart as in the seed.

    Returns x: (2 * sample_size, 2) float64, y: (2 * sample_size,) int64 in {0, 1}.
    """
    check_positive_int(sample_size, "sample_size")
    check_real(noise, "noise", at_least=0)
    check_positive_int(seed, "seed", minimum=0)
    x, y = sklearn.datasets.make_moons(n_samples=2 * sample_size, noise=noise, random_state=seed)
    x[y == 0] += [-0.1, 0.2]
    x[y == 1] += [0.1, -0.2]
    return x, y.astype(np.int64)


def make_grid(x_range=DEFAULT_X_RANGE, y_range=DEFAULT_Y_RANGE, n_grid=DEFAULT_N_GRID):
    """Row-major mesh over the rectangle: (n_grid * n_grid, 2); row i*n_grid + j is (x_j, y_i)."""
    check_positive_int(n_grid, "n_grid", minimum=2)
    for name, pair in (("x_range", x_range), ("y_range", y_range)):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise ValueError(f"{name} must be a pair (low, high), got {pair!r}")
        check_real(pair[0], name + "[0]")
        check_real(pair[1], name + "[1]", above=pair[0])
    xs = np.linspace(x_range[0], x_range[1], n_grid)
    ys = np.linspace(y_range[0], y_range[1], n_grid)
    xv, yv = np.meshgrid(xs, ys)
    return np.stack([xv.ravel(), yv.ravel()], axis=-1)


def make_ood_data(sample_size=500, means=(2.5, -1.75), vars=(0.01, 0.01), seed=1):
    """Out-of-domain points: a Gaussian blob N(means, diag(vars)).  Returns (sample_size, 2)."""
    check_positive_int(sample_size, "sample_size")
    if len(means) != 2 or len(vars) != 2 or min(vars) < 0:
        raise ValueError(f"means and vars must be pairs, vars >= 0; got means={means}, vars={vars}")
    rng = as_generator(seed)
    return rng.multivariate_normal(means, np.diag(vars), size=sample_size)


def make_ring_data(sample_size=500, center=(0.5, 0.25), radii=(4.0, 6.0), seed=2):
    """Out-of-domain points all around the data, far from it: angle uniform in [0, 2 pi), radius
    uniform in ``radii`` around ``center`` (the moons' middle).  Returns (sample_size, 2)."""
    check_positive_int(sample_size, "sample_size")
    if len(center) != 2 or len(radii) != 2 or not 0 <= radii[0] <= radii[1]:
        raise ValueError(f"center and radii must be pairs, 0 <= radii[0] <= radii[1]; got center={center}, "
                         f"radii={radii}")
    rng = as_generator(seed)
    angle, radius = rng.uniform(0, 2 * np.pi, sample_size), rng.uniform(*radii, sample_size)
    return np.asarray(center) + radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
