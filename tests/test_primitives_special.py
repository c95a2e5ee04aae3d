"""Special points that random inputs never hit, pinned as explicit examples: zeros, ties,
kinks, clamped and dropped indices, integer powers at 0."""
import math

import numpy as np
import pytest

import funcad
from funcad import grad, jvp, lax, vjp, vmap
from funcad.testing import check_grads


def _d(f, x):
    """Derivative of a scalar function at a Python float."""
    return float(grad(f)(np.float64(x)))


@pytest.mark.parametrize("f, x, expected", [
    (lax.sin, 0.0, 1.0),
    (lax.sin, math.pi / 2, 0.0),
    (lax.cos, 0.0, 0.0),
    (lax.tanh, 0.0, 1.0),
    (lax.logistic, 0.0, 0.25),
    (lax.logistic, 40.0, 0.0),       # no overflow far out
    (lax.logistic, -800.0, 0.0),
    (lax.erf, 0.0, 2 / math.sqrt(math.pi)),
    (lax.abs, 0.0, 0.0),             # sign(0) = 0
    (lax.sign, 0.0, 0.0),
    (lax.floor, 2.0, 0.0),           # at the jump: zero, not a spike
    (lax.round, 2.5, 0.0),
    (lambda x: lax.integer_pow(x, 0), 0.0, 0.0),
    (lambda x: lax.integer_pow(x, 1), 0.0, 1.0),
    (lambda x: lax.integer_pow(x, 2), 0.0, 0.0),
    (lambda x: lax.pow(x, 2.0), 0.0, 0.0),
    (lambda x: lax.pow(x, 0.0), 0.0, 0.0),           # d/dx x**0 := 0, also at 0
    (lambda y: lax.pow(0.0, y), 2.0, 0.0),           # d/dy 0**y := 0 (log 0 never taken)
    (lambda x: lax.max(x, 1.0), 1.0, 0.5),           # ties split evenly
    (lambda x: lax.min(x, 1.0), 1.0, 0.5),
    (lambda x: lax.atan2(x, 1.0), 0.0, 1.0),
    (lambda x: lax.rem(x, 1.5), 2.0, 1.0),
    (lambda y: lax.rem(2.0, y), 1.5, -1.0),
    (lambda x: lax.sqrt(x), 4.0, 0.25),
    (lambda x: lax.cbrt(x), 8.0, 1 / 12),
])
def test_scalar_derivatives_at_special_points(f, x, expected):
    assert _d(f, x) == pytest.approx(expected, abs=1e-12)


def test_reductions_with_ties_and_zeros():
    x = np.array([1.0, 3.0, 3.0, -2.0])
    np.testing.assert_allclose(grad(lambda v: lax.reduce_max(v, (0,)))(x), [0, .5, .5, 0])
    np.testing.assert_allclose(grad(lambda v: lax.reduce_min(v, (0,)))(x), [0, 0, 0, 1])
    # products with zeros: d/dx_i prod = product of the others, exactly
    np.testing.assert_allclose(grad(lambda v: lax.reduce_prod(v, (0,)))(
        np.array([0.0, 2.0, 3.0])), [6.0, 0.0, 0.0])
    np.testing.assert_allclose(grad(lambda v: lax.reduce_prod(v, (0,)))(
        np.array([0.0, 0.0, 3.0])), [0.0, 0.0, 0.0])
    check_grads(lambda v: lax.reduce_prod(v, (1,)), (np.array([[0.0, 2.0, 3.0],
                                                               [1.5, 0.0, -1.0]]),), order=2)


