"""What machine a benchmark ran on: CPU model, instruction set, BLAS kernel, versions. Every benchmark
prints ``header()`` first, and ``benchmarks/update_readme.py`` puts ``summary()`` above every block,
so that a number is never read without the machine that produced it.

    python benchmarks/machine.py         # prints the header

The BLAS kernel matters as much as the CPU: OpenBLAS picks its kernels by CPU at load time, unless
``OPENBLAS_CORETYPE`` forces one (some machines here set it, for older OpenBLAS builds; the
benchmarks' README blocks run without it, and the header says which kernel ran).
"""
import os
import platform


def cpu_info():
    """(model name, family, model number, flags) from /proc/cpuinfo (empty on other systems)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in fields:
                    fields[key] = value.strip()
    except OSError:
        pass
    return (fields.get("model name", platform.processor() or platform.machine()), fields.get("cpu family", "?"),
            fields.get("model", "?"), set(fields.get("flags", "").split()))


def isa(flags):
    """The widest vector instruction set: AVX-512 (with VNNI/BF16 noted), AVX2, or SSE."""
    if "avx512f" in flags:
        extras = [name for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16")) if flag in flags]
        return "AVX-512" + (f" ({', '.join(extras)})" if extras else "")
    return "AVX2" if "avx2" in flags else "SSE"


def blas():
    """'openblas 0.3.31, kernel SkylakeX, 2 threads' (and the forcing variable, when set)."""
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl then reports)
    from threadpoolctl import threadpool_info
    libraries = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    if not libraries:
        return "BLAS unknown"
    info = libraries[0]
    text = f"{info['internal_api']} {info['version']}, kernel {info.get('architecture')}, {info['num_threads']} threads"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return text + (f" (forced by OPENBLAS_CORETYPE={forced})" if forced else "")


def peer():
    """The PyTorch version and the vector unit it dispatches to, or that it is not installed."""
    try:
        import torch
    except ImportError:
        return "PyTorch not installed"
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "?")()
    return f"PyTorch {torch.__version__} ({capability})"


def summary():
    """One line: CPU, family/model, ISA, cores, BLAS kernel, Python, PyTorch."""
    model, family, number, flags = cpu_info()
    return (f"{model} (family {family}, model {number}), {isa(flags)}, {os.cpu_count()} cores; {blas()}; "
            f"Python {platform.python_version()}; {peer()}")


def header():
    """The lines every benchmark prints first."""
    return f"# machine: {summary()}"


if __name__ == "__main__":
    print(header())
