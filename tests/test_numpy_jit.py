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
