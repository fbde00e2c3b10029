"""Why a plain training loop's speed differs between processes: columns one core writes that BLAS's
other thread then reads.

A user loop runs each batch whole, with BLAS's own two threads in every GEMM. In a convolution the
main thread first writes a chunk of im2col columns, and both BLAS threads read it: half of it
moves from the writer's cache to the other core's. This times that pattern on one chunk of
LeNet's second layer (16 images: 1024 x 500 columns times the 500 x 50 kernel), each row in
``--processes`` fresh processes:

    GEMM alone            the product on columns both cores already hold (BLAS's two threads)
    im2col alone          the main thread writing the columns
    im2col, then GEMM     the two in turn, as a user loop's layer runs them (BLAS's two threads)
    write cost            the pair's time less its two parts: what the columns' move costs
    BLAS on 1 thread      the pair with BLAS single-threaded (nothing moves, one core works)
    two slices            two Python threads, each writing and multiplying its own chunk with BLAS
                          single-threaded (``fit``'s split: nothing moves), per chunk

    python benchmarks/cross_core.py [--processes 6]

Best of 7 blocks of 20 calls, in microseconds. Where the write cost differs several times between
processes of one machine, the two cores reach each other's caches at different speeds from one
process to the next (a virtual machine's cores placed on different parts of the host).
"""
import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lenet import best_ms  # noqa: E402
from machine import header  # noqa: E402

IMAGES, SIZE, CHANNELS, FILTERS, KERNEL = 16, 12, 20, 50, 5
ROWS = ("GEMM alone", "im2col alone", "im2col, then GEMM", "write cost", "BLAS on 1 thread", "two slices")


def worker():
    """{row: microseconds} in this process (BLAS's thread count as the environment sets it)."""
    from threadpoolctl import threadpool_limits

    from numpyuq.kernels.im2col_nhwc import im2col_nhwc
    rng = np.random.default_rng(0)
    x = [rng.random((IMAGES, SIZE, SIZE, CHANNELS), dtype=np.float32) for _ in range(2)]
    w = rng.random((FILTERS, KERNEL * KERNEL * CHANNELS), dtype=np.float32)
    out = (SIZE - KERNEL + 1) ** 2 * IMAGES
    cols = [np.empty((out, w.shape[1]), np.float32) for _ in range(2)]
    y = [np.empty((out, FILTERS), np.float32) for _ in range(2)]

    def gemm(i=0):
        np.matmul(cols[i], w.T, out=y[i])

    def write(i=0):
        im2col_nhwc(x[i], KERNEL, KERNEL, 1, 0, out=cols[i])

    def pair(i=0):
        write(i)
        gemm(i)

    def two_slices():
        other = pool.submit(pair, 1)
        pair(0)
        other.result()

    us = {"GEMM alone": best_ms(gemm, 20) * 1e3, "im2col alone": best_ms(write, 20) * 1e3,
          "im2col, then GEMM": best_ms(pair, 20) * 1e3}
    us["write cost"] = us["im2col, then GEMM"] - us["GEMM alone"] - us["im2col alone"]
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(1) as pool:
        us["BLAS on 1 thread"] = best_ms(pair, 20) * 1e3
        us["two slices"] = best_ms(two_slices, 20) * 1e3 / 2
    return us


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker()))
        return
    print(header())
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    runs = []
    for _ in range(args.processes):
        out = subprocess.run([sys.executable, __file__, "--worker"], env=env, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"worker failed:\n{out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.splitlines()[-1]))
    print(f"one chunk of LeNet's second layer ({IMAGES} images: {(SIZE - KERNEL + 1) ** 2 * IMAGES} x "
          f"{KERNEL * KERNEL * CHANNELS} columns), BLAS on {args.threads} threads unless the row says; "
          f"microseconds, one column per fresh process")
    for row in ROWS:
        print(f"  {row:18s} " + " ".join(f"{run[row]:6.0f}" for run in runs))
    costs = [run["write cost"] for run in runs]
    print(f"write cost across processes: {min(costs):.0f} to {max(costs):.0f} us "
          f"({max(costs) / max(min(costs), 1):.1f}x apart)")


if __name__ == "__main__":
    main()
