"""The IR: golden tests of the printer, the type checker, eval_shape and long chains."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.ir import Eqn, Jaxpr, JaxprTypeError, Var, typecheck_jaxpr


def test_print_sin_sum():
    got = str(funcad.make_jaxpr(lambda x: fnp.sum(fnp.sin(x)))(np.ones(3)))
    assert got == """\
{ lambda ; a:f64[3]. let
    b:f64[3] = sin a
    c:f64[] = reduce_sum[axes=(0,)] b
  in (c,) }"""


def test_print_constants_literals_and_several_outputs():
    w = np.arange(6.0).reshape(2, 3)

    def f(x, n):
        y = fnp.dot(w, x) * 2.0
        return y, (n + 1).astype(np.float32)

    got = str(funcad.make_jaxpr(f)(np.ones(3, np.float64), np.int32(4)))
    assert got == """\
{ lambda a:f64[2,3] ; b:f64[3] c:i32[]. let
    d:f64[2] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] a b
    e:f64[2] = mul d 2.0:f64[]
    f:i32[] = add c 1:i32[]
    g:f32[] = convert_element_type[new_dtype=float32] f
  in (e, g) }"""


def test_print_jvp_and_vmap_of_a_function():
    f = lambda x: fnp.exp(x) * x  # noqa: E731
    got = str(funcad.make_jaxpr(lambda x, t: funcad.jvp(f, (x,), (t,)))(1.0, 1.0))
    assert got == """\
{ lambda ; a:f64[] b:f64[]. let
    c:f64[] = exp a
    d:f64[] = mul b c
    e:f64[] = mul c a
    f:f64[] = mul d a
    g:f64[] = mul c b
    h:f64[] = add f g
  in (e, h) }"""
    got = str(funcad.make_jaxpr(funcad.vmap(lambda v: fnp.sum(v * 2.0)))(np.ones((4, 3))))
    assert got == """\
{ lambda ; a:f64[4,3]. let
    b:f64[4,3] = mul a 2.0:f64[]
    c:f64[4] = reduce_sum[axes=(1,)] b
  in (c,) }"""


def test_typecheck_accepts_traced_and_rejects_broken_jaxprs():
    closed = funcad.make_jaxpr(lambda x: fnp.sum(fnp.sin(x) * x))(np.ones(3))
    typecheck_jaxpr(closed.jaxpr)
    a = Var(funcad.core.ShapedArray((3,), np.float64))
    b = Var(funcad.core.ShapedArray((4,), np.float64))  # wrong declared shape
    bad = Jaxpr([], [a], [Eqn(lax.sin_p, [a], [b], {})], [b])
    with pytest.raises(JaxprTypeError, match="sin"):
        typecheck_jaxpr(bad)
    c = Var(funcad.core.ShapedArray((3,), np.float64))
    undefined = Jaxpr([], [a], [Eqn(lax.sin_p, [c], [b], {})], [b])
    with pytest.raises(JaxprTypeError, match="before it is defined"):
        typecheck_jaxpr(undefined)


def test_eval_shape_computes_nothing():
    calls = []

    def f(x, y):
        calls.append(1)
        return {"s": fnp.sum(x, axis=0), "p": fnp.outer(x[0], y).astype(np.float32)}

    out = funcad.eval_shape(f, funcad.ShapeDtypeStruct((5, 3), np.float64), np.ones(2))
    assert out["s"].shape == (3,) and out["s"].dtype == np.float64
    assert out["p"].shape == (3, 2) and out["p"].dtype == np.float32


def test_staged_evaluation_equals_eager_and_long_chains_do_not_recurse():
    def chain(x):
        for _ in range(10_000):
            x = x * 1.0001 + 0.0001
        return fnp.sum(x)

    x = np.linspace(0, 1, 4)
    closed = funcad.make_jaxpr(chain)(x)
    assert len(closed.eqns) == 20_001
    np.testing.assert_allclose(closed(x)[0], chain(x))
    g = funcad.grad(chain)(x)
    np.testing.assert_allclose(g, np.full(4, 1.0001 ** 10_000), rtol=1e-9)
