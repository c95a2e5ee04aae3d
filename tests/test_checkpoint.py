"""funcad.checkpoint (remat): same derivatives, fewer residuals, under every transformation.

Gradients are compared with the un-checkpointed function and with central differences; what
reverse mode saves is read with ``funcad.ad_checkpoint.saved_residuals`` (an abstract trace
of linearize) and from the linear jaxpr of ``linearize``. The generic harness
(tests/test_primitives.py, tests/test_jit.py) drives ``checkpoint_p``, ``name_p`` and
``optimization_barrier_p`` through their declared test cases as well.
"""
from __future__ import annotations

import functools
import tracemalloc

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.ad_checkpoint import print_saved_residuals, saved_residuals
from funcad.codegen.lower import lower_jaxpr
from funcad.interpreters.jaxpr_util import hoist

cp = funcad.checkpoint_policies
RNG = np.random.default_rng(0)
W = RNG.normal(size=(6, 6)) / 3
X = RNG.uniform(0.2, 1.0, 6)
XS = RNG.normal(size=(50, 6))


def chain(x):
    return fnp.sum(fnp.sin(fnp.sin(x)) * fnp.cos(x))


def mlp(w, x):
    h = fnp.tanh(w @ x)
    h = funcad.checkpoint_name(h, "h")
    g = funcad.checkpoint_name(fnp.sin(w @ h), "g")
    return fnp.sum(g * h)


def body(c, x):
    h = fnp.tanh(W @ c + x)
    h = fnp.sin(h) * h
    return h, fnp.sum(h * h)


def scan_loss(c0, xs, b=body):
    c, ys = lax.scan(b, c0, xs)
    return fnp.sum(c) + fnp.sum(ys)


def fd_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = eps
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def kinds(f, *args):
    return [d for _, d in saved_residuals(f, *args)]


POLICIES = [None, cp.nothing_saveable, cp.everything_saveable, cp.dots_saveable,
            cp.dots_with_no_batch_dims_saveable, cp.save_only_these_names("h"),
            cp.save_any_names_but_these("g"), cp.save_anything_except_these_names("h"),
            cp.save_from_both_policies(cp.dots_saveable, cp.save_only_these_names("g"))]


# ---------------------------------------------------------------------------------------------
# Values and gradients

def test_public_names():
    assert funcad.remat is funcad.checkpoint
    assert funcad.ad_checkpoint.checkpoint is funcad.checkpoint
    assert funcad.checkpoint_name is funcad.ad_checkpoint.checkpoint_name
    assert cp.checkpoint_dots is cp.dots_saveable
    assert cp.checkpoint_dots_with_no_batch_dims is cp.dots_with_no_batch_dims_saveable
    assert lax.optimization_barrier((X, 2.0))[0] is X


def test_eager_value_with_pytrees_and_kwargs():
    def f(d, scale=1.0):
        return {"s": fnp.sin(d["a"]) * scale, "t": (d["b"] ** 2,)}
    d = {"a": X, "b": X + 1}
    out = funcad.checkpoint(f)(d, scale=2.0)
    np.testing.assert_allclose(out["s"], np.sin(X) * 2.0)
    np.testing.assert_allclose(out["t"][0], (X + 1) ** 2)
    g = funcad.grad(lambda d: fnp.sum(funcad.checkpoint(f)(d, scale=3.0)["s"]))(d)
    np.testing.assert_allclose(g["a"], 3.0 * np.cos(X))
    np.testing.assert_allclose(g["b"], 0.0)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: getattr(p, "__qualname__", "None"))
def test_grad_matches_plain_and_finite_differences(policy):
    fc = funcad.checkpoint(mlp, policy=policy)
    g = funcad.grad(fc, argnums=(0, 1))(W, X)
    g0 = funcad.grad(mlp, argnums=(0, 1))(W, X)
    for a, b in zip(g, g0):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g[1], fd_grad(lambda x: float(mlp(W, x)), X), rtol=1e-6,
                               atol=1e-8)
    gj = funcad.jit(funcad.grad(fc, argnums=(0, 1)))(W, X)
    for a, b in zip(gj, g0):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("prevent_cse", [True, False])
