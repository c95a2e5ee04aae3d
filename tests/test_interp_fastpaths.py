"""The shortcuts that keep eager grad cheap on small problems, pinned against the general
paths they stand for: the backward pass's split into forward (non-linear) and linear
equations, JVP tracers' avals, the binary broadcast of shapes, and ``funcad.numpy``'s
elementwise functions binding their primitive directly."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.core import Primitive, get_aval
from funcad.interpreters.jvp import JVPTracer
from funcad.interpreters.transpose import backward_pass
from funcad.numpy._util import broadcast_shapes
from funcad.rule_util import UndefinedPrimal, Zero

# ---------------------------------------------------------------------------------------------
# backward_pass: non-linear equations run forwards, linear ones are transposed


def _mixed(c, x, unused):
    # s depends on c only (evaluated forwards); the rest is linear in x; ``unused`` gets no
    # cotangent; the outputs include an input itself and a value that does not depend on x
    s = lax.sin(c)
    y = lax.mul(lax.add(lax.mul(x, s), x), lax.cos(s))
    return y, x, lax.mul(s, 2.0)


def test_backward_pass_mixes_forward_and_linear_equations():
    c = np.array([0.3, -1.2, 2.0])
    x = np.array([1.0, 2.0, -0.5])
    closed = funcad.make_jaxpr(_mixed)(c, x, x)
    aval = get_aval(x)
    ct_y, ct_x = np.array([1.0, -2.0, 0.5]), np.array([0.25, 4.0, -1.0])
    got = backward_pass(closed.jaxpr, closed.consts,
                        [c, UndefinedPrimal(aval), UndefinedPrimal(aval)],
                        [ct_y, ct_x, np.ones(3)])
    assert got[0] is None                       # c is not linear: no cotangent
    want = ct_y * (np.sin(c) + 1.0) * np.cos(np.sin(c)) + ct_x
    np.testing.assert_allclose(got[1], want, rtol=1e-14)
    assert type(got[2]) is Zero and got[2].aval == aval   # linear, but unused


def test_backward_pass_skips_equations_without_cotangent():
    calls = []

    # a sin whose transpose rule records its calls (primitives are immutable once declared)
    spy = Primitive("spy_sin", impl=np.sin, abstract_eval=lambda x: x, register=False,
                    transpose=lambda *a, **k: calls.append(a) or [None])

    def f(x):
        return lax.mul(x, 3.0), spy.bind(x)  # sin of a linear input: never transposed

    closed = funcad.make_jaxpr(f)(np.ones(2))
    aval = get_aval(np.ones(2))
    got = backward_pass(closed.jaxpr, closed.consts, [UndefinedPrimal(aval)],
                        [np.array([1.0, 2.0]), None])
    np.testing.assert_array_equal(got[0], [3.0, 6.0])
    assert calls == []


def test_grad_through_linear_transpose_of_a_constant_closure():
    c = np.array([0.5, 1.5])
    f_t = funcad.linear_transpose(lambda x: x * fnp.sin(c) + x, np.ones(2))
    np.testing.assert_allclose(f_t(np.array([2.0, -1.0]))[0],
                               np.array([2.0, -1.0]) * (np.sin(c) + 1.0), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# JVP tracers carry the interned aval of their primal


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jvp_tracer_aval_is_the_interned_aval_of_its_primal(dtype):
    seen = []

    def f(x):
        y = fnp.tanh(x) * 2.0
        seen.extend([x, y])
        return fnp.sum(y)

    x = np.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3)
    funcad.jvp(f, (x,), (np.ones_like(x),))
    assert all(type(t) is JVPTracer for t in seen)
    for t in seen:
        assert t.aval is get_aval(t.primal)
        assert t.aval.shape == (2, 3) and t.aval.dtype == np.dtype(dtype)


# ---------------------------------------------------------------------------------------------
# broadcast_shapes: the two-shape path is NumPy's broadcast

_SHAPES = [(), (1,), (3,), (4,), (1, 1), (2, 1), (1, 3), (2, 3), (3, 3), (2, 1, 3), (4, 2, 1)]


@pytest.mark.parametrize("a", _SHAPES, ids=str)
def test_broadcast_shapes_of_two_matches_numpy(a):
    for b in _SHAPES:
        try:
            want = np.broadcast_shapes(a, b)
        except ValueError:
            with pytest.raises(ValueError, match=r"fnp\.test: .*broadcast together"):
                broadcast_shapes("fnp.test", a, b)
            continue
        for x, y in [(a, b), (list(a), list(b))]:
            got = broadcast_shapes("fnp.test", x, y)
            assert got == want and type(got) is tuple, (x, y)


# ---------------------------------------------------------------------------------------------
# Elementwise functions bind their primitive directly; bools keep their own primitives


@pytest.mark.parametrize("fn, prim", [(fnp.add, "or"), (fnp.multiply, "and"),
                                      (fnp.maximum, "max"), (fnp.equal, "eq")])
def test_boolean_elementwise_functions_stage_their_primitive(fn, prim):
    a = np.array([True, False, True])
    b = np.array([True, True, False])
    closed = funcad.make_jaxpr(fn)(a, b)
    assert [e.prim.name for e in closed.jaxpr.eqns] == [prim]
    np.testing.assert_array_equal(funcad.jit(fn)(a, b), fn.__wrapped_numpy__(a, b))


@pytest.mark.parametrize("fn, prim", [(fnp.add, "add"), (fnp.subtract, "sub"),
                                      (fnp.multiply, "mul"), (fnp.true_divide, "div"),
                                      (fnp.sin, "sin"), (fnp.negative, "neg")])
def test_float_elementwise_functions_stage_one_equation(fn, prim):
    args = [np.linspace(0.5, 2.0, 4, dtype=np.float32)] * (2 if fn.__wrapped_numpy__.nin == 2
                                                           else 1)
    closed = funcad.make_jaxpr(fn)(*args)
    assert [e.prim.name for e in closed.jaxpr.eqns] == [prim]
    assert closed.jaxpr.outvars[0].aval.dtype == np.float32
