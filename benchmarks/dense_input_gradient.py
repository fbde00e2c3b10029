"""A Dense layer's input gradient dx = dy w^T, computed as written and as (w dy^T)^T, for a grid of
batch rows N and layer sizes D x M, one thread. ``nn.dense.input_gradient`` takes the second form
where ``transposed_form`` says (8 N <= D and M >= 100); this prints what each form costs there and elsewhere, on the BLAS at hand.

    python benchmarks/dense_input_gradient.py [--dtype float32] [--repeats 20]

Each cell: ms of dy @ w.T / ms of (w @ dy.T).T made C-contiguous (above 1: the second is faster),
with '*' where ``input_gradient`` picks the second form. Each form timed as ``lenet.best_ms`` times
a layer's pass: the best of 7 blocks of ``--repeats`` calls.
"""
import argparse
import os
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from numpyuq.nn.dense import transposed_form

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet import best_ms  # noqa: E402
from machine import header  # noqa: E402

ROWS = (16, 32, 64, 128, 256)
# (D, M): LeNet's, LeNet5's and DeepResNet's hidden layers, a wide one, then short inner dimensions
# down to output layers' classes
LAYERS = ((800, 500), (400, 120), (120, 84), (128, 128), (1024, 1024), (800, 32), (800, 64), (500, 10),
          (1024, 10), (1024, 2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--repeats", type=int, default=20, help="calls a timed block (default 20)")
    args = parser.parse_args()
    print(header())
    rng = np.random.default_rng(0)
    print(f"dx = dy w^T, {args.dtype}, one thread: ms as written / ms as (w dy^T)^T  (* = input_gradient's choice)")
    print("  D x M        " + "".join(f"N = {n:<7d}" for n in ROWS))
    with threadpool_limits(1, user_api="blas"):
        for D, M in LAYERS:
            w = rng.standard_normal((D, M)).astype(args.dtype)
            cells = []
            for n in ROWS:
                dy = rng.standard_normal((n, M)).astype(args.dtype)
                written = best_ms(lambda: dy @ w.T, args.repeats)
                swapped = best_ms(lambda: np.ascontiguousarray((w @ dy.T).T), args.repeats)
                cells.append(f"{written / swapped:5.2f}{'*' if transposed_form(n, D, M) else ' '}   ")
            print(f"  {D:4d} x {M:<4d}  " + "".join(cells))


if __name__ == "__main__":
    main()
