"""Structured control flow: cond, switch, while_loop, fori_loop, scan, map.

Each primitive through eval, make_jaxpr, jvp (vs central differences), vjp (the dot-product
identity) and vmap (vs a Python loop); compositions; gradients through while loops against the
same loop unrolled in Python; closures; and the trace-time errors.
"""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax, testing
from funcad.ir import eval_jaxpr, typecheck_jaxpr

rng = np.random.default_rng(0)


def _close(a, b, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=rtol, atol=atol)


def _eval_staged(f, *args):
    """Run ``f`` through make_jaxpr (typechecked), then evaluate the jaxpr."""
    closed = funcad.make_jaxpr(f)(*args)
    typecheck_jaxpr(closed.jaxpr)
    leaves = funcad.tree_util.tree_flatten(args)[0]
    return eval_jaxpr(closed.jaxpr, closed.consts, leaves)


# ---------------------------------------------------------------------------------------------
# Functions under test (module level so that each test reads as one line)

def f_cond(x, y):
    return lax.cond(fnp.sum(x) > 0, lambda a, b: fnp.sin(a) * b, lambda a, b: a * a + b, x, y)


def f_cond_sum(x, y):
    return fnp.sum(f_cond(x, y))


def f_switch(i, x):
    return lax.switch(i, [lambda v: fnp.sin(v), lambda v: v * v * 0.5, lambda v: fnp.exp(-v)],
                      x)


def f_scan(x, w):
    def step(c, xi):
        c = fnp.sin(c) * w + xi
        return c, c * c
    c, ys = lax.scan(step, x[0], x)
    return c + fnp.sum(ys)


def f_scan_tree(x, w):
    """Pytree carry and xs/ys, reversed."""
    def step(carry, xs):
        a, b = carry["a"], carry["b"]
        u, v = xs
        a2 = fnp.tanh(a * w + u)
        b2 = b + a2 * v
        return {"a": a2, "b": b2}, (a2 * b2, fnp.sum(v))
    carry, (p, q) = lax.scan(step, {"a": x[0], "b": x[1:3]}, (x, fnp.outer(x, x[:2])),
                             reverse=True)
    return carry["a"] + fnp.sum(carry["b"]) + fnp.sum(p) * fnp.sum(q)


def f_while(x):
    def body(c):
        i, v = c
        return i + 1, v * x + 0.1
    return lax.while_loop(lambda c: c[1] < 3.0, body, (0, x))[1]


def f_while_unrolled(x):
    v = x
    while v < 3.0:
        v = v * x + 0.1
    return v


def f_fori(x, w):
    return lax.fori_loop(1, 6, lambda i, c: fnp.sin(c) * w + i * 0.1 * x, x)


def f_fori_traced(x, n):
    return lax.fori_loop(0, n, lambda i, c: fnp.sin(c) * x + c * 0.5, x)


def f_fori_python(x, n):
    c = x
    for _ in range(int(n)):
        c = fnp.sin(c) * x + c * 0.5
    return c


# ---------------------------------------------------------------------------------------------
# Eval

def test_cond_eval():
    assert float(lax.cond(True, lambda x: x * 2, lambda x: x + 1, 3.0)) == 6.0
    assert float(lax.cond(False, lambda x: x * 2, lambda x: x + 1, 3.0)) == 4.0
    assert float(lax.cond(np.float64(0.0), lambda: 1.0, lambda: 2.0)) == 2.0
    out = lax.cond(True, lambda t: {"s": t[0] + t[1]}, lambda t: {"s": t[0] * t[1]},
                   (np.arange(3.0), 2.0))
    _close(out["s"], np.arange(3.0) + 2.0)
    x = np.linspace(-1, 1, 4)
    _close(f_cond(x + 2, 0.3), np.sin(x + 2) * 0.3)
    _close(f_cond(x - 2, 0.3), (x - 2) ** 2 + 0.3)


