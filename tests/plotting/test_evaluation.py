"""The EDL evaluation figures are written as PNGs, one panel per model."""
import numpy as np

from numpyuq.evaluation import entropy_cdf, rotation_curve
from numpyuq.plotting import (
    plot_entropy_cdfs,
    plot_rotation_curves,
    plot_uncertainty_histograms,
)

PNG = b"\x89PNG\r\n\x1a\n"


def test_all_three_figures(tmp_path, rng):
    image = rng.random((1, 28, 28))
    curve = rotation_curve(lambda x: np.tile([0.7, 0.2, 0.1], (len(x), 1)), image,
                           uncertainty=lambda x: np.linspace(0, 1, len(x)))
    paths = [plot_rotation_curves([("a", curve), ("b", curve._replace(uncertainty=None))], tmp_path / "r.png"),
             plot_entropy_cdfs([("a", entropy_cdf(rng.dirichlet(np.ones(3), 50)))], tmp_path / "e.png"),
             plot_uncertainty_histograms([("a", (rng.random(40), rng.random(5)))], tmp_path / "h.png")]
    for path in paths:
        assert open(path, "rb").read(8) == PNG
