"""Side-by-side speed: the SNGP seed's deterministic DeepResNet (6 x 128) trained for 100 epochs
(800 Adam steps, batch 128, 1,000 two-moons points), numpyuq vs PyTorch CPU.

Each run is its own process (numba and PyTorch share the OpenMP runtime, so they never share a
process); the competitors alternate, and the median of each is compared.

    python benchmarks/moons.py [--rounds 5] [--threads 2] [--quick] [--backend cupy]

``--backend cupy`` (on a machine with a GPU and CuPy) trains numpyuq's model on the device, against
PyTorch on CUDA when that is installed; the demo is then not timed.

It then times the whole ``numpyuq demo`` comparison (5 methods, full seed configuration: 100 epochs,
10 MC-dropout samples, 10 ensemble members), which must finish in under a minute.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402


def synchronize(model):
    """Wait for the device (a no-op on NumPy), so that the timer reads finished work."""
    if model.xp is not np:
        model.xp.cuda.runtime.deviceSynchronize()


def run_numpyuq(epochs):
    from numpyuq.data import make_moons_data
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.models import DeepResNet
    from numpyuq.optim import Adam
    from numpyuq.training import fit

    x, y = make_moons_data(seed=0)
    warm = DeepResNet(2, num_layers=6, num_hidden=128, seed=1)       # compile/caches outside the clock
    fit(warm, SoftmaxCrossEntropy(), Adam(warm.parameters(), lr=1e-4), x, y, epochs=1, progress=False)
    model = DeepResNet(2, num_layers=6, num_hidden=128, seed=0)     # on NUMPYUQ_BACKEND's device
    synchronize(model)
    start = time.perf_counter()
    history = fit(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-4), x, y,
                  epochs=epochs, batch_size=128, seed=0, progress=False)
    synchronize(model)
    return time.perf_counter() - start, history.accuracy[-1]


def run_torch(epochs, threads, device="cpu"):
    import torch
    from torch import nn

    from numpyuq.data import make_moons_data

    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class DeepResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.input_layer = nn.Linear(2, 128).requires_grad_(False)
            self.dense = nn.ModuleList(nn.Linear(128, 128) for _ in range(6))
            self.dropout = nn.Dropout(0.1)
            self.classifier = nn.Linear(128, 2)

        def forward(self, x):
            hidden = self.input_layer(x)
            for layer in self.dense:
                hidden = hidden + self.dropout(torch.relu(layer(hidden)))
            return self.classifier(hidden)

    x, y = make_moons_data(seed=0)
    x, y = torch.tensor(x, dtype=torch.float32, device=device), torch.tensor(y, device=device)
    model = DeepResNet().to(device)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x), device=device)
        correct = 0
        for i in range(0, len(x), 128):
            index = order[i:i + 128]
            optimizer.zero_grad()
            logits = model(x[index])
            loss = loss_fn(logits, y[index])
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1) == y[index]).sum())
    return time.perf_counter() - start, correct / len(x)


def worker(name, epochs, threads, backend):
    device = "cuda" if backend == "cupy" else "cpu"
    seconds, accuracy = run_numpyuq(epochs) if name == "numpyuq" else run_torch(epochs, threads, device)
    print(f"{seconds:.6f} {accuracy:.4f}")


def measure(name, epochs, threads, backend="numpy"):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               NUMBA_NUM_THREADS=str(threads), NUMPYUQ_BACKEND=backend)
    out = subprocess.run([sys.executable, __file__, "--worker", name, "--epochs", str(epochs),
                          "--threads", str(threads), "--backend", backend], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{out.stderr[-2000:]}")
    seconds, accuracy = map(float, out.stdout.split()[-2:])
    return seconds, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 round of 5 epochs (CI smoke test)")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                        help="cupy: numpyuq on the GPU against PyTorch CUDA (default numpy)")
    parser.add_argument("--worker", choices=["numpyuq", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.epochs, args.threads, args.backend)
    print(header())
    if args.quick:
        args.rounds, args.epochs = 1, 5
    try:
        import torch
        competitors = ["numpyuq", "torch"]
        if args.backend == "cupy" and not torch.cuda.is_available():
            print("PyTorch has no CUDA here: timing numpyuq on CuPy alone.")
            competitors = ["numpyuq"]
    except ImportError:
        print("PyTorch is not installed: timing numpyuq alone (see README, 'Benchmarks').")
        competitors = ["numpyuq"]
    times = {name: [] for name in competitors}
    for round_ in range(args.rounds):
        for name in competitors if round_ % 2 == 0 else reversed(competitors):
            seconds, accuracy = measure(name, args.epochs, args.threads, args.backend)
            times[name].append(seconds)
            print(f"round {round_ + 1}: {name:8s} {seconds:6.3f} s  (train accuracy {accuracy:.3f})")
    medians = {name: statistics.median(t) for name, t in times.items()}
    where = "on the GPU" if args.backend == "cupy" else f"{args.threads} threads"
    print(f"\nDeepResNet 6x128, {args.epochs} epochs, batch 128, {where}; medians:")
    for name, seconds in medians.items():
        print(f"  {name:8s} {seconds:6.3f} s")
    if "torch" in medians:
        print(f"  speed-up numpyuq vs PyTorch: {medians['torch'] / medians['numpyuq']:.2f}x  (target >= 3x)")
    if not args.quick and args.backend == "numpy":
        time_demo()


def time_demo():
    """Wall time of the full five-method comparison, as `make demo` runs it (compilation included).

    The environment is left as it is: with OMP_NUM_THREADS set explicitly, joblib's worker
    processes for the ensemble each take that many BLAS threads and oversubscribe the cores
    (measured 43 s instead of 15 s on 2 cores).
    """
    import tempfile
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "numpyuq.cli", "demo", "--out", out, "--no-progress"],
                       check=True, capture_output=True)
        seconds = time.perf_counter() - start
    print(f"\nwhole demo comparison (5 methods, seed configuration): {seconds:.1f} s  (target < 60 s)")


if __name__ == "__main__":
    main()
