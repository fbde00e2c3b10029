"""Side-by-side LeNet throughput (the EDL seed's model, 28 x 28 inputs, float32):

  (a) numpyuq with its numba kernels, (b) numpyuq with the plain NumPy references
  (NUMPYUQ_KERNELS=reference), (c) PyTorch CPU when installed, with as many threads as we use.

Training = forward + backward + Adam step; inference = forward only. Every measurement runs in its
own process (numba and PyTorch share the OpenMP runtime), the competitors alternate, and the
medians are compared. Also prints the achieved GFLOP/s against this machine's float32 GEMM peak.

    python benchmarks/lenet.py [--rounds 3] [--threads 2] [--quick] [--profile] [--backend cupy]
    python benchmarks/lenet.py --model lenet5      # uncertainty-baselines' LeNet5, batch 256 (Keras' Adam)

numpyuq is measured two ways: ``numpyuq`` splits each batch over the threads, with BLAS
single-threaded (training: ``parallel.DataParallel``, as ``fit(threads=...)``; inference:
``training.predict_logits(threads=...)``); ``numpyuq-user-loop`` is what a library user writes, a
plain loop of ``model.forward`` / ``loss`` / ``model.backward`` / ``optimizer.step`` (inference:
``model(x)`` inside ``nn.without_caches(model)``, as ``torch.no_grad``), each batch whole on BLAS's
own threads. ``--profile`` adds the per-layer milliseconds against each layer's FLOP bound (batches
whole on BLAS's threads), the same for a training step split over the threads, and each
convolution pass against its floor.

``--backend cupy`` (on a machine with a GPU and CuPy) runs numpyuq on the device instead, against
PyTorch on CUDA when that is installed; every timing then ends with a device synchronisation.
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

# FLOPs per image (multiply-add = 2): conv1 2*20*25*24*24, conv2 2*50*500*8*8, fc1 2*800*500, fc2 2*500*10.
FORWARD_FLOP = 2 * (20 * 25 * 576 + 50 * 500 * 64 + 800 * 500 + 500 * 10)
# Backward is two GEMMs per layer (weights and inputs) except conv1, whose input gradient is not needed.
TRAIN_FLOP = 3 * FORWARD_FLOP - 2 * 20 * 25 * 576
# LeNet5 (SAME convolutions): conv1 2*6*25*28*28, conv2 2*16*150*14*14, conv3 2*120*400*7*7, fc 2*5880*84, 2*84*10.
LENET5_FORWARD_FLOP = 2 * (6 * 25 * 784 + 16 * 150 * 196 + 120 * 400 * 49 + 5880 * 84 + 84 * 10)
LENET5_TRAIN_FLOP = 3 * LENET5_FORWARD_FLOP - 2 * 6 * 25 * 784
FLOP = {"lenet": (TRAIN_FLOP, FORWARD_FLOP), "lenet5": (LENET5_TRAIN_FLOP, LENET5_FORWARD_FLOP)}


# Steps run before the clock starts, for both competitors: compilation, caches, and the heap, whose
# first steps still fault pages in.
WARMUP_STEPS = 10


def synchronize(xp):
    """Wait for the device (a no-op on NumPy), so that a timer reads finished work."""
    if xp is not np:
        xp.cuda.runtime.deviceSynchronize()


def user_loop_images_per_second(model, loss, optimizer, x, y, batch, steps, mode):
    """A library user's own loop, nothing of fit or predict: the step as the README shows it."""
    from numpyuq.nn import without_caches

    def train_step():
        optimizer.zero_grad()
        loss(model.forward(x, training=True), y)
        model.backward(loss.backward())
        optimizer.step()

    def infer_step():
        with without_caches(model):
            model(x)

    return images_per_second(train_step if mode == "train" else infer_step, batch, steps, model.xp)


def images_per_second(step, batch, steps, xp):
    """WARMUP_STEPS calls of step() off the clock (compile, warm caches and the heap), then ``steps``
    timed ones: images a second."""
    for _ in range(WARMUP_STEPS):
        step()
    synchronize(xp)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(xp)
    return batch * steps / (time.perf_counter() - start)


