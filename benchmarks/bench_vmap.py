"""Batching: per-example gradients and Jacobians in one batched pass.

* logistic regression, w in R^100, batch 1000: ``vmap(grad(loss), in_axes=(None, 0, 0))``
  against a Python loop of ``grad``, a hand-batched NumPy formula, and ``jax.vmap(jax.grad)``
  (unjitted) when JAX is installed;
* ``jacrev`` of a function R^100 -> R^100 against a Python loop of vjps.
"""
from __future__ import annotations

import numpy as np

import funcad
import funcad.numpy as fnp
from benchmarks.harness import Case
from benchmarks.optional import optional_import


def loss(m):
    def f(w, x, y):
        z = m.dot(x, w)
        return m.logaddexp(0.0, z) - y * z
    return f


def cases():
    jax = optional_import("jax", x64=True)
    rng = np.random.default_rng(0)
    n, d = 1000, 100
    w = rng.normal(size=d) / 10
    xs = rng.normal(size=(n, d))
    ys = (rng.random(n) < 0.5).astype(np.float64)
    pe = funcad.vmap(funcad.grad(loss(fnp)), in_axes=(None, 0, 0))
    g1 = funcad.grad(loss(fnp))
    by_hand = lambda: (1 / (1 + np.exp(-xs @ w)) - ys)[:, None] * xs  # noqa: E731
    np.testing.assert_allclose(pe(w, xs, ys), by_hand(), rtol=1e-9, atol=1e-12)
    v = {"funcad vmap(grad)": lambda: pe(w, xs, ys),
         "funcad loop of grad": lambda: [g1(w, xs[i], ys[i]) for i in range(n)],
         "NumPy by hand": by_hand}
    if jax:
        import jax.numpy as jnp
        pj = jax.vmap(jax.grad(loss(jnp)), in_axes=(None, 0, 0))
        v["jax vmap(grad) (no jit)"] = lambda: pj(w, xs, ys)
    out = [Case("per-example grads, logistic d=100, batch 1000", v, "funcad vmap(grad)")]

    A = rng.normal(size=(100, 100)) / 10

    def f(x):
        return fnp.tanh(fnp.dot(A, x)) * x

    x0 = rng.normal(size=100)
    jr = funcad.jacrev(f)

    def loop():
        y, vjp_fn = funcad.vjp(f, x0)
        return np.stack([vjp_fn(e)[0] for e in np.eye(100)])

    np.testing.assert_allclose(jr(x0), loop(), rtol=1e-9, atol=1e-12)
    v = {"funcad jacrev (vmap of vjp)": lambda: jr(x0), "funcad loop of vjps": loop}
    if jax:
        import jax.numpy as jnp
        Aj = jnp.asarray(A)
        jj = jax.jacrev(lambda x: jnp.tanh(Aj @ x) * x)
        v["jax.jacrev (no jit)"] = lambda: jj(x0)
    out.append(Case("jacrev R^100 -> R^100", v, "funcad jacrev (vmap of vjp)"))
    return out