def test_compositions(prevent_cse):
    fc = funcad.checkpoint(chain, prevent_cse=prevent_cse)
    xb = np.stack([X, X + 0.5, X * 2])
    want_g = funcad.grad(chain)(X)
    np.testing.assert_allclose(funcad.grad(fc)(X), want_g, rtol=1e-13)
    np.testing.assert_allclose(funcad.grad(funcad.jit(fc))(X), want_g, rtol=1e-12)
    np.testing.assert_allclose(funcad.jit(funcad.grad(fc))(X), want_g, rtol=1e-12)
    np.testing.assert_allclose(funcad.vmap(funcad.grad(fc))(xb),
                               funcad.vmap(funcad.grad(chain))(xb), rtol=1e-13)
    np.testing.assert_allclose(funcad.jit(funcad.vmap(funcad.grad(fc)))(xb),
                               funcad.vmap(funcad.grad(chain))(xb), rtol=1e-12)
    np.testing.assert_allclose(funcad.grad(lambda x: fnp.sum(funcad.vmap(fc)(x)))(xb),
                               funcad.grad(lambda x: fnp.sum(funcad.vmap(chain)(x)))(xb),
                               rtol=1e-13)
    # second order: grad of grad, forward over reverse, and jit of both
    gg = funcad.grad(lambda x: fnp.sum(funcad.grad(fc)(x) ** 2))
    gg0 = funcad.grad(lambda x: fnp.sum(funcad.grad(chain)(x) ** 2))
    np.testing.assert_allclose(gg(X), gg0(X), rtol=1e-12)
    np.testing.assert_allclose(funcad.jit(gg)(X), gg0(X), rtol=1e-10)
    np.testing.assert_allclose(funcad.hessian(fc)(X), funcad.hessian(chain)(X), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(gg(X), fd_grad(lambda x: float(np.sum(
        funcad.grad(chain)(x) ** 2)), X), rtol=1e-6)
    # forward mode and linearize
    t = np.ones_like(X)
    np.testing.assert_allclose(funcad.jvp(fc, (X,), (t,))[1], funcad.jvp(chain, (X,), (t,))[1],
                               rtol=1e-13)
    y, f_jvp = funcad.linearize(fc, X)
    np.testing.assert_allclose(f_jvp(t), funcad.jvp(chain, (X,), (t,))[1], rtol=1e-13)


def test_nested_checkpoints_and_custom_rules():
    inner = funcad.checkpoint(lambda x: fnp.sin(x) * x, policy=cp.everything_saveable)
    outer = funcad.checkpoint(lambda x: fnp.sum(fnp.cos(inner(x)) * inner(x + 1.0)))
    plain = lambda x: fnp.sum(fnp.cos(fnp.sin(x) * x) * (fnp.sin(x + 1.0) * (x + 1.0)))  # noqa
    np.testing.assert_allclose(funcad.grad(outer)(X), funcad.grad(plain)(X), rtol=1e-13)
    np.testing.assert_allclose(funcad.jit(funcad.grad(outer))(X), funcad.grad(plain)(X),
                               rtol=1e-12)
    np.testing.assert_allclose(funcad.hessian(outer)(X), funcad.hessian(plain)(X), rtol=1e-12,
                               atol=1e-13)


# ---------------------------------------------------------------------------------------------
# What is saved

def test_default_saves_only_the_inputs():
    assert len(kinds(chain, X)) == 5                     # 3 cos and 2 sin values
    assert kinds(funcad.checkpoint(chain), X) == ["from the argument args[0]"]
    assert sorted(kinds(funcad.checkpoint(chain, policy=cp.everything_saveable), X)) == \
        sorted(kinds(chain, X))
    # the linear jaxpr of linearize holds the residuals as its constants
    assert len(funcad.linearize(chain, X)[1].jaxpr.consts) == 5
    lin = funcad.linearize(funcad.checkpoint(chain), X)[1].jaxpr
    assert len(lin.consts) == 1 and lin.consts[0] is X
    (eqn,) = [e for e in lin.jaxpr.eqns if e.prim.name == "checkpoint"]
    inner = [e.prim.name for e in eqn.params["jaxpr"].jaxpr.eqns]
    assert inner[0] == "optimization_barrier" and "sin" in inner   # sin(x) is recomputed


def test_policies_change_what_is_saved():
    args = (W, X)
    plain = kinds(mlp, *args)
    assert "output of cos" in plain and len(plain) >= 6
    none = kinds(funcad.checkpoint(mlp), *args)
    assert sorted(none) == ["from the argument args[0]", "from the argument args[1]"]
    dots = kinds(funcad.checkpoint(mlp, policy=cp.dots_saveable), *args)
    assert dots.count("output of dot_general") == 2
    assert not [d for d in dots if d.startswith("output of") and "dot_general" not in d]
    h_only = kinds(funcad.checkpoint(mlp, policy=cp.save_only_these_names("h")), *args)
    assert "named 'h'" in h_only and "named 'g'" not in h_only
    assert not [d for d in h_only if d.startswith("output of")]
    but_g = kinds(funcad.checkpoint(mlp, policy=cp.save_any_names_but_these("g")), *args)
    assert "named 'h'" in but_g and "named 'g'" not in but_g
    both = kinds(funcad.checkpoint(mlp, policy=cp.save_from_both_policies(
        cp.dots_saveable, cp.save_only_these_names("g"))), *args)
    assert "named 'g'" in both and both.count("output of dot_general") == 2
    not_h = kinds(funcad.checkpoint(mlp, policy=cp.save_anything_except_these_names("h")),
                  *args)
    assert "named 'h'" not in not_h and "output of cos" in not_h


def test_dots_with_no_batch_dims():
    def f(a, b):
        c = lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,))))   # batched over axis 0
        d = lax.dot_general(c[0], b[0], (((1,), (0,)), ((), ())))  # plain
        return fnp.sum(fnp.sin(c)) + fnp.sum(fnp.sin(d))
    a, b = RNG.normal(size=(2, 3, 3)), RNG.normal(size=(2, 3, 3))
    res = kinds(funcad.checkpoint(f, policy=cp.dots_with_no_batch_dims_saveable), a, b)
    assert res.count("output of dot_general") == 1
    res = kinds(funcad.checkpoint(f, policy=cp.dots_saveable), a, b)
    assert res.count("output of dot_general") == 2


