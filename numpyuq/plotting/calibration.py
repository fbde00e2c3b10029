"""Reliability diagrams: accuracy against confidence, for any classifier's probabilities."""
import numpy as np
from matplotlib.figure import Figure

from ..metrics import expected_calibration_error, reliability_curve


def plot_reliability(rows, labels, path="reliability.png", num_bins=15):
    """Reliability diagrams side by side: accuracy against confidence in equal-width bins, with the
    diagonal of perfect calibration and each method's ECE in its title.

    Args:
        rows: list of (method name, probs (N, K)).
        labels: (N,) integer labels.
        path: PNG to write.
    Returns:
        path.
    """
    fig = Figure(figsize=(3.6 * len(rows), 3.6))
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    edges = np.linspace(0, 1, num_bins + 1)
    for (name, probs), ax in zip(rows, axes):
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
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
