"""Accuracy, special values and vectorization of funcad.codegen.fastmath.

The kernels are exercised the way generated code uses them: inlined into a loop compiled with
compile.py's fast-math flags. Errors are measured in ulps against an 80-bit long double
reference (NumPy's own float64 results are off by up to ~0.5 ulp, and by 8 ulp for cos at the
worst case of argument reduction, so they are not a fair yardstick).
"""
import math
import re

import numba
import numpy as np
import pytest

from funcad.codegen import fastmath as fm
from funcad.codegen.compile import ERROR_MODEL, FASTMATH_FLAGS

LD = np.longdouble
HAVE_LONG_DOUBLE = np.finfo(LD).nmant >= 63
WORST_PIO2 = 6381956970095103 * 2.0**797   # the double nearest a multiple of pi/2 (|r|~2**-61)


def _vectorized(f):
    @numba.njit(error_model=ERROR_MODEL, fastmath=set(FASTMATH_FLAGS))
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = f(x[i])
        return out
    return apply


def _reduction(f):
    @numba.njit(error_model=ERROR_MODEL, fastmath=set(FASTMATH_FLAGS))
    def total(x):
        s = -0.0
        for i in range(x.shape[0]):
            s += f(x[i])
        return s
    return total


def _logistic(x):
    return 1.0 / (1.0 + np.exp(-x))


# name -> (NumPy function, usable on long double too)
FUNCS = {
    "fexp": np.exp, "fexpm1": np.expm1, "fexp2": np.exp2, "flog": np.log, "flog1p": np.log1p,
    "ftanh": np.tanh, "flogistic": _logistic, "fatan": np.arctan, "fsin": np.sin,
    "fcos": np.cos, "fsin_bounded": np.sin, "fcos_bounded": np.cos,
}
# the bounds these tests establish (measured maxima in parentheses)
ULP_BOUND = {
    "fexp": 1.5, "fexpm1": 2.5, "fexp2": 1.5, "flog": 1.5, "flog1p": 1.5, "ftanh": 3.0,
    "flogistic": 2.5, "fatan": 2.0, "fsin": 2.0, "fcos": 2.0, "fsin_bounded": 2.0,
    "fcos_bounded": 2.0,
}
assert max(ULP_BOUND.values()) <= fm.MAX_ULP


@pytest.fixture(scope="module")
def kernels():
    """Compiled once for the module: numba compilation dominates the test time."""
    return {name: _vectorized(getattr(fm, name)) for name in FUNCS}


def _signed_log_uniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n)) * rng.choice([-1.0, 1.0], n)


SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-310, -1e-310,
                    2.2250738585072014e-308, 1.0, -1.0, 0.5, 2.0, 1e300, -1e300,
                    1.7976931348623157e308, -1.7976931348623157e308])


def _samples(name):
    rng = np.random.default_rng(sum(map(ord, name)))
    wide = _signed_log_uniform(rng, 5e-324, 1.7e308, 40_000)
    parts = {
        "fexp": [rng.uniform(-746, 710, 40_000), np.linspace(-745.2, -708, 5000),
                 np.linspace(709, 709.8, 2000), _signed_log_uniform(rng, 1e-320, 800, 20_000)],
        "fexpm1": [rng.uniform(-50, 710, 30_000), rng.uniform(-1, 1, 30_000),
                   _signed_log_uniform(rng, 1e-320, 800, 30_000)],
        "fexp2": [rng.uniform(-1080, 1030, 30_000), np.arange(-1080.0, 1030.0),
                  np.linspace(-1074.5, -1020, 5000),
                  _signed_log_uniform(rng, 1e-320, 1100, 20_000)],
        "flog": [np.abs(wide), rng.uniform(0.5, 2, 30_000), rng.uniform(-1, 0, 100),
                 np.abs(_signed_log_uniform(rng, 5e-324, 2.2e-308, 5000))],
        "flog1p": [wide, rng.uniform(-1, 1, 30_000), rng.uniform(-2, -1, 100),
                   -1 + np.abs(_signed_log_uniform(rng, 1e-18, 1e-3, 5000))],
        "ftanh": [wide, rng.uniform(-25, 25, 30_000), rng.uniform(-1, 1, 30_000)],
        "flogistic": [wide, rng.uniform(-800, 800, 30_000), rng.uniform(-40, 40, 30_000)],
        "fatan": [wide, rng.uniform(-3, 3, 30_000), rng.uniform(-1, 1, 30_000)],
        "fsin": [wide, rng.uniform(-10, 10, 30_000), np.arange(-20_000, 20_000) * (np.pi / 2),
                 [WORST_PIO2, -WORST_PIO2]],
    }
    parts["fcos"] = parts["fsin"]
    bounded = [_signed_log_uniform(rng, 5e-324, fm.TRIG_MAX, 40_000),
               rng.uniform(-10, 10, 30_000), np.arange(-20_000, 20_000) * (np.pi / 2)]
    parts["fsin_bounded"] = parts["fcos_bounded"] = bounded
    special = SPECIAL[np.abs(SPECIAL) <= fm.TRIG_MAX] if "bounded" in name else SPECIAL
    return np.concatenate([np.asarray(p, dtype=np.float64) for p in parts[name]] + [special])


