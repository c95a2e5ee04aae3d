"""Gaps in the core's coverage: the abstract_eval memo of the staging interpreter with
unhashable parameters, ``sub`` differentiated in both operands, pickling and copying of
interned avals, and the string rule of the ``funcad.numpy`` eager fast path."""
import copy
import pickle

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import core, lax
from funcad.core import Primitive, ShapedArray, get_aval
from funcad.ir import typecheck_jaxpr
from funcad.testing import check_grads

# ---------------------------------------------------------------------------------------------
# The abstract_eval memo (funcad/interpreters/stage.py, _cached_abstract_eval)


def _grow_prim(name):
    """A local, unregistered primitive: appends ``sum(extra)`` elements to a vector, so its
    output shape depends on the value of a parameter that may be a list or an array. Counts
    its abstract_eval calls, to see when the memo answers instead."""
    calls = []

    def impl(x, *, extra):
        return np.concatenate([x, np.zeros(int(np.sum(extra)), x.dtype)])

    def abstract_eval(x, *, extra):
        calls.append(extra)
        return ShapedArray((x.shape[0] + int(np.sum(extra)),), x.dtype)

    return Primitive(name, impl=impl, abstract_eval=abstract_eval, register=False), calls


@pytest.mark.parametrize("extra", [[1, 2], np.array([2, 1]), [np.int64(3)]],
                         ids=["list", "ndarray", "list-of-numpy-int"])
def test_abstract_eval_memo_falls_back_on_unhashable_params(extra):
    prim, calls = _grow_prim("test_grow_unhashable")
    with pytest.raises(TypeError):
        hash(extra)  # the case under test: the memo's key cannot be built
    x = np.arange(4.0)
    for _ in range(2):
        closed = funcad.make_jaxpr(lambda v: prim.bind(v, extra=extra))(x)
        (out,) = closed.jaxpr.outvars
        assert out.aval == ShapedArray((7,), np.float64)
    assert len(calls) == 2  # nothing cached: the rule ran on every trace
    typecheck_jaxpr(closed.jaxpr)
    # and eager evaluation gives what the aval says
    np.testing.assert_array_equal(prim.bind(x, extra=extra), np.r_[x, np.zeros(3)])


def test_abstract_eval_memo_keeps_unhashable_params_apart():
    # Two traces with different list values must not share an answer.
    prim, _ = _grow_prim("test_grow_apart")
    x = np.ones(2, np.float32)
    a = funcad.make_jaxpr(lambda v: prim.bind(v, extra=[1]))(x).jaxpr.outvars[0].aval
    b = funcad.make_jaxpr(lambda v: prim.bind(v, extra=[5]))(x).jaxpr.outvars[0].aval
    assert (a, b) == (ShapedArray((3,), np.float32), ShapedArray((7,), np.float32))


def test_abstract_eval_memo_caches_hashable_params_per_value():
    prim, calls = _grow_prim("test_grow_hashable")
    x = np.arange(3.0)
    for _ in range(3):
        closed = funcad.make_jaxpr(lambda v: prim.bind(v, extra=(1, 1)))(x)
        assert closed.jaxpr.outvars[0].aval == ShapedArray((5,), np.float64)
    assert len(calls) == 1  # memoised after the first trace
    closed = funcad.make_jaxpr(lambda v: prim.bind(v, extra=(4,)))(x)
    assert closed.jaxpr.outvars[0].aval == ShapedArray((7,), np.float64)
    assert len(calls) == 2  # a new parameter value is a new key
    closed = funcad.make_jaxpr(lambda v: prim.bind(v, extra=(4,)))(x.astype(np.float32))
    assert closed.jaxpr.outvars[0].aval == ShapedArray((7,), np.float32)
    assert len(calls) == 3  # and so is a new input aval


# ---------------------------------------------------------------------------------------------
# sub differentiated in both operands

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))
Y = RNG.normal(size=(4, 3))
TX = RNG.normal(size=(4, 3))
TY = RNG.normal(size=(4, 3))


def _sq_diff(x, y):
    return fnp.sum((x - y) ** 2)


@pytest.mark.parametrize("sub", [lambda x, y: x - y, fnp.subtract, lax.sub],
                         ids=["operator", "fnp.subtract", "lax.sub"])
def test_sub_jvp_and_vjp_in_both_operands(sub):
    out, t = funcad.jvp(sub, (X, Y), (TX, TY))
    np.testing.assert_allclose(out, X - Y)
    np.testing.assert_allclose(t, TX - TY)
    out, pullback = funcad.vjp(sub, X, Y)
    ct_x, ct_y = pullback(TX)
    np.testing.assert_allclose(ct_x, TX)
    np.testing.assert_allclose(ct_y, -TX)
    # the same through a staged jvp (tangents unknown: one sub equation of two tangents)
    staged = funcad.jit(lambda x, y, tx, ty: funcad.jvp(sub, (x, y), (tx, ty))[1])
    np.testing.assert_allclose(staged(X, Y, TX, TY), TX - TY)