def test_switch_eval_clamps_index():
    fs = [lambda v: v + 1.0, lambda v: v * 2.0, lambda v: v - 3.0]
    for i, want in [(-4, 6.0), (0, 6.0), (1, 10.0), (2, 2.0), (7, 2.0)]:
        assert float(lax.switch(i, fs, 5.0)) == want
    assert float(lax.switch(np.int32(1), fs, 5.0)) == 10.0


def test_while_eval_matches_python():
    for x in [1.2, 2.0, 3.5]:
        _close(f_while(x), f_while_unrolled(x))
    n, v = lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] * 1.5), (0, 1.0))
    assert int(n) == 10 and float(v) == 1.5 ** 10


def test_fori_loop_eval():
    assert float(lax.fori_loop(0, 5, lambda i, x: x + i, 0.0)) == 10.0
    assert float(lax.fori_loop(5, 2, lambda i, x: x + i, 1.0)) == 1.0  # empty range
    _close(f_fori_traced(0.7, 4), f_fori_python(0.7, 4))
    # traced bounds: evaluate the staged program
    _close(_eval_staged(f_fori_traced, 0.7, 4)[0], f_fori_python(0.7, 4))
    _close(_eval_staged(f_fori_traced, 0.7, 0)[0], 0.7)


def test_scan_eval():
    xs = np.arange(1.0, 6.0)
    c, ys = lax.scan(lambda c, x: (c + x, c * x), 0.0, xs)
    assert float(c) == 15.0
    _close(ys, [0.0, 2.0, 9.0, 24.0, 50.0])
    c, ys = lax.scan(lambda c, x: (c + x, c * x), 0.0, xs, reverse=True)
    _close(ys, [14.0, 24.0, 27.0, 20.0, 0.0])
    # xs=None with length; pytree carry; no ys
    (i, v), none = lax.scan(lambda c, _: ((c[0] + 1, c[1] * 2.0), None), (0, 1.0), None,
                            length=4)
    assert int(i) == 4 and float(v) == 16.0 and none is None
    # length 0: ys keep their shape
    c, ys = lax.scan(lambda c, x: (c, fnp.stack([x, x])), 1.0, np.zeros((0,)))
    assert ys.shape == (0, 2) and float(c) == 1.0


def test_scan_pytree_eval_matches_python():
    x = np.linspace(0.1, 0.9, 5)
    w = 0.6
    a, b = x[0], x[1:3].copy()
    m = np.outer(x, x[:2])
    ps, qs = [], []
    for k in reversed(range(5)):
        a = np.tanh(a * w + x[k])
        b = b + a * m[k]
        ps.append(a * b)
        qs.append(m[k].sum())
    want = a + b.sum() + np.sum(ps) * np.sum(qs)
    _close(f_scan_tree(x, w), want)


def test_map_eval():
    xs = {"a": np.arange(4.0), "b": np.ones((4, 2))}
    ys = lax.map(lambda d: d["a"] * d["b"], xs)
    _close(ys, np.arange(4.0)[:, None] * np.ones((4, 2)))


# ---------------------------------------------------------------------------------------------
# make_jaxpr

def test_make_jaxpr_prints_inner_jaxprs():
    text = str(funcad.make_jaxpr(lambda x: lax.cond(x > 0, fnp.sin, fnp.cos, x))(1.0))
    assert text == """\
{ lambda ; a:f64[]. let
    b:bool[] = gt a 0.0:f64[]
    c:i32[] = convert_element_type[new_dtype=int32] b
    d:f64[] = cond[branches=(
        { lambda ; e:f64[]. let
            f:f64[] = cos e
          in (f,) },
        { lambda ; g:f64[]. let
            h:f64[] = sin g
          in (h,) }
    )] c a
  in (d,) }"""
    text = str(funcad.make_jaxpr(f_scan)(np.ones(3), 0.5))
    assert "scan[jaxpr=\n        { lambda ;" in text and "length=3 reverse=False" in text
    text = str(funcad.make_jaxpr(f_while)(2.0))
    assert "while[cond_jaxpr=\n" in text and "body_jaxpr=\n" in text
    # reverse mode through a while loop: one primitive, static shapes only
    text = str(funcad.make_jaxpr(funcad.grad(f_while))(2.0))
    assert "while_transpose[" in text and "fwd_jaxpr=" in text and "bwd_jaxpr=" in text


