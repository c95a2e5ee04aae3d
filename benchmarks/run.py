"""Run the benchmarks and print one table of medians and ratios.

    python -m benchmarks.run              # all suites, every library on one core
    python -m benchmarks.run grad vmap    # some suites
    python -m benchmarks.run --write      # also write BENCHMARKS.md
    python -m benchmarks.run --cores all  # no limit (on a machine whose cores are idle)

Quote ratios from one run, not absolute times: the machines are shared and noisy.

Threads. Every library gets the same cores. ``OPENBLAS_NUM_THREADS=1`` alone does not do that:
it limits NumPy, Numba and funcad's BLAS calls, but JAX's XLA runs its own thread pool
(measured: 1.5-1.8 cores busy in ``jax.jit`` of the MLP step and of the 10**6-element fused
functions, 1.0 for everything else), and jax 0.10 ignores the old XLA_FLAGS thread options.
So by default the whole process is pinned to one CPU (``os.sched_setaffinity``) as well. With
``--cores all`` nothing is limited: fair when the cores are idle (CI), but multi-threaded
OpenBLAS spins badly when another process holds a core (a 100x100 matmul took 30 ms with two
threads under load, 40 us with one; the MLP step 33-70 ms instead of 4.5).
"""
from __future__ import annotations

import os
import sys

_ALL_CORES = "--cores=all" in sys.argv or any(
    a == "--cores" and sys.argv[i + 1:i + 2] == ["all"] for i, a in enumerate(sys.argv))
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

SUITES = ["grad", "vmap", "jit", "control"]


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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("suites", nargs="*", default=SUITES)
    p.add_argument("--write", action="store_true", help="write BENCHMARKS.md")
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
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, " \
              f"{os.cpu_count()} cores ({used}); {versions()}"
    out = f"Machine: {machine}\n\n{table(cases)}\n"
    print(out)
    if args.write:
        import json
        with open("BENCHMARKS.json", "w") as f:
            json.dump([{"name": c.name, "baseline": c.baseline, "note": c.note,
                        "results": c.results} for c in cases], f, indent=1)
        with open("BENCHMARKS.md", "w") as f:
            f.write("# Benchmarks\n\nProduced by `python -m benchmarks.run --write` (medians; "
                    "ratios are what to quote, absolute times vary on shared machines).\n\n")
            f.write(out)
            f.write("\n![ratios](benchmarks/ratios.png)\n\n(`python -m benchmarks.plot` "
                    "draws the figure from BENCHMARKS.json.)\n")
    return cases


if __name__ == "__main__":
    main()
