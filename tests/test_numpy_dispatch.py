"""Plain NumPy inside transformations (funcad/numpy/_dispatch.py).

A corpus of functions written once against a module ``m``: called with ``m=numpy`` they are
plain NumPy code, with ``m=funcad.numpy`` their funcad twin. The NumPy version is
differentiated (grad, jvp), vmapped and jitted, and compared with NumPy itself (eager values,
a Python loop for vmap) and with the twin under the same transformation. Then every error:
NumPy functions funcad lacks, conversions of tracers to arrays or Python values, ``out=``,
keywords the twin does not take, in-place ufunc methods and ``x[i] = v``.
"""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import grad, jit, jvp, make_jaxpr, vjp, vmap
from funcad.core import TracerArrayConversionError

W = np.array([[1.0, -0.5, 0.25], [0.3, 2.0, -1.2], [0.7, -0.1, 0.9]])  # a fixed mixing matrix


def _corpus():
    """(name, f(m, x)) with x of shape (3, 3): positive entries, diagonally dominant."""
    c = {
        "dot": lambda m, x: m.dot(x[0], x[1]),
        "sum_axis0": lambda m, x: m.sum(x, axis=0),
        "sum_keepdims": lambda m, x: m.sum(x, axis=1, keepdims=True),
        "mean": lambda m, x: m.mean(x, axis=1),
        "var": lambda m, x: m.var(x, axis=0),
        "std": lambda m, x: m.std(x),
        "prod": lambda m, x: m.prod(x, axis=0),
        "max": lambda m, x: m.max(x, axis=0),
        "amin": lambda m, x: m.amin(x, axis=1),
        "cumsum": lambda m, x: m.cumsum(x, axis=1),
        "cumprod": lambda m, x: m.cumprod(x[0]),
        "sin_cos": lambda m, x: m.sin(x) * m.cos(x),
        "exp": lambda m, x: m.exp(x),
        "log": lambda m, x: m.log(x),
        "sqrt": lambda m, x: m.sqrt(x),
        "tanh": lambda m, x: m.tanh(x),
        "arctan": lambda m, x: m.arctan(x),
        "log1p_expm1": lambda m, x: m.log1p(x) + m.expm1(x),
        "square": lambda m, x: m.square(x),
        "reciprocal": lambda m, x: m.reciprocal(x),
        "abs": lambda m, x: m.abs(x - 1.0),
        "power": lambda m, x: m.power(x, 3),
        "hypot": lambda m, x: m.hypot(x, x.T),
        "arctan2": lambda m, x: m.arctan2(x, x.T + 1.0),
        "maximum": lambda m, x: m.maximum(x, 2.0 * x.T),
        "minimum": lambda m, x: m.minimum(x, 2.0 * x.T),
        "logaddexp": lambda m, x: m.logaddexp(x, 2.0 * x.T),
        "where": lambda m, x: m.where(x > 1.2, x, -x),
        "clip": lambda m, x: m.clip(x, 0.8, 1.3),
        "concatenate": lambda m, x: m.concatenate([x, x ** 2], axis=0),
        "stack": lambda m, x: m.stack([x[0], x[2]], axis=1),
        "hstack_vstack": lambda m, x: m.hstack([x, x]) + m.vstack([x, x]).T,
        "reshape": lambda m, x: m.reshape(x, (9,)) * m.arange(9.0),
        "transpose": lambda m, x: m.transpose(x) * W,
        "swap_moveaxis": lambda m, x: m.swapaxes(x, 0, 1) + m.moveaxis(x, 0, -1) * W,
        "expand_squeeze": lambda m, x: m.squeeze(m.expand_dims(x, 0) * W),
        "flip_roll": lambda m, x: m.flip(x, axis=0) * W + m.roll(x, 1, axis=1),
        "tile_repeat": lambda m, x: m.tile(x[0], 2) * m.repeat(x[1], 2),
        "sort": lambda m, x: m.sort(x * W, axis=1),
        "outer_inner": lambda m, x: m.outer(x[0], x[1]) + m.inner(x, W),
        "matmul": lambda m, x: m.matmul(x, x.T),
        "tensordot": lambda m, x: m.tensordot(x, W, axes=1),
        "einsum": lambda m, x: m.einsum("ij,jk->ik", x, x),
        "trace_diagonal": lambda m, x: m.trace(x) + m.diagonal(x),
        "tril_triu": lambda m, x: m.tril(x) * 2.0 + m.triu(x, 1),
        "norm": lambda m, x: m.linalg.norm(x),
        "norm_axis": lambda m, x: m.linalg.norm(x, axis=0),
        "det": lambda m, x: m.linalg.det(x),
        "inv": lambda m, x: m.linalg.inv(x),
        "solve": lambda m, x: m.linalg.solve(x, x[0]),
        "slogdet": lambda m, x: m.linalg.slogdet(x)[1],
        "cholesky": lambda m, x: m.linalg.cholesky(x @ x.T),
        "eigvalsh": lambda m, x: m.linalg.eigvalsh(x + x.T),
        "take": lambda m, x: m.take(x, np.array([2, 0, 2]), axis=1),
        "take_along_axis": lambda m, x: m.take_along_axis(x, np.array([[0], [2], [1]]), axis=1),
        "broadcast_to": lambda m, x: m.broadcast_to(x[0], (2, 3)) * W[:2],
        "atleast_2d": lambda m, x: m.atleast_2d(x[0]),
        "split": lambda m, x: m.split(x, 3, axis=0)[1] * 2.0,
        "average": lambda m, x: m.average(x, axis=0),
        "ptp": lambda m, x: m.ptp(x, axis=1),
        "like": lambda m, x: m.zeros_like(x) + m.ones_like(x) * x + m.full_like(x, 2.0),
        "copy_ravel": lambda m, x: m.ravel(m.copy(x)),
        "add_reduce": lambda m, x: m.add.reduce(x ** 2),
        "maximum_reduce": lambda m, x: m.maximum.reduce(x, axis=1),
        "multiply_outer": lambda m, x: m.multiply.outer(x[0], x[1]),
        "add_accumulate": lambda m, x: m.add.accumulate(x),
        "ndarray_left": lambda m, x: W * x + W @ x - W,
        "composite": lambda m, x: m.sum(m.exp(-m.sum((x[:, None, :] - x[None]) ** 2, -1))),
    }
    # fnp has no .add.reduce and friends: its twins are the reductions of the same meaning
    twins = {"add_reduce": lambda x: fnp.sum(x ** 2, axis=0),
             "maximum_reduce": lambda x: fnp.max(x, axis=1),
             "multiply_outer": lambda x: fnp.outer(x[0], x[1]),
             "add_accumulate": lambda x: fnp.cumsum(x, axis=0)}
    return [(name, (lambda f: lambda x: f(np, x))(f),
             twins.get(name, (lambda f: lambda x: f(fnp, x))(f))) for name, f in c.items()]