def numpyuq_worker(batch, steps, mode, split_threads=1, user_loop=False, network="lenet"):
    from numpyuq.backend import array_in
    from numpyuq.parallel import DataParallel
    try:                                # compare_checkouts.py also runs this worker on checkouts from before the rename
        from numpyuq.training import predict_logits as predict
    except ImportError:
        from numpyuq.training import predict

    x, y, model, loss, optimizer = training_setup(batch, network)    # the model on NUMPYUQ_BACKEND's device
    x, y = model.as_input(x), array_in(y, model.xp)

    def train_step():
        # fit's step; with split_threads > 1 each batch is split over that many threads
        optimizer.zero_grad()
        loss(parallel.forward(x), y)
        parallel.backward(loss.backward())
        optimizer.step()

    if user_loop:
        return user_loop_images_per_second(model, loss, optimizer, x, y, batch, steps, mode)
    if mode == "infer":
        # `steps` batches through training.predict: no caches kept (as torch.no_grad), and with
        # split_threads > 1 each batch is split over that many threads, BLAS single-threaded.
        images = model.xp.concatenate([x] * steps)
        predict(model, images[:batch], batch_size=batch, threads=split_threads)     # compile, warm
        synchronize(model.xp)
        start = time.perf_counter()
        predict(model, images, batch_size=batch, threads=split_threads)
        synchronize(model.xp)
        return batch * steps / (time.perf_counter() - start)
    with DataParallel(model, split_threads) as parallel:
        return images_per_second(train_step, batch, steps, model.xp)


def torch_worker(batch, steps, mode, threads, device="cpu", network="lenet"):
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if network == "lenet5":
        model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                              nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2, 2),
                              nn.Conv2d(16, 120, 5, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(5880, 84),
                              nn.ReLU(), nn.Linear(84, 10)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    else:
        model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5),
                              nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(800, 500), nn.ReLU(),
                              nn.Dropout(0.5), nn.Linear(500, 10)).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=5e-3)
    x, y = torch.rand(batch, 1, 28, 28, device=device), torch.randint(0, 10, (batch,), device=device)

    def synchronize_torch():
        if device != "cpu":
            torch.cuda.synchronize()
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    def infer():
        with torch.no_grad():
            model.eval()(x)

    step = train_step if mode == "train" else infer
    for _ in range(WARMUP_STEPS):
        step()
    synchronize_torch()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize_torch()
    return batch * steps / (time.perf_counter() - start)


def measure(competitor, batch, steps, mode, threads, backend="numpy", network="lenet"):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               NUMBA_NUM_THREADS=str(threads), NUMPYUQ_BACKEND=backend)
    env["NUMPYUQ_KERNELS"] = "reference" if competitor == "numpyuq-reference" else "numba"
    out = subprocess.run([sys.executable, __file__, "--worker", competitor, "--batch", str(batch),
                          "--steps", str(steps), "--mode", mode, "--threads", str(threads), "--backend", backend,
                          "--model", network],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{competitor} worker failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.split()[-1])


def gemm_peak():
    """Best of five 1024^3 float32 matmuls, in GFLOP/s."""
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    best = min(_timed(lambda: a @ a) for _ in range(5))
    return 2 * 1024 ** 3 / best / 1e9


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def layer_flops(layer, x_shape, y_shape):
    """Multiply-add FLOPs of one forward pass of a layer (conv and Dense; 0 for the rest)."""
    w = getattr(layer, "w", None)
    if w is None:
        return 0
    if w.value.ndim == 4:                          # conv: every output pixel before pooling
        F, C, KH, KW = w.value.shape
        N, H, W = x_shape[0], x_shape[1], x_shape[2]
        pad = 2 * getattr(layer, "padding", 0)
        return 2 * N * (H + pad - KH + 1) * (W + pad - KW + 1) * F * C * KH * KW
    return 2 * x_shape[0] * w.value.shape[0] * w.value.shape[1]


def best_ms(fn, n=10, blocks=7):
    """Best of ``blocks`` blocks of ``n`` calls, in ms a call. Each result is dropped before the
    next call, as in training: keeping ten 8 MB im2col results alive would time page faults."""
    def block():
        for _ in range(n):
            fn()
    fn()
    return min(_timed(block) for _ in range(blocks)) / n * 1e3