def test_print_saved_residuals(capsys):
    print_saved_residuals(funcad.checkpoint(mlp, policy=cp.save_only_these_names("h")), W, X)
    lines = capsys.readouterr().out.splitlines()
    assert "f64[6] named 'h'" in lines and "f64[6,6] from the argument args[0]" in lines
    print_saved_residuals(lambda x, scale=1.0: fnp.sum(fnp.sin(x) * scale), X, scale=2.0)
    assert capsys.readouterr().out.splitlines() == ["f64[6] output of cos"]


def test_scan_keeps_only_carries():
    n = len(XS)
    plain = saved_residuals(scan_loss, X, XS)
    stacked = [a for a, d in plain if d == "output of scan"]
    assert len(stacked) >= 3 and all(a.shape == (n, 6) for a in stacked)
    ck = functools.partial(scan_loss, b=funcad.checkpoint(body))
    res = saved_residuals(ck, X, XS)
    assert [a.shape for a, d in res if d == "output of scan"] == [(n, 6)]   # the carries
    xs_long = np.zeros((1000, 6))   # the 1,000-step case (abstract: nothing is computed)
    assert [a.shape for a, d in saved_residuals(ck, X, xs_long) if d == "output of scan"] == \
        [(1000, 6)]
    dots = functools.partial(scan_loss, b=funcad.checkpoint(body, policy=cp.dots_saveable))
    # only the stacked products W @ c: tanh's input is recomputed from them and the xs
    assert len([d for _, d in saved_residuals(dots, X, XS) if d == "output of scan"]) == 1
    np.testing.assert_allclose(funcad.grad(ck)(X, XS), funcad.grad(scan_loss)(X, XS),
                               rtol=1e-12)
    np.testing.assert_allclose(funcad.jit(funcad.grad(ck))(X, XS),
                               funcad.grad(scan_loss)(X, XS), rtol=1e-10)
    np.testing.assert_allclose(funcad.grad(ck, argnums=1)(X, XS),
                               funcad.grad(scan_loss, argnums=1)(X, XS), rtol=1e-12)
    short = lambda b: (lambda c: scan_loss(c, XS[:8], b))  # noqa: E731
    np.testing.assert_allclose(funcad.hessian(short(funcad.checkpoint(body)))(X),
                               funcad.hessian(short(body))(X), rtol=1e-10, atol=1e-12)


