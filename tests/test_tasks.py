"""Tasks through joblib: order, pinned BLAS, errors that name the task, and the same bits on every
engine: this process, loky processes, a Dask LocalCluster, a scheduler and workers started as
separate processes (one killed mid-run), and Ray. Servers bind to 127.0.0.1; every process a test
starts is stopped by its own handle."""
import contextlib
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from joblib import parallel_config

from numpyuq.tasks import Engine, TaskError, check_n_jobs, run_tasks


def blas_threads_and_square(x):
    from threadpoolctl import threadpool_info
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"], x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def slow_identity(x):
    time.sleep(0.05 * (5 - x))            # later tasks finish first
    return x


def test_results_come_back_in_task_order_with_blas_on_one_thread():
    tasks = [(f"t{i}", (i,)) for i in range(5)]
    for n_jobs in (None, 1, 2):
        results = run_tasks(blas_threads_and_square, tasks, n_jobs=n_jobs)
        assert [square for _, square in results] == [0, 1, 4, 9, 16]
        assert all(threads == [1] * len(threads) for threads, _ in results)
    assert run_tasks(slow_identity, [(f"t{i}", (i,)) for i in range(5)], n_jobs=2) == list(range(5))


def test_a_failing_task_is_named():
    for n_jobs in (1, 2):
        with pytest.raises(TaskError, match=r"task \(x = 3\) failed: ValueError: three is not allowed"):
            run_tasks(fail_on_three, [(f"(x = {i})", (i,)) for i in range(5)], n_jobs=n_jobs)


def test_n_jobs_is_checked():
    assert check_n_jobs(None) is None and check_n_jobs(-1) == -1 and check_n_jobs(np.int64(3)) == 3
    for bad in (0, -2, 1.5, True, "2"):
        with pytest.raises(ValueError, match="n_jobs must be None"):
            check_n_jobs(bad)


def test_the_engine_refuses_inconsistent_options():
    with pytest.raises(ValueError, match="backend must be one of"):
        Engine("spark")
    with pytest.raises(ValueError, match="for the dask backend"):
        Engine("loky", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="not both"):
        Engine("dask", scheduler="tcp://127.0.0.1:8786", cluster="local")
    with pytest.raises(ValueError, match="needs --scheduler ADDRESS or --cluster local"):
        Engine("dask")
    with pytest.raises(ValueError, match="jobs must be None"):
        Engine("loky", jobs=0)


def test_the_callers_joblib_context_is_honoured():
    """n_jobs=None follows parallel_config: the threading backend here, seen from inside the task."""
    import threading
    main = threading.get_ident()
    with parallel_config(backend="threading", n_jobs=2):
        idents = run_tasks(lambda_free_thread_id, [(f"t{i}", ()) for i in range(4)])
    assert main not in idents


def lambda_free_thread_id():
    import threading
    time.sleep(0.05)
    return threading.get_ident()


# ---- the same bits on every engine ----------------------------------------------------------------
def needs_dask():
    return pytest.importorskip("dask.distributed", reason="dask.distributed is not installed (numpyuq[dask])")


def moons_member(seed):
    from numpyuq.models import DeepResNet
    return DeepResNet(2, num_layers=2, num_hidden=16, seed=seed)


def small_ensemble_states(**fit_kwargs):
    from numpyuq.data import make_moons_data
    from numpyuq.uncertainty import DeepEnsemble
    x, y = make_moons_data(sample_size=100, seed=0)
    return DeepEnsemble(moons_member, size=3, seed=5).fit(x, y, epochs=3, batch_size=32, progress=False,
                                                          **fit_kwargs).state_dict()


def compare_rows(**config):
    from numpyuq.experiments.compare import CompareConfig, run_compare
    comparison = run_compare(CompareConfig(dataset="moons", seeds=2, fast=True, epochs=2, ensemble_size=2, **config),
                             progress=False, log=lambda *a: None)
    return {m: [{k: v for k, v in row.items() if not k.endswith(" s")} for row in rows]   # wall times differ
            for m, rows in comparison.rows.items()}


def assert_same_rows(a, b):
    assert a.keys() == b.keys()
    for method in a:
        for row_a, row_b in zip(a[method], b[method]):
            for key in row_a:
                assert row_a[key] == row_b[key] or (np.isnan(row_a[key]) and np.isnan(row_b[key])), (method, key)


