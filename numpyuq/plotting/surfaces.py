"""The SNGP seed's figures: class-probability and predictive-uncertainty surfaces over the plane;
and each method's own uncertainty over the plane, on one scale that makes the panels comparable."""
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
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


def rank_scale(values):
    """Each value's rank among ``values`` (M,), scaled to [0, 1]: the fraction of the other points
    that are less uncertain (ties share their mean rank; a constant score is 0.5 everywhere)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ranks = (np.bincount(inverse, ranks) / counts)[inverse]             # ties: their mean rank
    return ranks / max(len(values) - 1, 1)


def plot_own_uncertainty_surfaces(rows, x_train, y_train, x_ood=None, path="own_uncertainty.png",
                                  n_grid=DEFAULT_N_GRID, columns=4):
    """One panel per method: its own uncertainty over the plane (GP variance, u = K / S, minus the
    log feature density, mutual information, ...), shown as its rank among the grid points.

    The methods' scores have different units and ranges (a variance, nats, a log density), so one
    colour scale on the raw values cannot serve them all, and rescaling each panel to its own
    maximum (the seed's figure) hides how flat or peaked the score is. The rank is the same
    for every method: colour c means "more uncertain than a fraction c of the plane", so panels
    compare directly, and any monotone score (the only thing the OOD AUROC sees) keeps its picture.
    The price: where a score is nearly flat (a GP variance at its prior far from the data), tiny
    differences still spread over the ranks and show as texture.

    Args:
        rows: list of (method name, uncertainty (n_grid * n_grid,) on ``make_grid()``).
        x_train: (N, 2), y_train: (N,) in {0, 1}, x_ood: (M, 2) or None.
    Returns:
        path.
    """
    columns = min(columns, len(rows))
    lines = -(-len(rows) // columns)
    fig = Figure(figsize=(3.6 * columns + 1.2, 3.4 * lines + 0.6), layout="constrained")
    axes = fig.subplots(lines, columns, squeeze=False)
    for ax in axes.ravel()[len(rows):]:
        ax.set_axis_off()
    for (name, score), ax in zip(rows, axes.ravel()):
        image = _surface(ax, rank_scale(score), x_train, y_train, x_ood, n_grid)
        ax.set_title(name)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="own uncertainty: rank among the grid points")
    legend = [Line2D([], [], marker="o", ls="", color=TRAIN_CMAP(k), label=f"class {k} (training)") for k in (0, 1)]
    if x_ood is not None:
        legend.append(Line2D([], [], marker="o", ls="", color="red", alpha=0.5, label="OOD blob"))
    fig.legend(handles=legend, loc="outside lower center", ncol=len(legend), frameon=False)
    fig.savefig(path, dpi=80)
    return path
