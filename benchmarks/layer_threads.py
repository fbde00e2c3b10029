"""Do LeNet5's convolutions lose speed when two threads of one process run them at once, as ``fit``'s
split does? Each layer's training pass (forward + backward, its own images) timed alone, then on two
Python threads at once, then in two processes at once, with BLAS single-threaded throughout.

    python benchmarks/layer_threads.py [--images 128] [--steps 100]

Two processes share the cores, caches and memory as two threads do, but not the interpreter: where
the threads' column is slower than the processes', the difference is time a thread spent waiting
for the other's Python between kernels (``benchmarks/gemm_threads.py`` measures the same for bare
GEMMs). Medians over ``--steps`` passes, in ms.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402

# LeNet5's convolutions: (input size, channels, filters, pooled after it)
LAYERS = {"Conv2D 28x28 1->6": (28, 1, 6, True), "Conv2D 14x14 6->16": (14, 6, 16, True),
          "Conv2D 7x7 16->120": (7, 16, 120, False)}
WARMUP = 5


def layer_passes(name, images, steps, start=None):
    """Median ms of the layer's forward and backward passes on ``images`` images of its own."""
    from numpyuq.nn.conv import conv2d_nhwc_backward, conv2d_nhwc_forward
    size, channels, filters, pooled = LAYERS[name]
    rng = np.random.default_rng(0)
    x = rng.random((images, size, size, channels), dtype=np.float32)
    w = (rng.standard_normal((filters, channels, 5, 5)) * 0.1).astype(np.float32)
    b = np.zeros(filters, np.float32)
    pool = 2 if pooled else None
    y, cache = conv2d_nhwc_forward(x, w, b, 1, 2, "relu", pool)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    for _ in range(WARMUP):
        conv2d_nhwc_backward(dy, conv2d_nhwc_forward(x, w, b, 1, 2, "relu", pool)[1], input_grad=channels > 1)
    if start is not None:
        start.wait()                                  # every thread or process starts timing together
    forward, backward = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        _, cache = conv2d_nhwc_forward(x, w, b, 1, 2, "relu", pool)
        t1 = time.perf_counter()
        conv2d_nhwc_backward(dy, cache, input_grad=channels > 1)
        t2 = time.perf_counter()
        forward.append(t1 - t0)
        backward.append(t2 - t1)
    return 1e3 * float(np.median(forward)), 1e3 * float(np.median(backward))


def in_threads(name, images, steps, threads=2):
    """Each thread's (forward, backward) ms, the threads running at once."""
    start, results = threading.Barrier(threads), [None] * threads

    def work(i):
        results[i] = layer_passes(name, images, steps, start)
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def in_processes(name, images, steps, processes=2):
    """Each process's (forward, backward) ms, the processes running at once (they start timing when
    a shared file appears, after their imports and warm-up)."""
    go = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"layer_threads_{os.getpid()}.go")
    command = [sys.executable, __file__, "--worker", name, "--images", str(images), "--steps", str(steps),
               "--go", go]
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    try:
        time.sleep(0.5)
        while not all(os.path.exists(go + f".ready{w.pid}") for w in workers):
            if any(w.poll() is not None for w in workers):
                break
            time.sleep(0.05)
        open(go, "w").close()
        return [tuple(json.loads(w.communicate(timeout=600)[0])) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
            w.wait()
        for path in [go] + [go + f".ready{w.pid}" for w in workers]:
            if os.path.exists(path):
                os.remove(path)


class FileStart:
    """The start line of a worker process: say it is ready, then wait for the go file."""

    def __init__(self, go):
        self.go = go

    def wait(self):
        open(self.go + f".ready{os.getpid()}", "w").close()
        while not os.path.exists(self.go):
            time.sleep(0.001)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        with threadpool_limits(1):
            print(json.dumps(layer_passes(args.worker, args.images, args.steps, FileStart(args.go))))
        return
    print(header())
    print(f"LeNet5's convolutions, {args.images} images each, forward + backward (median ms of {args.steps}); "
          "BLAS single-threaded")
    print(f"  {'layer':22s} {'alone':>8s} {'2 threads':>10s} {'2 processes':>12s} {'threads / processes':>20s}")
    for name in LAYERS:
        with threadpool_limits(1):
            alone = sum(layer_passes(name, args.images, args.steps))
            threads = max(sum(t) for t in in_threads(name, args.images, args.steps))
        processes = max(sum(p) for p in in_processes(name, args.images, args.steps))
        print(f"  {name:22s} {alone:8.3f} {threads:10.3f} {processes:12.3f} {threads / processes:20.2f}")


if __name__ == "__main__":
    main()
