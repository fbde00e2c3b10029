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
from machine import header  # noqa: E402


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
    """{(model, what): value} for every number of the EDL report, labelled by the words before it."""
    text = run(["evidential", "--dataset", "digits28", "--baseline", "--out", folder]
               + (["--epochs", "2"] if quick else []) + ["--threads", env.pop("_THREADS")], env)
    numbers, model = {}, None
    for line in text.splitlines():
        if line.startswith(("EDL:", "softmax:")):
            model = line.split(":")[0]
        if "rotated by" in line:                     # "0: 0.29, 30: 0.94, ..." by angle
            for angle, value in re.findall(r"(\d+): (\d+\.\d+)", line):
                numbers[(model, f"rotated by {angle} degrees")] = float(value)
        elif line.startswith(("EDL:", "softmax:", "  OOD")):
            for match in re.finditer(r"\d+\.\d+", line):
                words = re.sub(r"[^a-z0-9' ]", " ", line[:match.start()].lower()).split()
                numbers[(model, " ".join(words[-3:]))] = float(match.group())
    return numbers


def largest_differences(a, b):
    diffs = {key: abs(a[key] - b[key]) for key in a}
    worst = max(diffs, key=diffs.get)
    return max(diffs.values()), worst, len(diffs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few epochs: checks the script, not the numbers")
    args = parser.parse_args()
    print(header())
    print("pair of runs (same seed); numbers compared; largest |difference| (of which number)")
    with tempfile.TemporaryDirectory() as tmp:
        one = compare_numbers(os.path.join(tmp, "a"), {"OPENBLAS_NUM_THREADS": "1"}, args.quick)
        two = compare_numbers(os.path.join(tmp, "b"), {"OPENBLAS_NUM_THREADS": "2"}, args.quick)
        largest, worst, count = largest_differences(one, two)
        print(f"compare moons, BLAS on 1 vs 2 threads: every table number          {count:3d}  {largest:8.2g}  "
              f"({worst[0]}, {worst[1]})")
        one = evidential_numbers(os.path.join(tmp, "c"), {"_THREADS": "1"}, args.quick)
        two = evidential_numbers(os.path.join(tmp, "d"), {"_THREADS": "2"}, args.quick)
        rotation = {key for key in one if key[1].startswith("rotated by")}
        for label, keys in (("test-set numbers", set(one) - rotation), ("rotated test '1's, mean u", rotation)):
            largest, worst, count = largest_differences({k: one[k] for k in keys}, {k: two[k] for k in keys})
            print(f"evidential digits28, fit on 1 vs 2 threads: {label:26s} {count:3d}  {largest:8.2g}  "
                  f"({worst[0]}, {worst[1]})")


if __name__ == "__main__":
    main()
