"""Independent trainings (ensemble members, seeds, methods) as tasks that run wherever joblib sends
them: in this process, in local processes, on a Dask or a Ray cluster.

    task = a top-level function + picklable arguments (settings, never live models or closures)
    run_tasks(function, [(label, args), ...], n_jobs)  ->  results in task order

Three rules make a task's result the same bits wherever it runs:

* every random stream comes from the seed in its arguments;
* BLAS runs on one thread inside the task (threadpoolctl), and numpyuq's split-batch ``threads``
  is 1, so no sum depends on how many cores the worker has;
* it returns arrays, numbers and state dicts: what pickles the same everywhere.

``n_jobs=None`` means "whatever the caller's ``joblib.parallel_config`` says" (one process when
nothing is set), the convention of scikit-learn: ``with joblib.parallel_config(backend="dask"):``
around a call (with a ``dask.distributed.Client`` open) moves its tasks to that cluster unchanged.
``Engine`` does the same for the command line (``--jobs``, ``--scheduler``, ``--cluster local``,
``--backend ray``). Progress counts tasks as they finish, in any order, whatever the engine.
"""
import contextlib

import numpy as np
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits

BACKENDS = ("loky", "dask", "ray")
CONNECT_TIMEOUT = 5            # seconds to wait for a Dask scheduler or a Ray cluster to answer
# Dask workers for compute-bound NumPy tasks (measured with benchmarks/cluster.py, 2 cores: a moons
# ensemble member took 0.99 s on a default LocalCluster worker, 0.76 s in a loky process, 0.78 s
# with these). Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers, which fixes glibc's
# mmap threshold at 128 KiB, so every large temporary array is a fresh mmap and page faults; the
# statistical profiler samples the task's thread every 10 ms.
DASK_WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                      "distributed.nanny.pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": str(256 << 20),
                                                              "MALLOC_MMAP_THRESHOLD_": str(32 << 20)}}


class TaskError(RuntimeError):
    """A task raised: the message names the task (its label) and the cause."""


