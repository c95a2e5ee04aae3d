"""Eager (unjitted) reverse mode: funcad.grad against HIPS autograd (and jax.grad, unjitted).

* a chain of 100 elementwise operations on a 10-element array;
* the loss of a small MLP (16-32-8, tanh, softmax cross-entropy, batch 8).
"""
from __future__ import annotations

import numpy as np

import funcad
import funcad.numpy as fnp
from benchmarks.harness import Case
from benchmarks.optional import optional_import


def chain(m):
    def f(x):
        for _ in range(25):  # 4 operations per step: 100 in all
            x = m.sin(x) * 1.01 + m.tanh(x) - x * 0.1
        return m.sum(x)
    return f


def mlp_loss(m, log_softmax):
    def loss(params, x, labels):
        w1, b1, w2, b2 = params
        h = m.tanh(m.dot(x, w1) + b1)
        logits = m.dot(h, w2) + b2
        return -m.mean(m.sum(log_softmax(logits) * labels, axis=1))
    return loss


def _log_softmax(m):
    def ls(z):
        z = z - m.max(z, axis=1, keepdims=True)
        return z - m.log(m.sum(m.exp(z), axis=1, keepdims=True))
    return ls


def cases():
    ag = optional_import("autograd")
    jax = optional_import("jax", x64=True)
    out = []

    x = np.linspace(-1, 1, 10)
    v = {"funcad.grad": lambda g=funcad.grad(chain(fnp)): g(x)}
    ref = v["funcad.grad"]()
    if ag:
        import autograd.numpy as anp
        ga = ag.grad(chain(anp))
        np.testing.assert_allclose(ga(x), ref, rtol=1e-10)
        v["autograd.grad"] = lambda ga=ga: ga(x)
    if jax:
        import jax.numpy as jnp
        gj = jax.grad(chain(jnp))
        np.testing.assert_allclose(gj(x), ref, rtol=1e-10)
        v["jax.grad (no jit)"] = lambda gj=gj: gj(x)
    out.append(Case("eager grad, 100-op chain, n=10", v,
                    "autograd.grad" if ag else "funcad.grad"))

    rng = np.random.default_rng(0)
    params = (rng.normal(size=(16, 32)) * 0.3, np.zeros(32), rng.normal(size=(32, 8)) * 0.3,
              np.zeros(8))
    xb = rng.normal(size=(8, 16))
    labels = np.eye(8)[rng.integers(0, 8, size=8)]
    gf = funcad.grad(mlp_loss(fnp, _log_softmax(fnp)))
    v = {"funcad.grad": lambda: gf(params, xb, labels)}
    ref = gf(params, xb, labels)
    if ag:
        import autograd.numpy as anp
        ga = ag.grad(mlp_loss(anp, _log_softmax(anp)))
        for a, b in zip(ga(params, xb, labels), ref):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        v["autograd.grad"] = lambda: ga(params, xb, labels)
    if jax:
        import jax.numpy as jnp
        gj = jax.grad(mlp_loss(jnp, _log_softmax(jnp)))
        v["jax.grad (no jit)"] = lambda: gj(params, xb, labels)
    out.append(Case("eager grad, MLP 16-32-8 loss, batch 8", v,
                    "autograd.grad" if ag else "funcad.grad"))
    return out
