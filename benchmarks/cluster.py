"""The same work on three engines, side by side: in this process, in local loky processes, and on a
two-worker Dask LocalCluster (one thread each, 127.0.0.1). Two workloads: a 10-member moons
ensemble (``DeepEnsemble.fit``) and a 3-seed moons comparison (``numpyuq compare``'s tasks). Prints
each wall time, Dask's overhead against loky (target: within 1.15x on 2 cores), and whether every
engine produced the same bits (state dicts; every table value but the wall times).

    python benchmarks/cluster.py            # the SNGP seed's budget (100 epochs): ~10 minutes on 2 cores
    python benchmarks/cluster.py --quick    # a smoke run
"""
import argparse
import os
import sys
import time

import numpy as np
from joblib import parallel_config

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import header  # noqa: E402


def ensemble(epochs, size):
    """(wall seconds, state dict) of a moons ensemble trained under the caller's joblib context."""
    import functools

    from numpyuq.data import make_moons_data
    from numpyuq.experiments.methods import make_network, make_optimizer
    from numpyuq.uncertainty import DeepEnsemble
    x, y = make_moons_data(seed=0)
    start = time.perf_counter()
    fitted = DeepEnsemble(functools.partial(make_network, "moons", 2), size=size,
                          make_optimizer=functools.partial(make_optimizer, "moons")).fit(x, y, epochs=epochs,
                                                                                        progress=False)
    return time.perf_counter() - start, fitted.state_dict()


def comparison(epochs, seeds, ensemble_size):
    """(wall seconds, table values but the wall times) of a moons comparison."""
    from numpyuq.experiments.compare import CompareConfig, run_compare
    start = time.perf_counter()
    result = run_compare(CompareConfig(dataset="moons", seeds=seeds, epochs=epochs, ensemble_size=ensemble_size),
                         progress=False, log=lambda *a: None)
    values = {(m, i, k): v for m, rows in result.rows.items() for i, row in enumerate(rows)
              for k, v in row.items() if not k.endswith(" s")}
    return time.perf_counter() - start, values


def same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return np.array_equal(a, b, equal_nan=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 epochs, 4 members, 2 seeds")
    args = parser.parse_args()
    from numpyuq.tasks import Engine

    epochs, size, seeds = (3, 4, 2) if args.quick else (100, 10, 3)
    print(header())
    print(f"moons: a {size}-member ensemble and a {seeds}-seed comparison (7 methods), {epochs} epochs; "
          "2 workers of one thread each for loky and Dask")
    workloads = {"ensemble": lambda: ensemble(epochs, size),
                 "comparison": lambda: comparison(epochs, seeds, size)}
    engines = {"sequential": lambda: parallel_config(backend="sequential"),
               "loky (2 processes)": lambda: Engine("loky", jobs=2),
               "Dask LocalCluster (2 workers)": lambda: Engine("dask", jobs=2, cluster="local")}
    for name, work in workloads.items():
        times, results = {}, {}
        for engine_name, engine in engines.items():
            with engine():
                work()                              # warm: worker start, imports, numba caches
                times[engine_name], results[engine_name] = work()
        reference = results["sequential"]
        print(f"\n{name}")
        for engine_name, seconds in times.items():
            print(f"  {engine_name:32s} {seconds:7.1f} s   same bits as sequential: "
                  f"{'yes' if same(results[engine_name], reference) else 'NO'}")
        ratio = times["Dask LocalCluster (2 workers)"] / times["loky (2 processes)"]
        print(f"  Dask / loky: {ratio:.2f}x (target <= 1.15x)")


if __name__ == "__main__":
    main()