def test_sub_grad_of_a_chain_matches_the_analytic_gradient():
    gx, gy = funcad.grad(_sq_diff, argnums=(0, 1))(X, Y)
    np.testing.assert_allclose(gx, 2 * (X - Y))
    np.testing.assert_allclose(gy, -2 * (X - Y))
    # second order: d/dy of d/dx sum((x - y)^2) . 1 = -2 everywhere
    hxy = funcad.grad(lambda y: fnp.sum(funcad.grad(_sq_diff)(X, y)))(Y)
    np.testing.assert_allclose(hxy, np.full_like(Y, -2.0))
    check_grads(_sq_diff, (X, Y), order=2)


@pytest.mark.parametrize("y", [0.7, np.float64(0.7), np.array(0.7)],
                         ids=["python-float", "numpy-scalar", "rank-0-array"])
def test_sub_grad_with_a_rank0_operand_broadcast(y):
    x = X[0]
    _, t = funcad.jvp(lambda a, b: a - b, (x, np.asarray(y)), (TX[0], np.array(0.5)))
    np.testing.assert_allclose(t, TX[0] - 0.5)
    gx, gy = funcad.grad(_sq_diff, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, 2 * (x - 0.7))
    np.testing.assert_allclose(gy, -2 * np.sum(x - 0.7))
    assert np.shape(gy) == ()
    # and the other way round: the rank-0 operand first
    gy2, gx2 = funcad.grad(_sq_diff, argnums=(0, 1))(y, x)
    np.testing.assert_allclose(gx2, -2 * (0.7 - x))
    np.testing.assert_allclose(gy2, 2 * np.sum(0.7 - x))
    assert np.shape(gy2) == ()


def test_vmap_of_grad_of_sub_over_both_operands():
    g = funcad.vmap(funcad.grad(_sq_diff, argnums=(0, 1)))
    gx, gy = g(X, Y)
    np.testing.assert_allclose(gx, 2 * (X - Y))
    np.testing.assert_allclose(gy, -2 * (X - Y))
    # a scalar y per row, so each example broadcasts a rank-0 operand
    ys = Y[:, 0]
    gx, gy = g(X, ys)
    np.testing.assert_allclose(gx, 2 * (X - ys[:, None]))
    np.testing.assert_allclose(gy, -2 * np.sum(X - ys[:, None], axis=1))
    # x mapped over columns, y over its only axis
    gx, gy = funcad.vmap(funcad.grad(_sq_diff, argnums=(0, 1)), in_axes=(1, 0))(X, Y[0])
    np.testing.assert_allclose(gx, (2 * (X - Y[0])).T)
    np.testing.assert_allclose(gy, -2 * np.sum(X - Y[0], axis=0))


# ---------------------------------------------------------------------------------------------
# Pickling and copying avals

AVAL_CASES = [((), "float64"), ((3,), "float32"), ((2, 0, 4), "int64"), ((5,), "int32"),
              ((), "bool"), ((1, 1), "bool")]


@pytest.fixture
def fresh_avals():
    """Empty intern tables for the test: the tests below depend on which avals are interned,
    and an earlier test may have overflowed the tables. (Emptied in place: the hot paths hold
    the dicts themselves. Clearing the aval memo clears get_aval's table with it.)"""
    core._SHAPED_MEMO.clear()
    assert not core._SHAPED and not core._AVALS


def _copies(a):
    return {"pickle": pickle.loads(pickle.dumps(a)),
            "pickle-protocol-0": pickle.loads(pickle.dumps(a, protocol=0)),
            "copy": copy.copy(a), "deepcopy": copy.deepcopy(a)}


@pytest.mark.parametrize("shape,dtype", AVAL_CASES)
def test_aval_pickle_and_copy_give_the_interned_aval(shape, dtype):
    a = ShapedArray(shape, np.dtype(dtype))  # as every rule makes one: an np.dtype
    for how, b in _copies(a).items():
        assert b == a and hash(b) == hash(a), how
        assert (b.shape, b.dtype) == (shape, np.dtype(dtype)), how
        assert type(b.shape) is tuple and all(type(d) is int for d in b.shape), how
        assert b is a, how  # avals are interned: unpickling does not make a second one
    # pickled inside a jaxpr's avals and a container as well
    back = pickle.loads(pickle.dumps({"avals": [a, a]}))
    assert back["avals"][0] is a and back["avals"][1] is a