def training_setup(batch, network="lenet"):
    """(x, y, model, loss, optimizer): the benchmark's batch of random images and labels, LeNet
    (or LeNet5), softmax cross-entropy and Adam, as both profiles use them."""
    from numpyuq.losses import SoftmaxCrossEntropy
    from numpyuq.models import LeNet
    from numpyuq.optim import Adam, keras_adam
    rng = np.random.default_rng(0)
    x, y = rng.random((batch, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, batch)
    if network == "lenet5":
        from numpyuq.models import LeNet5       # imported here: compare_checkouts.py runs older checkouts
        model = LeNet5(seed=0)
        return x, y, model, SoftmaxCrossEntropy(), keras_adam(model.parameters(), lr=1e-3)
    model = LeNet(seed=0)
    return x, y, model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=1e-3, weight_decay=5e-3)


def profile(batch, peak, steps=60, network="lenet"):
    """Per-layer milliseconds of LeNet at ``batch``, timed inside whole training steps (forward,
    loss, backward, Adam) and whole inference passes, medians over ``steps`` after WARMUP_STEPS,
    against the FLOP-bound time of each layer at the measured GEMM peak. Timed in place, each layer
    sees the caches and the heap as training leaves them: a layer timed alone in a loop measured up
    to 1.5x slower (fresh buffers fault their pages in) or faster (its operands stay in cache)."""
    from numpyuq.nn import without_caches
    x, y, model, loss, optimizer = training_setup(batch, network)
    layers = model.layers
    clock = time.perf_counter
    times = {kind: np.zeros((steps, len(layers))) for kind in ("infer", "forward", "backward")}
    rest = np.zeros((steps, 2))                                   # loss forward + backward, Adam
    shapes = [x.shape]
    for step in range(WARMUP_STEPS + steps):
        row = step - WARMUP_STEPS
        optimizer.zero_grad()
        h = x
        for i, layer in enumerate(layers):
            start = clock()
            h = layer(h, training=True)
            if row >= 0:
                times["forward"][row, i] = clock() - start
            if step == 0:
                shapes.append(h.shape)
        start = clock()
        loss(h, y)
        grad = loss.backward()
        middle = clock()
        for i in reversed(range(len(layers))):
            if grad is None:                                      # the first layer skips dx
                break
            start_layer = clock()
            grad = layers[i].backward(grad)
            if row >= 0:
                times["backward"][row, i] = clock() - start_layer
        adam = clock()
        optimizer.step()
        if row >= 0:
            rest[row] = middle - start, clock() - adam
    with without_caches(model):
        for step in range(WARMUP_STEPS + steps):
            h = x
            for i, layer in enumerate(layers):
                start = clock()
                h = layer(h, training=False)
                if step >= WARMUP_STEPS:
                    times["infer"][step - WARMUP_STEPS, i] = clock() - start
    median = {kind: np.median(t, axis=0) * 1e3 for kind, t in times.items()}
    loss_ms, adam_ms = np.median(rest, axis=0) * 1e3
    print(f"\nper-layer profile, batch {batch}, timed inside {steps} training steps and inference passes "
          f"(median ms; FLOP-bound = the layer's FLOPs at {peak:.0f} GFLOP/s)")
    print(f"  {'layer':34s} {'infer':>7s} {'train fwd':>9s} {'bwd':>7s} {'FLOP-bound fwd':>15s}")
    for i, layer in enumerate(layers):
        flops = layer_flops(layer, shapes[i] if i else (batch, 28, 28, 1), shapes[i + 1])
        name = repr(layer).split("(")[0] + (f" {tuple(shapes[i][1:])}" if flops else "")
        print(f"  {name:34s} {median['infer'][i]:7.3f} {median['forward'][i]:9.3f} {median['backward'][i]:7.3f} "
              f"{flops / peak / 1e6:15.3f}")
    print(f"  {'loss (forward + backward)':34s} {'':7s} {loss_ms:9.3f}")
    print(f"  {'Adam step':34s} {'':7s} {adam_ms:9.3f}")
    train = median["forward"].sum() + median["backward"].sum() + loss_ms + adam_ms
    infer = median["infer"].sum()
    print(f"  {'total':34s} {infer:7.3f} {train:9.3f}  (training: every column and row)")
    print(f"  -> inference {batch / infer * 1e3:.0f} img/s, training {batch / train * 1e3:.0f} img/s "
          f"(sums of medians; batches whole on BLAS's threads, as the numpyuq-user-loop rows)")


