"""Figures of the EDL paper's evaluations: rotation curves, entropy CDFs, uncertainty histograms."""
import numpy as np
from matplotlib.figure import Figure


def plot_rotation_curves(rows, path="rotation.png", classes=None, uncertainty_label="own uncertainty"):
    """One panel per model: class probabilities against the rotation angle (and u where the model
    has one, dashed), with the rotated digits along the top of the first panel.

    Args:
        rows: list of (model name, ``evaluation.RotationCurve``).
        classes: the classes to draw (default: those whose probability exceeds 0.2 at some angle).
    """
    fig = Figure(figsize=(5.2 * len(rows), 4.4))
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for (name, curve), ax in zip(rows, axes):
        shown = classes if classes is not None else [k for k in range(curve.probs.shape[1])
                                                     if curve.probs[:, k].max() > 0.2]
        for k in shown:
            ax.plot(curve.angles, curve.probs[:, k], "o-", markersize=3, label=f"p(class {k})")
        if curve.uncertainty is not None:
            ax.plot(curve.angles, curve.uncertainty, "k--", label=uncertainty_label)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("rotation (degrees)")
        ax.set_title(name)
        ax.legend(fontsize=7, loc="center right")
    first = rows[0][1]
    step = max(1, len(first.angles) // 7)
    for i in range(0, len(first.angles), step):
        inset = axes[0].inset_axes([first.angles[i] / 180 * 0.86, 1.02, 0.12, 0.12 * 5.2 / 4.4 * 1.1])
        inset.imshow(first.images[i, 0], cmap="gray")
        inset.axis("off")
    axes[0].set_ylabel("probability")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def plot_entropy_cdfs(rows, path="entropy_cdf.png", title="Out-of-distribution images"):
    """Empirical CDFs of the predictive entropy, one curve per model.  rows: (name, (grid, cdf))."""
    fig = Figure(figsize=(5.5, 4.2))
    ax = fig.subplots()
    for name, (grid, cdf) in rows:
        ax.plot(grid, cdf, label=name)
    ax.set_xlabel("entropy of the predictive distribution")
    ax.set_ylabel("fraction of images with at most this entropy")
    ax.set_title(f"{title}\n(lower and further right is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path


def plot_uncertainty_histograms(rows, path="uncertainty_histograms.png", xlabel="uncertainty"):
    """Histograms of an uncertainty score for correct and for wrong predictions, one panel per model.

    rows: list of (model name, (score of correct predictions, score of wrong ones)).
    """
    fig = Figure(figsize=(4.2 * len(rows), 3.6))
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for (name, (correct, wrong)), ax in zip(rows, axes):
        values = np.concatenate([correct, wrong])
        bins = np.linspace(values.min(), values.max() + 1e-12, 30)
        ax.hist(correct, bins=bins, density=True, alpha=0.6, label=f"correct ({len(correct)})")
        ax.hist(wrong, bins=bins, density=True, alpha=0.6, label=f"wrong ({len(wrong)})")
        ax.set_xlabel(xlabel)
        ax.set_title(name)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("density")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