def test_fori_loop_is_scan_or_while():
    assert "scan[" in str(funcad.make_jaxpr(lambda x: f_fori_traced(x, 3))(1.0))
    traced = str(funcad.make_jaxpr(f_fori_traced)(1.0, 3))
    assert "while[" in traced and "scan[" not in traced


@pytest.mark.parametrize("f,args", [
    (f_cond, (np.linspace(-1, 2, 3), 0.4)),
    (f_switch, (np.int64(1), np.linspace(-1, 2, 3))),
    (f_scan, (np.linspace(0.1, 1, 4), 0.7)),
    (f_scan_tree, (np.linspace(0.1, 1, 4), 0.7)),
    (f_while, (1.5,)),
    (f_fori, (0.4, 0.9)),
])
def test_staged_matches_eager(f, args):
    testing.check_staged(f, args)


# ---------------------------------------------------------------------------------------------
# Derivatives: jvp vs central differences, vjp by the dot-product identity

X5 = np.linspace(0.1, 1.0, 5)


@pytest.mark.parametrize("f,args,order", [
    (f_cond, (X5, 0.3), 2),
    (f_cond, (-X5, 0.3), 2),
    (lambda i, x: f_switch(i, x), (0, X5), 2),
    (lambda i, x: f_switch(i, x), (1, X5), 2),
    (lambda i, x: f_switch(i, x), (2, X5), 2),
    (f_scan, (X5, 0.7), 2),
    (f_scan_tree, (X5, 0.7), 2),
    (f_fori, (0.4, 0.9), 2),
    (f_while, (1.5,), 2),
    (f_while, (2.7,), 2),
    (lambda x: f_fori_traced(x, 5), (0.8,), 2),
    (lambda x: lax.map(lambda v: fnp.sin(v) * v, x), (X5,), 2),
])
def test_derivatives(f, args, order):
    testing.check_grads(f, args, order=order)


def test_while_jvp_forward_over_reverse():
    # jvp of the reverse-mode derivative: hessian = jacfwd(jacrev(f))
    for x in [1.2, 2.0, 2.5]:
        _close(funcad.hessian(f_while)(x), funcad.hessian(f_while_unrolled)(x))
    testing.check_jvp(funcad.grad(f_while), (1.7,))


def test_grad_while_equals_unrolled():
    for x in [1.05, 1.2, 1.5, 2.0, 2.9, 3.5]:
        _close(funcad.grad(f_while)(x), funcad.grad(f_while_unrolled)(x))


def test_grad_while_pytree_carry_and_closure():
    w = np.array([0.3, -0.2, 0.5])

    def loop(x, scale):
        def body(c):
            v, acc = c["v"], c["acc"]
            v = fnp.tanh(v * scale + w)
            return {"v": v, "acc": acc + fnp.sum(v * v) * scale}
        out = lax.while_loop(lambda c: c["acc"] < 2.0, body, {"v": x, "acc": 0.0})
        return fnp.sum(out["v"]) + out["acc"]

    def unrolled(x, scale):
        c = {"v": x, "acc": 0.0}
        while c["acc"] < 2.0:
            v = fnp.tanh(c["v"] * scale + w)
            c = {"v": v, "acc": c["acc"] + fnp.sum(v * v) * scale}
        return fnp.sum(c["v"]) + c["acc"]

    x = np.array([0.5, 1.0, -0.3])
    _close(loop(x, 1.3), unrolled(x, 1.3))
    g, gs = funcad.grad(loop, (0, 1))(x, 1.3)
    g_ref, gs_ref = funcad.grad(unrolled, (0, 1))(x, 1.3)
    _close(g, g_ref)
    _close(gs, gs_ref)


