"""Memory of reverse mode: ``grad`` of a 1,000-step ``scan``, with and without ``checkpoint``.

The scan carries a vector of ``WIDTH`` float64 values; each step applies a few elementwise
operations (``tanh``, ``sin``, ``cos``, products), so without a checkpoint reverse mode
stores several intermediates per step, stacked over the 1,000 steps, while with
``funcad.checkpoint`` on the body it stores one carry per step and recomputes the rest in
the backward pass. Each variant runs in a fresh process (``python -m
benchmarks.bench_checkpoint --one MODE VARIANT``): a warm-up call at 10 steps (tracing,
compiling or loading the compiled code, which a new length reuses), then the peak resident
set size during one call at 1,000 steps, above the size just before it (Linux: the peak is
reset through ``/proc/self/clear_refs``), and, eagerly, the peak of NumPy's allocations
traced by ``tracemalloc`` (which does not see the arrays of compiled code). The time of
the call is reported too: the recomputation's price.

    python -m benchmarks.bench_checkpoint        # the table
    python -m benchmarks.run checkpoint          # as a suite of the common runner
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from benchmarks.harness import Case, fmt_bytes, fmt_time

STEPS, WIDTH = 1000, 4000
MODES = ("eager", "jit")
VARIANTS = ("plain", "checkpoint")


def _loss(checkpointed: bool):
    import funcad
    import funcad.numpy as fnp
    from funcad import lax

    def body(c, x):
        h = fnp.tanh(c * 0.9 + x)
        h = fnp.sin(h) * fnp.cos(h) * h + 0.1 * c
        return h, fnp.sum(h * h)

    step = funcad.checkpoint(body) if checkpointed else body

    def loss(c0, xs):
        c, ys = lax.scan(step, c0, xs)
        return fnp.sum(c) + fnp.sum(ys)
    return loss


def _rss(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def measure_one(mode: str, variant: str, steps: int = STEPS, width: int = WIDTH) -> dict:
    """Run in this (fresh) process: peak memory and time of one grad call."""
    import funcad
    g = funcad.grad(_loss(variant == "checkpoint"))
    if mode == "jit":
        g = funcad.jit(g)
    rng = np.random.default_rng(0)
    c0, xs = rng.uniform(-1, 1, width), rng.uniform(-1, 1, (steps, width))
    g(c0, xs[:10])
    out = {}
    if mode == "eager":
        tracemalloc.start()
        g(c0, xs)
        out["tracemalloc"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    base = _rss("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    result = g(c0, xs)
    out["seconds"] = time.perf_counter() - t0
    out["rss"] = _rss("VmHWM") - base
    out["checksum"] = float(np.sum(result))
    return out


def measure(mode: str, variant: str) -> dict:
    """``measure_one`` in a fresh process."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_checkpoint", "--one", mode,
                           variant], capture_output=True, text=True, env=env, cwd=root,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> dict:
    results = {}
    for mode in MODES:
        for variant in VARIANTS:
            print(f"checkpoint: {mode} {variant} ...", file=sys.stderr, flush=True)
            results[mode, variant] = measure(mode, variant)
    for mode in MODES:
        a, b = results[mode, "plain"]["checksum"], results[mode, "checkpoint"]["checksum"]
        assert abs(a - b) <= 1e-9 * max(1.0, abs(a)), (mode, a, b)
    return results


def memory_table(results: dict) -> str:
    lines = [f"grad of a {STEPS}-step scan over a f64[{WIDTH}] carry (stacked carries alone: "
             f"{fmt_bytes(STEPS * WIDTH * 8)})", "",
             "| mode | variant | peak RSS above start | peak tracemalloc | time |",
             "|---|---|---|---|---|"]
    for (mode, variant), r in results.items():
        tm = fmt_bytes(r["tracemalloc"]) if "tracemalloc" in r else "n/a (compiled)"
        lines.append(f"| {mode} | {variant} | {fmt_bytes(r['rss'])} | {tm} | "
                     f"{fmt_time(r['seconds'])} |")
    return "\n".join(lines)


def cases():
    """For benchmarks.run: the peak memory (bytes) and the time of each variant."""
    results = run()
    out = []
    for mode in MODES:
        c = Case(f"grad of a {STEPS}-step scan, f64[{WIDTH}] carry, {mode}: peak RSS", {},
                 "plain", "checkpoint keeps one carry per step (benchmarks/bench_checkpoint.py)",
                 unit="B")
        c.fixed = {v: results[mode, v]["rss"] for v in VARIANTS}
        t = Case(f"grad of a {STEPS}-step scan, f64[{WIDTH}] carry, {mode}: time", {}, "plain",
                 "checkpoint recomputes each step's intermediates")
        t.fixed = {v: results[mode, v]["seconds"] for v in VARIANTS}
        out += [c, t]
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure_one(sys.argv[2], sys.argv[3])))
    else:
        print(memory_table(run()))