@pytest.fixture(scope="module")
def sequential():
    return small_ensemble_states(n_jobs=1), compare_rows(jobs=1)


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_sequential_bits(sequential):
    needs_dask()
    states, rows = sequential
    with Engine("dask", jobs=2, cluster="local") as engine:
        assert len(engine.client.scheduler_info()["workers"]) == 2
        dask_states = small_ensemble_states()
        dask_rows = compare_rows()
    assert states.keys() == dask_states.keys()
    assert all(np.array_equal(states[k], dask_states[k]) for k in states)
    assert_same_rows(rows, dask_rows)
    loky_states = small_ensemble_states(n_jobs=2)
    assert all(np.array_equal(states[k], loky_states[k]) for k in states)


@pytest.mark.slow
def test_ray_gives_the_sequential_bits(sequential):
    pytest.importorskip("ray", reason="Ray is not installed")
    states, rows = sequential
    try:
        engine = Engine("ray", jobs=2).start()
    except ValueError as err:
        pytest.skip(f"Ray cannot start here: {err}")
    try:
        ray_states, ray_rows = small_ensemble_states(), compare_rows()
    finally:
        engine.close()
    assert all(np.array_equal(states[k], ray_states[k]) for k in states)
    assert_same_rows(rows, ray_rows)


def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def scheduler_and_workers(count, tmp_path):
    """`dask scheduler` and ``count`` `dask worker` processes on 127.0.0.1, stopped on exit."""
    distributed = needs_dask()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = os.path.dirname(sys.executable)
    logs = open(tmp_path / "cluster.log", "w")
    processes = [subprocess.Popen([os.path.join(bin_dir, "dask"), "scheduler", "--host", "127.0.0.1", "--port",
                                   str(port), "--no-dashboard"], stdout=logs, stderr=logs)]
    try:
        for i in range(count):
            processes.append(subprocess.Popen([os.path.join(bin_dir, "dask"), "worker", address, "--nthreads", "1",
                                               "--host", "127.0.0.1", "--no-dashboard", "--no-nanny", "--name", f"w{i}"],
                                              stdout=logs, stderr=logs))
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(count, timeout=60)
        yield address, processes
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait(timeout=30)
        logs.close()


def wait_for_a_busy_worker(client, deadline):
    """The index of a worker (named w<i>) that is running a task, once one is."""
    while time.perf_counter() < deadline:
        workers = client.scheduler_info()["workers"]
        busy = [workers[address]["name"] for address, tasks in client.processing().items()
                if tasks and address in workers]
        if busy:
            return int(str(busy[0])[1:])
        time.sleep(0.05)
    raise AssertionError("no worker took a task")


def cli_csv_rows(path):
    """The CSV's rows but the wall-time metrics."""
    return [line for line in path.read_text().splitlines() if ",train s," not in line and ",predict s," not in line]


@pytest.mark.slow
def test_the_cli_on_a_separate_scheduler_survives_a_killed_worker(tmp_path):
    argv = ["compare", "--dataset", "moons", "--seeds", "2", "--fast", "--no-progress"]
    local = tmp_path / "local"
    subprocess.run([sys.executable, "-m", "numpyuq.cli", *argv, "--jobs", "1", "--out", str(local)], check=True,
                   capture_output=True, timeout=300)
    with scheduler_and_workers(2, tmp_path) as (address, processes):
        remote = tmp_path / "remote"
        run = subprocess.Popen([sys.executable, "-m", "numpyuq.cli", *argv, "--scheduler", address,
                                "--out", str(remote)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            with needs_dask().Client(address, timeout="30s") as client:
                busy = wait_for_a_busy_worker(client, deadline=time.perf_counter() + 120)
            processes[1 + busy].kill()                # a worker dies with a task in hand
            out, err = run.communicate(timeout=300)
        finally:
            run.kill()
            run.wait(timeout=30)
        assert run.returncode == 0, err[-2000:]
    assert cli_csv_rows(remote / "compare_moons.csv") == cli_csv_rows(local / "compare_moons.csv")


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_clear_error_within_seconds(tmp_path, capsys):
    needs_dask()
    from numpyuq.cli import main
    address = f"tcp://127.0.0.1:{free_port()}"          # nobody listens there
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--fast", "--scheduler", address, "--out", str(tmp_path / "never"), "--no-progress"])
    assert exit_info.value.code == 2 and time.perf_counter() - start < 15
    message = capsys.readouterr().err
    assert address in message and "no Dask scheduler answered" in message
    assert not (tmp_path / "never").exists()


def test_on_result_sees_every_task_as_it_finishes():
    seen = []
    results = run_tasks(slow_identity, [(f"t{i}", (i,)) for i in range(5)], n_jobs=2,
                        on_result=lambda index, result: seen.append((index, result)))
    assert results == list(range(5)) and sorted(seen) == [(i, i) for i in range(5)]