def test_grad_fori_loop_traced_bounds():
    """Reverse mode through fori_loop with traced bounds (a while loop): staged, and batched
    over the bounds."""
    x = 0.8
    for n in [0, 1, 4]:
        want = funcad.grad(f_fori_python)(x, n)
        got = _eval_staged(funcad.grad(f_fori_traced), x, n)[0]
        _close(got, want)
    ns = np.array([0, 3, 1, 5])
    got = funcad.vmap(funcad.grad(f_fori_traced), in_axes=(None, 0))(x, ns)
    _close(got, [funcad.grad(f_fori_python)(x, n) for n in ns])


def test_vjp_dot_product_identity_traced_bounds():
    x, t, ct = np.array([0.3, 0.9]), np.array([0.5, -1.5]), np.array([1.0, -2.0])

    def pull(x, ct, n):
        return funcad.vjp(lambda v: f_fori_traced(v, n), x)[1](ct)[0]

    def push(x, t, n):
        return funcad.jvp(lambda v: f_fori_traced(v, n), (x,), (t,))[1]

    for n in [0, 3]:
        jt_ct = _eval_staged(pull, x, ct, n)[0]
        j_t = _eval_staged(push, x, t, n)[0]
        _close(np.dot(jt_ct, t), np.dot(ct, j_t))
        _close(jt_ct, funcad.vjp(lambda v: f_fori_python(v, n), x)[1](ct)[0])


def test_grad_of_grad_while():
    # a top-level loop outside jit: the trip count is concrete, the loop becomes a scan
    for x in [1.2, 2.0, 2.5, 3.5]:
        _close(funcad.grad(funcad.grad(f_while))(x),
               funcad.grad(funcad.grad(f_while_unrolled))(x))
    testing.check_grads(f_while, (1.5,), order=2)
    # an abstract trip count (staged, or nested in a scan body): see tests/test_while_reverse.py
    _close(_eval_staged(funcad.grad(funcad.grad(f_while)), 2.0)[0],
           funcad.grad(funcad.grad(f_while_unrolled))(2.0))
    _close(funcad.grad(funcad.grad(f_nested))(0.5), funcad.hessian(f_nested)(0.5))


def test_second_order_scan_and_cond():
    _close(funcad.grad(funcad.grad(lambda w: f_scan(X5, w)))(0.7),
           funcad.jacfwd(funcad.jacfwd(lambda w: f_scan(X5, w)))(0.7), rtol=1e-9)
    h = funcad.hessian(lambda x: fnp.sum(f_cond(x, 0.3)))(X5)
    _close(h, np.diag(-np.sin(X5) * 0.3), atol=1e-12)


# ---------------------------------------------------------------------------------------------
# vmap vs a Python loop

B = 4
XB = rng.uniform(0.2, 1.0, (B, 3))


@pytest.mark.parametrize("f,args,in_axes", [
    # cond: batched predicate (both branches run, lanes select), batched operand only
    (lambda p, x: lax.cond(p, fnp.sin, lambda v: v * 2.0, x),
     (np.array([True, False, True, False]), XB), 0),
    (lambda p, x: lax.cond(p, fnp.sin, lambda v: v * 2.0, x), (True, XB), (None, 0)),
    (lambda x: lax.cond(x[0] > 0.5, lambda v: (v, 1), lambda v: (v * v, 2), x), (XB,), 0),
    # switch: batched index
    (lambda i, x: f_switch(i, x), (np.array([0, 1, 2, 5]), XB), 0),
    (lambda i, x: f_switch(i, x), (np.array([2, 0, 1, 1]), XB[0]), (0, None)),
    # while: batched predicate (lanes finish at different times), unbatched predicate
    (f_while, (np.array([1.2, 1.5, 2.0, 3.5]),), 0),
    (lambda x, n: lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] * x),
                                 (0, 1.0))[1], (np.array([1.1, 1.2, 0.9, 2.0]), 3), (0, None)),
    (f_fori_traced, (0.8, np.array([0, 3, 1, 5])), (None, 0)),
    # scan: batched xs (at axis 1 too), batched init only, batched closure
    (f_scan, (XB, np.array([0.1, 0.5, 0.7, 0.9])), 0),
    (f_scan, (XB, 0.5), (0, None)),
    (f_scan, (XB.T, 0.5), (1, None)),
    (lambda c0: lax.scan(lambda c, x: (c * x, c + x), c0, np.arange(1.0, 4.0)), (XB[:, 0],), 0),
    (f_scan_tree, (rng.uniform(0.1, 1.0, (B, 4)), 0.7), (0, None)),
    (lambda x: lax.map(lambda v: fnp.sum(v * v), x), (rng.uniform(size=(3, B, 2)),), 1),
])
def test_vmap(f, args, in_axes):
    testing.check_vmap(f, args, in_axes)


