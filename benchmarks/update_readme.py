"""Regenerate the README's result blocks by running the commands that produce them.

Each block sits between ``<!-- begin: NAME -->`` and ``<!-- end: NAME -->`` in README.md or in
docs/performance.md (the benchmarks) and is replaced by the command's output, headed by the command, the date, the machine and the PyTorch
version, so that no number in the README is typed by hand.

    python benchmarks/update_readme.py                 # every block (about an hour on 2 cores; the
                                                       # reproduction is 35 minutes of it)
    python benchmarks/update_readme.py edl-digits28    # one block
"""
import datetime
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
PY = sys.executable
BLOCKS = {
    "edl-digits28": [PY, "-m", "numpyuq.cli", "evidential", "--dataset", "digits28", "--baseline",
                     "--out", "evidential_output", "--no-progress"],
    "edl-fashion": [PY, "-m", "numpyuq.cli", "evidential", "--dataset", "fashion-mnist", "--baseline",
                    "--out", "evidential_output", "--no-progress"],
    "bench-moons": [PY, "benchmarks/moons.py", "--rounds", "3"],
    "bench-lenet": [PY, "benchmarks/lenet.py", "--rounds", "3", "--profile"],
    "bench-evidential": [PY, "benchmarks/evidential.py", "--rounds", "2"],
    "compare-moons": [PY, "-m", "numpyuq.cli", "compare", "--dataset", "moons", "--seeds", "5",
                      "--out", "docs/figures", "--no-progress"],
    "compare-digits28": [PY, "-m", "numpyuq.cli", "compare", "--dataset", "digits28", "--seeds", "5",
                         "--out", "docs/figures", "--no-progress"],
    "ablation-moons": [PY, "-m", "numpyuq.cli", "compare", "--ablation", "--dataset", "moons", "--seeds", "5",
                       "--out", "docs/figures", "--no-progress"],
    "rounding": [PY, "benchmarks/rounding.py"],
    "bench-cluster": [PY, "benchmarks/cluster.py"],
    "reproduce-ub": [PY, "-m", "numpyuq.cli", "reproduce", "uncertainty-baselines", "--out", "reproduce_output",
                     "--no-progress"],
    "bench-lenet5": [PY, "benchmarks/lenet.py", "--model", "lenet5", "--rounds", "3", "--profile"],
    "reproduce-singles": [PY, "benchmarks/single_networks.py", "--out", "reproduce_output"],
    "gemm-threads": [PY, "benchmarks/gemm_threads.py"],
    "layer-threads": [PY, "benchmarks/layer_threads.py"],
    "cross-core": [PY, "benchmarks/cross_core.py", "--processes", "8"],
}
PAGES = ("README.md", "docs/performance.md")         # where the blocks live
# Blocks that show the Markdown table and the figures the command wrote, instead of its output.
FIGURES = {
    "compare-moons": ("docs/figures/compare_moons.md", ["moons_surfaces.png", "moons_own_uncertainty.png",
                                                        "moons_reliability.png"]),
    "ablation-moons": ("docs/figures/ablation_moons.md", ["ablation_moons.png"]),
    "reproduce-ub": ("docs/figures/reproduce_uncertainty_baselines.md", []),
    "compare-digits28": ("docs/figures/compare_digits28.md",
                         ["digits28_rotation.png", "digits28_entropy_cdf_digits_5-9.png",
                          "digits28_entropy_cdf_Fashion-MNIST.png", "digits28_reliability.png"]),
}


# The speed benchmarks run with the BLAS kernels OpenBLAS picks for the CPU: some machines here set
# OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) for older OpenBLAS builds, which slows a current one.
NATIVE_BLAS = ("bench-moons", "bench-lenet", "bench-evidential", "bench-cluster", "bench-lenet5", "gemm-threads",
               "layer-threads", "cross-core")
# Tables a command writes outside docs/figures (beside model files that are never committed): copied
# there, where the README and the site build read them.
COPIES = {"reproduce-ub": "reproduce_output/reproduce_uncertainty_baselines.md"}
FORCING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def environment(name):
    """The environment block ``name``'s command runs in."""
    return {k: v for k, v in os.environ.items() if not (name in NATIVE_BLAS and k in FORCING)}


def machine(env=None):
    """The machine, in one line, as the command's environment sees it (``benchmarks/machine.py``)."""
    out = subprocess.run([PY, str(ROOT / "benchmarks" / "machine.py")], capture_output=True, text=True,
                         env=env if env is not None else dict(os.environ))
    return out.stdout.strip().removeprefix("# machine: ")


def shown_lines(stdout):
    """The output without the figure paths and without per-epoch lines but each run's last."""
    lines = [line for line in stdout.splitlines() if not line.startswith("wrote ")]
    return [line for i, line in enumerate(lines)
            if not line.startswith("epoch ") or i + 1 == len(lines) or not lines[i + 1].startswith("epoch ")]


def run(name, page="README.md"):
    command = BLOCKS[name]
    start = datetime.datetime.now(datetime.timezone.utc)
    env = environment(name)
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise SystemExit(f"{name}: {' '.join(command)} failed:\n{out.stderr[-3000:]}")
    shown = " ".join(["python"] + command[1:]).replace("python -m numpyuq.cli", "numpyuq")
    minutes = (datetime.datetime.now(datetime.timezone.utc) - start).total_seconds() / 60
    unset = " ".join(f"-u {k}" for k in FORCING if k in os.environ and k not in env)
    shown = f"env {unset} {shown}" if unset else shown
    header = f"`{shown}` on {start:%Y-%m-%d}, {machine(env)} ({minutes:.1f} min):\n\n"
    if name in COPIES:                   # the site reads the copy: it carries the header too
        copy = header + (ROOT / COPIES[name]).read_text().strip() + "\n"
        (ROOT / FIGURES[name][0]).write_text(copy)
        return copy.strip()
    if name in FIGURES:
        table, images = FIGURES[name]
        folder = "figures" if page.startswith("docs/") else "docs/figures"      # relative to the page
        links = [f"![{image[:-4]}]({folder}/{image})" for image in images if (ROOT / "docs/figures" / image).exists()]
        return header + (ROOT / table).read_text().strip() + "\n\n" + "\n".join(links)
    return header + "```text\n" + "\n".join(shown_lines(out.stdout)).strip() + "\n```"


def main():
    names = sys.argv[1:] or list(BLOCKS)
    unknown = [n for n in names if n not in BLOCKS]
    if unknown:
        raise SystemExit(f"unknown blocks {unknown}; known: {list(BLOCKS)}")
    for name in names:
        pattern = re.compile(rf"(<!-- begin: {re.escape(name)} -->\n).*?(\n<!-- end: {re.escape(name)} -->)", re.S)
        pages = [page for page in PAGES if pattern.search((ROOT / page).read_text())]
        if not pages:
            raise SystemExit(f"no page of {PAGES} has a block {name}")
        print(f"running {name} ...", flush=True)
        body = run(name, pages[0])
        path = ROOT / pages[0]
        path.write_text(pattern.sub(lambda m: m.group(1) + body + m.group(2), path.read_text()))
        print(body, flush=True)


if __name__ == "__main__":
    main()