def test_argmax_ties_take_the_first_and_have_no_tangent():
    x = np.array([[1.0, 5.0, 5.0], [2.0, 2.0, 0.0]])
    np.testing.assert_array_equal(lax.argmax(x, 1), [1, 0])
    np.testing.assert_array_equal(vmap(lambda r: lax.argmax(r, 0))(x), [1, 0])
    _, t = jvp(lambda v: lax.argmax(v, 1), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(t, [0, 0])


def test_gather_clamps_and_its_transpose_follows():
    x = np.arange(5.0)
    idx = np.array([[-3], [2], [9]])  # clamped to 0, 2, 4
    np.testing.assert_array_equal(lax.gather(x, idx), [0.0, 2.0, 4.0])
    _, f_vjp = vjp(lambda v: lax.gather(v, idx), x)
    np.testing.assert_array_equal(f_vjp(np.array([1.0, 10.0, 100.0]))[0],
                                  [1.0, 0.0, 10.0, 0.0, 100.0])


def test_scatter_drops_out_of_bounds_and_its_transpose_follows():
    x = np.zeros(4)
    idx = np.array([[1], [7], [1]])  # 7 is dropped; 1 gets two updates
    upd = np.array([2.0, 3.0, 5.0])
    np.testing.assert_array_equal(lax.scatter(x, idx, upd, mode="add"), [0, 7.0, 0, 0])
    _, f_vjp = vjp(lambda u: lax.scatter(x, idx, u, mode="add"), upd)
    np.testing.assert_array_equal(f_vjp(np.array([1.0, 2.0, 3.0, 4.0]))[0], [2.0, 0.0, 2.0])
    # "set" on a fresh position: the overwritten operand gets no cotangent
    _, f_vjp = vjp(lambda v: lax.scatter(v, np.array([[2]]), np.array([9.0]), mode="set"),
                   np.ones(4))
    np.testing.assert_array_equal(f_vjp(np.ones(4))[0], [1.0, 1.0, 0.0, 1.0])


def test_dynamic_slice_clamps_starts_under_every_transformation():
    x = np.arange(12.0).reshape(3, 4)
    f = lambda v, i: lax.dynamic_slice(v, (i, np.int64(3)), (2, 2))  # noqa: E731
    np.testing.assert_array_equal(f(x, np.int64(5)), x[1:3, 2:4])
    starts = np.array([-1, 0, 1, 7])
    out = vmap(f, in_axes=(None, 0))(x, starts)
    np.testing.assert_array_equal(out, np.stack([x[0:2, 2:4], x[0:2, 2:4], x[1:3, 2:4],
                                                 x[1:3, 2:4]]))
    g = grad(lambda v: lax.reduce_sum(f(v, np.int64(9)), (0, 1)))(x)
    expected = np.zeros_like(x)
    expected[1:3, 2:4] = 1.0
    np.testing.assert_array_equal(g, expected)


def test_select_and_convert_tangents():
    p = np.array([True, False, True])
    a, b = np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])
    _, t = jvp(lambda u, v: lax.select(p, u, v), (a, b), (np.ones(3), np.full(3, 2.0)))
    np.testing.assert_array_equal(t, [1.0, 2.0, 1.0])
    _, t = jvp(lambda u: lax.convert_element_type(u, np.int32), (a,), (np.ones(3),))
    np.testing.assert_array_equal(t, [0, 0, 0])
    g = grad(lambda u: lax.reduce_sum(lax.convert_element_type(u, np.float32), (0,)
                                      ).astype(np.float64))(a)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, np.ones(3))


def test_integer_pow_rejects_negative_powers_of_integers():
    with pytest.raises(TypeError, match="integer_pow.*negative power"):
        funcad.make_jaxpr(lambda n: lax.integer_pow(n, -2))(np.int64(3))
    assert float(lax.integer_pow(np.float64(2.0), -2)) == 0.25


def test_erfc_is_accurate_where_one_minus_erf_is_zero():
    import scipy.special as sps
    from funcad.scipy.special import erfc
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0, 6.0, 10.0, 20.0, 26.0])
    assert np.all(1.0 - np.vectorize(math.erf)(x[-4:]) < 1e-15)   # where 1 - erf is ~0
    for f in (erfc, funcad.jit(erfc)):
        got = np.asarray(f(x))
        np.testing.assert_allclose(got, sps.erfc(x), rtol=1e-14, atol=0)
        assert got[-1] > 0
    # d/dx erfc = -2/sqrt(pi) exp(-x**2), also far out where it is tiny
    want = -2 / math.sqrt(math.pi) * np.exp(-x * x)
    np.testing.assert_allclose(vmap(grad(erfc))(x), want, rtol=1e-14)
    np.testing.assert_allclose(funcad.jit(vmap(grad(grad(erfc))))(x), -2 * x * want,
                               rtol=1e-13)