# ---------------------------------------------------------------------------------------------
# Compositions

def test_vmap_of_grad():
    xs = np.array([1.2, 1.5, 2.0, 2.5, 3.5])
    _close(funcad.vmap(funcad.grad(f_while))(xs), [funcad.grad(f_while_unrolled)(x) for x in xs])
    ws = np.array([0.2, 0.7, 1.1])
    _close(funcad.vmap(funcad.grad(f_scan, 1), in_axes=(None, 0))(X5, ws),
           [funcad.grad(f_scan, 1)(X5, w) for w in ws])
    _close(funcad.vmap(funcad.grad(f_cond_sum))(XB, np.ones(B) * 0.3),
           [funcad.grad(f_cond_sum)(x, 0.3) for x in XB])
    _close(funcad.vmap(funcad.hessian(f_while))(xs),
           [funcad.hessian(f_while_unrolled)(x) for x in xs])


def test_grad_of_vmap():
    xs = np.array([1.2, 1.5, 2.0, 2.5, 3.5])
    _close(funcad.grad(lambda v: fnp.sum(funcad.vmap(f_while)(v)))(xs),
           [funcad.grad(f_while_unrolled)(x) for x in xs])
    g = funcad.grad(lambda x: fnp.sum(funcad.vmap(f_cond, in_axes=(0, None))(x, 0.3)))(XB - 0.6)
    _close(g, [funcad.grad(f_cond_sum)(x, 0.3) for x in XB - 0.6])
    p = np.array([True, False, True, False])
    g = funcad.grad(lambda x: fnp.sum(funcad.vmap(
        lambda pi, xi: lax.cond(pi, fnp.sin, fnp.cos, xi))(p, x)))(XB)
    _close(g, np.where(p[:, None], np.cos(XB), -np.sin(XB)))
    testing.check_grads(lambda x: funcad.vmap(lambda r: f_scan(r, 0.6))(x), (XB,), order=1)


def test_compositions_stage_typecheck_and_agree():
    """make_jaxpr of composed transformations gives well-typed jaxprs that evaluate to the
    eager results (every rule also works on abstract values)."""
    testing.check_staged(funcad.vmap(funcad.grad(f_fori_traced), in_axes=(None, 0)),
                         (0.8, np.array([0, 3, 1, 5])))
    testing.check_staged(funcad.hessian(f_while), (2.0,))
    testing.check_staged(funcad.vmap(funcad.hessian(f_while)), (np.array([1.2, 2.0]),))
    testing.check_staged(funcad.grad(lambda x: fnp.sum(funcad.vmap(f_cond_sum)(x, x))), (XB,))
    testing.check_staged(funcad.grad(funcad.grad(lambda w: f_scan(X5, w))), (0.7,))
    y, f_jvp = funcad.linearize(f_while, 2.0)
    _close(f_jvp(1.0), funcad.jvp(f_while, (2.0,), (1.0,))[1])


# ---------------------------------------------------------------------------------------------
# Closures over outer values, under every transformation

