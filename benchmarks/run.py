"""Run the benchmarks and print one table of medians and ratios.

    python -m benchmarks.run              # all suites
    python -m benchmarks.run grad vmap    # some suites
    python -m benchmarks.run --write      # also write BENCHMARKS.md

Quote ratios from one run, not absolute times: the machines are shared and noisy.
"""
from __future__ import annotations

import os

# Multi-threaded OpenBLAS spins on a shared 2-core machine (a 100x100 matmul took 30 ms with
# two threads under load, 40 us with one); measure every library single-threaded in BLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib
import platform
import sys

import numpy as np

from benchmarks.harness import run_case, table

SUITES = ["grad", "vmap", "jit", "control"]


def versions() -> str:
    import numba
    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
             f"Numba {numba.__version__}"]
    for name in ("jax", "autograd"):
        try:
            mod = importlib.import_module(name)
            parts.append(f"{name} {getattr(mod, '__version__', '?')}")
        except Exception:
            parts.append(f"{name} not installed")
    return ", ".join(parts)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("suites", nargs="*", default=SUITES)
    p.add_argument("--write", action="store_true", help="write BENCHMARKS.md")
    p.add_argument("--repeat", type=int, default=7)
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
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}, " \
              f"{__import__('os').cpu_count()} cores; {versions()}"
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
