"""The SNGP ablation's figure: OOD AUROC of each head, with and without spectral normalisation."""
import numpy as np
from matplotlib.figure import Figure

FEATURE_MAP_COLORS = ("#bbbbbb", "#1b9e77")      # plain, spectrally normalised


def plot_ablation(bars, heads, feature_maps, path="ablation.png", title=None):
    """One panel per OOD set; in each, a pair of bars per head (one per feature map) with the
    spread over seeds as error bars, and the chance level (AUROC 0.5) dashed.

    Args:
        bars: {OOD set name: {(feature map, head): (mean, std)}}.
        heads: the heads in display order; feature_maps: the feature maps in display order.
    Returns:
        path.
    """
    fig = Figure(figsize=(4.6 * len(bars), 4.2))
    axes = fig.subplots(1, len(bars), squeeze=False)[0]
    positions = np.arange(len(heads))
    width = 0.8 / len(feature_maps)
    for ax, (name, cells) in zip(axes, bars.items()):
        for i, feature_map in enumerate(feature_maps):
            mean, std = np.array([cells[(feature_map, head)] for head in heads]).T
            ax.bar(positions + (i - (len(feature_maps) - 1) / 2) * width, mean, width, yerr=std, capsize=3,
                   color=FEATURE_MAP_COLORS[i % len(FEATURE_MAP_COLORS)], label=feature_map)
        ax.axhline(0.5, color="k", ls="--", lw=0.8)
        ax.set_xticks(positions, [head.replace(" ", "\n", 1) for head in heads], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"OOD: {name}")
        ax.set_ylabel("AUROC, own uncertainty")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, title="feature map", loc="lower center", ncol=len(feature_maps), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=80)
    return path