def test_closures_under_transformations():
    def f(x, w):
        def body(c, xi):
            inner = lax.cond(xi > 0.5, lambda v: v * w, lambda v: v + w, c)
            return inner, inner * xi
        c, ys = lax.scan(body, x, X5)
        n = lax.while_loop(lambda k: k[1] < 2.0, lambda k: (k[0] + 1, k[1] + c * c * w),
                           (0, 0.0))
        return c + fnp.sum(ys) + n[1] * w

    testing.check_grads(f, (0.4, 0.9), order=1)
    testing.check_vmap(f, (np.array([0.1, 0.4, 0.8]), np.array([0.5, 0.9, 1.3])), 0)
    testing.check_vmap(f, (0.4, np.array([0.5, 0.9, 1.3])), (None, 0))
    g = funcad.vmap(funcad.grad(f, 1), in_axes=(None, 0))(0.4, np.array([0.5, 0.9]))
    _close(g, [funcad.grad(f, 1)(0.4, w) for w in [0.5, 0.9]])
    testing.check_staged(f, (0.4, 0.9))


def f_nested(x):
    """A while and a cond (holding a scan) inside a scan."""
    def body(c, w):
        v = lax.while_loop(lambda t: t[0] < 2,
                           lambda t: (t[0] + 1, fnp.sin(t[1]) * w + t[1]), (0, c))[1]
        v = lax.cond(v > 1.0, lambda u: lax.scan(lambda a, b: (a * b, None), u,
                                                  np.array([0.9, 0.8]))[0],
                     lambda u: u + 0.1, v)
        return v, v * w
    c, ys = lax.scan(body, x, np.array([0.3, 0.6, 0.9]))
    return c + fnp.sum(ys)


def f_nested_python(x):
    c, total = x, 0.0
    for w in [0.3, 0.6, 0.9]:
        v = c
        for _ in range(2):
            v = fnp.sin(v) * w + v
        v = v * 0.9 * 0.8 if v > 1.0 else v + 0.1  # bool(); float(v) would drop the derivative
        c = v
        total = total + v * w
    return c + total


def test_nested_control_flow():
    xs = np.array([0.2, 0.5, 1.0])
    for x in xs:
        _close(f_nested(x), f_nested_python(x))
        _close(funcad.grad(f_nested)(x), funcad.grad(f_nested_python)(x))
    testing.check_grads(f_nested, (0.5,), order=1)
    _close(funcad.vmap(funcad.grad(f_nested))(xs), [funcad.grad(f_nested_python)(x) for x in xs])
    _close(funcad.hessian(f_nested)(0.5), funcad.hessian(f_nested_python)(0.5))
    testing.check_staged(f_nested, (0.5,))


def test_integer_carries_and_outputs_under_grad():
    # an int-only while loop whose trip count depends on x: piecewise constant in x
    def h(x):
        n = lax.while_loop(lambda i: i * x < 5.0, lambda i: i + 1, 0)
        return x * n
    assert float(h(1.3)) == 1.3 * 4 and float(funcad.grad(h)(1.3)) == 4.0
    _close(funcad.vmap(funcad.grad(h))(np.array([1.3, 0.7])), [4.0, 8.0])
    # an int carry beside float xs
    k = lambda x: fnp.sum(lax.scan(lambda c, v: (c + 1, v * c), 0, x)[1])  # noqa: E731
    _close(funcad.grad(k)(np.ones(3)), [0.0, 1.0, 2.0])
    # a branch with an int output
    g = lambda x: lax.cond(x > 0, lambda v: (v * 2, 1), lambda v: (v * 3, 2), x)  # noqa: E731
    _close(funcad.grad(lambda x: g(x)[0] * g(x)[1])(1.5), 2.0)
    _close(funcad.grad(lambda x: g(x)[0] * g(x)[1])(-1.5), 6.0)
    # float32 stays float32
    x32 = np.linspace(0.1, 1, 4).astype(np.float32)
    f = lambda x: fnp.sum(lax.scan(lambda c, v: (c * v + np.float32(0.5), c),  # noqa: E731
                                   np.float32(1.0), x)[1])
    assert funcad.grad(f)(x32).dtype == np.float32
    testing.check_grads(f, (x32,), order=1)


