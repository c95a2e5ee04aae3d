"""funcad.numpy elementwise functions under ``jit`` against NumPy: values and dtypes.

The same functions, dtypes and Python scalars as tests/test_numpy.py, each compiled by the
code generator. To keep compilation time down, every unary function of one dtype, and the
operand types of one binary function, are compiled into one jitted function (a dict of
results).
"""
import warnings

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp

from test_numpy import BINARY, DTYPES, SCALARS, UNARY, assert_same, reference, sample

_POSITIVE = ("log", "log2", "log10", "sqrt", "arccosh", "reciprocal", "power", "float_power")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _np_fn(name):
    return getattr(np, name if name != "fix" else "trunc")


def _unary_input(rng, name, dt):
    x = sample(rng, dt, (2, 3), name in _POSITIVE)
    if name in ("arcsin", "arccos", "arctanh") and dt[0] == "f":
        x = (x / 8).astype(dt)
    if name == "arccosh" and dt[0] == "f":
        x = (x + 1).astype(dt)
    return x


def _check_jitted(calls):
    """calls: {label: (fnp function, args with arrays to pass and scalars to close over)}.
    Compiles them all as one function and compares each result with NumPy's."""
    refs = {k: reference(_np_fn(name), *args) for k, (name, args) in calls.items()}
    calls = {k: c for k, c in calls.items() if not isinstance(refs[k], Exception)}
    arrays = {k: [a for a in args if isinstance(a, np.ndarray)] for k, (_, args) in
              calls.items()}

    def all_calls(arrs):
        out = {}
        for k, (name, args) in calls.items():
            it = iter(arrs[k])
            out[k] = getattr(fnp, name)(*[next(it) if isinstance(a, np.ndarray) else a
                                          for a in args])
        return out

    got = funcad.jit(all_calls)(arrays)
    assert set(got) == set(calls)
    for k in calls:
        assert_same(got[k], refs[k], f"jit {k}")


@pytest.mark.parametrize("dt", DTYPES)
def test_unary_under_jit_matches_numpy(dt):
    rng = np.random.default_rng(0)
    _check_jitted({name: (name, (_unary_input(rng, name, dt),)) for name in UNARY})


# Operand types per binary function: each dtype with itself, the mixed pairs whose promotion
# the code generator must cast for, and weak Python scalars on either side. (The full matrix
# is checked eagerly and traced in tests/test_numpy.py; compiling it costs minutes.)
_PAIRS = [(d, d) for d in DTYPES] + [("int32", "float32"), ("bool", "int64"),
                                     ("int64", "float64"), ("float32", "float64")]
_WITH_SCALARS = [("float32", 2.5), ("int32", 2), (True, "int64"), (-3, "float32")]


@pytest.mark.parametrize("name", BINARY)
def test_binary_under_jit_matches_numpy(name):
    rng = np.random.default_rng(1)
    pos = name in _POSITIVE

    def operand(t, shape):
        return t if not isinstance(t, str) else sample(rng, t, shape, pos)

    calls = {}
    for a, b in _PAIRS + _WITH_SCALARS:
        if pos and not isinstance(a, str) and a < 0:
            continue
        calls[f"{name}({a},{b})"] = (name, (operand(a, (2, 3)), operand(b, (3,))))
    _check_jitted(calls)


# ---------------------------------------------------------------------------------------------
# Reductions, shape functions and composites (funcad.nn, funcad.scipy.special) under jit:
# each case is (label, function of arrays, array arguments, NumPy's result), compiled in
# chunks of _CHUNK cases per jitted function.

_CHUNK = 16


def _check_cases(cases, atol=None):
    """Compare with NumPy by assert_same, or (derivatives: sums of rounding errors near zero)
    to ``atol`` as well."""
    for k in range(0, len(cases), _CHUNK):
        chunk = cases[k:k + _CHUNK]
        got = funcad.jit(lambda arg_lists: [f(*a) for (_, f, _, _), a in zip(chunk, arg_lists)])(
            [list(args) for _, _, args, _ in chunk])
        for (label, _, _, ref), out in zip(chunk, got):
            if atol is None:
                assert_same(out, np.asarray(ref), f"jit {label}")
            else:
                assert np.asarray(out).dtype == np.asarray(ref).dtype, label
                np.testing.assert_allclose(out, ref, rtol=1e-10, atol=atol, err_msg=label)