def ulp_error(y, ref):
    """|y - ref| in units of the float64 spacing at ref; inf where y and a non-finite ref differ."""
    y = np.asarray(y, np.float64)
    ref = np.asarray(ref)
    with np.errstate(over="ignore"):
        ref64 = ref.astype(np.float64)
    err = np.zeros(y.shape)
    finite = np.isfinite(ref64)
    same = (np.isnan(ref64) & np.isnan(y)) | (ref64 == y)
    err[~finite] = np.where(same[~finite], 0.0, np.inf)
    a = np.abs(ref64[finite])
    spacing = np.minimum(np.spacing(a), np.spacing(np.nextafter(a, 0.0)))  # below a binade edge
    spacing = np.where(a == 0, np.spacing(0.0), spacing)
    diff = np.abs(y[finite].astype(ref.dtype) - ref[finite]) / spacing.astype(ref.dtype)
    err[finite] = np.where(np.isnan(y[finite]), np.inf, diff.astype(np.float64))
    return err


@pytest.mark.parametrize("name", list(FUNCS))
def test_max_ulp_error(kernels, name):
    x = _samples(name)
    with np.errstate(all="ignore"):
        y = kernels[name](x)
        if HAVE_LONG_DOUBLE:
            ref, bound = FUNCS[name](x.astype(LD)), ULP_BOUND[name]
        else:   # compare with NumPy, whose own error adds up to ~1 ulp (8 for cos far out)
            ref, bound = FUNCS[name](x), ULP_BOUND[name] + 1.0
            if name in ("fsin", "fcos"):
                keep = np.abs(x) < 1e200
                x, y, ref = x[keep], y[keep], ref[keep]
    err = ulp_error(y, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (
        f"{name}({x[worst]!r}) = {y[worst]!r}, reference {ref[worst]!r}: {err[worst]:.3f} ulp")


@pytest.mark.parametrize("name", list(FUNCS))
def test_special_values_match_numpy(kernels, name):
    x = SPECIAL[np.abs(SPECIAL) <= fm.TRIG_MAX] if "bounded" in name else SPECIAL
    with np.errstate(all="ignore"):
        y, expected = kernels[name](x), FUNCS[name](x)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(y[finite], expected[finite], rtol=1e-15, atol=0)
    # the sign of zero (and of every result) as NumPy/libm has it
    np.testing.assert_array_equal(np.signbit(y[~np.isnan(y)]), np.signbit(expected[~np.isnan(y)]))


def _near(x, ulps=3):
    """x and its neighbours up to ``ulps`` floats away on each side."""
    out = [x]
    for direction in (np.inf, -np.inf):
        v = x
        for _ in range(ulps):
            v = np.nextafter(v, direction)
            out.append(v)
    return out


@pytest.mark.parametrize("name, edges", [
    ("fexp", [709.782712893384, -708.3964185322641, -745.1332191019411, -744.44007192138126]),
    ("fexp2", [1024.0, -1022.0, -1074.0, -1075.0, -1074.5]),
    ("fexpm1", [709.782712893384, -37.42994775023705]),
    ("flogistic", [-709.782712893384, -745.1332191019411]),
    ("ftanh", [19.061547465398498, 22.0]),
])
def test_overflow_and_underflow_edges(kernels, name, edges):
    """Around the last finite result, the subnormal range and the last nonzero result."""
    x = np.array([v for e in edges for v in _near(e)])
    with np.errstate(all="ignore"):
        y, expected = kernels[name](x), FUNCS[name](x)
        ref = FUNCS[name](x.astype(LD)) if HAVE_LONG_DOUBLE else expected
        ref64 = ref.astype(np.float64)      # correctly rounded (NumPy's logistic is not)
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref64))
    np.testing.assert_array_equal(y == 0, ref64 == 0)
    assert ulp_error(y, ref).max() <= ULP_BOUND[name]