def test_empty_loops_under_grad():
    f = lambda x: lax.scan(lambda c, v: (c * v, c), x, np.zeros((0,)))[0]  # noqa: E731
    assert float(funcad.grad(f)(2.0)) == 1.0
    assert float(funcad.grad(lambda x: lax.fori_loop(3, 3, lambda i, c: c * c, x))(2.0)) == 1.0
    w = lambda x: lax.while_loop(lambda c: c > 10.0, lambda c: c * c, x)  # noqa: E731
    assert float(funcad.grad(w)(2.0)) == 1.0


def _jit():
    jit = getattr(funcad, "jit", None)
    if jit is None:
        from funcad.interpreters.jit import jit
    return jit


@pytest.mark.parametrize("f,x,prim", [
    (lambda x: fnp.sum(f_cond(x, 0.3)), X5, "cond"),
    (lambda x: f_scan(x, 0.7), X5, "scan"),
    (lambda x: fnp.sum(funcad.vmap(f_while)(x)), np.array([1.2, 1.5, 2.0]), "while"),
])
def test_jit_composes_or_names_the_primitive(f, x, prim):
    """jit of control flow either runs (and agrees with eager) or raises NotImplementedError
    naming the primitive the code generator lacks."""
    jit = _jit()
    cases = [(jit(f), f), (funcad.grad(jit(f)), funcad.grad(f)),
             (jit(funcad.grad(f)), funcad.grad(f))]
    for compiled, eager in cases:
        try:
            got = compiled(x)
        except NotImplementedError as e:
            assert f"'{prim}'" in str(e) or f"'{prim}_transpose'" in str(e)
            continue
        _close(got, eager(x), rtol=1e-9)


# ---------------------------------------------------------------------------------------------
# Errors at trace time, naming both types

def test_error_cond_branch_types_differ():
    with pytest.raises(TypeError, match=r"true_fun returned f32\[3\]") as e:
        lax.cond(True, lambda x: x.astype(np.float32), lambda x: x, np.ones(3))
    assert "false_fun returned f64[3]" in str(e.value)
    with pytest.raises(TypeError, match=r"f64\[2\].*f64\[3\]"):
        lax.cond(True, lambda x: x[:2], lambda x: x[:3], np.ones(3))
    with pytest.raises(TypeError, match=r"true_fun returned f64\[3\] and false_fun returned "
                                        r"\(f64\[3\], f64\[3\]\)"):
        lax.cond(True, lambda x: x, lambda x: (x, x), np.ones(3))


def test_error_switch_index_and_branches():
    with pytest.raises(TypeError, match=r"lax.switch: index must be an integer scalar.*f64\[\]"):
        lax.switch(1.0, [lambda x: x, lambda x: x], 1.0)
    with pytest.raises(TypeError, match=r"branches\[0\] returned f64\[\].*branches\[1\] "
                                        r"returned i64\[\]"):
        lax.switch(0, [lambda x: x, lambda x: 1], 1.0)
    with pytest.raises(TypeError, match="sequence of callables"):
        lax.switch(0, lambda x: x, 1.0)


def test_error_carry_type_changes():
    with pytest.raises(TypeError, match=r"init_val has type i64\[\].*body_fun returned "
                                        r"f64\[\]"):
        lax.while_loop(lambda c: c < 3, lambda c: c * 1.5, 0)
    with pytest.raises(TypeError, match="cond_fun .* must return a boolean scalar"):
        lax.while_loop(lambda c: c, lambda c: c * 1.5, 1.0)
    with pytest.raises(TypeError, match=r"init has type f64\[3\].*returned the carry "
                                        r"f64\[2\]"):
        lax.scan(lambda c, x: (c[:2], x), np.ones(3), np.ones(4))
    with pytest.raises(TypeError, match=r"init has type \(f64\[\], f64\[\]\).*returned the "
                                        r"carry f64\[\]"):
        lax.scan(lambda c, x: (c[0], x), (1.0, 2.0), np.ones(4))
    with pytest.raises(TypeError, match="must return a pair"):
        lax.scan(lambda c, x: c, 1.0, np.ones(4))


