"""Run the benchmarks and print one table of medians and ratios.

    python -m benchmarks.run              # all suites, every library on one core
    python -m benchmarks.run grad vmap    # some suites
    python -m benchmarks.run checkpoint   # peak memory of grad of a scan, with checkpoint
    python -m benchmarks.run --write      # also write BENCHMARKS.md
    python -m benchmarks.run --cores all  # no limit (on a machine whose cores are idle)
    python -m benchmarks.run jit --openblas-coretype auto --write BENCHMARKS-openblas-auto.md

Quote ratios from one run, not absolute times: the machines are shared and noisy.

Threads. Every library gets the same cores. ``OPENBLAS_NUM_THREADS=1`` alone does not do that:
it limits NumPy, Numba and funcad's BLAS calls, but JAX's XLA runs its own thread pool
(measured: 1.5-1.8 cores busy in ``jax.jit`` of the MLP step and of the 10**6-element fused
functions, 1.0 for everything else), and jax 0.10 ignores the old XLA_FLAGS thread options.
So by default the whole process is pinned to one CPU (``os.sched_setaffinity``) as well. With
``--cores all`` nothing is limited: fair when the cores are idle (CI), but multi-threaded
OpenBLAS spins badly when another process holds a core (a 100x100 matmul took 30 ms with two
threads under load, 40 us with one; the MLP step 33-70 ms instead of 4.5).

BLAS kernels. NumPy, and Numba (so funcad's ``jit``) through SciPy, call OpenBLAS, which picks
its kernels for the CPU when it loads unless ``OPENBLAS_CORETYPE`` names a set. The Machine
line reports the set in use. (The machines of this project set ``OPENBLAS_CORETYPE=Haswell``
in the environment: AVX2 kernels on a CPU with AVX-512, where OpenBLAS would choose its
``SkylakeX`` ones; XLA is not affected.) ``--openblas-coretype NAME`` sets it for the run
before NumPy loads; ``--openblas-coretype auto`` removes it, leaving the choice to OpenBLAS.
"""
from __future__ import annotations

import os
import sys

_ALL_CORES = "--cores=all" in sys.argv or any(
    a == "--cores" and sys.argv[i + 1:i + 2] == ["all"] for i, a in enumerate(sys.argv))
for _i, _a in enumerate(sys.argv):   # before NumPy loads OpenBLAS
    if _a == "--openblas-coretype" and _i + 1 < len(sys.argv):
        if sys.argv[_i + 1] == "auto":
            os.environ.pop("OPENBLAS_CORETYPE", None)
        else:
            os.environ["OPENBLAS_CORETYPE"] = sys.argv[_i + 1]
if not _ALL_CORES:   # before NumPy loads BLAS and before JAX starts its threads
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

import argparse  # noqa: E402
import importlib  # noqa: E402
import importlib.metadata  # noqa: E402
import platform  # noqa: E402

import numpy as np

from benchmarks.harness import run_case, table

SUITES = ["grad", "vmap", "jit", "control", "checkpoint", "fft"]


def versions() -> str:
    import numba
    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
             f"Numba {numba.__version__}"]
    for name in ("jax", "autograd"):
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            info = {k.strip(): v for k, v in (line.split(":", 1) for line in f if ":" in line)}
        return (f"{info['model name'].strip()} (family {int(info['cpu family']):#x}, "
                f"{'AVX-512' if 'avx512f' in info.get('flags', '') else 'no AVX-512'})")
    except (OSError, KeyError, ValueError):
        return platform.processor() or "cpu"


def openblas_core() -> str:
    """The kernel set NumPy's OpenBLAS uses, and whether the environment named it."""
    import ctypes
    import glob
    libs = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    core = "?"
    for path in glob.glob(os.path.join(libs, "*openblas*")):
        for name in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
            fn = getattr(ctypes.CDLL(path), name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                core = fn().decode()
    named = os.environ.get("OPENBLAS_CORETYPE")
    return f"{core} ({'OPENBLAS_CORETYPE=' + named if named else 'chosen by OpenBLAS'})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("suites", nargs="*", default=SUITES)
    p.add_argument("--write", nargs="?", const="BENCHMARKS.md", metavar="FILE",
                   help="write the table to FILE (default BENCHMARKS.md) and the numbers to "
                        "FILE with .json")
    p.add_argument("--openblas-coretype", metavar="NAME",
                   help="set OPENBLAS_CORETYPE, or 'auto' to unset it (see above)")
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--cores", choices=["1", "all"], default="1",
                   help="run every library on one core (default) or on all of them")
    args = p.parse_args(argv)
    cases = []
    for s in args.suites:
        try:
            mod = importlib.import_module(f"benchmarks.bench_{s}")
        except ModuleNotFoundError as e:
            print(f"(suite {s} not available: {e})", file=sys.stderr)
            continue
        for c in mod.cases():
            print(f"running {c.name} ...", file=sys.stderr, flush=True)
            cases.append(run_case(c, repeat=args.repeat))
    used = "all cores" if _ALL_CORES else "every library pinned to one core"
    machine = (f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores ({used}); "
               f"OpenBLAS kernels: {openblas_core()}; {versions()}")
    out = f"Machine: {machine}\n\n{table(cases)}\n"
    print(out)
    if args.write:
        import json
        with open(os.path.splitext(args.write)[0] + ".json", "w") as f:
            json.dump([{"name": c.name, "baseline": c.baseline, "note": c.note,
                        "results": c.results} for c in cases], f, indent=1)
        with open(args.write, "w") as f:
            f.write(f"# Benchmarks\n\nProduced by `python -m benchmarks.run "
                    f"{' '.join(sys.argv[1:])}` (medians; ratios are what to quote, absolute "
                    f"times vary on shared machines).\n\n")
            f.write(out)
            if args.write == "BENCHMARKS.md":
                f.write("\n![ratios](benchmarks/ratios.png)\n\n(`python -m benchmarks.plot` "
                        "draws the figure from BENCHMARKS.json.)\n")
    return cases


if __name__ == "__main__":
    main()
