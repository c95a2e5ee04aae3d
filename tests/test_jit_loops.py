"""Loops in generated code: small arrays become scalars, other arrays are allocated once.

Small arrays (funcad/codegen/scalarise.py): the rewrite is checked where it is cheap: every
registered primitive is applied inside a scan body to small loop carries, and the rewritten
jaxpr is *evaluated* (no compilation) against the original. A few compiled functions then
check the generated code: the Lorenz loop and its gradient allocate nothing per iteration, and
results equal eager ones. Larger arrays (LoopScope in funcad/codegen/lower.py): allocations
move to the loop's preamble, new carries alternate between two buffers; one compiled function
covers the ways a buffer can outlive an iteration (carries, views of carries, branches, nested
loops, the states reverse mode keeps).
"""
import re
import zlib

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax, testing
from funcad.codegen.lower import has_lowering
from funcad.codegen.scalarise import SMALL, is_small, scalarise_loops
from funcad.interpreters.jit import jit
from funcad.ir import ClosedJaxpr, Jaxpr, eval_jaxpr, typecheck_jaxpr
from funcad.tree_util import tree_flatten


def _close(got, want, rtol=1e-12):
    got, want = tree_flatten(got)[0], tree_flatten(want)[0]
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, w.shape, g.dtype, w.dtype)
        if w.dtype.kind in "fc":
            tol = 1e-5 if w.dtype in (np.float32, np.complex64) else rtol
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
        else:
            np.testing.assert_array_equal(g, w)


def _bodies(jaxpr: Jaxpr):
    """The jaxprs of the loops in ``jaxpr`` (recursively)."""
    for eqn in jaxpr.eqns:
        for v in eqn.params.values():
            for c in (v if isinstance(v, tuple) else (v,)):
                if isinstance(c, ClosedJaxpr):
                    yield c.jaxpr
                    yield from _bodies(c.jaxpr)


def _small_arrays(jaxpr: Jaxpr) -> list:
    return [v for b in _bodies(jaxpr) for e in b.eqns for v in e.outvars if is_small(v.aval)]


def _rewrite_and_check(f, args):
    """Rewrite the jaxpr of ``f``; it type-checks and evaluates to the same values."""
    closed = funcad.make_jaxpr(f)(*args)
    jaxpr = Jaxpr([], closed.jaxpr.constvars + closed.jaxpr.invars, closed.jaxpr.eqns,
                  closed.jaxpr.outvars)
    new = scalarise_loops(jaxpr)
    typecheck_jaxpr(new)
    want = eval_jaxpr(jaxpr, [], list(closed.consts) + list(args))
    got = eval_jaxpr(new, [], list(closed.consts) + list(args))
    _close(got, want)
    return jaxpr, new


# ---------------------------------------------------------------------------------------------
# Every primitive, applied to small loop carries

CASES = [c for c in testing.primitive_cases() if isinstance(c, testing.PrimCase)
         and has_lowering(c.prim)]


def _in_loop(fun):
    def f(*args):
        _, ys = lax.scan(lambda carry, _: (carry, fun(*carry)), tuple(args), None, length=2)
        return ys
    return f


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_every_primitive_in_a_loop_body(case):
    args = case.args(np.random.default_rng(zlib.crc32(case.id.encode())))
    fun = case.fun()
    old, new = _rewrite_and_check(_in_loop(fun), args)
    body = next(_bodies(old))
    avals = [v.aval for e in body.eqns for v in e.outvars] + body.in_avals
    if all(a.ndim == 0 or is_small(a) for a in avals) and all(
            _has_element_rule(e.prim) for e in body.eqns):
        # everything small, with element rules: no array is left inside the loop
        assert not _small_arrays(new), case.id


def _has_element_rule(prim) -> bool:
    """The primitive's declared lowering writes it element by element on small arrays."""
    from funcad.lowering import Elementwise, Index, Opaque, Reduce
    lw = prim.lowering
    return type(lw) in (Elementwise, Reduce) or (
        type(lw) in (Index, Opaque) and lw.element is not None)


# ---------------------------------------------------------------------------------------------
# Loops of small arrays: the rules for index ops, reductions, products, traced indices

