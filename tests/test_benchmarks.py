"""The benchmark scripts run end to end in CI-size time (--quick); speed itself is never asserted."""
import os
import pathlib
import subprocess
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).parent.parent / "benchmarks"


def run_benchmark(script, *args, cwd=None, env=None):
    """Run benchmarks/<script> with its arguments (and ``env`` over this process's environment); fail
    with its stderr unless it exits 0."""
    out = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                         timeout=600, cwd=cwd, env=None if env is None else {**os.environ, **env})
    assert out.returncode == 0, out.stderr[-2000:]
    return out


@pytest.mark.parametrize("script, expected", [("moons.py", "numpyuq"),
                                              pytest.param("lenet.py", "images/s", marks=pytest.mark.slow),
                                              pytest.param("evidential.py", "test accuracy", marks=pytest.mark.slow)])
def test_benchmark_quick_produces_numbers(script, expected):
    """The benchmarks run in CI-size time with --quick; only that they report numbers is asserted."""
    out = run_benchmark(script, "--quick")
    assert expected in out.stdout and any(ch.isdigit() for ch in out.stdout)


@pytest.mark.slow
def test_the_cluster_benchmark_runs_three_engines_and_checks_their_bits():
    pytest.importorskip("dask.distributed", reason="dask.distributed is not installed (numpyuq[dask])")
    out = run_benchmark("cluster.py", "--quick").stdout
    assert out.count("same bits as sequential: yes") == 6 and out.count("Dask / loky") == 2


def test_compare_checkouts_runs_on_one_checkout_against_itself():
    root = str(BENCHMARKS.parent)
    out = run_benchmark("compare_checkouts.py", "--before", root, "--after", root, "--rounds", "1", "--only", "NCHW conv")
    assert out.stdout.count("after/before") == 2


@pytest.mark.slow
def test_rounding_measures_both_pairs_of_runs(tmp_path):
    """benchmarks/rounding.py (the README's rounding block) runs and reports both pairs."""
    out = run_benchmark("rounding.py", "--quick", cwd=tmp_path)
    assert "compare moons, BLAS on 1 vs 2 threads" in out.stdout and "evidential digits28" in out.stdout


@pytest.mark.slow
def test_lenet_profile_tables_run():
    """--profile prints the in-step per-layer table (with the loss and Adam rows) and the per-pass table."""
    out = run_benchmark("lenet.py", "--quick", "--profile")
    for line in ("per-layer profile, batch 64", "Adam step", "loss (forward + backward)",
                 "per-layer profile, batch 64 split over 2 threads", "threads meeting",
                 "conv 20->50: backward: rebuild cols + GEMM dw", "conv 1->20: direct convolution",
                 "conv 1->20: backward: direct dw"):
        assert line in out.stdout


@pytest.mark.slow
def test_the_subnormal_probe_runs_on_the_seeds_models(tmp_path):
    out = run_benchmark("subnormals.py", "--quick", cwd=tmp_path)
    assert out.stdout.startswith("# machine: ") and out.stdout.count("activations on one training pass") == 4
    assert "EDL LeNet with SGD (momentum 0.9)" in out.stdout


@pytest.mark.slow
def test_single_networks_reads_a_finished_reproduction(tmp_path):
    """benchmarks/single_networks.py (the README's reproduce-singles block) evaluates every network of
    the deterministic protocol that a (smoke) reproduction left on disk, and trains nothing."""
    from numpyuq.experiments.reproduce import load_data
    try:
        load_data(2000, 500, 500)
    except FileNotFoundError:
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "numpyuq.cli", "reproduce", "uncertainty-baselines", "--fast", "--jobs", "1",
                    "--out", str(out), "--no-progress"], check=True, capture_output=True, timeout=600)
    models = sorted(p.name for p in (out / "models").iterdir())
    printed = run_benchmark("single_networks.py", "--out", str(out)).stdout
    assert printed.startswith("# machine: ")
    assert [line.split()[:2] for line in printed.splitlines() if line.startswith(("deterministic ", "member "))] == \
        [["deterministic", "0"], ["member", "100"], ["member", "101"]]
    assert "3 networks: test NLL mean" in printed
    assert sorted(p.name for p in (out / "models").iterdir()) == models             # nothing retrained


def test_gemm_threads_compares_threads_with_processes():
    """benchmarks/gemm_threads.py runs every row, its worker processes included, and ends them."""
    out = run_benchmark("gemm_threads.py", "--size", "64", "--seconds", "0.05").stdout
    for row in ("one thread alone", "Python threads", "pinned", "processes", "threads / processes"):
        assert row in out


def test_dense_input_gradient_prints_every_cell():
    """benchmarks/dense_input_gradient.py prints a ratio for every layer and batch size, marking the
    cells where input_gradient takes the transposed form (8 N <= D and M >= 100)."""
    out = run_benchmark("dense_input_gradient.py", "--repeats", "1").stdout
    rows = [line.split() for line in out.splitlines() if " x " in line and line.strip()[0].isdigit()]
    layers = [(int(row[0]), int(row[2])) for row in rows]
    assert (800, 500) in layers and (1024, 2) in layers and all(len(row) == 3 + 5 for row in rows)
    marked = {(int(row[0]), int(row[2]), n) for row in rows
              for n, cell in zip((16, 32, 64, 128, 256), row[3:]) if cell.endswith("*")}
    assert marked == {(d, m, n) for d, m in layers for n in (16, 32, 64, 128, 256) if 8 * n <= d and m >= 100}


@pytest.mark.slow                       # two worker processes import numpyuq and compile its kernels
def test_layer_threads_times_each_convolution_three_ways(tmp_path):
    """benchmarks/layer_threads.py times every LeNet5 convolution alone, in threads and in processes,
    and leaves no start files behind."""
    out = run_benchmark("layer_threads.py", "--images", "2", "--steps", "2", env={"TMPDIR": str(tmp_path)})
    rows = [line for line in out.stdout.splitlines() if line.strip().startswith("Conv2D")]
    assert len(rows) == 3
    for row in rows:                    # name (three words), alone, threads, processes, their ratio
        assert len(row.split()) == 7 and all(float(value) > 0 for value in row.split()[3:])
    assert not list(tmp_path.iterdir())


def test_cross_core_prints_every_row_for_every_process():
    """benchmarks/cross_core.py (the performance page's cross-core block): one column per process."""
    from benchmarks.cross_core import ROWS
    out = run_benchmark("cross_core.py", "--processes", "2").stdout
    for row in ROWS:
        line = next(line for line in out.splitlines() if line.strip().startswith(row + " "))
        assert len(line[len(row) + 3:].split()) == 2, line
    assert "write cost across processes" in out