def split_profile(batch, threads, steps=60, network="lenet"):
    """Per-layer milliseconds of a training step with the batch split over ``threads`` (``fit``'s
    ``parallel.DataParallel``), timed on the first thread's slice (the model itself, batch / threads
    rows) inside whole steps, medians over ``steps`` after WARMUP_STEPS. The rest of the step: the
    loss and Adam on the whole batch, and the threads' meeting (waiting for the other slices, adding
    their gradients), so that the rows sum to the step."""
    from numpyuq.parallel import DataParallel
    x, y, model, loss, optimizer = training_setup(batch, network)
    clock = time.perf_counter
    layers = model.layers
    times = np.zeros((WARMUP_STEPS + steps, 2, len(layers)))   # [step, forward/backward, layer]
    rest = np.zeros((WARMUP_STEPS + steps, 3))                  # loss, zero_grad + Adam, meeting
    step, shapes = 0, {}

    def timed(i, kind, method):
        def run(*args, **kwargs):
            shapes.setdefault((i, kind), tuple(args[0].shape[1:]))
            start = clock()
            out = method(*args, **kwargs)
            times[step, kind, i] = clock() - start
            return out
        return run

    with DataParallel(model, threads) as parallel:
        for i, layer in enumerate(layers):              # after the replicas were made: only ours is timed
            layer.forward, layer.backward = timed(i, 0, layer.forward), timed(i, 1, layer.backward)
        for step in range(WARMUP_STEPS + steps):
            start = clock()
            optimizer.zero_grad()
            passes = clock()
            out = parallel.forward(x)
            scored = clock()
            loss(out, y)
            grad = loss.backward()
            middle = clock()
            parallel.backward(grad)
            adam = clock()
            optimizer.step()
            end = clock()
            rest[step] = (middle - scored, (passes - start) + (end - adam),
                          (scored - passes) + (adam - middle) - times[step].sum())
    median = np.median(times[WARMUP_STEPS:], axis=0) * 1e3
    loss_ms, adam_ms, meeting_ms = np.median(rest[WARMUP_STEPS:], axis=0) * 1e3
    print(f"\nper-layer profile, batch {batch} split over {threads} threads ({batch // threads} rows a thread, "
          f"BLAS single-threaded), timed on the first thread inside {steps} training steps (median ms)")
    print(f"  {'layer':34s} {'train fwd':>9s} {'bwd':>7s}")
    for i, layer in enumerate(layers):
        name = repr(layer).split("(")[0] + (f" {shapes[i, 0]}" if hasattr(layer, "w") else "")
        print(f"  {name:34s} {median[0, i]:9.3f} {median[1, i]:7.3f}")
    print(f"  {'loss (whole batch, one thread)':34s} {loss_ms:9.3f}")
    print(f"  {'zero_grad + Adam step (one thread)':34s} {adam_ms:9.3f}")
    print(f"  {'threads meeting: waits, grad sum':34s} {meeting_ms:9.3f}")
    total = median.sum() + loss_ms + adam_ms + meeting_ms
    print(f"  {'total':34s} {total:9.3f}  -> training {batch / total * 1e3:.0f} img/s (sums of medians)")


def copy_bandwidth():
    """Best single-thread copy rate in GB/s (bytes read + written), over a 16 MB buffer: the
    floor for the passes that only move data (im2col, pooling, col2im), which run on one core."""
    src = np.ones(1 << 22, np.float32)
    dst = np.empty_like(src)
    return 2 * src.nbytes / (best_ms(lambda: np.copyto(dst, src)) / 1e3) / 1e9


