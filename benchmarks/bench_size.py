"""Program size: trace, lower and compile time of jit for chains of 100 to 10,000 operations.

A *chain* is an unrolled Python loop, the way long programs reach ``jit`` in practice (a
simulation written step by step, a network of many layers). Two kinds:

* ``elementwise``: a cycle of ``sin``, ``* c``, ``+ c``, ``tanh`` and ``x * cos(x)`` (a value
  read twice), all fused into one loop whose body is the whole chain;
* ``reductions``: the same with ``x - mean(x)`` and ``x / (1 + max(|x|))`` every few steps, so
  the chain is many loop nests, each reading the reductions before it.

For each size the table gives the time to trace (``make_jaxpr``), to lower (jaxpr to Python
source, :func:`funcad.codegen.lower.lower_jaxpr`) and to compile (Numba, from a fresh cache
directory, up to the first result), and each step's growth over the size before (10x more
operations: 10.0x is linear). Each is measured once (a 10,000-operation compile takes minutes
on a shared machine), so quote ratios from one run.

    python -m benchmarks.bench_size               # 100, 1000, 10000 operations
    python -m benchmarks.bench_size 100 1000      # some sizes
    python -m benchmarks.run size                 # as a suite of the common runner
"""
from __future__ import annotations

import sys
import tempfile
import time

import numpy as np

import funcad
import funcad.numpy as fnp
from benchmarks.harness import Case, fmt_time

SIZES = (100, 1000, 10000)
KINDS = ("elementwise", "reductions")


def chain(n: int, kind: str = "elementwise", m=fnp):
    """A function of one 1-D array applying ``n`` operations in sequence (see the module
    docstring); ``m`` is the NumPy-like module (``funcad.numpy`` or ``numpy``)."""
    def f(x):
        for k in range(n):
            r = k % 5
            if kind == "reductions" and k % 10 == 9:
                x = x - m.mean(x)
            elif kind == "reductions" and k % 10 == 4:
                x = x / (1.0 + m.max(m.abs(x)))
            elif r == 0:
                x = m.sin(x)
            elif r == 1:
                x = x * 1.25
            elif r == 2:
                x = x + 0.5
            elif r == 3:
                x = m.tanh(x)
            else:
                x = x * m.cos(x)
        return x
    f.__name__ = f"chain_{kind}_{n}"
    return f


def measure(n: int, kind: str, x: np.ndarray) -> dict:
    """Seconds to trace, lower and compile the chain (compile: a fresh cache directory, up to
    the first result, which is checked against NumPy)."""
    from funcad.codegen.compile import compile_source
    from funcad.codegen.lower import lower_jaxpr
    f = chain(n, kind)
    t0 = time.perf_counter()
    closed = funcad.make_jaxpr(f)(x)
    t1 = time.perf_counter()
    low = lower_jaxpr(closed.jaxpr, name=f.__name__)
    t2 = time.perf_counter()
    fn = compile_source(low.source, low.fn_name, parallel=low.parallel)
    (out,) = fn(x, *low.extra_consts, *low.tail)
    t3 = time.perf_counter()
    np.testing.assert_allclose(out, chain(n, kind, np)(x), rtol=1e-9, atol=1e-12)
    return {"trace": t1 - t0, "lower": t2 - t1, "compile": t3 - t2,
            "eqns": len(closed.jaxpr.eqns), "lines": low.source.count("\n")}


def run(sizes=SIZES, kinds=KINDS) -> dict:
    """{(kind, n): measure(...)}, in a temporary cache directory (after one small compile, so
    that the fastmath kernels' one-time caching is not charged to the first size)."""
    x = np.linspace(-1.0, 1.0, 64)
    old = funcad.config.cache_dir
    results = {}
    with tempfile.TemporaryDirectory() as d:
        funcad.config.update("cache_dir", d)
        try:
            funcad.jit(chain(5))(x)
            for kind in kinds:
                for n in sizes:
                    print(f"size: {kind} {n} ...", file=sys.stderr, flush=True)
                    results[kind, n] = measure(n, kind, x)
                    print(f"size: {kind} {n}: {results[kind, n]}", file=sys.stderr,
                          flush=True)
        finally:
            funcad.config.update("cache_dir", old)
    return results


def size_table(results: dict) -> str:
    lines = ["| chain | operations | equations | source lines | trace | lower | compile |",
             "|---|---|---|---|---|---|---|"]
    prev: dict = {}
    for (kind, n), r in results.items():
        cells = []
        for step in ("trace", "lower", "compile"):
            t, p = r[step], prev.get((kind, step))
            grow = f" ({t / p[1]:.1f}x for {n / p[0]:.0f}x)" if p else ""
            cells.append(fmt_time(t) + grow)
            prev[kind, step] = (n, t)
        lines.append(f"| {kind} | {n} | {r['eqns']} | {r['lines']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cases():
    """For benchmarks.run: one case per chain kind, the times of each size measured once."""
    results = run()
    out = []
    for kind in KINDS:
        c = Case(f"jit of a {kind} chain: trace/lower/compile by size", {},
                 f"compile {SIZES[0]}", "goal: linear growth (see benchmarks/bench_size.py)")
        c.fixed = {f"{step} {n}": results[kind, n][step] for n in SIZES
                   for step in ("trace", "lower", "compile")}
        out.append(c)
    return out


if __name__ == "__main__":
    sizes = tuple(int(a) for a in sys.argv[1:]) or SIZES
    print(size_table(run(sizes)))