CORPUS = _corpus()
IDS = [name for name, _, _ in CORPUS]


def _x(seed=0, batch=()):
    r = np.random.default_rng(seed)
    return r.uniform(0.5, 1.5, batch + (3, 3)) + 3.0 * np.eye(3)


def _loss(out):
    """A scalar of the output (or tuple of outputs) that weighs every element differently."""
    leaves = out if isinstance(out, (tuple, list)) else (out,)
    total = 0.0
    for leaf in leaves:
        leaf = fnp.asarray(leaf)
        total = total + fnp.sum(leaf * fnp.cos(fnp.arange(leaf.size * 1.0)).reshape(leaf.shape))
    return total


def test_corpus_size():
    assert len(CORPUS) >= 50


@pytest.mark.parametrize("name,f_np,f_fnp", CORPUS, ids=IDS)
def test_grad_and_jvp_match_the_twin(name, f_np, f_fnp):
    x = _x()
    np.testing.assert_allclose(f_np(x), f_fnp(x), rtol=1e-12, atol=1e-12)  # eager: NumPy's own
    g = grad(lambda x: _loss(f_np(x)))(x)
    np.testing.assert_allclose(g, grad(lambda x: _loss(f_fnp(x)))(x), rtol=1e-10, atol=1e-12)
    assert np.any(g != 0)
    t = np.random.default_rng(1).normal(size=x.shape)
    y, y_dot = jvp(f_np, (x,), (t,))
    y2, y2_dot = jvp(f_fnp, (x,), (t,))
    np.testing.assert_allclose(y, f_np(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y_dot, y2_dot, rtol=1e-10, atol=1e-12)
    # the vjp identity <ct, J t> == <J^T ct, t> on the NumPy version alone
    y, pullback = vjp(f_np, x)
    ct = np.random.default_rng(2).normal(size=np.shape(y))
    (x_bar,) = pullback(ct)
    np.testing.assert_allclose(np.sum(ct * y_dot), np.sum(x_bar * t), rtol=1e-9)


@pytest.mark.parametrize("name,f_np,f_fnp", CORPUS, ids=IDS)
def test_vmap_matches_a_numpy_loop(name, f_np, f_fnp):
    xs = _x(3, batch=(2,))
    loop = np.stack([f_np(x) for x in xs])
    np.testing.assert_allclose(vmap(f_np)(xs), loop, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vmap(f_fnp)(xs), loop, rtol=1e-12, atol=1e-12)


# jit compiles take about a second each: one jitted function per group of corpus entries.
GROUPS = [CORPUS[i:i + 18] for i in range(0, len(CORPUS), 18)]


@pytest.mark.parametrize("group", GROUPS, ids=[f"{g[0][0]}..{g[-1][0]}" for g in GROUPS])
def test_jit_matches_numpy(group):
    x = _x(5)
    out = jit(lambda x: [f_np(x) for _, f_np, _ in group])(x)
    for (name, f_np, _), y in zip(group, out):
        np.testing.assert_allclose(y, f_np(x), rtol=1e-10, atol=1e-12, err_msg=name)


def test_jit_of_grad_of_numpy_code():
    x = _x(6)
    f = lambda x: np.linalg.norm(np.dot(x, x)) + np.sum(np.sort(np.sin(x), axis=0)[-1])
    f_twin = lambda x: fnp.linalg.norm(fnp.dot(x, x)) + fnp.sum(fnp.sort(fnp.sin(x), 0)[-1])
    np.testing.assert_allclose(jit(grad(f))(x), grad(f_twin)(x), rtol=1e-10)


def test_examples_from_the_issue():
    np.testing.assert_allclose(grad(lambda x: np.dot(x, x))(np.ones(3)), 2.0 * np.ones(3))
    x = np.array([3.0, 1.0, 2.0])
    np.testing.assert_allclose(grad(lambda x: np.linalg.norm(x))(x), x / np.linalg.norm(x))
    a = _x()
    np.testing.assert_allclose(grad(np.linalg.det)(a), np.linalg.det(a) * np.linalg.inv(a).T,
                               rtol=1e-10)
    w = np.arange(3.0)
    # sorted order of x is [1, 2, 3] = x[[1, 2, 0]]: the weight of rank k goes to that element
    np.testing.assert_allclose(grad(lambda x: np.sum(np.sort(x) * w))(x), w[np.argsort(np.argsort(x))])


def test_integer_results_vmap_and_jit():
    xs = _x(7, batch=(2,))
    for f in (lambda x: np.argmax(x, axis=0), lambda x: np.argsort(x[0]),
              lambda x: np.count_nonzero(x > 1.2)):
        loop = np.stack([f(x) for x in xs])
        np.testing.assert_array_equal(vmap(f)(xs), loop)
        np.testing.assert_array_equal(jit(f)(xs[0]), f(xs[0]))


def test_make_jaxpr_sees_numpy_calls():
    text = str(make_jaxpr(lambda x: np.sum(np.sin(x)))(np.ones(3)))
    assert "sin" in text and "reduce_sum" in text


def test_eager_values_stay_numpy():
    x = np.ones(3)
    assert type(np.dot(x, x)) is np.float64 and type(fnp.sin(x)) is np.ndarray


# ---------------------------------------------------------------------------------------------
# Errors

TRANSFORMS = {
    "grad": lambda f, x: grad(lambda x: fnp.sum(f(x)))(x),
    "jvp": lambda f, x: jvp(f, (x,), (np.ones_like(x),)),
    "vjp": lambda f, x: vjp(f, x),
    "vmap": lambda f, x: vmap(f)(x[None]),
    "jit": lambda f, x: jit(f)(x),
    "make_jaxpr": lambda f, x: make_jaxpr(f)(x),
}


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("f,what", [
    (lambda x: fnp.sum(np.asarray(x) * x), r"np\.asarray"),
    (lambda x: np.array(x) * x, r"np\.array"),
    (lambda x: x.__array__() * x, r"__array__"),
    (lambda x: fnp.asarray(x.tolist()), r"\.tolist\(\)"),
    (lambda x: x[0].item() * x, r"\.item\(\)"),
    (lambda x: np.diff(x), r"numpy\.diff .*funcad has no twin of numpy\.diff"),
    (lambda x: np.linalg.pinv(x[None] * np.ones((2, 1))), r"numpy\.linalg\.pinv"),
    (lambda x: np.add.reduceat(x, [0, 1]), r"numpy\.add\.reduceat"),
    (lambda x: np.subtract.reduce(x), r"numpy\.subtract\.reduce"),
], ids=["asarray", "array", "__array__", "tolist", "item", "diff", "linalg.pinv", "reduceat",
        "subtract.reduce"])
def test_conversions_and_missing_functions_raise(transform, f, what):
    with pytest.raises(TracerArrayConversionError, match=what) as e:
        TRANSFORMS[transform](f, np.ones(3))
    assert "funcad.numpy" in str(e.value)


@pytest.mark.parametrize("f", [lambda x: float(x[0]) * x, lambda x: np.float64(x[0]) * x],
                         ids=["float", "np.float64"])
def test_float_of_a_differentiated_value_raises(f):
    # np.asarray(x) silently dropped the derivative here: grad gave [1, 1, 1] for sum(x * x)
    with pytest.raises(TracerArrayConversionError, match=r"derivative.*fnp\.asarray"):
        grad(lambda x: fnp.sum(f(x)))(np.ones(3))


def test_out_is_refused():
    with pytest.raises(TypeError, match=r"numpy\.sum\(\.\.\., out=\.\.\.\).*immutable"):
        grad(lambda x: np.sum(x, out=np.zeros(())))(np.ones(3))
    with pytest.raises(TypeError, match=r"numpy\.sin\(\.\.\., out=\.\.\.\)"):
        jit(lambda x: np.sin(x, out=np.zeros(3)))(np.ones(3))
    # out=None is NumPy's default: no error
    np.testing.assert_allclose(grad(lambda x: np.sum(np.sin(x, out=None)))(np.ones(3)),
                               np.cos(np.ones(3)))


def test_keywords_the_twin_lacks_are_refused_not_dropped():
    with pytest.raises(TypeError, match=r"numpy\.sin\(\.\.\., where=.*does not take `where`"):
        grad(lambda x: np.sum(np.sin(x, where=x > 0)))(np.ones(3))
    with pytest.raises(TypeError, match=r"numpy\.sum\(\.\.\., where=.*funcad\.numpy\.sum"):
        vmap(lambda x: np.sum(x, where=x > 0))(np.ones((2, 3)))
    with pytest.raises(TypeError, match=r"numpy\.concatenate\(\.\.\., casting='unsafe'"):
        grad(lambda x: np.sum(np.concatenate([x, x], casting="unsafe")))(np.ones(3))
    # keywords at NumPy's default are fine
    np.testing.assert_allclose(
        grad(lambda x: np.sum(np.sin(x, casting="same_kind", dtype=None)))(np.ones(3)),
        np.cos(np.ones(3)))


def test_positional_arguments_follow_numpy_order():
    # np.sum(a, axis, dtype, out, keepdims): fnp.sum has no out, so keepdims is 4th there
    y = vmap(lambda x: np.sum(x, 0, None, None, True))(np.ones((2, 3, 4)))
    assert y.shape == (2, 1, 4)


def test_ufunc_at_is_refused():
    def f(x):
        np.add.at(x, [0, 0], 1.0)
        return x
    with pytest.raises(TypeError, match=r"numpy\.add\.at .*x\.at\[idx\]\.add"):
        grad(lambda x: fnp.sum(f(x)))(np.ones(3))


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_setitem_names_at_set(transform):
    def f(x):
        x[0] = 1.0
        return x
    with pytest.raises(TypeError, match=r"x\[0\] = \.\.\. .*immutable.*x\.at\[0\]\.set\("):
        TRANSFORMS[transform](f, np.ones(3))


def test_setitem_message_shows_slices():
    def f(x):
        x[1:, 0] = 0.0
        return x
    with pytest.raises(TypeError, match=r"x\.at\[1:, 0\]\.set\(value\)"):
        vmap(f)(np.ones((2, 3, 3)))


def test_dispatch_table_grows_with_funcad_numpy():
    from funcad.numpy import _dispatch
    table = _dispatch.build_table()
    assert table[np.dot] is fnp.dot and table[np.linalg.norm] is fnp.linalg.norm
    assert table[np.add] is fnp.add
    assert np.asarray not in table and np.array not in table
    assert len(table) >= 150
    assert funcad.core.numpy_dispatch is _dispatch


def test_numpy2_clip_keywords():
    x = np.array([-1.0, 0.5, 2.0])
    for kw in ({"min": 0.0}, {"max": 1.0}, {"min": 0.0, "max": 1.0}):
        np.testing.assert_allclose(grad(lambda x: np.sum(np.clip(x, **kw) * x))(x),
                                   grad(lambda x: fnp.sum(fnp.clip(x, kw.get("min"),
                                                                   kw.get("max")) * x))(x))


def test_dtype_only_functions():
    def f(x):
        assert not np.iscomplexobj(x) and np.isrealobj(x) and np.can_cast(x, np.float64)
        return np.sum(x)
    np.testing.assert_allclose(grad(f)(np.ones(2)), np.ones(2))
    assert jit(f)(np.ones(2)) == 2.0


def test_writing_a_tracer_into_a_numpy_array_raises():
    # NumPy converts the value with __array__ / __float__: under grad that dropped the
    # derivative silently (the row below had gradient 0)
    def f(x):
        out = np.zeros(2)
        out[0] = x[0]
        return fnp.sum(fnp.asarray(out) * x[:2])
    # NumPy raises its own ValueError from ours (raised by __float__): ours is in the chain
    with pytest.raises((TracerArrayConversionError, ValueError)) as e:
        grad(f)(np.ones(3))
    chain, err = [], e.value
    while err is not None:
        chain.append(err)
        err = err.__cause__ or err.__context__
    assert any(isinstance(c, TracerArrayConversionError) and "derivative" in str(c)
               for c in chain)
    import math
    with pytest.raises(TracerArrayConversionError, match=r"float\(\)"):
        grad(lambda x: math.sin(x))(1.0)


def test_second_order_and_jacobians_of_numpy_code():
    x = np.array([0.3, -0.7, 1.1])
    f = lambda x: np.sum(np.sin(x) * np.roll(x, 1)) + np.linalg.norm(x) ** 3
    f_twin = lambda x: fnp.sum(fnp.sin(x) * fnp.roll(x, 1)) + fnp.linalg.norm(x) ** 3
    np.testing.assert_allclose(funcad.hessian(f)(x), funcad.hessian(f_twin)(x), rtol=1e-12)
    g = lambda x: np.cumsum(np.exp(x))
    np.testing.assert_allclose(funcad.jacfwd(g)(x), funcad.jacrev(g)(x), rtol=1e-12)
    np.testing.assert_allclose(funcad.jacrev(g)(x), np.tril(np.ones((3, 3))) * np.exp(x),
                               rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Follow-ups: ufunc.reduce/accumulate axes, dtype-only functions, defaults, no-ops, messages

M = np.array([[0.5, 1.0, 2.0], [3.0, -1.0, 0.25]])
EACH = {
    "jvp": lambda f: lambda x: jvp(f, (x,), (np.ones_like(x),))[0],
    "vmap": lambda f: lambda x: vmap(f)(x[None])[0],
    "jit": lambda f: jit(f),
    "make_jaxpr": lambda f: lambda x: make_jaxpr(f)(x) and f(x),
}


@pytest.mark.parametrize("transform", EACH.values(), ids=EACH.keys())
@pytest.mark.parametrize("axis", [None, (0, 1), ()], ids=["None", "two", "empty"])
def test_accumulate_refuses_several_axes_like_numpy(transform, axis):
    with pytest.raises(ValueError, match="multiple axes"):
        np.add.accumulate(M, axis=axis)
    with pytest.raises(ValueError, match=r"numpy.add.accumulate\(\..., axis=.*one axis"):
        transform(lambda x: np.add.accumulate(x, axis=axis))(M)


@pytest.mark.parametrize("transform", EACH.values(), ids=EACH.keys())
@pytest.mark.parametrize("call", [
    lambda x: np.add.accumulate(x, axis=(0,)),
    lambda x: np.multiply.accumulate(x, axis=(-1,)),
    lambda x: np.add.accumulate(x, 1),
    lambda x: np.add.reduce(np.sum(x)),
    lambda x: np.add.reduce(np.sum(x), axis=-1),
    lambda x: np.multiply.reduce(np.sum(x), keepdims=True),
    lambda x: np.maximum.reduce(np.sum(x)),
], ids=["acc_1tuple", "mul_acc_1tuple", "acc_positional", "reduce_0d", "reduce_0d_m1",
        "reduce_0d_keepdims", "max_reduce_0d"])
def test_reduce_and_accumulate_axes_like_numpy(transform, call):
    want = call(M)
    got = transform(call)(M)
    assert np.shape(got) == np.shape(want)
    np.testing.assert_allclose(got, want)


def test_reduce_of_0d_out_of_range_axis_and_accumulate_of_0d_raise():
    for axis in (1, (0,)):  # NumPy's rule: an int 0 or -1 only
        with pytest.raises(np.exceptions.AxisError):
            np.add.reduce(np.sum(M), axis=axis)
        with pytest.raises(np.exceptions.AxisError):
            jvp(lambda x: np.add.reduce(np.sum(x), axis=axis), (M,), (M,))
    with pytest.raises(TypeError, match="numpy.add.accumulate: cannot accumulate on a scalar"):
        jvp(lambda x: np.add.accumulate(np.sum(x)), (M,), (M,))


@pytest.mark.parametrize("other", [np.float64, "f8", np.dtype("f4"), np.int32, np.ones(2, "f4")],
                         ids=["type", "str", "dtype", "int32", "array"])
def test_result_type_and_common_type_read_the_dtype(other):
    seen = []

    def f(x):
        seen.append((np.result_type(x, other), np.result_type(other, x[0]),
                     np.common_type(x)))
        return np.sum(x)
    for t in EACH.values():
        seen.clear()
        t(f)(M)
        assert seen[0] == (np.result_type(M, other), np.result_type(other, M[0]),
                           np.common_type(M))


B = np.array([[0.5, 0.0, 2.0], [0.0, 0.0, 0.0]])  # a row of zeros: any/all differ by row


@pytest.mark.parametrize("transform", EACH.values(), ids=EACH.keys())
@pytest.mark.parametrize("call", [
    lambda x: np.sum(x, dtype=bool),
    lambda x: np.sum(x, axis=1, dtype=bool, keepdims=True),
    lambda x: x.sum(axis=0, dtype=np.bool_),
    lambda x: np.prod(x, axis=1, dtype=bool),
    lambda x: np.cumsum(x, axis=1, dtype=bool),
    lambda x: np.cumprod(x, dtype=bool),
    lambda x: np.add.reduce(x, dtype=bool),
], ids=["sum", "sum_keepdims", "method", "prod", "cumsum", "cumprod", "add_reduce"])
def test_bool_accumulation_dtype_is_numpys_logical_reduction(transform, call):
    want = call(B)
    got = transform(call)(B)
    assert np.asarray(got).dtype == np.asarray(want).dtype == np.bool_
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("transform", EACH.values(), ids=EACH.keys())
def test_take_along_axis_defaults_to_numpys_last_axis(transform):
    import inspect
    assert inspect.signature(np.take_along_axis).parameters["axis"].default == -1
    idx = np.array([[2, 0], [1, 1]])
    f = lambda x: np.take_along_axis(x, idx)
    np.testing.assert_array_equal(transform(f)(M), np.take_along_axis(M, idx))
    np.testing.assert_array_equal(fnp.take_along_axis(M, idx), np.take_along_axis(M, idx))


@pytest.mark.parametrize("call, what", [
    (lambda x: np.maximum.accumulate(x), r"numpy\.maximum\.accumulate .*twin of numpy\.maximum"
                                         r"\.accumulate"),
    (lambda x: np.divide.reduce(x), r"numpy\.divide\.reduce .*twin of numpy\.divide\.reduce"),
    (lambda x: np.logaddexp.reduce(x), r"twin of numpy\.logaddexp\.reduce"),
    (lambda x: np.add.reduceat(x, [0, 1]), r"twin of numpy\.add\.reduceat"),
    (lambda x: np.array([1.0, 2.0], like=x), r"numpy\.array\(\.\.\., like=x\).*Drop like="),
], ids=["maximum.accumulate", "divide.reduce", "logaddexp.reduce", "reduceat", "like"])
def test_missing_ufunc_methods_and_like_are_named(call, what):
    for t in EACH.values():
        with pytest.raises(TracerArrayConversionError, match=what):
            t(call)(M)


def test_scipy_ufunc_is_named_by_its_module():
    scipy_special = pytest.importorskip("scipy.special")
    with pytest.raises(TracerArrayConversionError, match=r"^scipy\.special\.expit was called"):
        jvp(scipy_special.expit, (M,), (M,))


def test_like_with_a_twin_makes_the_numpy_constant():
    f = lambda x: np.ones(3, like=x) * x
    np.testing.assert_allclose(jit(f)(M[0]), M[0])


def test_writing_into_a_numpy_array_names_the_fix():
    def inplace(x):
        a = np.ones(3)
        a *= x
        return a

    def setitem(x):
        a = np.ones(3)
        a[0] = x[0]
        return fnp.asarray(a)
    for t in EACH.values():
        with pytest.raises(TypeError, match=r"cannot be written into a NumPy array.*\.at\["):
            t(inplace)(M[0])
        with pytest.raises((ValueError, TypeError)) as e:
            t(setitem)(M[0])
        chain = [e.value, e.value.__cause__, e.value.__context__]
        assert any(c is not None and "cannot be written into a NumPy array" in str(c)
                   and ".at[i].set(x)" in str(c) for c in chain)


@pytest.mark.parametrize("call, plain", [
    (lambda x: np.sum(x, where=True), lambda x: np.sum(x)),
    (lambda x: np.sum(x, axis=0, initial=0), lambda x: np.sum(x, axis=0)),
    (lambda x: np.prod(x, initial=1.0), lambda x: np.prod(x)),
    (lambda x: np.add.reduce(x, initial=0, where=True), lambda x: np.add.reduce(x)),
    (lambda x: np.multiply.reduce(x, axis=1, initial=1), lambda x: np.prod(x, axis=1)),
    (lambda x: np.add(x, 1.0, dtype=np.float64), lambda x: x + 1.0),
    (lambda x: np.multiply(x, 2, dtype="f8"), lambda x: x * 2),
    (lambda x: np.reshape(x, (6,), copy=False), lambda x: np.reshape(x, (6,))),
    (lambda x: np.reshape(x, (3, 2), copy=True), lambda x: np.reshape(x, (3, 2))),
], ids=["where", "initial_sum", "initial_prod", "reduce_initial_where", "mul_reduce_initial",
        "dtype_type", "dtype_str", "copy_false", "copy_true"])
def test_keywords_at_a_no_op_value_are_accepted(call, plain):
    want = call(M)
    for t in EACH.values():
        got = t(call)(M)
        assert np.asarray(got).dtype == want.dtype
        np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(grad(lambda x: np.sum(call(x)))(M),
                               grad(lambda x: np.sum(plain(x)))(M))


@pytest.mark.parametrize("call, what", [
    (lambda x: np.sum(x, initial=1.0), "initial=1.0"),
    (lambda x: np.sum(x, where=x > 0), "where="),
    (lambda x: np.prod(x, initial=0), "initial=0"),
    (lambda x: np.add(x, 1.0, dtype=np.int64), r"dtype=<class 'numpy.int64'>"),
    (lambda x: np.add(x, 1.0, dtype=np.float32), r"dtype="),
], ids=["initial_sum", "where_mask", "initial_prod", "dtype_int", "dtype_f32"])
def test_keywords_that_change_the_result_are_still_refused(call, what):
    for t in EACH.values():
        with pytest.raises(TypeError, match=rf"numpy\.\w+\(\.\.\., {what}.*"):
            t(call)(M)
