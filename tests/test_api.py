"""The public transformations end to end: pytrees, argnums, has_aux, higher derivatives,
Python control flow, vmap's axes, and very long programs."""
import collections
import dataclasses
import math

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import (eval_shape, grad, hessian, jacfwd, jacrev, jvp, linear_transpose,
                    linearize, make_jaxpr, tree_util, value_and_grad, vjp, vmap)
from funcad.testing import check_grads, check_staged, check_vmap

RNG = np.random.default_rng(0)
X3 = np.array([0.3, -0.7, 1.1])
M34 = RNG.normal(size=(3, 4))

Pair = collections.namedtuple("Pair", "a b")


@tree_util.register_dataclass
@dataclasses.dataclass
class Linear:
    w: np.ndarray
    b: np.ndarray
    name: str = dataclasses.field(default="layer", metadata={"static": True})


def _loss(p: Linear, x):
    return fnp.sum(fnp.tanh(x @ p.w + p.b) ** 2)


def _close(a, b, tol=1e-10):
    la, ta = tree_util.tree_flatten(a)
    lb, tb = tree_util.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for u, v in zip(la, lb):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


# ---------------------------------------------------------------------------------------------
# Pytrees, argnums, has_aux

def test_grad_of_dict_namedtuple_and_nested_inputs():
    def f(d, p):
        return fnp.sum(d["x"] * p.a) + fnp.sum(fnp.sin(d["y"][0]) * p.b)

    d = {"x": X3, "y": [X3 * 2]}
    p = Pair(np.ones(3), np.full(3, 2.0))
    g_d, g_p = grad(f, argnums=(0, 1))(d, p)
    assert isinstance(g_p, Pair) and set(g_d) == {"x", "y"}
    _close(g_d, {"x": p.a, "y": [np.cos(X3 * 2) * p.b]})
    _close(g_p, Pair(X3, np.sin(X3 * 2)))


def test_grad_of_registered_dataclass_keeps_static_fields():
    p = Linear(RNG.normal(size=(3, 2)), np.array([0.1, -0.2]), name="dense")
    g = grad(_loss)(p, X3)
    assert isinstance(g, Linear) and g.name == "dense"
    assert g.w.shape == (3, 2) and g.b.shape == (2,)
    h = np.tanh(X3 @ p.w + p.b)
    dz = 2 * h * (1 - h ** 2)
    _close(g, Linear(np.outer(X3, dz), dz, name="dense"))
    check_grads(_loss, (p, X3), order=2)


def test_argnums_int_tuple_and_negative():
    f = lambda x, y, z: fnp.sum(x * y ** 2 * z ** 3)  # noqa: E731
    x, y, z = 1.5, 2.0, 0.5
    assert float(grad(f)(x, y, z)) == pytest.approx(y ** 2 * z ** 3)
    assert float(grad(f, argnums=-1)(x, y, z)) == pytest.approx(3 * x * y ** 2 * z ** 2)
    gx, gz = grad(f, argnums=(0, 2))(x, y, z)
    assert (float(gx), float(gz)) == pytest.approx((y ** 2 * z ** 3, 3 * x * y ** 2 * z ** 2))
    (gy,) = grad(f, argnums=(1,))(x, y, z)
    assert float(gy) == pytest.approx(2 * x * y * z ** 3)


def test_has_aux_everywhere():
    def f(x):
        return fnp.sum(x ** 2), {"mean": fnp.mean(x)}

    g, aux = grad(f, has_aux=True)(X3)
    _close(g, 2 * X3)
    assert not isinstance(aux["mean"], funcad.core.Tracer)  # aux comes out as a plain value
    assert float(aux["mean"]) == pytest.approx(X3.mean())
    (v, aux2), g2 = value_and_grad(f, has_aux=True)(X3)
    assert float(v) == pytest.approx(np.sum(X3 ** 2)) and float(aux2["mean"]) == aux["mean"]
    _close(g2, g)
    out, t, aux3 = jvp(f, (X3,), (np.ones(3),), has_aux=True)
    assert float(t) == pytest.approx(2 * X3.sum()) and float(aux3["mean"]) == aux["mean"]
    out, vjp_fn, aux4 = vjp(f, X3, has_aux=True)
    _close(vjp_fn(np.float64(3.0))[0], 6 * X3)
    assert not isinstance(aux3["mean"], funcad.core.Tracer)
    assert not isinstance(aux4["mean"], funcad.core.Tracer)
    # aux of an inner transformation is a value of the outer one
    outer = grad(lambda x: grad(f, has_aux=True)(x)[1]["mean"] * 3.0)(X3)
    _close(outer, np.full(3, 1.0))
    j, aux5 = jacrev(lambda x: (fnp.sin(x), x[0]), has_aux=True)(X3)
    _close(j, np.diag(np.cos(X3)))
    j2, aux6 = jacfwd(lambda x: (fnp.sin(x), x[0]), has_aux=True)(X3)
    _close(j2, j)
    assert float(aux5) == float(aux6) == X3[0]