def _loop_losses(b):
    def fori(c):
        return fnp.sum(lax.fori_loop(0, 20, lambda i, c: b(c, XS[0])[0], c))

    def traced_fori(c, n):
        return fnp.sum(lax.fori_loop(0, n, lambda i, c: b(c, XS[1])[0], c))

    def while_(c):
        return fnp.sum(lax.while_loop(lambda s: s[0] < 15, lambda s: (s[0] + 1,
                                                                      b(s[1], XS[2])[0]),
                                      (0, c))[1])
    return fori, while_, traced_fori


def test_loops_fori_and_while():
    cfs, pfs = _loop_losses(funcad.checkpoint(body)), _loop_losses(body)
    for cf, pf in zip(cfs[:2], pfs[:2]):
        np.testing.assert_allclose(funcad.grad(cf)(X), funcad.grad(pf)(X), rtol=1e-12)
        np.testing.assert_allclose(funcad.jit(funcad.grad(cf))(X), funcad.grad(pf)(X),
                                   rtol=1e-10)
    tf, tp = cfs[2], pfs[2]
    np.testing.assert_allclose(funcad.jit(funcad.grad(tf))(X, 12), funcad.grad(tp)(X, 12),
                               rtol=1e-10)
    np.testing.assert_allclose(funcad.vmap(funcad.grad(cfs[0]))(XS[:3]),
                               funcad.vmap(funcad.grad(pfs[0]))(XS[:3]), rtol=1e-12)


def test_checkpoint_saves_memory_in_scan():
    x0, xs = np.linspace(0, 1, 4000), RNG.normal(size=(100, 4000))

    def b(c, x):
        h = fnp.tanh(c + x)
        h = fnp.sin(h) * fnp.cos(h) * h
        return h, fnp.sum(h)

    def peak(f):
        f(x0[:10], xs[:2, :10])   # warm caches
        tracemalloc.start()
        f(x0, xs)
        out = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return out
    plain = peak(funcad.grad(functools.partial(scan_loss, b=b)))
    ck = peak(funcad.grad(functools.partial(scan_loss, b=funcad.checkpoint(b))))
    assert ck < 0.6 * plain, (ck, plain)


# ---------------------------------------------------------------------------------------------
# jit: prevent_cse keeps the recomputation out of the forward pass

def _sins_after_rewrites(prevent_cse: bool) -> int:
    f = funcad.checkpoint(lambda x: fnp.sum(fnp.sin(fnp.sin(x))), prevent_cse=prevent_cse)
    jaxpr, _ = hoist(funcad.make_jaxpr(funcad.value_and_grad(f))(X))
    rewritten = lower_jaxpr(jaxpr.jaxpr).jaxpr
    return sum(e.prim.name == "sin" for e in rewritten.eqns)


