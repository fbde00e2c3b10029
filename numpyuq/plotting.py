"""Figures: the SNGP seed's class-probability and predictive-uncertainty surfaces."""
import matplotlib

matplotlib.use("Agg")          # files, not windows: runs on machines with no display
import matplotlib.colors as colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .data.moons import DEFAULT_N_GRID, DEFAULT_X_RANGE, DEFAULT_Y_RANGE  # noqa: E402

TRAIN_CMAP = colors.ListedColormap(["#377eb8", "#ff7f00"])


def _surface(ax, values, x_train, y_train, x_ood, n_grid, cmap):
    image = ax.imshow(values.reshape(n_grid, n_grid), cmap=cmap, origin="lower",
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
            ``make_grid()``.  x_train: (N, 2), y_train: (N,), x_ood: (M, 2) or None.
        path: PNG file to write.
    Returns:
        path.
    """
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 4.2 * len(rows)), squeeze=False)
    for (name, p0), (ax_prob, ax_unc) in zip(rows, axes):
        p0 = np.asarray(p0, dtype=np.float64)
        uncertainty = p0 * (1 - p0)
        uncertainty = uncertainty / max(uncertainty.max(), 1e-12)     # as the seed: normalised
        fig.colorbar(_surface(ax_prob, p0, x_train, y_train, x_ood, n_grid, None), ax=ax_prob)
        fig.colorbar(_surface(ax_unc, uncertainty, x_train, y_train, x_ood, n_grid, None), ax=ax_unc)
        ax_prob.set_title(f"Class probability, {name}")
        ax_unc.set_title(f"(Normalised) predictive uncertainty, {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_reliability(rows, labels, path="reliability.png", num_bins=15):
    """Reliability diagrams side by side: accuracy against confidence in equal-width bins, with the
    diagonal of perfect calibration and each method's ECE in its title.

    Args:
        rows: list of (method name, probs (N, K)).  labels: (N,) integer labels.  path: PNG to write.
    """
    from .metrics import expected_calibration_error, reliability_curve

    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3.6), squeeze=False)
    edges = np.linspace(0, 1, num_bins + 1)
    for (name, probs), ax in zip(rows, axes[0]):
        confidence, acc, counts = reliability_curve(probs, labels, num_bins)
        filled = counts > 0
        ax.bar(edges[:-1][filled], acc[filled], width=1 / num_bins, align="edge", edgecolor="black",
               alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        ax.plot(confidence[filled], acc[filled], "o", color="#ff7f00", markersize=3, label="bin mean")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (max probability)")
        ax.set_title(f"{name}\nECE {expected_calibration_error(probs, labels, num_bins):.3f}")
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