def _reduction_cases(name):
    from test_numpy_reductions import _fails_in_numpy, _np_call
    rng = np.random.default_rng(0)
    cases = []
    for dt in DTYPES:
        x = sample(rng, dt, (2, 3, 4))
        if name == "prod" and dt[0] == "f":
            x = (x / 2).astype(dt)
        for kw in (dict(axis=None), dict(axis=1), dict(axis=(0, 2)),
                   dict(axis=-1, keepdims=True)):
            if not _fails_in_numpy(name, x, kw):
                cases.append((f"{name}({dt}, {kw})",
                              lambda a, kw=kw: getattr(fnp, name)(a, **kw), (x,),
                              _np_call(name, x, **kw)))
    return cases


@pytest.mark.parametrize("name", ["sum", "prod", "mean", "var", "std", "max", "min", "ptp",
                                  "all", "any", "count_nonzero", "nansum", "nanmean",
                                  "argmax", "argmin", "cumsum", "cumprod"])
def test_reductions_under_jit_match_numpy(name):
    if name in ("argmax", "argmin", "cumsum", "cumprod"):
        from test_numpy_reductions import _np_call
        rng = np.random.default_rng(1)
        cases = []
        for dt in DTYPES:
            if name.startswith("arg") and dt.startswith("complex"):
                continue   # refused, as in JAX (tests/test_numpy_reductions.py)
            x = sample(rng, dt, (3, 4, 2))
            for axis in (None, 0, -1):
                cases.append((f"{name}({dt}, axis={axis})",
                              lambda a, axis=axis: getattr(fnp, name)(a, axis=axis), (x,),
                              _np_call(name, x, axis=axis)))
        _check_cases(cases)
    else:
        _check_cases(_reduction_cases(name))


def test_shape_functions_under_jit_match_numpy():
    from test_numpy_shape import CASES, _run
    _check_cases([(f"{name}{kw}", lambda *a, name=name, kw=kw: _run(name, a, kw), args,
                   getattr(np, name)(*args, **kw)) for name, args, kw in CASES])


def test_composites_under_jit_match_eager():
    from test_numpy_grads import COMPOSITES, X
    _check_cases([(name, f, (X,), f(X)) for name, f in sorted(COMPOSITES.items())])


def test_grads_of_composites_under_jit_match_eager():
    from test_numpy_grads import COMPOSITES, X
    grads = {name: funcad.grad(lambda a, f=f: fnp.sum(f(a))) for name, f in COMPOSITES.items()}
    _check_cases([(f"grad {name}", g, (X,), g(X)) for name, g in sorted(grads.items())],
                 atol=1e-13)


@pytest.mark.parametrize("dt", ["int64", "int32"])
def test_traced_integer_power_is_exact(dt):
    # a traced integer exponent used to go through float pow and round back: wrong above
    # 2**53 (3**39), garbage at 0 ** -1, and saturating instead of wrapping on overflow
    x = np.array([0, 2, 3, -2, 1, -1, -1, 7, 3, 3, 0, 5, 2, 2, -3], dtype=dt)
    y = np.array([1, -1, 2, -3, -5, -5, -4, 0, 40, 39, -1, 0, 64, 63, 33], dtype=dt)
    pos = np.abs(y)
    with np.errstate(over="ignore"):
        # a negative exponent follows integer division: 1 // x ** |y|, 0 for 0 ** -n
        ref = np.where((y >= 0) | (np.abs(x) == 1), np.power(x, pos), 0).astype(dt)
    for f in (funcad.jit(fnp.power), funcad.vmap(fnp.power), funcad.jit(funcad.vmap(fnp.power))):
        r = f(x, y)
        assert r.dtype == np.dtype(dt)
        np.testing.assert_array_equal(r, ref)
    # broadcasting between a scalar base and an exponent array
    e = np.arange(6, dtype=dt)
    np.testing.assert_array_equal(funcad.jit(fnp.power)(np.array(3, dt), e), np.power(3, e).astype(dt))
    with pytest.raises(ValueError, match="negative integer powers"):
        fnp.power(x, y)   # eagerly NumPy refuses, and so does fnp
