"""The SNGP seed's figures: class-probability and predictive-uncertainty surfaces over the plane."""
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from ..data.moons import DEFAULT_N_GRID, DEFAULT_X_RANGE, DEFAULT_Y_RANGE

TRAIN_CMAP = ListedColormap(["#377eb8", "#ff7f00"])


def _surface(ax, values, x_train, y_train, x_ood, n_grid):
    image = ax.imshow(values.reshape(n_grid, n_grid), origin="lower",
                      extent=DEFAULT_X_RANGE + DEFAULT_Y_RANGE, vmin=0, vmax=1,
                      interpolation="bicubic", aspect="auto")
    ax.scatter(x_train[:, 0], x_train[:, 1], c=y_train, cmap=TRAIN_CMAP, alpha=0.5, s=6)
    if x_ood is not None:
        ax.scatter(x_ood[:, 0], x_ood[:, 1], c="red", alpha=0.1, s=6)
    ax.set_xlim(DEFAULT_X_RANGE)
    ax.set_ylim(DEFAULT_Y_RANGE)
    return image


def plot_surfaces(rows, x_train, y_train, x_ood=None, path="surfaces.png", n_grid=DEFAULT_N_GRID):
    """One row per method: class-0 probability and (normalised) predictive uncertainty p (1 - p).

    Args:
        rows: list of (method name, p0) with p0: (n_grid * n_grid,) probability of class 0 on
            ``make_grid()``.
        x_train: (N, 2), y_train: (N,), x_ood: (M, 2) or None.
        path: PNG file to write.
    Returns:
        path.
    """
    fig = Figure(figsize=(12, 4.2 * len(rows)))
    axes = fig.subplots(len(rows), 2, squeeze=False)
    for (name, p0), (ax_prob, ax_unc) in zip(rows, axes):
        p0 = np.asarray(p0, dtype=np.float64)
        uncertainty = p0 * (1 - p0)
        uncertainty = uncertainty / max(uncertainty.max(), 1e-12)     # as the seed: normalised
        fig.colorbar(_surface(ax_prob, p0, x_train, y_train, x_ood, n_grid), ax=ax_prob)
        fig.colorbar(_surface(ax_unc, uncertainty, x_train, y_train, x_ood, n_grid), ax=ax_unc)
        ax_prob.set_title(f"Class probability, {name}")
        ax_unc.set_title(f"(Normalised) predictive uncertainty, {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
