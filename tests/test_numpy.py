"""funcad.numpy elementwise functions against NumPy: values and dtypes, eagerly and traced.

For every function and every operand type (float64, float32, int64, int32, bool arrays and
Python scalars), the eager result must equal NumPy's, and so must the result of evaluating the
traced jaxpr. Where NumPy computes in a dtype funcad does not hold (float16 or int8 for some
functions of booleans), the reference is NumPy's result for the inputs cast to funcad's
default dtype (float64 or int64), computed in that dtype.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import funcad
import funcad.numpy as fnp
import funcad.numpy.ufuncs as fnp_ufuncs
from funcad.ir import eval_jaxpr
from funcad.numpy._util import canonical_dtype
from funcad.testing import check_vmap

# Name lists come from what funcad supports: its dtypes, and the ufuncs funcad.numpy exports
# (by NumPy's own arity), so a new function is tested without editing this file.
DTYPES = [d.name for d in funcad.core.SUPPORTED_DTYPES]
SCALARS = [2, -3, 2.5, True]


def _ufuncs(nin):
    return [n for n in fnp_ufuncs.__all__ if isinstance(getattr(np, n, None), np.ufunc)
            and getattr(np, n).nin == nin and getattr(np, n).nout == 1]


UNARY = _ufuncs(1) + ["fix"]   # np.fix: elementwise, but not a ufunc
BINARY = _ufuncs(2)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e300])


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def traced(f, *args):
    """Evaluate the jaxpr that ``f`` traces to (array arguments only)."""
    closed = funcad.make_jaxpr(f)(*args)
    leaves = funcad.tree_util.tree_flatten(args)[0]
    out = eval_jaxpr(closed.jaxpr, closed.consts, leaves)
    return out[0] if len(out) == 1 else tuple(out)


def sample(rng, dtype, shape=(5,), positive=False):
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith("int"):
        lo = 1 if positive else -6
        return rng.integers(lo, 7, shape).astype(dtype)
    x = rng.standard_normal(shape) * 2
    if dtype.startswith("complex"):
        x = x + 1j * rng.standard_normal(shape)  # "positive": a positive real part
        return (x - 2 * np.real(x) * (np.real(x) < 0) + 0.1 if positive else x).astype(dtype)
    return (np.abs(x) + 0.1 if positive else x).astype(dtype)


def reference(np_fn, *args):
    """NumPy's result, or where its dtype is one funcad does not hold, NumPy's result in
    funcad's dtype (float16 -> float64, int8 -> int64)."""
    try:
        ref = np_fn(*args)
    except (TypeError, ValueError) as e:
        return e
    dt = np.result_type(ref)
    if canonical_dtype(dt) != dt:
        kinds = tuple(a.dtype if isinstance(a, np.ndarray) else
                      np.dtype(bool) if type(a) is bool else type(a) for a in args)
        loop = np_fn.resolve_dtypes(kinds + (None,))
        cast = [np.asarray(a).astype(canonical_dtype(d)) for a, d in zip(args, loop)]
        ref = np_fn(*cast)
    return np.asarray(ref)


def assert_same(out, ref, what=""):
    out = np.asarray(out)
    assert out.dtype == ref.dtype, f"{what}: dtype {out.dtype}, NumPy gives {ref.dtype}"
    assert out.shape == ref.shape, f"{what}: shape {out.shape}, NumPy gives {ref.shape}"
    if ref.dtype.kind in "fc":
        rtol = 2e-6 if ref.dtype in (np.float32, np.complex64) else 1e-12
        ok = np.isclose(out, ref, rtol=rtol, atol=0) | (np.isnan(out) & np.isnan(ref))
        assert ok.all(), f"{what}: values differ\n got {out}\n NumPy {ref}"
    else:
        np.testing.assert_array_equal(out, ref, err_msg=what)


def check_both(name, *args, positions=None):
    """Eager and traced ``fnp.<name>`` vs NumPy; arrays are traced, scalars closed over."""
    np_fn = getattr(np, name if name != "fix" else "trunc")
    f = getattr(fnp, name)
    ref = reference(np_fn, *args)
    arrays = [a for a in args if isinstance(a, np.ndarray)]

    def g(*arrs):
        it = iter(arrs)
        return f(*[next(it) if isinstance(a, np.ndarray) else a for a in args])

    if isinstance(ref, Exception):
        for run in (lambda: f(*args), lambda: traced(g, *arrays)):
            with pytest.raises(type(ref) if isinstance(ref, ValueError) else TypeError):
                run()
        return
    what = f"fnp.{name}{tuple(getattr(a, 'dtype', a) for a in args)}"
    assert_same(f(*args), ref, what + " eager")
    assert_same(traced(g, *arrays), ref, what + " traced")