@pytest.mark.parametrize("dtype", [np.float32, bool, "int32", np.int64, float],
                         ids=["np.float32", "bool", "'int32'", "np.int64", "float"])
def test_aval_pickle_round_trips_equal_for_any_dtype_spelling(dtype):
    a = ShapedArray((2,), dtype)
    for how, b in _copies(a).items():
        assert b == a and b.dtype == np.dtype(dtype), how
        assert b is ShapedArray((2,), np.dtype(dtype)), how


@pytest.mark.parametrize("dtype", [np.float32, bool, "int32"], ids=["np.float32", "bool",
                                                                     "'int32'"])
def test_aval_interning_does_not_depend_on_the_dtype_spelling(dtype):
    a = ShapedArray((6,), dtype)
    assert a is ShapedArray((6,), np.dtype(dtype))
    assert pickle.loads(pickle.dumps(a)) is a


def test_aval_from_get_aval_stays_interned_after_the_intern_table_overflows(fresh_avals):
    a = get_aval(np.zeros(3))
    for n in range(4100):  # more distinct avals than the intern table keeps
        ShapedArray((n, 5, 3), np.dtype("float64"))
    b = get_aval(np.zeros(3))
    assert b is ShapedArray((3,), np.dtype("float64"))
    assert pickle.loads(pickle.dumps(b)) is b and a == b


def test_aval_of_a_pickled_jaxpr_is_the_interned_aval(fresh_avals):
    closed = funcad.make_jaxpr(lambda x, n: (fnp.sin(x) * 2.0, n > 0))(
        np.ones((2, 3), np.float32), np.int32(1))
    back = pickle.loads(pickle.dumps([v.aval for v in closed.jaxpr.outvars]))
    assert back == [ShapedArray((2, 3), np.float32), ShapedArray((), np.bool_)]
    assert all(b is v.aval for b, v in zip(back, closed.jaxpr.outvars))


# ---------------------------------------------------------------------------------------------
# The eager fast path of funcad.numpy: strings are static options (funcad/numpy/_util.py eager)


@pytest.mark.parametrize("call,want", [
    (lambda: fnp.linalg.norm(np.arange(6.0).reshape(2, 3), "fro"),
     np.linalg.norm(np.arange(6.0).reshape(2, 3), "fro")),
    (lambda: fnp.linalg.qr(np.eye(3)[:, :2] + 1.0, "r"), np.linalg.qr(np.eye(3)[:, :2] + 1.0,
                                                                     "r")),
    (lambda: fnp.mean(np.arange(4.0), dtype="float32"), np.float32(1.5)),
    (lambda: fnp.trace(np.eye(3), dtype="int32"), np.int32(3)),
    (lambda: fnp.einsum("ij->j", np.arange(6.0).reshape(2, 3)), np.array([3.0, 5.0, 7.0])),
    # the upper triangle: [[2, 9], [9, 2]]
    (lambda: fnp.linalg.eigvalsh(np.array([[2.0, 9.0], [1.0, 2.0]]), "U"),
     np.array([-7.0, 11.0])),
    # NumPy's answer eagerly, although the traced path supports only order="C" so far
    (lambda: fnp.reshape(np.arange(6.0).reshape(2, 3), (6,), order="F"),
     np.array([0.0, 3.0, 1.0, 4.0, 2.0, 5.0])),
], ids=["norm-fro", "qr-r", "mean-dtype-str", "trace-dtype-str", "einsum", "eigvalsh-U",
        "reshape-order-F"])
def test_eager_numpy_with_string_options_matches_numpy(call, want):
    got = call()
    assert isinstance(got, np.ndarray | np.generic)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want)


@pytest.mark.parametrize("call", [
    lambda: fnp.mean(np.arange(4.0), dtype="float16"),
    lambda: fnp.cumsum(np.arange(4.0), dtype="int8"),
    lambda: fnp.trace(np.eye(3), dtype="float16"),
    lambda: fnp.einsum("ii", np.eye(3, dtype=bool), dtype="float16"),
], ids=["mean", "cumsum", "trace", "einsum"])
def test_eager_numpy_rejects_a_dtype_string_funcad_does_not_hold(call):
    # NumPy would compute these in float16/int8; funcad holds neither, so the eager path
    # must not hand NumPy's result back but raise, as the traced path does.
    with pytest.raises(TypeError, match="unsupported dtype|not supported"):
        call()


@pytest.mark.parametrize("dtype", [np.float16, "float16", "int8"])
def test_sum_rejects_a_dtype_funcad_does_not_hold(dtype):
    with pytest.raises(TypeError, match="unsupported dtype"):
        fnp.sum(np.arange(4.0), dtype=dtype)


