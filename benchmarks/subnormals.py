"""Where do subnormal floats appear in training? The probes of ``numpyuq.subnormals`` on the seeds' models.

Subnormals (below 1.2e-38 in float32) slow arithmetic down many times on Intel cores. This trains
the EDL experiment's LeNet (Fashion-MNIST when installed, else digits28; with its Adam, then with
SGD and momentum 0.9), the SNGP seed's DeepResNetSNGP on two moons (the GP precision, the
spectral-norm vectors) and LeNetSNGP, then counts the subnormals in every parameter, gradient,
buffer and optimizer entry, and in every module's output on one training pass.

    python benchmarks/subnormals.py [--epochs 2] [--quick]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402


def report(name, model, optimizer, x, seconds):
    from numpyuq.subnormals import activation_subnormals, state_subnormals, summarize
    count, size, holding = summarize(state_subnormals(model, optimizer))
    print(f"{name} ({seconds:.1f} s of training)")
    print(f"  state (parameters, gradients, buffers, optimizer): {count} of {size} subnormal"
          + (f": {', '.join(holding)}" if holding else ""))
    count, size, holding = summarize(activation_subnormals(model, x))
    print(f"  activations on one training pass: {count} of {size} subnormal" + (f": {', '.join(holding)}" if holding else ""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="EDL epochs (default 2)")
    parser.add_argument("--quick", action="store_true", help="digits28 and a few epochs (CI smoke test)")
    args = parser.parse_args()
    print(header())
    from numpyuq.data import make_moons_data
    from numpyuq.data.datasets import FASHION_MNIST_DIR
    from numpyuq.experiments import evidential as edl
    from numpyuq.experiments.data import load_dataset
    from numpyuq.losses import AnnealedEvidentialLoss, SoftmaxCrossEntropy
    from numpyuq.models import DeepResNetSNGP, LeNetSNGP
    from numpyuq.optim import SGD, keras_adam, labml_adam
    from numpyuq.training import fit

    dataset = "fashion-mnist" if os.path.isdir(FASHION_MNIST_DIR) and not args.quick else "digits28"
    data = load_dataset(dataset)
    config = edl.EvidentialConfig(dataset=dataset, epochs=1 if args.quick else args.epochs)
    model = edl.make_model(config)
    optimizer = labml_adam(model.parameters())
    start = time.perf_counter()
    fit(model, AnnealedEvidentialLoss("mse"), optimizer, data.x_train, data.y_train, epochs=config.epochs,
        batch_size=64, progress=False, threads=config.threads)
    report(f"EDL LeNet, {dataset}, {config.epochs} epoch(s)", model, optimizer, data.x_train[:256],
           time.perf_counter() - start)

    model = edl.make_model(config)                   # the same, with SGD's momentum buffer as the state
    optimizer = SGD(model.parameters(), lr=1e-2, momentum=0.9)
    start = time.perf_counter()
    fit(model, AnnealedEvidentialLoss("mse"), optimizer, data.x_train, data.y_train, epochs=config.epochs,
        batch_size=64, progress=False, threads=config.threads)
    report(f"EDL LeNet with SGD (momentum 0.9), {dataset}, {config.epochs} epoch(s)", model, optimizer,
           data.x_train[:256], time.perf_counter() - start)

    x, y = make_moons_data(seed=0)
    model = DeepResNetSNGP(2, num_layers=6, num_hidden=128)
    optimizer = keras_adam(model.parameters())
    epochs = 5 if args.quick else 100
    start = time.perf_counter()
    fit(model, SoftmaxCrossEntropy(), optimizer, x, y, epochs=epochs, batch_size=128, progress=False)
    report(f"DeepResNetSNGP, two moons, {epochs} epochs", model, optimizer, x[:128], time.perf_counter() - start)

    images = load_dataset("digits28", held_out_classes=5)
    model = LeNetSNGP(num_classes=5)
    optimizer = labml_adam(model.parameters())
    epochs = 1 if args.quick else 10
    start = time.perf_counter()
    fit(model, SoftmaxCrossEntropy(), optimizer, images.x_train, images.y_train, epochs=epochs, batch_size=64,
        progress=False)
    report(f"LeNetSNGP, digits28 0-4, {epochs} epochs", model, optimizer, images.x_train[:128],
           time.perf_counter() - start)


if __name__ == "__main__":
    main()