def conv_passes(batch, peak):
    """Each pass of LeNet's two convolutions, timed alone with the kernels the layers call, against
    its floor: its GEMM's FLOPs at the measured peak plus the bytes it moves at the copy bandwidth."""
    from numpyuq.kernels.bias_relu import bias_relu_forward, relu_bias_backward
    from numpyuq.kernels.conv_gemm import gemm_col2im, im2col_gemm_weights
    from numpyuq.kernels.conv_single_channel import conv_single_channel, conv_single_channel_weights
    from numpyuq.kernels.im2col_nhwc import im2col_nhwc
    from numpyuq.kernels.pooling_nhwc import maxpool_nhwc_backward, maxpool_nhwc_forward
    from numpyuq.models import LeNet
    from numpyuq.nn.conv import REBUILD_COLUMNS_FROM_RUN, uses_direct_kernels
    bandwidth = copy_bandwidth()
    model = LeNet(seed=0)
    rng = np.random.default_rng(0)
    x = model.layers[0](rng.random((batch, 1, 28, 28), dtype=np.float32))
    print(f"\nconvolution passes, batch {batch} (ms; floor = FLOPs at {peak:.0f} GFLOP/s + bytes moved at "
          f"the {bandwidth:.0f} GB/s single-thread copy rate)")
    print(f"  {'pass':40s} {'ms':>7s} {'floor':>7s} {'floor/ms':>9s}")
    for conv in (model.layers[1], model.layers[2]):
        F, C, KH, KW = conv.w.value.shape
        w_mat = np.ascontiguousarray(conv.w.value.transpose(0, 2, 3, 1).reshape(F, -1))
        cols = im2col_nhwc(x, KH, KW)
        z = cols @ w_mat.T
        N, OH, OW = x.shape[0], x.shape[1] - KH + 1, x.shape[2] - KW + 1
        pooled, argmax = maxpool_nhwc_forward(z.reshape(N, OH, OW, F), 2, 2)
        pooled = pooled.reshape(-1, F)
        g = rng.standard_normal(pooled.shape).astype(np.float32)
        dz = rng.standard_normal(z.shape).astype(np.float32)
        nbytes = lambda *arrays: sum(a.nbytes for a in arrays)       # noqa: E731
        gemm_flop = 2 * z.size * cols.shape[1]
        direct = uses_direct_kernels(x, F, conv.stride)
        if direct:                                  # one channel: direct loops instead of im2col + GEMM
            images, kernels = x.reshape(N, *x.shape[1:3]), conv.w.value.reshape(F, KH, KW)
            passes = [("direct convolution", lambda: conv_single_channel(images, kernels), nbytes(x, z), gemm_flop)]
        else:
            passes = [("im2col", lambda: im2col_nhwc(x, KH, KW), nbytes(x, cols), 0),
                      ("GEMM cols w^T", lambda: cols @ w_mat.T, 0, gemm_flop)]
        passes += [("max-pool with winners", lambda: maxpool_nhwc_forward(z.reshape(N, OH, OW, F), 2, 2),
                    nbytes(z, pooled, argmax), 0),
                   ("bias + ReLU", lambda: bias_relu_forward(pooled.copy(), conv.b.value), 2 * pooled.nbytes, 0),
                   ("backward: ReLU mask + bias sum", lambda: relu_bias_backward(g, pooled), 3 * g.nbytes, 0),
                   ("backward: route to winners", lambda: maxpool_nhwc_backward(g.reshape(argmax.shape), argmax,
                                                                              (N, OH, OW, F), 2, 2),
                    nbytes(g, argmax, z), 0)]
        if direct:
            passes.append(("backward: direct dw", lambda: conv_single_channel_weights(images, dz, KH, KW),
                           nbytes(x, dz), gemm_flop))
        elif KW * C >= REBUILD_COLUMNS_FROM_RUN:      # the layer kept its input: columns rebuilt in chunks
            passes.append(("backward: rebuild cols + GEMM dw", lambda: im2col_gemm_weights(x, dz, KH, KW),
                           nbytes(x, cols), gemm_flop))
        else:
            passes.append(("backward: GEMM dw = dz^T cols", lambda: dz.T @ cols, 0, gemm_flop))
        if conv.input_grad:
            passes.append(("backward: GEMM dz w + col2im, chunked", lambda: gemm_col2im(dz, w_mat, x.shape, KH, KW),
                           nbytes(cols, x), gemm_flop))
        for name, fn, moved, flop in passes:
            ms = best_ms(fn)
            floor = flop / peak / 1e6 + moved / bandwidth / 1e6
            print(f"  {f'conv {C}->{F}: {name}':40s} {ms:7.3f} {floor:7.3f} {floor / ms:9.2f}")
        x = conv(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100,
                        help="timed steps a run (default 100; runs of 40 varied by 10%% between processes here)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one round, few steps, batch 64 (CI smoke test)")
    parser.add_argument("--profile", action="store_true", help="also print the per-layer profile at batch 64 and 128")
    parser.add_argument("--backend", choices=("numpy", "cupy"), default="numpy",
                        help="cupy: numpyuq on the GPU against PyTorch CUDA (default numpy)")
    parser.add_argument("--model", choices=("lenet", "lenet5"), default="lenet",
                        help="lenet (the EDL seed's, default) or lenet5 (uncertainty-baselines', batch 256)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="train", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "torch":
            print(torch_worker(args.batch, args.steps, args.mode, args.threads,
                               "cuda" if args.backend == "cupy" else "cpu", network=args.model))
        else:
            split = args.threads if args.worker == "numpyuq" else 1
            print(numpyuq_worker(args.batch, args.steps, args.mode, split, user_loop=args.worker == "numpyuq-user-loop",
                                 network=args.model))
        return
    print(header())
    full_batches = [256] if args.model == "lenet5" else [64, 128]
    batches, rounds, steps = ([full_batches[0]], 1, 3) if args.quick else (full_batches, args.rounds, args.steps)
    if args.model == "lenet5":
        steps = max(steps // 4, 3)           # batches 4x LeNet's 64: about the same images per run
    if args.backend == "cupy":
        gpu_main(batches, rounds, steps)
        return
    competitors = ["numpyuq", "numpyuq-user-loop", "numpyuq-reference"]
    try:
        import torch  # noqa: F401
        competitors.append("torch")
    except ImportError:
        print("PyTorch is not installed: comparing numpyuq with its references only (see README).")
    peak = gemm_peak()
    train_flop, forward_flop = FLOP[args.model]
    print(f"float32 GEMM peak (1024^3, {args.threads} threads): {peak:.0f} GFLOP/s; "
          f"{'LeNet5' if args.model == 'lenet5' else 'LeNet'} {train_flop / 1e6:.1f} MFLOP per training image, "
          f"{forward_flop / 1e6:.2f} per inference")
    for mode in ("train", "infer"):
        for batch in batches:
            # Two numpyuq variants: each batch split over the threads (BLAS single-threaded), or
            # whole with BLAS's own threads.
            results = {c: [] for c in competitors}
            for r in range(rounds):
                order = competitors if r % 2 == 0 else competitors[::-1]
                for competitor in order:
                    results[competitor].append(measure(competitor, batch, steps, mode, args.threads,
                                                       network=args.model))
            flop = train_flop if mode == "train" else forward_flop
            print(f"\n{mode} batch {batch}: images/s (median of {rounds})")
            medians = {c: statistics.median(v) for c, v in results.items()}
            for c, v in medians.items():
                print(f"  {c:18s} {v:9.0f}   {v * flop / 1e9:6.1f} GFLOP/s ({100 * v * flop / 1e9 / peak:4.1f}% of peak)")
            if "torch" in medians:
                target = 2.0 if mode == "train" and args.model == "lenet" else 1.5
                print(f"  ratio numpyuq / PyTorch: {medians['numpyuq'] / medians['torch']:.2f}  (target >= {target})")
                print(f"  ratio numpyuq-user-loop / PyTorch: {medians['numpyuq-user-loop'] / medians['torch']:.2f}  "
                      f"(target >= {target})")
            print(f"  ratio numba / reference: {medians['numpyuq'] / medians['numpyuq-reference']:.2f}")
    if args.profile and args.model == "lenet5":
        for batch in batches:
            profile(batch, peak, network="lenet5")
            split_profile(batch, args.threads, network="lenet5")
    elif args.profile:
        for batch in batches:
            profile(batch, peak)
        split_profile(64, args.threads)
        conv_passes(64, peak)


def gpu_main(batches, rounds, steps):
    """numpyuq on CuPy against PyTorch CUDA (when installed with CUDA): images/s and the ratio."""
    competitors = ["numpyuq"]
    try:
        import torch
        if torch.cuda.is_available():
            competitors.append("torch")
        else:
            print("PyTorch has no CUDA here: timing numpyuq on CuPy alone.")
    except ImportError:
        print("PyTorch is not installed: timing numpyuq on CuPy alone.")
    for mode in ("train", "infer"):
        for batch in batches:
            results = {c: [] for c in competitors}
            for r in range(rounds):
                for competitor in (competitors if r % 2 == 0 else competitors[::-1]):
                    results[competitor].append(measure(competitor, batch, steps, mode, 1, backend="cupy"))
            medians = {c: statistics.median(v) for c, v in results.items()}
            print(f"\n{mode} batch {batch} on the GPU: images/s (median of {rounds})")
            for c, v in medians.items():
                print(f"  {c:18s} {v:9.0f}")
            if "torch" in medians:
                print(f"  ratio numpyuq (CuPy) / PyTorch (CUDA): {medians['numpyuq'] / medians['torch']:.2f}")


if __name__ == "__main__":
    main()