def test_python_scalars_returned_for_a_carry_take_its_dtype():
    out = lax.while_loop(lambda c: c < 3, lambda c: 5.0, np.float32(1))
    assert np.asarray(out).dtype == np.float32 and float(out) == 5.0
    c, _ = lax.scan(lambda c, x: (0, x), np.int32(3), np.ones(2))
    assert np.asarray(c).dtype == np.int32 and int(c) == 0
    assert float(lax.fori_loop(0, 3, lambda i, c: 1, 0.0)) == 1.0


def test_error_scan_xs_lengths():
    with pytest.raises(ValueError, match=r"same leading axis length.*f64\[3,2\].*f64\[4\]"):
        lax.scan(lambda c, x: (c, x[0]), 0.0, (np.ones((3, 2)), np.ones(4)))
    with pytest.raises(ValueError, match=r"length=5 but the xs have leading axis 3"):
        lax.scan(lambda c, x: (c, x), 0.0, np.ones(3), length=5)
    with pytest.raises(ValueError, match="pass length"):
        lax.scan(lambda c, x: (c, x), 0.0, None)
    with pytest.raises(TypeError, match="no leading axis"):
        lax.scan(lambda c, x: (c, x), 0.0, 1.0)


def test_error_fori_bounds_carry_and_pred():
    with pytest.raises(TypeError, match=r"lower: f64\[\] and upper: i64\[\]"):
        lax.fori_loop(0.0, 3, lambda i, x: x, 1.0)
    with pytest.raises(TypeError, match=r"fori_loop: body_fun .* init_val has type f64\[2\] "
                                        r"and body_fun returned f32\[2\]"):
        lax.fori_loop(0, 3, lambda i, x: x.astype(np.float32), np.ones(2))
    with pytest.raises(TypeError, match=r"pred must be a scalar, got f64\[3\]"):
        lax.cond(np.ones(3), lambda: 1.0, lambda: 2.0)


# ---------------------------------------------------------------------------------------------
# The Lorenz system: Euler integration, 1000 steps, gradient w.r.t. (sigma, rho, beta)

def lorenz_final(params, state0, dt=0.01, n=1000):
    sigma, rho, beta = params[0], params[1], params[2]

    def step(i, s):
        x, y, z = s[0], s[1], s[2]
        return s + dt * fnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])

    return fnp.sum(lax.fori_loop(0, n, step, state0))


def lorenz_numpy(params, state0, dt=0.01, n=1000):
    s = np.array(state0, np.float64)
    sigma, rho, beta = params
    for _ in range(n):
        x, y, z = s
        s = s + dt * np.array([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])
    return s.sum()


def test_lorenz_forward_and_gradient():
    p = np.array([10.0, 28.0, 8.0 / 3.0])
    s0 = np.array([1.0, 1.0, 1.0])
    _close(lorenz_final(p, s0), lorenz_numpy(p, s0), rtol=1e-12)
    g = funcad.grad(lorenz_final)(p, s0)
    eps = 1e-7  # the system is chaotic: a small step keeps the difference in the linear regime
    fd = [(lorenz_numpy(p + eps * e, s0) - lorenz_numpy(p - eps * e, s0)) / (2 * eps)
          for e in np.eye(3)]
    _close(g, fd, rtol=1e-4)
    # the same gradient with traced bounds (through while_loop's reverse mode)
    g2 = _eval_staged(funcad.grad(lambda q, n: lorenz_final(q, s0, n=n)), p, 1000)[0]
    _close(g2, g, rtol=1e-10)
