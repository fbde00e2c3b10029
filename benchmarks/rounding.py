"""How far do the README's result blocks move with the thread count? By float rounding alone.

The same command, the same seed, run twice in fresh processes that differ only in how many threads
do the arithmetic: BLAS sums a product in another order, and a batch split over threads sums its
gradient in another order. Each difference is a rounding of about 1e-7 relative in float32; training
compounds them over hundreds of steps. This prints, for each run pair, the largest difference of
every number the result block shows.

    python benchmarks/rounding.py            # about 2 minutes on 2 cores
    python benchmarks/rounding.py --quick    # a smoke run
"""
import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from update_readme import machine  # noqa: E402


def run(args, env):
    out = subprocess.run([sys.executable, "-m", "numpyuq.cli", *args, "--no-progress"], capture_output=True, text=True,
                         env=dict(os.environ, **env))
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return out.stdout


def compare_numbers(folder, env, quick):
    run(["compare", "--dataset", "moons", "--out", folder, "--jobs", "1"] + (["--fast"] if quick else []), env)
    with open(os.path.join(folder, "compare_moons.csv")) as f:
        rows = [row for row in csv.reader(line for line in f if not line.startswith("#"))][1:]
    return {(row[0], row[1]): float(row[2]) for row in rows if not row[1].endswith(" s")}


def evidential_numbers(folder, env, quick):
    text = run(["evidential", "--dataset", "digits28", "--baseline", "--out", folder]
               + (["--epochs", "2"] if quick else []) + ["--threads", env.pop("_THREADS")], env)
    numbers, model = {}, None
    for line in text.splitlines():
        if line.startswith(("EDL:", "softmax:")):
            model = line.split(":")[0]
        if line.startswith(("EDL:", "softmax:", "  OOD", "  own uncertainty")):
            for value in re.findall(r"\d+\.\d+", line):
                numbers[(model, len([k for k in numbers if k[0] == model]))] = float(value)
    return numbers


def largest_differences(a, b):
    diffs = {key: abs(a[key] - b[key]) for key in a}
    worst = max(diffs, key=diffs.get)
    return max(diffs.values()), worst, len(diffs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few epochs: checks the script, not the numbers")
    args = parser.parse_args()
    print(f"# {machine()}")
    print("pair of runs (same seed)                          numbers  largest |difference|  (of)")
    with tempfile.TemporaryDirectory() as tmp:
        one = compare_numbers(os.path.join(tmp, "a"), {"OPENBLAS_NUM_THREADS": "1"}, args.quick)
        two = compare_numbers(os.path.join(tmp, "b"), {"OPENBLAS_NUM_THREADS": "2"}, args.quick)
        largest, worst, count = largest_differences(one, two)
        print(f"compare moons, BLAS on 1 vs 2 threads          {count:8d}  {largest:20.2g}  ({worst[0]}, {worst[1]})")
        one = evidential_numbers(os.path.join(tmp, "c"), {"_THREADS": "1"}, args.quick)
        two = evidential_numbers(os.path.join(tmp, "d"), {"_THREADS": "2"}, args.quick)
        largest, worst, count = largest_differences(one, two)
        print(f"evidential digits28, fit on 1 vs 2 threads     {count:8d}  {largest:20.2g}  ({worst[0]} number {worst[1]})")


if __name__ == "__main__":
    main()
