"""Scatter at its edges: repeated indices under ``set`` (the last write wins, and only it
gets a cotangent), traced out-of-range indices (dropped by updates, clamped by gathers) and
``multiply`` at zero updates. Every case is checked against a NumPy loop written here, and
across eager, jit, vmap, jacfwd and jacrev."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp

N = 6
MODES = ["set", "add", "multiply", "min", "max"]


def _ref_update(x, idx, v, mode):
    """``x.at[idx].<mode>(v)`` for 1-D ``x``, one index at a time, out of range dropped."""
    out = np.array(x, dtype=float)
    for i, u in zip(np.atleast_1d(idx), np.broadcast_to(v, np.shape(np.atleast_1d(idx)))):
        if not -len(out) <= i < len(out):
            continue
        if mode == "set":
            out[i] = u
        elif mode == "add":
            out[i] += u
        elif mode == "multiply":
            out[i] *= u
        elif mode == "min":
            out[i] = min(out[i], u)
        else:
            out[i] = max(out[i], u)
    return out


def _ref_jac_updates(x, idx, v, mode):
    """d out / d v by the same loop, carrying derivatives (forward, one update at a time)."""
    out = np.array(x, dtype=float)
    d = np.zeros((len(out), len(v)))
    for k, (i, u) in enumerate(zip(idx, v)):
        if not -len(out) <= i < len(out):
            continue
        e = np.zeros(len(v))
        e[k] = 1.0
        if mode == "set":
            out[i], d[i] = u, e
        elif mode == "add":
            out[i], d[i] = out[i] + u, d[i] + e
        elif mode == "multiply":
            out[i], d[i] = out[i] * u, d[i] * u + out[i] * e
    return d


def _update(mode):
    return lambda x, i, v: getattr(fnp.at(x)[i], mode)(v)


IDX_CASES = {
    "repeats": np.array([1, 3, 1, 0, 1]),
    "out_of_range": np.array([2, 9, -1, -7, 6]),
    "negative": np.array([-1, -6, 0, -1, 5]),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(IDX_CASES))
def test_update_values_eager_jit_vmap(mode, case):
    rng = np.random.default_rng(0)
    x = rng.normal(size=N)
    idx = IDX_CASES[case]
    v = rng.normal(size=len(idx))
    f = _update(mode)
    want = _ref_update(x, idx, v, mode)
    np.testing.assert_allclose(funcad.jit(f)(x, idx, v), want)      # traced indices
    if case != "out_of_range":   # concrete out-of-range indices raise, as in NumPy
        np.testing.assert_allclose(f(fnp.asarray(x), idx, v), want)
    vs = rng.normal(size=(3, len(idx)))
    ids = np.stack([idx, np.roll(idx, 1), idx[::-1]])
    got = funcad.vmap(f, (None, 0, 0))(x, ids, vs)
    np.testing.assert_allclose(got, [_ref_update(x, i, w, mode) for i, w in zip(ids, vs)])


def test_concrete_out_of_range_raises():
    with pytest.raises(IndexError, match="out of bounds"):
        fnp.at(fnp.asarray(np.zeros(3)))[np.array([3])].set(1.0)


@pytest.mark.parametrize("mode", ["set", "add", "multiply"])
@pytest.mark.parametrize("case", sorted(IDX_CASES))
def test_update_jacobians(mode, case):
    rng = np.random.default_rng(1)
    x = rng.normal(size=N)
    idx = IDX_CASES[case]
    v = rng.normal(size=len(idx))
    v[0] = 0.0   # multiply at a zero update: no division in the rule
    f = _update(mode)
    want = _ref_jac_updates(x, idx, v, mode)
    for jac in (funcad.jacfwd, funcad.jacrev):
        got = funcad.jit(jac(f, argnums=2))(x, idx, v)
        np.testing.assert_allclose(got, want, atol=1e-12)
        assert np.all(np.isfinite(got))
        if case != "out_of_range":
            np.testing.assert_allclose(jac(f, argnums=2)(x, idx, v), want, atol=1e-12)


@pytest.mark.parametrize("case", sorted(IDX_CASES))
def test_set_operand_cotangent_zero_where_written(case):
    idx = IDX_CASES[case]
    x = np.arange(N, dtype=float)
    f = _update("set")
    jr = funcad.jit(funcad.jacrev(f, argnums=0))(x, idx, np.ones(len(idx)))
    written = np.zeros(N, bool)
    for i in idx:
        if -N <= i < N:
            written[i] = True
    np.testing.assert_array_equal(jr, np.diag(~written).astype(float))
    np.testing.assert_array_equal(funcad.jit(funcad.jacfwd(f, argnums=0))(x, idx, np.ones(len(idx))),
                                  jr)


def test_set_repeats_last_write_wins_everywhere():
    idx = np.array([2, 2, 2])
    v = np.array([1.0, 2.0, 3.0])
    x = np.zeros(4)
    f = _update("set")
    assert f(fnp.asarray(x), idx, v)[2] == 3.0
    assert funcad.jit(f)(x, idx, v)[2] == 3.0
    np.testing.assert_array_equal(funcad.grad(lambda v: f(x, idx, v)[2])(v), [0.0, 0.0, 1.0])


def test_multiply_grad_at_zero_second_order():
    # d/dv0 of x * v0 * v1 at v0 = 0 is x * v1, and d2/dv0 dv1 = x: no NaN
    idx = np.array([1, 1])
    x = np.array([0.0, 3.0])

    def f(v):
        return fnp.at(x)[idx].multiply(v)[1]

    v = np.array([0.0, 0.0])
    np.testing.assert_allclose(funcad.grad(f)(v), [0.0, 0.0])
    np.testing.assert_allclose(funcad.hessian(f)(v), [[0.0, 3.0], [3.0, 0.0]])
    np.testing.assert_allclose(funcad.jit(funcad.hessian(f))(v), [[0.0, 3.0], [3.0, 0.0]])
    # traced indices take the pairwise path
    g = lambda v, i: fnp.at(x)[i].multiply(v)[1]   # noqa: E731
    np.testing.assert_allclose(funcad.jit(funcad.hessian(g))(v, idx), [[0.0, 3.0], [3.0, 0.0]])


def test_gather_clamps_traced_out_of_range():
    x = np.arange(5.0)
    idx = np.array([0, 9, -1, -9, 4])
    want = x[np.clip(np.where(idx < 0, idx + 5, idx), 0, 4)]
    np.testing.assert_array_equal(funcad.jit(lambda x, i: x[i])(x, idx), want)
    np.testing.assert_array_equal(funcad.vmap(lambda i: fnp.take(x, i))(idx), want)
    g = funcad.jit(funcad.grad(lambda x, i: fnp.sum(x[i])))(x, idx)
    np.testing.assert_array_equal(g, np.bincount(np.clip(np.where(idx < 0, idx + 5, idx), 0, 4),
                                                 minlength=5))


def test_two_dimensional_traced_row_out_of_range_dropped():
    X = np.arange(12.0).reshape(3, 4)
    f = funcad.jit(lambda X, i, j: fnp.at(X)[i, j].set(-1.0))
    want = X.copy()
    want[0, 1] = -1.0
    np.testing.assert_array_equal(f(X, np.array([0, 5]), np.array(1)), want)
    np.testing.assert_array_equal(funcad.jit(lambda X, i: fnp.at(X)[i, 1:3].add(1.0))(
        X, np.array(3)), X)


@pytest.mark.parametrize("mode", ["set", "multiply"])
def test_vmap_of_jacrev_matches_a_loop(mode):
    f = _update(mode)
    x = np.arange(1.0, 5.0)
    ids = np.array([[1, 1, 2], [0, 3, 0], [7, -1, 3]])
    vs = np.array([[0.0, 2.0, 3.0], [1.5, 0.0, -1.0], [2.0, 2.0, 0.0]])
    got = funcad.vmap(funcad.jacrev(f, argnums=2), (None, 0, 0))(x, ids, vs)
    want = np.stack([_ref_jac_updates(x, i, v, mode) for i, v in zip(ids, vs)])
    np.testing.assert_allclose(got, want, atol=1e-12)