def _mixed(x, k):
    def body(c, xi):
        m = fnp.reshape(fnp.concatenate([c, c[::-1]]), (2, 3))
        t = m.T @ m[:, :2]                                   # transpose, dot_general
        s = fnp.sum(m, axis=0) * fnp.max(m) + fnp.cumsum(c)  # reductions, cumsum
        p = lax.pad(c, 0.0, ((1, 2, 1),))[1:7:3]             # pad, strided slice
        d = lax.dynamic_slice(c, (k,), (2,))                 # traced index
        u = lax.dynamic_update_slice(c, d * xi, (k,))
        g = fnp.take(c, k + 1)                               # gather
        w = fnp.where(c > 0.5, c, -c)                        # select_n
        new = fnp.tanh(s + u + w * g) + fnp.sum(t) * 1e-3 + fnp.concatenate([p, d[:1]])
        return new, (fnp.sum(t), new[::2])
    return lax.scan(body, x, fnp.linspace(0.1, 0.5, 4))


def test_index_ops_reductions_and_traced_indices_become_scalars():
    x = np.array([0.3, 0.7, 1.1])
    for k in (0, 1, 5, -3):   # clamped like the array primitives
        old, new = _rewrite_and_check(_mixed, (x, np.int64(k)))
        if 0 <= k < 2:   # (eagerly, fnp.take raises for an index out of bounds)
            _close(jit(_mixed)(x, k), _mixed(x, k))
    assert _small_arrays(old) and not _small_arrays(new)


def test_while_cond_and_nested_loops():
    def f(x):
        def body(c):
            v, n = c
            v = lax.cond(n % 2 == 0, lambda a: a[::-1] * 1.5, lambda a: fnp.sin(a), v)
            v = lax.fori_loop(0, 3, lambda i, a: a + 0.1 * fnp.roll(a, 1), v)
            return v, n + 1
        return lax.while_loop(lambda c: (fnp.sum(c[0]) < 30.0) & (c[1] < 7), body, (x, 0))
    x = np.array([0.5, 1.0, 1.5, 2.0])
    old, new = _rewrite_and_check(f, (x,))
    assert _small_arrays(old) and not _small_arrays(new)
    _close(jit(f)(x), f(x))


def test_while_loop_gradient_is_scalarised():
    def f(x):
        v = lax.while_loop(lambda v: fnp.sum(v) < 10.0, lambda v: v * 1.3 + fnp.sin(v), x)
        return fnp.sum(v * v)
    x = np.array([0.2, 0.4, 0.6])
    old, new = _rewrite_and_check(jit(funcad.grad(f)).fun, (x,))
    assert "while_transpose" in str(old) and not _small_arrays(new)
    _close([jit(funcad.grad(f))(x)], [funcad.grad(f)(x)])


def test_large_arrays_stay_arrays():
    f = lambda x: lax.fori_loop(0, 3, lambda i, v: fnp.sin(v) + v, x)  # noqa: E731
    closed = funcad.make_jaxpr(f)(np.ones(SMALL + 1))
    jaxpr = Jaxpr([], closed.jaxpr.constvars + closed.jaxpr.invars, closed.jaxpr.eqns,
                  closed.jaxpr.outvars)
    assert scalarise_loops(jaxpr) is jaxpr


def test_adding_literal_zeros_keeps_the_sign_of_zero():
    # x + 0.0 is x only where x cannot be -0.0: the first zero stays, the next ones go
    def f(x):
        return lax.fori_loop(0, 2, lambda i, v: ((v * 1.0 + 0.0) + 0.0) * -1.0 + 0.0 * v, x)
    x = np.array([-0.0, 0.0, -2.0])
    old, new = _rewrite_and_check(f, (x,))
    got, want = jit(f)(x), f(x)
    _close([got], [want])
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    body = list(_bodies(new))[0]
    zeros = [e for e in body.eqns if e.prim.name == "add"
             and any(getattr(a, "val", None) == 0 for a in e.inputs)]
    assert len(zeros) == 3   # one per element: the second `+ 0.0` is gone


# ---------------------------------------------------------------------------------------------
# Generated code: the Lorenz loop and its gradient allocate nothing per iteration

