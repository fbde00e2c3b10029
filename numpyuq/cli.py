"""The ``numpyuq`` command."""
import argparse
import os
import time

import numpy as np


def demo(out_dir, epochs=100, seed=0, progress=True):
    """Train the SNGP seed's deterministic DeepResNet on two moons and plot its surfaces."""
    from .data import make_grid, make_moons_data, make_ood_data
    from .losses import SoftmaxCrossEntropy, softmax
    from .models import DeepResNet
    from .optim import Adam
    from .plotting import plot_surfaces
    from .training import fit, predict

    os.makedirs(out_dir, exist_ok=True)
    x_train, y_train = make_moons_data(seed=seed)
    x_ood = make_ood_data(seed=seed + 1)
    grid = make_grid()
    model = DeepResNet(num_classes=2, num_layers=6, num_hidden=128, seed=seed)
    start = time.perf_counter()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-4), x_train, y_train,
                  epochs=epochs, batch_size=128, rng=seed, progress=progress)
    seconds = time.perf_counter() - start
    print(f"deterministic DeepResNet: {epochs} epochs in {seconds:.2f} s, "
          f"training accuracy {history.accuracy[-1]:.3f}")
    p0 = np.asarray(softmax(predict(model, grid))[:, 0])
    path = plot_surfaces([("Deterministic", p0)], x_train, y_train, x_ood,
                         os.path.join(out_dir, "moons_surfaces.png"))
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="numpyuq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="two-moons uncertainty comparison (the SNGP seed)")
    p_demo.add_argument("--out", default="demo_output", help="folder for the figures")
    p_demo.add_argument("--epochs", type=int, default=100)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.out, epochs=args.epochs, seed=args.seed, progress=not args.no_progress)


if __name__ == "__main__":
    main()