def test_jvp_vjp_linearize_with_pytree_outputs():
    def f(x, d):
        return {"s": fnp.sin(x) * d["k"], "t": (fnp.exp(x), fnp.sum(x * d["k"]))}

    d = {"k": np.array([2.0, 3.0, 4.0])}
    tx, td = np.array([1.0, 0.5, -1.0]), {"k": np.array([0.1, 0.2, 0.3])}
    out, t_out = jvp(f, (X3, d), (tx, td))
    expected_t = {"s": np.cos(X3) * tx * d["k"] + np.sin(X3) * td["k"],
                  "t": (np.exp(X3) * tx, np.sum(tx * d["k"] + X3 * td["k"]))}
    _close(t_out, expected_t)
    out2, f_jvp = linearize(f, X3, d)
    _close(out2, out)
    _close(f_jvp(tx, td), expected_t)
    check_grads(f, (X3, d), order=2)


def test_integer_inputs_get_zero_tangents():
    f = lambda x, n: x * n  # noqa: E731
    out, t = jvp(f, (2.0, 3), (1.0, 0))
    assert float(out) == 6.0 and float(t) == 3.0
    gx, gn = vjp(f, 2.0, 3)[1](1.0)
    assert float(gx) == 3.0 and float(gn) == 0 and np.asarray(gn).dtype.kind == "i"
    assert float(grad(f)(2.0, 3)) == 3.0


def test_linear_transpose_and_eval_shape():
    A = M34

    def lin(x):
        return {"y": fnp.dot(A, x), "z": 2.0 * x}

    ct = {"y": np.ones(3), "z": np.arange(4.0)}
    (x_ct,) = linear_transpose(lin, np.zeros(4))(ct)
    _close(x_ct, A.T @ np.ones(3) + 2 * np.arange(4.0))
    shapes = eval_shape(lambda x, y: (x @ y, fnp.sum(y, axis=0).astype(np.int32)),
                        np.zeros((2, 3)), funcad.ShapeDtypeStruct((3, 5), np.float64))
    assert shapes[0].shape == (2, 5) and shapes[0].dtype == np.float64
    assert shapes[1].shape == (5,) and shapes[1].dtype == np.int32


def test_make_jaxpr_prints_and_evaluates():
    f = lambda x: fnp.sum(fnp.sin(x) * 2.0)  # noqa: E731
    closed = make_jaxpr(f)(X3)
    text = str(closed)
    assert "sin" in text and "reduce_sum" in text and "f64[3]" in text
    check_staged(f, (X3,))
    assert float(closed(X3)[0]) == pytest.approx(2 * np.sin(X3).sum())


# ---------------------------------------------------------------------------------------------
# Higher derivatives

@pytest.mark.parametrize("fn, d4", [
    (fnp.sin, np.sin),
    (fnp.exp, np.exp),
    (lambda x: x ** 5, lambda x: 120.0 * x),
    (lambda x: fnp.log(x), lambda x: -6.0 / x ** 4),
])
def test_fourth_derivative_matches_analytic(fn, d4):
    d = fn
    for _ in range(4):
        d = grad(d)
    for x in (0.3, 1.7):
        assert float(d(x)) == pytest.approx(float(d4(x)), rel=1e-10)


def _hess_fn(x):
    return fnp.sum(fnp.sin(x) * x[::-1] ** 2) + x[0] * x[1] * x[2]


def _hess_analytic(x):
    # f = sin(x0) x2^2 + sin(x1) x1^2 + sin(x2) x0^2 + x0 x1 x2
    x0, x1, x2 = x
    s, c = np.sin, np.cos
    h00 = -s(x0) * x2 ** 2 + 2 * s(x2)
    h11 = -s(x1) * x1 ** 2 + 4 * c(x1) * x1 + 2 * s(x1)
    h22 = -s(x2) * x0 ** 2 + 2 * s(x0)
    h02 = 2 * c(x0) * x2 + 2 * c(x2) * x0 + x1
    return np.array([[h00, x2, h02], [x2, h11, x0], [h02, x0, h22]])


