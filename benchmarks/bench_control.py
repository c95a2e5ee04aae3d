"""Structured control flow: the Lorenz system, explicit Euler, 1000 steps.

Forward time and the gradient of the final state's sum with respect to (sigma, rho, beta):
``funcad.jit`` with ``lax.fori_loop`` against ``jax.jit(jax.grad)`` with ``jax.lax.fori_loop``,
HIPS autograd with a Python loop, and a hand-written ``numba.njit`` forward loop (the limit).
"""
from __future__ import annotations

import numba
import numpy as np

import funcad
import funcad.numpy as fnp
from benchmarks.bench_jit import _jit
from benchmarks.harness import Case
from benchmarks.optional import optional_import

N, DT = 1000, 0.01
X0 = np.array([1.0, 1.0, 1.0])
P = np.array([10.0, 28.0, 8.0 / 3.0])


def make(m, fori):
    def rhs(s, p):
        return m.stack([p[0] * (s[1] - s[0]), s[0] * (p[1] - s[2]) - s[1],
                        s[0] * s[1] - p[2] * s[2]])

    def final(p):
        return fori(0, N, lambda i, s: s + DT * rhs(s, p), m.asarray(X0))

    return lambda p: m.sum(final(p))


def _python_fori(lo, hi, body, x):
    for i in range(lo, hi):
        x = body(i, x)
    return x


@numba.njit(cache=True)
def _lorenz_loop(p):
    x, y, z = 1.0, 1.0, 1.0
    for _ in range(N):
        dx, dy, dz = p[0] * (y - x), x * (p[1] - z) - y, x * y - p[2] * z
        x, y, z = x + DT * dx, y + DT * dy, z + DT * dz
    return x + y + z


def cases():
    jit = _jit()
    jax = optional_import("jax", x64=True)
    ag = optional_import("autograd")
    f = make(fnp, funcad.lax.fori_loop)
    ff, gf = jit(f), jit(funcad.grad(f))
    ref = _lorenz_loop(P)
    np.testing.assert_allclose(ff(P), ref, rtol=1e-10)
    fwd = {"funcad.jit (fori_loop)": lambda: ff(P), "numba.njit loop": lambda: _lorenz_loop(P)}
    grad = {"funcad.jit(grad) (fori_loop)": lambda: gf(P)}
    g_ref = gf(P)
    if jax:
        import jax.numpy as jnp
        fj = make(jnp, jax.lax.fori_loop)
        jf, jg = jax.jit(fj), jax.jit(jax.grad(fj))
        np.testing.assert_allclose(np.asarray(jg(P)), g_ref, rtol=1e-8)
        fwd["jax.jit (fori_loop)"] = lambda: jf(P).block_until_ready()
        grad["jax.jit(jax.grad) (fori_loop)"] = lambda: jg(P).block_until_ready()
    if ag:
        import autograd.numpy as anp
        fa = make(anp, _python_fori)
        ga = ag.grad(fa)
        np.testing.assert_allclose(ga(P), g_ref, rtol=1e-8)
        fwd["autograd (Python loop)"] = lambda: fa(P)
        grad["autograd.grad (Python loop)"] = lambda: ga(P)
    return [Case("Lorenz forward, 1000 Euler steps", fwd, "numba.njit loop",
                 "goal: funcad within 1.5x of the hand loop"),
            Case("Lorenz gradient wrt (sigma, rho, beta)", grad,
                 "jax.jit(jax.grad) (fori_loop)" if jax else "funcad.jit(grad) (fori_loop)",
                 "goal: funcad faster than jax")]
