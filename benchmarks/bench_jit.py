"""jit: dispatch overhead, fused loops, compiled gradients, an MLP step, compile times.

Against NumPy, a hand-written ``numba.njit`` loop (the practical limit) and ``jax.jit``
(float64) when JAX is installed. See the module docstrings of funcad/codegen for what the
generated code looks like (``funcad.jit(f).lower(*args).source``).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import textwrap
import time

if __name__ == "__main__" and "--all-cores-child" in sys.argv and hasattr(
        os, "sched_setaffinity"):
    # before Numba is imported: it sizes its thread pool by this process's affinity
    os.sched_setaffinity(0, range(os.cpu_count()))

import numba  # noqa: E402
import numpy as np  # noqa: E402

import funcad  # noqa: E402
import funcad.numpy as fnp  # noqa: E402
from benchmarks.harness import Case  # noqa: E402
from benchmarks.optional import optional_import  # noqa: E402


def _jit():
    return getattr(funcad, "jit", None) or __import__(
        "funcad.interpreters.jit", fromlist=["jit"]).jit


def fused(m):
    def f(x):
        return m.sum(m.sin(x) ** 2 + m.cos(x) * x - m.tanh(x))
    return f


@numba.njit(cache=True, fastmath={"reassoc"})
def _fused_loop(x):
    s = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        s += math.sin(v) ** 2 + math.cos(v) * v - math.tanh(v)
    return s


@numba.njit(cache=True)
def _fused_grad_loop(x, out):
    for i in range(x.shape[0]):
        v = x[i]
        s, c, t = math.sin(v), math.cos(v), math.tanh(v)
        out[i] = 2 * s * c - s * v + c - (1 - t * t)
    return out


@numba.njit(cache=True)
def _axpb(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] * 2.0 + 1.0
    return out


@numba.njit(cache=True, fastmath={"reassoc"}, parallel=True)
def _fused_prange_loop(x):
    s = 0.0
    for i in numba.prange(x.shape[0]):
        v = x[i]
        s += math.sin(v) ** 2 + math.cos(v) * v - math.tanh(v)
    return s


def fused_variants(x, jit, jax, jnp, parallel: bool) -> dict:
    """The fused function's variants, each checked against NumPy once."""
    f = jit(fused(fnp))
    v = {"funcad.jit": lambda: f(x), "numba.njit loop": lambda: _fused_loop(x)}
    if parallel:
        fp = jit(fused(fnp), parallel=True)
        v["funcad.jit(parallel=True)"] = lambda: fp(x)
        v["numba.njit prange loop"] = lambda: _fused_prange_loop(x)
    if jax:
        jf = jax.jit(fused(jnp))
        v["jax.jit"] = lambda: jf(x).block_until_ready()
    ref = fused(np)(x)
    for g in v.values():
        np.testing.assert_allclose(float(g()), ref, rtol=1e-9)
    return v


def mlp(m):
    def loss(params, x, labels):
        w1, b1, w2, b2 = params
        h = m.tanh(m.dot(x, w1) + b1)
        z = m.dot(h, w2) + b2
        z = z - m.max(z, axis=1, keepdims=True)
        logp = z - m.log(m.sum(m.exp(z), axis=1, keepdims=True))
        return -m.mean(m.sum(logp * labels, axis=1))
    return loss