def test_hessian_three_ways_agree_with_analytic():
    x = np.array([0.3, 0.5, 0.9])
    H = _hess_analytic(x)
    _close(jacfwd(jacrev(_hess_fn))(x), H)
    _close(jacrev(jacfwd(_hess_fn))(x), H)
    _close(hessian(_hess_fn)(x), H)
    _close(jacfwd(jacfwd(_hess_fn))(x), H)
    _close(jacrev(jacrev(_hess_fn))(x), H)


def test_hessian_vector_product_forward_over_reverse():
    x, v = np.array([0.3, 0.5, 0.9]), np.array([1.0, -2.0, 0.5])
    _, hvp = jvp(grad(_hess_fn), (x,), (v,))
    _close(hvp, _hess_analytic(x) @ v)


def test_jacobians_of_pytrees_and_argnums():
    def f(x, y):
        return {"a": x * y[0], "b": fnp.sum(x) * y}

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0, 5.0])
    jf, jr = jacfwd(f, argnums=(0, 1))(x, y), jacrev(f, argnums=(0, 1))(x, y)
    _close(jf, jr)
    _close(jr["a"][0], np.eye(2) * y[0])
    _close(jr["a"][1], np.stack([x, np.zeros(2), np.zeros(2)], axis=1))
    _close(jr["b"][0], np.outer(y, np.ones(2)))
    _close(jr["b"][1], np.eye(3) * x.sum())


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] at x = 1 is 1 (not 2)
    assert float(grad(lambda x: x * grad(lambda y: x + y)(1.0))(1.0)) == 1.0
    f = lambda x: x * jvp(lambda y: x + y, (1.0,), (1.0,))[1]  # noqa: E731
    assert float(jvp(f, (1.0,), (1.0,))[1]) == 1.0
    # nested grads of a closure over the outer variable
    g = grad(lambda x: grad(lambda y: x * y ** 2)(x))  # d/dx (2 x * x) = 4x
    assert float(g(3.0)) == pytest.approx(12.0)


# ---------------------------------------------------------------------------------------------
# Python control flow

def _piecewise(x):
    if x > 0:
        return fnp.sin(x)
    return x ** 3


def _looped(x, n):
    total = x
    while total < n:
        total = total * 2.0
    return total


def test_python_control_flow_on_concrete_values_under_grad_and_jvp():
    assert float(grad(_piecewise)(0.5)) == pytest.approx(np.cos(0.5))
    assert float(grad(_piecewise)(-0.5)) == pytest.approx(3 * 0.25)
    assert float(jvp(_piecewise, (-2.0,), (1.0,))[1]) == pytest.approx(12.0)
    assert float(grad(_looped)(1.5, 10.0)) == 8.0  # 1.5 -> 12 after 3 doublings
    assert float(grad(grad(_piecewise))(0.5)) == pytest.approx(-np.sin(0.5))
    out = vmap(grad(lambda x: fnp.sum(x) if x.shape[0] > 1 else x[0]))(np.ones((2, 3)))
    _close(out, np.ones((2, 3)))


@pytest.mark.parametrize("fn, args", [(_piecewise, (0.5,)), (_looped, (1.5, 10.0)),
                                      (lambda x: float(x) + 1.0, (2.0,)),
                                      (lambda x: int(x), (2,))])
def test_python_control_flow_on_traced_values_under_make_jaxpr(fn, args):
    with pytest.raises(funcad.ConcretizationError, match="lax.cond"):
        make_jaxpr(fn)(*args)


def _repeat(x, n):
    while n > 0:
        x = fnp.sin(x)
        n -= 1
    return x


def test_static_argnums_allow_python_control_flow():
    with pytest.raises(funcad.ConcretizationError, match="static_argnums"):
        make_jaxpr(_repeat)(1.5, 3)
    closed = make_jaxpr(_repeat, static_argnums=1)(1.5, 3)
    assert [a.shape for a in closed.in_avals] == [()]
    assert [e.prim.name for e in closed.eqns] == ["sin"] * 3


# ---------------------------------------------------------------------------------------------
# vmap

def test_vmap_of_grad_equals_loop_of_grads():
    f = lambda x, w: fnp.sum(fnp.tanh(x * w) ** 2)  # noqa: E731
    xs, w = M34, np.array([0.5, -1.0, 2.0, 0.1])
    batched = vmap(grad(f), in_axes=(0, None))(xs, w)
    _close(batched, np.stack([grad(f)(x, w) for x in xs]))
    per_w = vmap(grad(f, argnums=1), in_axes=(0, None))(xs, w)
    _close(per_w, np.stack([grad(f, argnums=1)(x, w) for x in xs]))