@pytest.mark.parametrize("name", UNARY)
def test_unary_matches_numpy(name):
    rng = np.random.default_rng(0)
    positive = name in ("log", "log2", "log10", "sqrt", "arccosh", "reciprocal")
    for dt in DTYPES:
        x = sample(rng, dt, (2, 3), positive)
        if name in ("arcsin", "arccos", "arctanh") and dt[0] == "f":
            x = (x / 8).astype(dt)
        if name == "arccosh" and dt[0] == "f":
            x = (x + 1).astype(dt)
        check_both(name, x)
    for s in SCALARS:
        if positive and s <= 0:
            continue
        if name in ("arcsin", "arccos", "arctanh", "arccosh"):
            continue
        check_both(name, s)


@pytest.mark.parametrize("name", BINARY)
def test_binary_matches_numpy(name):
    rng = np.random.default_rng(1)
    positive = name in ("power", "pow", "float_power")
    for a in DTYPES:
        for b in DTYPES:
            x, y = sample(rng, a, (2, 3), positive), sample(rng, b, (3,), positive)
            check_both(name, x, y)
        for s in SCALARS:
            if positive and s < 0:
                continue
            x = sample(rng, a, (2, 3), positive)
            check_both(name, x, s)
            check_both(name, s, x)


def _takes_floats(name) -> bool:
    """NumPy has a float loop for this function (invert and its aliases do not)."""
    fn = getattr(np, name)
    return (not isinstance(fn, np.ufunc) or any(t.startswith("d") for t in fn.types)) and (
        name != "logical_not")


@pytest.mark.parametrize("name", [n for n in UNARY if _takes_floats(n)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_special_values(name, dtype):
    x = SPECIAL.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(np, name if name != "fix" else "trunc")(x)
    out = traced(getattr(fnp, name), x)
    assert_same(out, ref, f"fnp.{name} special values")
    if ref.dtype.kind == "f":  # signed zeros too
        zero = ref == 0
        np.testing.assert_array_equal(np.signbit(out[zero]), np.signbit(ref[zero]))


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "true_divide",
                                  "floor_divide", "remainder", "fmod", "power", "maximum",
                                  "minimum", "fmax", "fmin", "arctan2", "hypot", "logaddexp",
                                  "logaddexp2", "copysign", "heaviside"])
def test_binary_special_values(name):
    x, y = (a.ravel() for a in np.meshgrid(SPECIAL, SPECIAL))
    ref = getattr(np, name)(x, y)
    out = traced(getattr(fnp, name), x, y)
    assert_same(out, ref, f"fnp.{name} special values")
    zero = ref == 0
    np.testing.assert_array_equal(np.signbit(out[zero]), np.signbit(ref[zero]),
                                  err_msg=f"fnp.{name}: sign of zero results")


def test_weak_python_scalars_keep_array_dtype():
    x32 = np.ones(3, np.float32)
    i32 = np.ones(3, np.int32)
    for f in (fnp.add, fnp.multiply, fnp.maximum, fnp.power):
        assert traced(lambda a: f(a, 2.0), x32).dtype == np.float32
        assert traced(lambda a: f(a, 2), i32).dtype == np.int32
        assert traced(lambda a: f(2.0, a), x32).dtype == np.float32
    assert traced(lambda a: fnp.add(a, 2.5), i32).dtype == np.float64  # NumPy: int + float
    # a 0-d array is not weak (NEP 50)
    assert traced(lambda a: fnp.add(a, np.float64(2)), x32).dtype == np.float64
    with pytest.raises(OverflowError):
        traced(lambda a: fnp.add(a, 2 ** 40), i32)


@given(st.data())
def test_broadcasting_pairs(data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                         max_side=3))
    dts = data.draw(st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 16)))
    x, y = (sample(rng, d, s) for d, s in zip(dts, shapes.input_shapes))
    for name in ("add", "multiply", "maximum", "true_divide", "hypot", "logaddexp", "less",
                 "logical_or"):
        check_both(name, x, y)
    ref = np.where(x > 0, x, y)
    assert_same(fnp.where(x > 0, x, y), ref, "where eager")
    assert_same(traced(lambda a, b: fnp.where(a > 0, a, b), x, y), ref, "where traced")


def test_where_and_clip():
    rng = np.random.default_rng(2)
    for dt in DTYPES:
        x = sample(rng, dt, (3, 4))
        c = rng.random((4,)) > 0.5
        for y in (sample(rng, "float32", (3, 1)), 1.5, 2, sample(rng, "int32", ())):
            ref = np.where(c, x, y)
            assert_same(fnp.where(c, x, y), ref)
            if isinstance(y, np.ndarray):
                assert_same(traced(lambda c_, a, b: fnp.where(c_, a, b), c, x, y), ref)
            else:
                assert_same(traced(lambda c_, a: fnp.where(c_, a, y), c, x), ref)
        if dt != "bool":
            for lo, hi in [(-1, 1), (-0.5, 2.5), (None, 1), (0, None),
                           (np.zeros((3, 1), dt), np.full((4,), 2, dt))]:
                ref = np.clip(x, lo, hi)
                assert_same(fnp.clip(x, lo, hi), ref, f"clip {dt} {lo} {hi}")
                assert_same(traced(lambda a: fnp.clip(a, lo, hi), x), ref, f"clip {dt}")
    x = np.array([np.nan, -2.0, 0.5, 3.0])
    assert_same(traced(lambda a: fnp.clip(a, -1, 1), x), np.clip(x, -1, 1))
    assert_same(traced(lambda a: a.clip(-1, 1), x), np.clip(x, -1, 1))


