"""Is a change faster or slower? Times numpyuq in two checkouts of this repository, alternating.

Runs the numpyuq workers of ``lenet.py`` and ``moons.py`` and an NCHW convolution step in each
checkout (each in its own process, with that checkout first on PYTHONPATH), alternating the two for
``--rounds`` rounds, and prints the medians and the after/before ratio. PyTorch is not involved,
so the ratio isolates the change from the peer's own run-to-run noise.

    git worktree add /tmp/before <commit>
    python benchmarks/compare_checkouts.py --before /tmp/before --after . [--rounds 5]
"""
import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402

CONV_NCHW = r"""
import time, numpy as np
try:                                    # the fused NCHW pair (named conv2d_forward before the textbook pair came)
    from numpyuq.nn.conv import conv2d_fused_backward as conv2d_backward, conv2d_fused_forward as conv2d_forward
except ImportError:
    from numpyuq.nn.conv import conv2d_backward, conv2d_forward
rng = np.random.default_rng(0)
N, C, H, F = {shape}
x = rng.standard_normal((N, C, H, H)).astype(np.float32)
w = rng.standard_normal((F, C, 5, 5)).astype(np.float32)
b = np.zeros(F, np.float32)
def step():
    y, cache = conv2d_forward(x, w, b, 1, 0, "relu")
    conv2d_backward(np.ones_like(y), cache)
for _ in range(3):
    step()
start = time.perf_counter()
for _ in range(10):
    step()
print((time.perf_counter() - start) / 10 * 1e3)
"""


def cases():
    found = {}
    for mode in ("train", "infer"):
        for batch in (64, 128):
            found[f"LeNet {mode} batch {batch} (images/s)"] = [
                "benchmarks/lenet.py", "--worker", "numpyuq", "--batch", str(batch), "--steps", "40", "--mode", mode]
    found["DeepResNet 6x128, 100 epochs (s)"] = ["benchmarks/moons.py", "--worker", "numpyuq", "--epochs", "100"]
    for shape in ((64, 16, 12, 32), (64, 32, 16, 64)):
        found[f"NCHW conv+ReLU step N,C,H,F={shape} (ms)"] = ["-c", CONV_NCHW.format(shape=shape)]
    return found


def run(checkout, args):
    checkout = os.path.abspath(checkout)
    env = dict(os.environ, PYTHONPATH=checkout, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2")
    out = subprocess.run([sys.executable] + args, cwd=checkout, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{checkout}: {' '.join(args[:3])} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="checkout of the older commit")
    parser.add_argument("--after", default=".", help="checkout of the newer commit (default: here)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    print(header())
    sides = {"before": args.before, "after": args.after}
    for name, command in cases().items():
        if args.only not in name:
            continue
        times = {side: [] for side in sides}
        for r in range(args.rounds):
            for side in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
                times[side].append(run(sides[side], command))
        before, after = (statistics.median(times[s]) for s in sides)
        print(f"{name:42s} before {before:9.1f}  after {after:9.1f}  after/before {after / before:.2f}", flush=True)


if __name__ == "__main__":
    main()
