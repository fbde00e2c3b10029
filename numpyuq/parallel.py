"""Data parallelism inside one process: a training step's batch split over threads, each slice run
by a replica of the model that shares its parameters (the single-process form of data-parallel
training; Li et al. 2020, "PyTorch Distributed", https://arxiv.org/abs/2006.15704).

    rows [0, n1)     model      forward --\\                               /-- backward of dy[0:n1]
    rows [n1, n2)    replica 1  forward ---+-> concatenate -> loss -> dy -+--- backward of dy[n1:n2]
    ...                                   /   (whole batch, one thread)   \\   ...
    then the replicas' parameter gradients are added to the model's.

The step is the one-thread step, split. The loss sees the whole batch; dropout draws the masks it
would have drawn for the whole batch (``Module.share_randomness``); only the order in which the
slices' contributions to each weight gradient are summed differs, which is float rounding.

Why: LeNet's layers are small. On 2 cores, OpenBLAS's own two threads leave half the machine idle
in every pass that is not a GEMM (im2col, pooling, col2im, ReLU masks), and its thread start-up
and barriers cost time in every GEMM. Two slices of the batch, each on one core with BLAS
single-threaded, keep both cores busy in every pass: ``benchmarks/lenet.py`` measures both ways.
The numba kernels and BLAS release the GIL; Python's own work between them is what the threads
still take turns at.
"""
import contextlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .nn.module import Module
from .validation import check_positive_int


@contextlib.contextmanager
def single_threaded_blas_pool(workers):
    """A pool of ``workers`` threads, with BLAS single-threaded while it lives (restored after, even on
    error): the threads, not BLAS, share the cores. ``training.predict_logits(threads=...)`` and
    ``DataParallel`` run their slices on it."""
    from threadpoolctl import threadpool_limits
    with ThreadPoolExecutor(workers, thread_name_prefix="numpyuq-slice") as pool, threadpool_limits(1, user_api="blas"):
        yield pool


def unsplittable_modules(model):
    """Names of the module types in ``model`` that cannot run a batch in slices (empty when it can)."""
    return sorted({type(m).__name__ for m in model.modules() if not m.splittable})


def slice_bounds(rows, parts):
    """[(start, stop), ...]: ``rows`` split into ``min(parts, rows)`` slices whose sizes differ by at most 1."""
    parts = max(1, min(parts, rows))
    edges = [rows * i // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:]))


class DataParallel:
    """Training-mode forward and backward passes of ``model`` with each batch split over ``threads``.

    Use as a context manager: inside it, ``forward(x)`` (x: (N, ...)) returns the model's output for
    all N rows, and ``backward(dy)`` accumulates the parameter gradients of the whole batch into
    ``model``'s parameters, as ``model(x, training=True)`` and ``model.backward(dy)`` would. While
    the block runs, BLAS is single-threaded (``threadpoolctl``); it is restored on exit.

    ``threads=1``, models on the GPU (CuPy: one device runs the batch whole), and passes outside
    the block call the model directly. A model with a module that is not ``splittable`` (one that
    changes state in training, such as spectral normalisation's power iteration or the GP layer's
    precision update) is refused with ``threads > 1``.
    """

    def __init__(self, model, threads=1):
        if not isinstance(model, Module):
            raise TypeError(f"model must be a numpyuq Module, got {type(model).__name__}")
        check_positive_int(threads, "threads")
        blocking = unsplittable_modules(model)
        if threads > 1 and blocking:
            raise ValueError(f"threads={threads} splits each batch over replicas of the model, which needs "
                             f"every module to treat rows independently in training; {', '.join(blocking)} "
                             "cannot (it changes state in training or mixes rows): use threads=1")
        self.model, self.threads = model, threads
        self.replicas = [model.replicate() for _ in range(threads - 1)] if model.xp is np else []
        self.trainable = [model.parameters()] + [replica.parameters() for replica in self.replicas]
        # The modules that draw random numbers (those overriding share_randomness), each beside
        # the same module in every replica: the only ones visited before each split step.
        self.twins = [twins for twins in zip(model.modules(), *(replica.modules() for replica in self.replicas))
                      if type(twins[0]).share_randomness is not Module.share_randomness]
        self.pool, self.exit_stack, self.bounds = None, contextlib.ExitStack(), [(0, 0)]
        self.replica_gradients_zeroed = False

    def __enter__(self):
        if self.replicas:
            self.pool = self.exit_stack.enter_context(single_threaded_blas_pool(len(self.replicas)))
        return self

    def __exit__(self, *exc):
        self.pool = None
        return self.exit_stack.__exit__(*exc)       # the pool's threads end, BLAS's count comes back

    def forward(self, x):
        """x: (N, ...) -> the model's training-mode output (N, ...), slice by slice at once."""
        if self.pool is None:                       # one thread: the model itself, nothing more
            return self.model(x, training=True)
        self.bounds = slice_bounds(x.shape[0], 1 + len(self.replicas))
        if len(self.bounds) == 1:
            return self.model(x, training=True)
        # A pass that refuses its input must leave every generator as it was: keep their states.
        states = [module.generator_states() for module, *_ in self.twins]
        for module, *twins in self.twins:
            module.share_randomness(twins, [start for start, _ in self.bounds])
        # While the replicas finish their slices, this thread zeroes their gradients for the backward pass.
        try:
            outs = self.run_slices(lambda module, rows: module(x[rows], training=True), self.zero_replica_gradients)
        except BaseException:
            for (module, *twins), state in zip(self.twins, states):
                module.share_randomness(twins, None)    # a slice that failed first leaves its key unused
                module.load_generator_states(state)
            raise
        return np.concatenate(outs)

    def backward(self, dy):
        """dy: (N, ...), the gradient of the output of the last ``forward``; accumulates every
        parameter gradient into the model's. Returns the input gradient (None if skipped)."""
        if self.pool is None or len(self.bounds) == 1:
            return self.model.backward(dy)
        if not self.replica_gradients_zeroed:   # a second backward pass after one forward pass
            self.zero_replica_gradients()
        dxs = self.run_slices(lambda module, rows: module.backward(dy[rows]))
        for replica_params in self.trainable[1:]:
            for p, q in zip(self.trainable[0], replica_params):
                p.grad += q.grad
        self.replica_gradients_zeroed = False
        return None if any(dx is None for dx in dxs) else np.concatenate(dxs)

    def zero_replica_gradients(self):
        """Zero the replicas' gradients, so that a backward pass leaves in them its own slice's alone."""
        for replica in self.replicas:
            replica.zero_grad()
        self.replica_gradients_zeroed = True

    def run_slices(self, work, while_waiting=None):
        """work(module, rows) for the model on the first slice (this thread) and each replica on the
        next (the pool's threads), then ``while_waiting()`` on this thread; every thread has finished
        when this returns or raises."""
        modules = [self.model, *self.replicas]
        futures = [self.pool.submit(work, module, slice(*bounds))
                   for module, bounds in zip(modules[1:], self.bounds[1:])]
        try:
            first = work(self.model, slice(*self.bounds[0]))
            if while_waiting is not None:
                while_waiting()
        finally:
            results = [future.exception() or future.result() for future in futures]   # waits for all
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [first, *results]
