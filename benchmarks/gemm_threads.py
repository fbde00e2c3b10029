"""How much of two cores do single-threaded GEMMs get, run from two threads of one process against two
processes? ``fit(threads=2)`` splits each batch over two Python threads with BLAS single-threaded;
this measures the ceiling that split has on the machine at hand, with no numpyuq code involved.

    python benchmarks/gemm_threads.py [--size 1024] [--seconds 3]

Rows: one thread alone; BLAS's own threads on one product; two Python threads each running
single-threaded products (unpinned, then each pinned to its own core where the OS allows); two
processes each running single-threaded products. GFLOP/s of all the work together.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402


def products(size, seconds, pin=None):
    """Single-threaded size^3 float32 products for ``seconds``: (count, elapsed)."""
    if pin is not None:
        os.sched_setaffinity(0, {pin})        # this thread only (Linux)
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    a @ a
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        count += 1
    return count, time.perf_counter() - start


def rate(count, elapsed, size):
    """GFLOP/s of ``count`` size^3 products in ``elapsed`` seconds."""
    return count * 2 * size ** 3 / elapsed / 1e9


def in_threads(size, seconds, threads, pin):
    cores = sorted(os.sched_getaffinity(0)) if pin and hasattr(os, "sched_setaffinity") else None
    results = [None] * threads

    def work(i):
        results[i] = products(size, seconds, None if cores is None else cores[i % len(cores)])
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return rate(sum(count for count, _ in results), time.perf_counter() - start, size)


def in_processes(size, seconds, processes):
    command = [sys.executable, __file__, "--worker", "--size", str(size), "--seconds", str(seconds)]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return sum(float(w.communicate()[0]) for w in workers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with threadpool_limits(1):
            print(rate(*products(args.size, args.seconds), args.size))
        return
    print(header())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"float32 {args.size}^3 products for {args.seconds:g} s each, GFLOP/s of all the work ({cores} cores)")
    with threadpool_limits(1):
        alone = rate(*products(args.size, args.seconds), args.size)
    print(f"  one thread alone                          {alone:7.0f}")
    print(f"  BLAS's own threads, one product at a time {rate(*products(args.size, args.seconds), args.size):7.0f}")
    with threadpool_limits(1):
        threads = in_threads(args.size, args.seconds, cores, pin=False)
        pinned = in_threads(args.size, args.seconds, cores, pin=True)
    processes = in_processes(args.size, args.seconds, cores)
    print(f"  {cores} Python threads, BLAS single-threaded  {threads:7.0f}")
    print(f"  the same, each thread pinned to a core    {pinned:7.0f}")
    print(f"  {cores} processes, BLAS single-threaded       {processes:7.0f}")
    print(f"  threads / processes: {threads / processes:.2f} (pinned {pinned / processes:.2f})")


if __name__ == "__main__":
    main()
