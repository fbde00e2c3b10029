"""Reliability diagrams: accuracy against confidence, for any classifier's probabilities."""
import numpy as np
from matplotlib.figure import Figure

from ..metrics import expected_calibration_error, reliability_curve


def plot_reliability(rows, labels, path="reliability.png", num_bins=15, binning="width", closed="right", top="last"):
    """Reliability diagrams side by side: accuracy against confidence in each bin, with the diagonal
    of perfect calibration and each method's ECE in its title, and under each, how many points each
    bin holds (a bin of 1-3 points is no evidence, however far it is from the diagonal).

    Args:
        rows: list of (method name, probs (N, K)).
        labels: (N,) integer labels.
        path: PNG to write.
        num_bins, binning, closed, top: the bins, as ``metrics.expected_calibration_error``.
    Returns:
        path.
    """
    fig = Figure(figsize=(3.6 * len(rows), 4.6))
    grid = fig.add_gridspec(2, len(rows), height_ratios=(3, 1))
    edges = np.linspace(0, 1, num_bins + 1)
    for column, (name, probs) in enumerate(rows):
        ax, ax_counts = fig.add_subplot(grid[0, column]), fig.add_subplot(grid[1, column])
        confidence, acc, counts = (np.asarray(a) for a in reliability_curve(probs, labels, num_bins, binning,
                                                                              closed, top))
        filled = counts > 0
        if binning == "width":
            left, width = edges[:-1][filled], 1 / num_bins
        else:                                            # equal-mass bins: bars centred on their mean confidence
            left, width = confidence[filled] - 0.5 / num_bins, 1 / num_bins
        ax.bar(left, acc[filled], width=width, align="edge", edgecolor="black", alpha=0.7, label="accuracy")
        ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
        ax.plot(confidence[filled], acc[filled], "o", color="#ff7f00", markersize=3, label="bin mean")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ece = expected_calibration_error(probs, labels, num_bins, binning, closed, top)
        ax.set_title(f"{name}\nECE {ece:.3f}")
        ax_counts.bar(left, counts[filled], width=width, align="edge", color="gray", edgecolor="black")
        ax_counts.set_yscale("log")
        ax_counts.set_xlim(0, 1)
        ax_counts.set_xlabel("confidence (max probability)")
        if column == 0:
            ax.set_ylabel("accuracy")
            ax.legend(loc="upper left", fontsize=7)
            ax_counts.set_ylabel("points")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return path