def cases():
    jit = _jit()
    jax = optional_import("jax", x64=True)
    jnp = optional_import("jax.numpy") if jax else None
    out = []

    # 1. dispatch
    x10 = np.linspace(0, 1, 10)
    f1 = jit(lambda x: x * 2.0 + 1.0)
    buf = np.empty(10)
    v = {"funcad.jit": lambda: f1(x10), "NumPy": lambda: x10 * 2.0 + 1.0,
         "numba.njit loop": lambda: _axpb(x10, buf)}
    np.testing.assert_allclose(f1(x10), x10 * 2 + 1)
    if jax:
        j1 = jax.jit(lambda x: x * 2.0 + 1.0)
        v["jax.jit"] = lambda: j1(x10).block_until_ready()
    out.append(Case("dispatch: x*2+1, n=10", v, "jax.jit" if jax else "NumPy",
                    "goal: funcad.jit at most 0.5x of jax.jit"))

    # 2. fused elementwise + reduction
    x = np.random.default_rng(0).uniform(-3, 3, 10**6)
    v = fused_variants(x, jit, jax, jnp, parallel=False)
    v["NumPy"] = lambda: fused(np)(x)
    out.append(Case("fused sum(sin^2 + cos*x - tanh), n=1e6", v, "numba.njit loop",
                    "goal: funcad.jit <= jax.jit and within 1.2x of the hand loop"))
    out.append(all_cores_case())

    # 3. compiled gradient
    gf = jit(funcad.grad(fused(fnp)))
    gbuf = np.empty_like(x)
    np.testing.assert_allclose(gf(x), _fused_grad_loop(x, gbuf), rtol=1e-9, atol=1e-12)
    v = {"funcad.jit(grad)": lambda: gf(x), "numba.njit loop (by hand)":
         lambda: _fused_grad_loop(x, gbuf)}
    if jax:
        jg = jax.jit(jax.grad(fused(jnp)))
        v["jax.jit(jax.grad)"] = lambda: jg(x).block_until_ready()
    out.append(Case("grad of the fused function, n=1e6", v,
                    "jax.jit(jax.grad)" if jax else "numba.njit loop (by hand)",
                    "goal: funcad at least as fast as jax"))

    # 4. MLP value_and_grad
    rng = np.random.default_rng(1)
    params = (rng.normal(size=(784, 512)) * 0.03, np.zeros(512),
              rng.normal(size=(512, 10)) * 0.03, np.zeros(10))
    xb = rng.normal(size=(256, 784))
    labels = np.eye(10)[rng.integers(0, 10, 256)]
    vg = jit(funcad.value_and_grad(mlp(fnp)))
    v = {"funcad.jit(value_and_grad)": lambda: vg(params, xb, labels),
         "funcad value_and_grad (eager)":
             lambda g=funcad.value_and_grad(mlp(fnp)): g(params, xb, labels)}
    if jax:
        jvg = jax.jit(jax.value_and_grad(mlp(jnp)))
        val_j, _ = jvg(params, xb, labels)
        np.testing.assert_allclose(vg(params, xb, labels)[0], float(val_j), rtol=1e-9)
        v["jax.jit(value_and_grad)"] = lambda: jax.block_until_ready(jvg(params, xb, labels))
    out.append(Case("MLP 784-512-10 value_and_grad, batch 256", v,
                    "jax.jit(value_and_grad)" if jax else "funcad.jit(value_and_grad)",
                    "goal: funcad at least as fast as jax"))

    out.append(compile_time_case())
    return out


_COMPILE_SCRIPT = textwrap.dedent("""
    import time, numpy as np
    t0 = time.perf_counter()
    import funcad, funcad.numpy as fnp
    jit = getattr(funcad, "jit", None) or __import__("funcad.interpreters.jit",
                                                     fromlist=["jit"]).jit
    def f(x):
        for k in range(10):  # 50 operations
            x = fnp.sin(x) * 0.9 + fnp.cos(x) * 0.1 - x * 0.01
        return x
    x = np.linspace(0, 1, 100)
    t1 = time.perf_counter()
    jit(f)(x)
    print(time.perf_counter() - t1)
""")


def compile_time_case():
    """Compile time of a 50-operation function: cold (empty cache) and warm (a new process
    reading the on-disk cache). Measured once each, in subprocesses."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, FUNCAD_CACHE_DIR=d)
        run = lambda: float(subprocess.run(  # noqa: E731
            [sys.executable, "-c", _COMPILE_SCRIPT], env=env, capture_output=True, text=True,
            check=True).stdout.split()[-1])
        cold, warm = run(), run()
    c = Case("first call of jit(f), 50 ops: cold vs warm disk cache", {}, "cold")
    c.fixed = {"cold": cold, "warm (new process)": warm}
    return c


def all_cores_case():
    """parallel=True needs every core, but the default run pins this process to one (see
    benchmarks/run.py). So this case runs in a child process that is given all the cores, and
    there JAX's thread pool gets them too. The child prints the medians as JSON."""
    c = Case(f"fused sum(...), n=1e6, all {os.cpu_count()} cores, in a child process", {},
             "jax.jit" if optional_import("jax") else "funcad.jit",
             "goal: parallel=True faster than serial funcad.jit")
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_jit", "--all-cores-child"],
                         capture_output=True, text=True, check=True).stdout
    c.fixed = json.loads(out.splitlines()[-1])
    return c


def _all_cores_child():
    from benchmarks.harness import time_call
    jax = optional_import("jax", x64=True)
    jnp = optional_import("jax.numpy") if jax else None
    x = np.random.default_rng(0).uniform(-3, 3, 10**6)
    v = fused_variants(x, _jit(), jax, jnp, parallel=True)
    print(json.dumps({label: time_call(fn) for label, fn in v.items()}))


if __name__ == "__main__" and "--all-cores-child" in sys.argv:
    _all_cores_child()