def _lorenz(p):
    def rhs(s):
        return fnp.stack([p[0] * (s[1] - s[0]), s[0] * (p[1] - s[2]) - s[1],
                          s[0] * s[1] - p[2] * s[2]])
    s = lax.fori_loop(0, 50, lambda i, s: s + 0.01 * rhs(s), fnp.asarray([1.0, 1.0, 1.0]))
    return fnp.sum(s)


def _loop_lines(source: str) -> list:
    """The lines inside the generated loops (``for __s...`` and ``while True:`` blocks)."""
    out, depth = [], None
    for line in source.splitlines():
        indent = len(line) - len(line.lstrip())
        if depth is not None and line.strip() and indent <= depth:
            depth = None
        if depth is not None:
            out.append(line)
        elif re.match(r"\s*(for __s\d+ in|while True:)", line):
            depth = indent
    return out


@pytest.mark.parametrize("f", [_lorenz, funcad.grad(_lorenz)], ids=["forward", "grad"])
def test_lorenz_loops_allocate_nothing(f):
    p = np.array([10.0, 28.0, 8.0 / 3.0])
    src = jit(f).lower(p).source
    body = [ln for ln in _loop_lines(src) if not ln.strip().startswith("#")]
    assert body and not any(re.search(r"np\.(empty|full|zeros|ascontiguousarray)", ln)
                            for ln in body), src
    assert not any(re.search(r"for i\d+ in", ln) for ln in body), src   # no element loops
    _close([jit(f)(p)], [f(p)], rtol=1e-10)


def test_scan_may_return_its_old_carry_as_y():
    # the ys of an iteration are written before the carry is replaced
    f = lambda x: lax.scan(lambda c, v: (c + v, c), 0.0, x)  # noqa: E731
    x = np.arange(1.0, 5.0)
    _close(jit(f)(x), f(x))
    g = lambda x: lax.scan(lambda c, v: (c * v, c[::-1]), x[:3], x[:, None] * 0.5)  # noqa: E731
    _close(jit(g)(x), g(x))


# ---------------------------------------------------------------------------------------------
# Larger arrays: allocated once per loop, carries double-buffered

N = SMALL + 4    # not scalarised


def _buffers(x, m):
    v = lax.fori_loop(0, 5, lambda i, c: (c[1] * 1.5 + 0.1, c[0] - fnp.sin(c[1])),
                      (x, x[::-1]))                                       # carries swap
    w = lax.fori_loop(0, 4, lambda i, a: fnp.reshape(fnp.reshape(a, (-1,)) * 1.1 + 1.0,
                                                     a.shape), m)        # a view is the carry
    u = lax.fori_loop(0, 6, lambda i, a: lax.cond(i % 2 == 0, lambda b: b * 2.0,
                                                  lambda b: fnp.cos(b[::-1]) - 1.0, a), x)

    def outer(c, xi):
        t = fnp.sin(c) * xi                                               # used twice
        inner = lax.fori_loop(0, 3, lambda j, d: d + t[::-1] * 0.5, c)    # nested loop
        return inner - t, (inner, fnp.sum(t))
    c, (ys, s) = lax.scan(outer, x, fnp.linspace(0.5, 1.0, 3))
    return v, w, u, c, ys, s


def _reverse_mode(x):
    v = lax.while_loop(lambda v: fnp.sum(v) < 60.0, lambda v: v * 1.2 + fnp.sin(v), x)
    return fnp.sum(v * v)


def test_loop_buffers_are_hoisted_and_results_unchanged():
    x = np.linspace(0.1, 1.0, N)
    m = np.arange(N, dtype=np.float64).reshape(4, -1) * 0.01
    f = jit(_buffers)
    _close(f(x, m), _buffers(x, m))
    src = f.lower(x, m).source
    body = [ln for ln in _loop_lines(src) if not ln.strip().startswith("#")]
    assert any("np.empty" in ln for ln in src.splitlines()) and "__par" in src
    assert not [ln for ln in body if "np.empty" in ln], src   # nested loops included


def test_reverse_mode_keeps_every_state_in_its_own_array():
    x = np.linspace(0.1, 1.0, N)
    g = jit(funcad.grad(_reverse_mode))
    _close([g(x)], [funcad.grad(_reverse_mode)(x)], rtol=1e-10)
    assert "while_transpose" in str(funcad.make_jaxpr(funcad.grad(_reverse_mode))(x))