def test_grad_of_vmap():
    f = lambda x: fnp.sum(vmap(lambda r: fnp.sin(r) @ r)(x))  # noqa: E731
    _close(grad(f)(M34), np.cos(M34) * M34 + np.sin(M34))
    check_grads(f, (M34,), order=2)


def test_vmap_in_axes_out_axes_pytrees_and_none():
    def f(d, s, p):
        return {"u": d["a"] * s + p.a, "v": (d["b"].sum(), p.b)}

    d = {"a": RNG.normal(size=(3, 4)), "b": RNG.normal(size=(4, 5))}
    p = Pair(np.arange(3.0), np.array(7.0))
    in_axes = ({"a": 1, "b": 0}, None, Pair(None, None))
    out_axes = {"u": 1, "v": (0, None)}
    check_vmap(f, (d, 2.0, p), in_axes, out_axes)
    out = vmap(f, in_axes, out_axes)(d, 2.0, p)
    assert out["u"].shape == (3, 4) and out["v"][0].shape == (4,) and out["v"][1].shape == ()


def test_vmap_axis_size_kwargs_and_negative_axes():
    out = vmap(lambda: fnp.ones(2), axis_size=3)()
    _close(out, np.ones((3, 2)))
    out = vmap(lambda x, c: x * c, in_axes=(None, None), axis_size=2)(np.arange(3.0), 2.0)
    _close(out, np.tile(np.arange(3.0) * 2, (2, 1)))
    out = vmap(lambda x, y=None: x + y)(np.ones((2, 3)), y=np.arange(6.0).reshape(2, 3))
    _close(out, 1 + np.arange(6.0).reshape(2, 3))
    check_vmap(lambda x: fnp.cumsum(x, axis=0), (M34,), -1, -1)


def test_nested_vmap_over_different_axes():
    x = RNG.normal(size=(2, 3, 4))
    y = RNG.normal(size=(3, 4))
    f = lambda a, b: fnp.sin(a) * b  # noqa: E731  a: (2,), b: ()
    inner = vmap(f, in_axes=(1, 0))  # over the last axis of a (2, 4) slice of x
    outer = vmap(inner, in_axes=(1, 0), out_axes=2)  # over x's axis 1 and y's axis 0
    out = outer(x, y)
    expected = np.empty((4, 2, 3))
    for j in range(3):
        for k in range(4):
            expected[k, :, j] = np.sin(x[:, j, k]) * y[j, k]
    _close(out, expected)
    check_vmap(inner, (x, y), (1, 0), 2)  # outer is vmap(inner, (1, 0), 2)
    # and the same composition differentiated
    g = grad(lambda x: fnp.sum(outer(x, y) ** 2))(x)
    _close(g, 2 * np.sin(x) * np.cos(x) * y[None] ** 2)


# ---------------------------------------------------------------------------------------------
# Long programs: nothing may recurse per equation

_STEPS = 3334  # three primitives per step: 10,002 equations


def _chain(x):
    for _ in range(_STEPS):
        x = x + fnp.sin(x) * 1e-4
    return x


def _chain_reference(x):
    d = 1.0
    for _ in range(_STEPS):
        d *= 1.0 + 1e-4 * math.cos(x)
        x = x + math.sin(x) * 1e-4
    return x, d


def test_ten_thousand_op_chain():
    x0 = 0.5
    value, deriv = _chain_reference(x0)
    closed = make_jaxpr(_chain)(x0)
    assert len(closed.eqns) >= 10_000
    funcad.ir.typecheck_jaxpr(closed.jaxpr)
    assert float(closed(x0)[0]) == pytest.approx(value, rel=1e-12)
    assert float(grad(_chain)(x0)) == pytest.approx(deriv, rel=1e-10)
    _, f_jvp = linearize(_chain, x0)
    assert float(f_jvp(1.0)) == pytest.approx(deriv, rel=1e-10)
    (ct,) = linear_transpose(_linear_chain, np.ones(2))(np.array([1.0, 2.0]))
    _close(ct, np.array([1.0, 2.0]) * 1.00005 ** 5000)


def _linear_chain(t):
    for _ in range(5000):  # 15,000 equations
        t = t * 0.5 + t * 0.50005
    return t
