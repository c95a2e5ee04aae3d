"""sort and argsort: NumPy's results (stable, NaNs last) eagerly, traced, under jit and vmap,
and exact derivatives (a permutation of the tangent) to second order."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax, testing

RNG = np.random.default_rng(7)
TIES = np.array([[3.0, np.nan, 1.0, 2.0, 1.0, -0.0], [0.0, -1.0, 5.0, 5.0, 2.0, np.nan]])


def _traced(f):
    """``f`` through a transformation that keeps values concrete (not NumPy's fast path)."""
    return lambda *a: funcad.vmap(f)(*[x[None] for x in a])[0]


@pytest.mark.parametrize("axis", [-1, 0, None])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32", "bool"])
def test_sort_and_argsort_match_numpy(axis, dtype):
    x = (TIES if dtype.startswith("float") else RNG.integers(-3, 3, (2, 6))).astype(dtype)
    for f, want in ((fnp.sort, np.sort(x, axis=axis, kind="stable")),
                    (fnp.argsort, np.argsort(x, axis=axis, kind="stable"))):
        g = lambda a: f(a, axis=axis)  # noqa: E731
        for run in (g, _traced(g), funcad.jit(g)):
            got = np.asarray(run(x))
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def test_descending_is_stable_and_puts_nans_first():
    x = TIES
    idx = np.asarray(funcad.jit(lambda a: fnp.argsort(a, descending=True))(x))
    np.testing.assert_array_equal(idx, [[1, 0, 3, 2, 4, 5], [5, 2, 3, 4, 0, 1]])
    np.testing.assert_array_equal(fnp.argsort(x, descending=True), idx)
    np.testing.assert_array_equal(np.asarray(funcad.jit(
        lambda a: fnp.sort(a, descending=True))(x)), np.flip(np.sort(x), -1))


def test_sort_key_val_and_several_operands():
    k = np.array([[2.0, 0.0, 1.0]])
    v = np.array([[10, 20, 30]])
    sk, sv = lax.sort_key_val(k, v)
    np.testing.assert_array_equal(sv, [[20, 30, 10]])
    a, b, c = funcad.jit(lambda k, v: lax.sort((k, v, k * 2)))(k, v)
    np.testing.assert_array_equal(np.asarray(b), [[20, 30, 10]])
    np.testing.assert_array_equal(np.asarray(c), [[0.0, 2.0, 4.0]])


def test_sort_derivatives():
    x = RNG.permutation(20).reshape(4, 5) * 0.25 - 2.0   # distinct values
    f = lambda a: fnp.sort(a, axis=0) ** 3 * np.arange(5.0)  # noqa: E731
    testing.check_grads(f, (x,), order=2)
    testing.check_grads(lambda a: fnp.sort(a, axis=None), (x,), order=2)
    w = np.arange(20.0).reshape(4, 5)
    g = lambda a: fnp.sum(fnp.sort(a, axis=1) * w)  # noqa: E731
    # the gradient of a weighted sorted sum puts each weight at the element that took its place
    want = np.take_along_axis(w, np.argsort(np.argsort(x, axis=1), axis=1), axis=1)
    for run in (funcad.grad(g), funcad.jit(funcad.grad(g))):
        np.testing.assert_array_equal(np.asarray(run(x)), want)
    per_row = funcad.vmap(funcad.grad(lambda r: fnp.sum(fnp.sort(r) * np.arange(5.0))))(x)
    np.testing.assert_array_equal(per_row, np.argsort(np.argsort(x, axis=1), axis=1))


def test_argsort_has_no_derivative():
    x = np.array([0.3, -1.0, 2.0])
    # d/dx sum(argsort(x) * x) is argsort(x): the indices are constants
    np.testing.assert_array_equal(funcad.grad(lambda a: fnp.sum(fnp.argsort(a) * a))(x),
                                  np.argsort(x).astype(float))


def test_bad_arguments_say_what_to_do():
    x = np.ones((2, 3))
    with pytest.raises(NotImplementedError, match="num_keys=2"):
        funcad.jit(lambda a: lax.sort((a, a), num_keys=2))(x)
    with pytest.raises(TypeError, match="the keys' shape"):
        funcad.jit(lambda a, b: lax.sort((a, b)))(x, np.ones(3))
    with pytest.raises(TypeError, match="scalar"):
        funcad.jit(lambda a: lax.sort(a[0, 0]))(x)
    with pytest.raises(TypeError, match="order="):
        funcad.jit(lambda a: fnp.sort(a, order="f"))(x)
    with pytest.raises(TypeError, match="keys"):
        funcad.linear_transpose(lambda k: lax.sort((k, x))[1], x)(x)