def test_prevent_cse():
    # forward: sin x and sin(sin x); backward recomputes sin x (for cos(sin x))
    assert _sins_after_rewrites(True) == 3
    assert _sins_after_rewrites(False) == 2   # CSE merged the recomputation into the forward
    f = funcad.checkpoint(lambda x: fnp.sum(fnp.sin(fnp.sin(x))), prevent_cse=True)
    src = funcad.jit(funcad.value_and_grad(f)).lower(X).source
    assert "optimization_barrier" in src
    v, g = funcad.jit(funcad.value_and_grad(f))(X)
    np.testing.assert_allclose(g, np.cos(np.sin(X)) * np.cos(X), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# static_argnums

def _power_sum(x, n, scale):
    y = x
    for _ in range(n):   # Python control flow on the static argument
        y = fnp.sin(y) * scale
    return fnp.sum(y)


@pytest.mark.parametrize("nums", [1, (1,), (-2,)])
def test_static_argnums(nums):
    fc = funcad.checkpoint(_power_sum, static_argnums=nums)
    for n in (1, 3):
        g = funcad.grad(fc, argnums=(0, 2))(X, n, 1.5)
        g0 = funcad.grad(_power_sum, argnums=(0, 2))(X, n, 1.5)
        np.testing.assert_allclose(g[0], g0[0], rtol=1e-13)
        np.testing.assert_allclose(g[1], g0[1], rtol=1e-13)
    np.testing.assert_allclose(funcad.jit(funcad.grad(fc), static_argnums=1)(X, 2, 1.5),
                               funcad.grad(_power_sum)(X, 2, 1.5), rtol=1e-12)
    assert fc(X, 2, 1.5) == _power_sum(X, 2, 1.5)


# ---------------------------------------------------------------------------------------------
# Errors

def test_bad_policies():
    with pytest.raises(TypeError, match=r"save_only_these_names makes a policy; call it"):
        funcad.checkpoint(chain, policy=cp.save_only_these_names)
    with pytest.raises(TypeError, match=r"policy must be None or a function policy\(prim"):
        funcad.checkpoint(chain, policy="dots")
    with pytest.raises(TypeError, match=r"names must be strings, passed as separate"):
        cp.save_only_these_names(["h", "g"])
    with pytest.raises(TypeError, match=r"save_from_both_policies: policy must be None or"):
        cp.save_from_both_policies(cp.dots_saveable, 3)

    class Unhashable:
        __hash__ = None

        def __call__(self, prim, *avals, **params):
            return False
    with pytest.raises(TypeError, match=r"policy must be hashable"):
        funcad.checkpoint(chain, policy=Unhashable())


def test_bad_static_argnums():
    with pytest.raises(TypeError, match=r"static_argnums must be an int or a tuple of ints, "
                                        r"got 'n'"):
        funcad.checkpoint(_power_sum, static_argnums="n")
    with pytest.raises(TypeError, match=r"static_argnums must be an int or a tuple"):
        funcad.checkpoint(_power_sum, static_argnums=(1.0,))
    fc = funcad.checkpoint(_power_sum, static_argnums=3)
    with pytest.raises(ValueError, match=r"static_argnums \(3,\) refers to argument 3, but "
                                         r"_power_sum was called with 3 positional"):
        funcad.grad(fc)(X, 2, 1.0)
    fc = funcad.checkpoint(_power_sum, static_argnums=2)
    with pytest.raises(TypeError, match=r"argument 2 is marked static \(static_argnums\) but "
                                        r"is a traced value"):
        funcad.grad(fc, argnums=2)(X, 2, 1.5)


def test_bad_arguments():
    with pytest.raises(TypeError, match=r"checkpoint: expected a function, got 3"):
        funcad.checkpoint(3)
    with pytest.raises(TypeError, match=r"checkpoint_name: the name must be a string, got 1"):
        funcad.checkpoint_name(X, 1)
    fc = funcad.checkpoint(lambda x, mode: fnp.sum(x) if mode == "sum" else fnp.max(x))
    with pytest.raises(TypeError, match=r"checkpoint\(<lambda>\):.*mark a Python constant "
                                        r"argument with static_argnums"):
        funcad.grad(fc)(X, "sum")
    ok = funcad.checkpoint(lambda x, mode: fnp.sum(x) if mode == "sum" else fnp.max(x),
                           static_argnums=1)
    np.testing.assert_allclose(funcad.grad(ok)(X, "sum"), np.ones_like(X))


# ---------------------------------------------------------------------------------------------
# Against JAX, when it is installed

def test_against_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy

    def jmlp(w, x):
        h = jnp.tanh(w @ x)
        return jnp.sum(jnp.sin(w @ h) * h)

    for policy, jpolicy in ((None, None),
                            (cp.dots_saveable, jax.checkpoint_policies.dots_saveable)):
        g = funcad.grad(funcad.checkpoint(mlp, policy=policy), argnums=(0, 1))(W, X)
        gj = jax.grad(jax.checkpoint(jmlp, policy=jpolicy), argnums=(0, 1))(W, X)
        for a, b in zip(g, gj):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-12, atol=1e-14)