def test_eager_numpy_string_as_data_is_not_static():
    # A string is an option (an order, a mode), never the array argument.
    with pytest.raises(TypeError, match="str"):
        fnp.reshape("abc", (1,))
    with pytest.raises(TypeError, match="str"):
        fnp.count_nonzero("abc")


# ---------------------------------------------------------------------------------------------
# Copying and pickling tracers: a copy is the tracer itself, a pickle is refused

@pytest.mark.parametrize("cp", [copy.copy, copy.deepcopy,
                                lambda x: copy.deepcopy({"w": x, "b": [x]})["b"][0]],
                         ids=["copy", "deepcopy", "deepcopy_dict"])
def test_copy_of_a_tracer_is_the_tracer(cp):
    def f(x):
        return fnp.sum(cp(x) * 2.0 + x ** 2)

    x = np.array([1.0, -2.0, 3.0])
    jaxpr = funcad.make_jaxpr(f)(x)
    assert "mul" in str(jaxpr) and not any(
        isinstance(v, np.ndarray) and v.shape == (3,) for v in jaxpr.consts)
    np.testing.assert_allclose(funcad.grad(f)(x), 2.0 + 2.0 * x)
    np.testing.assert_allclose(funcad.jit(f)(x), np.sum(2.0 * x + x ** 2))
    np.testing.assert_allclose(funcad.vmap(f)(np.stack([x, -x])),
                               [np.sum(2 * x + x ** 2), np.sum(-2 * x + x ** 2)])


@pytest.mark.parametrize("transform", [funcad.grad, funcad.jit, funcad.make_jaxpr,
                                       lambda f: funcad.vmap(f)])
def test_pickle_of_a_tracer_is_refused(transform):
    def f(x):
        pickle.dumps(x)
        return fnp.sum(x)

    with pytest.raises(TypeError, match="pickle of a traced value.*Pickle the concrete result"):
        transform(f)(np.ones(3))


# ---------------------------------------------------------------------------------------------
# ndarray methods and builtins on tracers, against NumPy's

_X = np.array([[0.3, -1.26, 2.0], [1.5, 0.04, -0.7]])
_METHODS = {
    "copy": lambda x: x.copy() * 2.0,
    "argsort": lambda x: x.argsort(axis=1),
    "argsort_stable": lambda x: x.argsort(axis=0, stable=True),
    "round": lambda x: x.round(1),
    "take": lambda x: x.take(np.array([2, 0]), axis=1),
    "take_flat": lambda x: x.take(np.array([5, 1])),
    "repeat": lambda x: x.repeat(2, axis=0),
    "cumprod": lambda x: x.cumprod(axis=1),
    "cumsum_dtype": lambda x: x.cumsum(dtype=np.float64),
    "mT": lambda x: x.mT,
    "astype_copy": lambda x: x.astype(np.float64, copy=False),
    "max_initial": lambda x: x.max(axis=0, initial=1.0),
    "min_initial_keepdims": lambda x: x.min(axis=1, keepdims=True, initial=0.0),
    "itemsize_nbytes": lambda x: x * (x.itemsize + x.nbytes),
    "divmod": lambda x: divmod(x, 0.7)[0] + divmod(x, 0.7)[1],
    "rdivmod": lambda x: divmod(2.5, x + 3.0)[1],
    "round_builtin": lambda x: round(x[0, 1], 1) * x,
}


@pytest.mark.parametrize("method", _METHODS.values(), ids=_METHODS.keys())
def test_tracer_methods_match_numpy(method):
    want = method(_X)
    for got in (funcad.jit(method)(_X), funcad.vmap(method)(_X[None])[0],
                funcad.jvp(method, (_X,), (np.ones_like(_X),))[0]):
        assert np.asarray(got).dtype == want.dtype
        np.testing.assert_allclose(got, want)


def test_tracer_round_builtin_follows_numpy_scalars():
    with pytest.raises(TypeError, match=r"round\(\) of a traced array of rank 2.*np\.round"):
        funcad.jit(lambda x: round(x, 1))(_X)
    with pytest.raises(core.ConcretizationError, match="int"):
        funcad.jit(lambda x: round(x[0, 0]))(_X)  # a Python int, as round(np.float64) gives


def test_tracer_mT_needs_a_matrix():
    with pytest.raises(ValueError, match=r"x\.mT .*at least 2 dimensions"):
        funcad.jit(lambda x: x.mT)(np.ones(3))


def test_tracer_copy_and_round_are_differentiable():
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(funcad.grad(lambda x: fnp.sum(x.copy() ** 2))(x), 2 * x)
    np.testing.assert_allclose(funcad.grad(lambda x: fnp.sum(divmod(x, 0.7)[1]))(x),
                               np.ones(3))