def test_one_argument_where_needs_concrete_condition():
    x = np.array([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(fnp.where(x > 0)[0], [1, 2])
    with pytest.raises(funcad.ConcretizationError, match="three-argument form"):
        funcad.make_jaxpr(lambda a: fnp.where(a > 0))(x)


def test_round_isclose_nan_to_num_divmod():
    x = np.array([0.5, 1.5, -2.5, 1.234567, np.nan, np.inf, -np.inf])
    for d in (0, 2):
        assert_same(traced(lambda a: fnp.round(a, d), x), np.round(x, d))
    y = x + 1e-9
    assert_same(traced(fnp.isclose, x, y), np.isclose(x, y))
    assert_same(traced(lambda a, b: fnp.isclose(a, b, equal_nan=True), x, y),
                np.isclose(x, y, equal_nan=True))
    assert bool(traced(lambda a: fnp.allclose(a[:4], a[:4] + 1e-12), x))
    assert_same(traced(fnp.nan_to_num, x), np.nan_to_num(x))
    a, b = np.array([7, -7, 7, -7]), np.array([2, 2, -2, -2])
    q, r = traced(fnp.divmod, a, b)
    assert_same(q, np.floor_divide(a, b))
    assert_same(r, np.remainder(a, b))


def test_integer_division_by_zero_matches_numpy():
    a, b = np.array([5, -5, 0, 7], np.int32), np.array([0, 0, 0, 2], np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("floor_divide", "remainder", "fmod"):
            assert_same(traced(getattr(fnp, name), a, b), getattr(np, name)(a, b), name)


def test_operators_on_tracers():
    x = np.array([1.5, -2.0, 3.0])
    i = np.array([1, 2, 3], np.int32)
    f = (lambda a, b: (a + b, a - b, a * b, a / b, a // b, a % b, a ** 2, 2 ** a, -a, abs(a),
                       a < b, a >= b, a == b, a != b, 1 - a, 2 / a))
    for got, want in zip(traced(f, x, i), f(x, i)):
        assert_same(got, np.asarray(want))
    g = lambda b: (b & 1, b | 2, b ^ 3, ~b)  # noqa: E731
    for got, want in zip(traced(g, i), g(i)):
        assert_same(got, np.asarray(want))


def test_vmap_matches_loop():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    check_vmap(fnp.sin, (x,), 0)
    check_vmap(fnp.hypot, (x, y), (0, 1))
    check_vmap(fnp.logaddexp, (x, y[0]), (1, None))
    check_vmap(lambda a, b: fnp.where(a > b, a, 2 * b), (x, y), (0, 1))
    check_vmap(lambda a: fnp.clip(a, -0.5, 0.5), (x,), 1)
    check_vmap(lambda a: fnp.power(fnp.abs(a), 1.5) + fnp.floor_divide(a, 0.3), (x,), 0)
    check_vmap(lambda a, b: fnp.maximum(a, b), (x, np.float32(0.5)), (0, None))


# ---------------------------------------------------------------------------------------------
# Errors

def test_shape_mismatch_names_both_shapes():
    x, y = np.ones((2, 3)), np.ones((4,))
    with pytest.raises(ValueError, match=r"fnp.add.*\(2, 3\).*\(4,\)"):
        funcad.make_jaxpr(fnp.add)(x, y)
    with pytest.raises(ValueError, match=r"fnp.where.*\(2, 3\).*\(4,\)"):
        funcad.make_jaxpr(lambda a, b: fnp.where(True, a, b))(x, y)


def test_unsupported_dtypes_raise_type_error():
    with pytest.raises(TypeError, match="unsupported dtype"):
        fnp.sin(np.ones(3, np.float16))
    with pytest.raises(TypeError, match="unsupported dtype"):
        fnp.add(np.ones(3, np.uint8), np.ones(3, np.uint8))
    with pytest.raises(TypeError, match="unsupported dtype complex256"):
        fnp.asarray(np.ones(3, np.clongdouble))
    assert fnp.asarray(np.ones(3, complex)).dtype == np.complex128
    with pytest.raises(TypeError, match="fnp.subtract"):
        funcad.make_jaxpr(lambda a: fnp.subtract(a, a))(np.ones(3, bool))
    with pytest.raises(TypeError, match="fnp.bitwise_and"):
        funcad.make_jaxpr(lambda a: fnp.bitwise_and(a, a))(np.ones(3))
    with pytest.raises(TypeError, match="unsupported dtype"):
        fnp.zeros(3, dtype=np.float16)


def test_functions_of_bools_use_default_dtypes():
    b = np.array([True, False])
    assert fnp.sin(b).dtype == np.float64  # NumPy: float16
    assert fnp.square(b).dtype == np.int64  # NumPy: int8
    assert traced(fnp.hypot, b, b).dtype == np.float64
    np.testing.assert_allclose(fnp.exp(b), np.exp(b.astype(np.float64)))