def test_log_domain_edges(kernels):
    x = np.array([0.0, -0.0, -1e-300, -1.0, -np.inf, 5e-324, 1.0, np.inf])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(kernels["flog"](x), np.log(x))
        x1 = np.array([-1.0, -1.0000000000000002, -2.0, -np.inf, -0.9999999999999999])
        np.testing.assert_array_equal(kernels["flog1p"](x1), np.log1p(x1))


def test_exact_points(kernels):
    """Values exact in every libm: integer powers of two, exp(0), log(1), sin(0), atan(inf)."""
    assert kernels["fexp2"](np.arange(-1074.0, 1024.0)).tolist() == [
        math.ldexp(1.0, k) for k in range(-1074, 1024)]
    one = np.array([0.0, 1.0])
    assert kernels["fexp"](one[:1])[0] == 1.0 and kernels["flog"](one[1:])[0] == 0.0
    assert kernels["fcos"](one[:1])[0] == 1.0 and kernels["fsin"](one[:1])[0] == 0.0
    assert kernels["fatan"](np.array([np.inf]))[0] == np.arctan(np.inf)
    assert kernels["ftanh"](np.array([30.0, -30.0])).tolist() == [1.0, -1.0]


def test_out_of_line_kernels_are_the_full_range_ones():
    x = np.concatenate([SPECIAL, np.linspace(-1e6, 1e6, 1001), [1e22, -3e300, WORST_PIO2]])
    for far, full in (("fsin_far", "fsin"), ("fcos_far", "fcos")):
        got = _vectorized(getattr(fm, far))(x)
        np.testing.assert_array_equal(got, _vectorized(getattr(fm, full))(x))


def test_trig_out_of_range_flags_exactly_the_unreduced_arguments():
    flag = _vectorized(fm.trig_out_of_range)
    x = np.array([0.0, fm.TRIG_MAX, np.nextafter(fm.TRIG_MAX, np.inf), -1e20, np.inf, np.nan])
    assert flag(x).tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]


def test_fmaximum_fminimum_propagate_nan_like_numpy():
    a = np.array([1.0, np.nan, 2.0, -np.inf, 0.5])
    b = np.array([2.0, 1.0, np.nan, 1.0, 0.5])
    for f, ref in ((fm.fmaximum, np.maximum), (fm.fminimum, np.minimum)):
        got = np.array([f(u, v) for u, v in zip(a, b)])
        np.testing.assert_array_equal(got, ref(a, b))


def test_max_reduction_with_fmaximum_is_nan_propagating():
    @numba.njit(error_model=ERROR_MODEL, fastmath=set(FASTMATH_FLAGS))
    def amax(x):
        m = -np.inf
        for i in range(x.shape[0]):
            m = fm.fmaximum(m, x[i])
        return m
    x = np.linspace(-1.0, 3.0, 1001)
    assert amax(x) == 3.0
    x[500] = np.nan
    assert np.isnan(amax(x))


_LIBM_CALL = re.compile(r"call [^\n]*@(llvm\.)?(sin|cos|exp|exp2|expm1|log|log1p|tanh|atan)"
                        r"(\.f64)?\(")
# vector arithmetic: fmul/fadd/fsub/fdiv on <N x double>, or fused multiply-adds on vectors
# (where the CPU has FMA, LLVM turns most mul-add pairs into llvm.fma/llvm.fmuladd calls)
_VECTOR_ARITHMETIC = re.compile(r"= f(?:mul|add|sub|div)[a-z ]* <\d+ x double>"
                                r"|@llvm\.fm(?:a|uladd)\.v\d+f64\(")


@pytest.mark.parametrize("name", ["fexp", "flog", "fsin", "fcos", "ftanh", "fatan", "flog1p",
                                  "fexpm1", "fexp2", "flogistic", "fsin_bounded"])
def test_reduction_loop_vectorizes(name):
    """A generated-style ``s += f(x[i])`` loop becomes SIMD code with no libm call in it
    (with ``math.sin`` the same loop calls libm once per element)."""
    total = _reduction(getattr(fm, name))
    x = np.linspace(0.1, 3.0, 64)
    assert total(x) == pytest.approx(float(np.sum(FUNCS[name](x))), rel=1e-14)
    llvm_ir = total.inspect_llvm(total.signatures[0])
    assert not _LIBM_CALL.search(llvm_ir)
    assert len(_VECTOR_ARITHMETIC.findall(llvm_ir)) >= 10


def test_kernels_keep_their_own_operation_order():
    """Fast-math flags of the caller must not leak into the kernels (two_sum would collapse)."""
    @numba.njit(error_model=ERROR_MODEL, fastmath=set(FASTMATH_FLAGS))
    def err_of_sum(a, b):
        return fm._two_sum(a, b)[1]
    assert err_of_sum(1.0, 1e-20) == 1e-20