def check_n_jobs(n_jobs, name="n_jobs"):
    """None (the caller's joblib context), a positive integer, or -1 (every core)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"{name} must be None (the caller's joblib.parallel_config), a positive integer or -1 "
                         f"(all cores), got {n_jobs!r}")
    return int(n_jobs)


def run_pinned(function, index, label, *args):
    """What every task runs in: BLAS on one thread; a failure re-raised as TaskError naming the task.
    Returns (index, result) so that results finishing in any order find their place. The arguments
    come one by one (not as one tuple) so that joblib sees an array shared by every task as one
    object: loky memory-maps it once, Dask scatters it to the cluster once per run."""
    with threadpool_limits(limits=1):
        try:
            return index, function(*args)
        except Exception as err:                    # noqa: BLE001 (re-raised with the task's name)
            raise TaskError(f"task {label} failed: {type(err).__name__}: {err}") from None


def run_tasks(function, tasks, n_jobs=None, progress=False, desc="tasks", on_result=None):
    """Run ``function(*args)`` for every ``(label, args)`` of ``tasks`` through ``joblib.Parallel``.

    Args:
        function: a top-level (picklable) function.
        tasks: list of (label, args tuple); the label names the task in errors.
        n_jobs: None (the caller's ``joblib.parallel_config``), a positive integer or -1.
        progress: a bar of tasks done / total as they finish.
        on_result: None, or called here as ``on_result(index, result)`` as each task finishes
            (e.g. to save it, so that an interrupted run keeps what finished).
    Returns:
        the results, in the order of ``tasks``.
    Raises:
        TaskError for the first task that fails (the others are cancelled where the engine can).
    """
    from .training import progress_bar

    n_jobs = check_n_jobs(n_jobs)
    tasks = list(tasks)
    results = [None] * len(tasks)
    def jobs():
        return (delayed(run_pinned)(function, i, label, *args) for i, (label, args) in enumerate(tasks))
    try:
        finished = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs())
    except ValueError as err:           # Ray's joblib backend returns lists only: joblib's own count
        if "does not support return_as" not in str(err):
            raise
        finished = Parallel(n_jobs=n_jobs, verbose=10 if progress else 0)(jobs())
        progress = False
    with progress_bar(None, progress, total=len(tasks), desc=desc) as bar:
        for index, result in finished:
            results[index] = result
            if on_result is not None:
                on_result(index, result)
            bar.update()
    return results


class Engine:
    """Where the command line's tasks run: ``with Engine(...):`` sets joblib's context.

    Args:
        backend: ``"loky"`` (local processes, default), ``"dask"`` or ``"ray"``.
        jobs: processes (loky), workers of ``cluster="local"``, or Ray's CPUs when it starts locally.
        scheduler: address of a running Dask scheduler, e.g. ``tcp://host:8786`` (dask).
        cluster: ``"local"``: a ``dask.distributed.LocalCluster`` of ``jobs`` one-thread worker
            processes, started for the run on 127.0.0.1 and stopped after it (dask).
        ray_address: a running Ray cluster (``ray start --head``'s address); None starts Ray locally.
    ``start()`` connects (a ValueError naming the address if nothing answers within
    ``CONNECT_TIMEOUT`` seconds); ``close()`` stops what ``start`` started.
    """

    def __init__(self, backend="loky", jobs=2, scheduler=None, cluster=None, ray_address=None):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if (scheduler is not None or cluster is not None) and backend != "dask":
            raise ValueError(f"--scheduler and --cluster are for the dask backend, got backend {backend!r}")
        if scheduler is not None and cluster is not None:
            raise ValueError("give --scheduler (an existing cluster) or --cluster local (a new one), not both")
        if cluster not in (None, "local"):
            raise ValueError(f"cluster must be 'local', got {cluster!r}")
        if backend == "dask" and scheduler is None and cluster is None:
            raise ValueError("the dask backend needs --scheduler ADDRESS or --cluster local")
        if ray_address is not None and backend != "ray":
            raise ValueError(f"--ray-address is for the ray backend, got backend {backend!r}")
        self.backend, self.jobs = backend, check_n_jobs(jobs, "jobs")
        self.scheduler, self.cluster, self.ray_address = scheduler, cluster, ray_address
        self.stack = contextlib.ExitStack()

    def start(self):
        try:
            if self.backend == "dask":
                self.start_dask()
            elif self.backend == "ray":
                self.start_ray()
            else:
                self.stack.enter_context(parallel_config(backend="loky", n_jobs=self.jobs))
        except BaseException:
            self.close()
            raise
        return self

    def start_dask(self):
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("the dask backend needs dask.distributed: pip install numpyuq[dask]") from None
        if self.cluster == "local":
            import dask
            with dask.config.set(DASK_WORKER_CONFIG):
                cluster = self.stack.enter_context(LocalCluster(n_workers=max(self.jobs or 1, 1), threads_per_worker=1,
                                                                processes=True, host="127.0.0.1",
                                                                dashboard_address=None))
            client = self.stack.enter_context(Client(cluster))
        else:
            try:
                client = Client(self.scheduler, timeout=f"{CONNECT_TIMEOUT}s")
            except (OSError, TimeoutError, ValueError) as err:
                raise ValueError(f"--scheduler {self.scheduler!r}: no Dask scheduler answered within "
                                 f"{CONNECT_TIMEOUT} s ({type(err).__name__})") from None
            self.stack.callback(client.close)
        self.client = client
        self.stack.enter_context(parallel_config(backend="dask"))

    def start_ray(self):
        try:
            import ray
            from ray.util.joblib import register_ray
        except ImportError:
            raise ValueError("the ray backend needs Ray: pip install numpyuq[ray]") from None
        try:
            if self.ray_address is None:
                ray.init(num_cpus=self.jobs if self.jobs and self.jobs > 0 else None, include_dashboard=False,
                         log_to_driver=False)
            else:
                ray.init(address=self.ray_address, log_to_driver=False)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as err:
            raise ValueError(f"--ray-address {self.ray_address!r}: Ray did not start or answer "
                             f"({type(err).__name__}: {err})") from None
        self.stack.callback(ray.shutdown)
        register_ray()
        self.stack.enter_context(parallel_config(backend="ray"))

    def close(self):
        self.stack.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        where = self.scheduler or (f"{self.cluster} cluster" if self.cluster else self.ray_address or "this machine")
        return f"Engine({self.backend}, {where})"
