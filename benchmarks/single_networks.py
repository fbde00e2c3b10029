"""One network's numbers, and their spread: every LeNet5 the uncertainty-baselines reproduction
trained with the deterministic protocol (its 3 seeds and its 10 ensemble members), each alone.

uncertainty-baselines publishes one Deterministic figure per metric; a reproduction's mean over a few
seeds has to be read against the spread of single networks. This reads the models a finished (or
resumed) ``numpyuq reproduce uncertainty-baselines --out DIR`` left in DIR/models, trains nothing,
and prints each network's test NLL, accuracy and ECE (uncertainty-baselines' convention), then their
mean, standard deviation and range beside the published row.

    python benchmarks/single_networks.py --out reproduce_output
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reproduce_output", help="the reproduction's output folder")
    args = parser.parse_args()
    from numpyuq.experiments.reproduce import PUBLISHED, TARGETS, single_networks
    print(header())
    networks = single_networks(args.out)
    print(f"{'network':18s} {'test NLL':>9s} {'accuracy':>9s} {'ECE (UB)':>9s}")
    for name, nll_value, acc, ece in networks:
        print(f"{name:18s} {nll_value:9.4f} {acc:9.4f} {ece:9.4f}")
    values = np.array([n[1] for n in networks])
    published_nll, published_acc, _ = PUBLISHED["Deterministic"]
    low, high = next((lo, hi) for title, key, lo, hi in TARGETS if (title, key) == ("Deterministic", "nll"))
    print(f"\n{len(networks)} networks: test NLL mean {values.mean():.4f}, std {values.std(ddof=1):.4f}, "
          f"range {values.min():.4f}-{values.max():.4f}; accuracy mean {np.mean([n[2] for n in networks]):.4f}")
    print(f"published Deterministic: NLL {published_nll}, accuracy {published_acc:.3f}; networks at or below the "
          f"published NLL: {(values <= published_nll).sum()}; within the target band [{low:.3f}, {high:.3f}]: "
          f"{((values >= low) & (values <= high)).sum()}")


if __name__ == "__main__":
    main()
