"""Reverse mode of reverse mode through while loops whose trip count is abstract.

Under ``jit``/``make_jaxpr``, inside a scan body, or for ``fori_loop`` with traced bounds,
the reverse mode of a while loop is ``while_transpose``; differentiating it in reverse mode
again goes through ``while_sweeps`` (funcad/primitives/control_while_transpose.py). The
references: finite differences of ``grad``, forward-over-reverse (``hessian``,
``jacfwd(grad(f))``), and plain Python loops (whose trip count is concrete).
"""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax, testing
from funcad.ir import eval_jaxpr, typecheck_jaxpr

grad, jit = funcad.grad, funcad.jit


def _close(a, b, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=rtol, atol=atol)


def _staged(f, *args):
    """``f`` through make_jaxpr (typechecked), then the jaxpr evaluated: abstract trip counts
    without compiling."""
    closed = funcad.make_jaxpr(f)(*args)
    typecheck_jaxpr(closed.jaxpr)
    out = eval_jaxpr(closed.jaxpr, closed.consts, funcad.tree_util.tree_flatten(args)[0])
    return out[0] if len(out) == 1 else out


def _fd(f, x, eps=1e-5):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def f_while(x):
    """A data-dependent trip count (1 to 5 iterations for the xs below)."""
    def body(c):
        i, v = c
        return i + 1, v * 1.3 + fnp.sin(v) * x
    return lax.while_loop(lambda c: c[1] < 3.0, body, (0, x))[1]


def f_while_python(x):
    v = x
    while v < 3.0:
        v = v * 1.3 + fnp.sin(v) * x
    return v


# a fori_loop with traced bounds, and the same loop in Python
from test_control_flow import f_fori_python, f_fori_traced as f_fori  # noqa: E402


def f_vec(x, w):
    """A vector state and a closed-over weight; stops when the sum reaches 4."""
    def body(c):
        i, v = c
        return i + 1, fnp.sin(v) * w + v * 1.1
    _, v = lax.while_loop(lambda c: fnp.sum(c[1]) < 4.0, body, (0, x))
    return fnp.sum(v * v)


XS = [0.5, 1.2, 2.0, 2.7]
XV, WV = np.array([0.3, 0.7, 1.1]), np.array([0.5, -0.2, 0.9])


def test_staged_grad_of_grad_while():
    gg = grad(grad(f_while))
    for x in XS:
        want = grad(grad(f_while_python))(x)
        got = _staged(gg, x)
        _close(got, want)
        _close(got, funcad.hessian(f_while)(x))
        _close(got, _fd(lambda y: _staged(grad(f_while), y), x), rtol=1e-6, atol=1e-8)
    assert "while_sweeps[" in str(funcad.make_jaxpr(gg)(2.0))


def test_jit_grad_of_grad_while():
    gg = jit(grad(grad(f_while)))
    for x in XS:
        _close(gg(x), funcad.jacfwd(grad(f_while))(x))
    # jit inside: grad(jit(f)) re-jits the transformed inner jaxpr
    _close(grad(grad(jit(f_while)))(1.3), grad(grad(f_while_python))(1.3))
    src = jit(grad(grad(f_while))).lower(1.3).source
    assert ".append((" in src and "range(__trips0 - 1, -1, -1)" in src


def test_fori_loop_traced_bounds_second_order():
    gg = jit(grad(grad(f_fori)))
    for n in [0, 1, 4]:
        want = grad(grad(f_fori_python))(0.8, n)
        _close(gg(0.8, n), want)
        _close(_staged(grad(grad(f_fori)), 0.8, n), want)
    # lanes with different trip counts
    ns = np.array([0, 3, 1, 5])
    got = jit(funcad.vmap(grad(grad(f_fori)), in_axes=(None, 0)))(0.8, ns)
    _close(got, [grad(grad(f_fori_python))(0.8, n) for n in ns])


def test_jacrev_of_grad_is_hessian():
    h = funcad.hessian(f_vec)(XV, WV)
    _close(_staged(funcad.jacrev(grad(f_vec)), XV, WV), h)
    _close(jit(funcad.jacrev(grad(f_vec)))(XV, WV), h)
    # mixed partials: d/dw of the gradient in x
    mixed = _staged(funcad.jacrev(grad(f_vec), argnums=1), XV, WV)
    _close(mixed, funcad.jacfwd(grad(f_vec), argnums=1)(XV, WV))


def test_vmap_of_grad_of_grad_while():
    xs = np.array(XS)
    want = [grad(grad(f_while_python))(x) for x in XS]
    _close(_staged(funcad.vmap(grad(grad(f_while))), xs), want)
    _close(funcad.vmap(jit(grad(grad(f_while))))(xs), want)


def test_third_order_and_check_grads():
    ggg = grad(grad(grad(f_while)))
    for x in [0.5, 2.0]:
        _close(_staged(ggg, x), ggg(x), rtol=1e-8)   # eager: concrete trip count
    # vjp-of-vjp and jvp-of-vjp of a jitted loop (abstract trip count inside jit)
    testing.check_grads(jit(f_while), (1.7,), order=2)
    testing.check_grads(lambda x: jit(f_vec)(x, WV), (XV,), order=2)


def test_nested_in_scan_body():
    def f(x):
        def step(c, _):
            v = lax.while_loop(lambda t: t[0] < 2,
                               lambda t: (t[0] + 1, fnp.sin(t[1]) * c + t[1]), (0, c))[1]
            return v * 0.5, v
        c, ys = lax.scan(step, x, None, length=3)
        return c + fnp.sum(ys)

    gg = grad(grad(f))
    for x in [0.2, 0.5]:
        _close(gg(x), funcad.hessian(f)(x))
        _close(gg(x), _fd(grad(f), x), rtol=1e-6, atol=1e-8)


def test_transposing_a_loop_whose_trip_count_depends_on_the_linear_value_says_what_to_do():
    def f(x):   # the predicate reads the carry, which is linear in x
        return lax.while_loop(lambda c: c < 10.0, lambda c: c * 2.0, x)

    t = funcad.linear_transpose(f, 1.0)
    with pytest.raises(TypeError, match=r"while_loop.*predicate.*stop_gradient.*fori_loop"):
        t(1.0)
