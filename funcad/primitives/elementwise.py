"""Elementwise primitives: unary and binary math, comparisons, logic, select, conversion.

Every primitive here is one declaration. The unary and binary families derive the shape rule
(strict: operands of one shape and dtype), the batching rule, and the jvp from a one-line
derivative ``d(t, ans, *args)`` written in lax ops. How the code generator writes each one as
a scalar expression is a table of its own, by primitive name: funcad/codegen/scalar_rules.py
(Numba's scalar semantics need the dtypes, and its fast approximations need a config flag).
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from funcad import lax
from funcad.core import Primitive, ShapedArray, bool_, check_dtype, get_aval, is_float
from funcad.interpreters.batching import bdim_to
from funcad.interpreters.transpose import UndefinedPrimal
from funcad.interpreters.jvp import Zero, add_tangents, instantiate, zero
from funcad.primitives._family import check_kind, strict_same

__all__ = []  # filled by _export
_LN2 = math.log(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)
    return fn


# ---------------------------------------------------------------------------------------------
# Shared rules

def _align_batched(vals, dims):
    """Give every operand the batch axis at the same position (the first batched one's).

    Rank-0 operands may meet full-rank ones (scalar operands broadcast implicitly): an
    unbatched scalar stays as it is; a batched scalar is broadcast along the other axes."""
    d0 = next(d for d in dims if d is not None)
    size = get_aval(vals[dims.index(d0)]).shape[d0]
    ranks = [get_aval(v).ndim - (d is not None) for v, d in zip(vals, dims)]
    full = builtins.max(ranks)
    shape = None
    if full:
        j = ranks.index(full)
        d_full = dims[j]
        fs = get_aval(vals[j]).shape
        shape = fs if d_full is None else fs[:d_full] + fs[d_full + 1:]
    out = []
    for v, d, r in zip(vals, dims, ranks):
        if r == 0 and full:
            if d is None:
                out.append(v)
                continue
            target = shape[:d0] + (size,) + shape[d0:]
            out.append(lax.broadcast_in_dim(v, target, (d0,)))
            continue
        out.append(bdim_to(v, d, d0, size) if d != d0 else v)
    return out, d0


def _elementwise_batch(prim):
    def batch(vals, dims, **params):
        vals, d = _align_batched(vals, dims)
        return prim.bind(*vals, **params), d
    return batch


def _unbroadcast(ct, aval):
    """Cotangent of a rank-0 operand that was broadcast implicitly: sum it."""
    if not aval.shape:
        nd = get_aval(ct).ndim
        if nd:
            return lax.reduce_sum(ct, tuple(range(nd)))
    return ct


def _binary_aval(name, x, y):
    if x.dtype != y.dtype or (x.shape != y.shape and x.shape and y.shape):
        raise TypeError(
            f"lax.{name} requires operands of equal shape (or one of rank 0) and equal dtype; "
            f"got {x.str_short()} and {y.str_short()}. Use funcad.numpy (fnp) for "
            f"broadcasting and type promotion.")
    return x if x.shape else y


def _zero_jvp(prim):
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        return out, Zero(get_aval(out))
    return jvp


def _scalar_like(c, x):
    """A Python scalar as an array of x's dtype and shape (a cheap broadcast)."""
    a = get_aval(x)
    s = np.asarray(c, a.dtype)
    return s if a.ndim == 0 else lax.broadcast_in_dim(s, a.shape, ())


def _scalar_of(c, x):
    """A Python scalar as a rank-0 array of x's dtype (binary primitives broadcast it)."""
    return np.asarray(c, get_aval(x).dtype)


_PY_SCALARS = (int, float, bool)


def _coerce2(x, y):
    if isinstance(x, (int, float, bool)) and not isinstance(y, (int, float, bool)):
        return _scalar_of(x, y), y
    if isinstance(y, (int, float, bool)):
        return x, _scalar_of(y, x)
    return x, y


# ---------------------------------------------------------------------------------------------
# Unary family

def unary(name, impl, d, *, kinds="f", domain=((-3.0, 3.0),), out_dtype=None,
          **extra) -> Primitive:
    """Declare an elementwise unary primitive. ``d(t, ans, x)`` is the tangent of the output
    (None: the derivative is zero almost everywhere)."""

    def abstract_eval(x):
        check_kind(name, x, kinds)
        return x if out_dtype is None else x.update(dtype=out_dtype)

    prim = Primitive(name, impl=impl, abstract_eval=abstract_eval, domain=domain, **extra)
    if d is None:
        prim.jvp = _zero_jvp(prim)
    elif prim.jvp is None:
        def jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            ans = prim.bind(x)
            return ans, d(t, ans, x)
        prim.jvp = jvp
    prim.batch = _elementwise_batch(prim)
    return prim


def _wrap_unary(name, prim):
    def fn(x):
        return prim.bind(x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}` (lax primitive, no broadcasting or promotion)."
    return _export(fn)


def _logistic_impl(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _erf_impl(x):
    vf = np.vectorize(math.erf, otypes=[x.dtype])
    return vf(x) if x.size else x.copy()


def _cbrt_impl(x):
    return np.cbrt(x)


def _neg_transpose(ct, x):
    return [lax.neg(ct)]


_U = {}
_U["neg"] = unary("neg", np.negative, lambda t, ans, x: lax.neg(t), kinds="fi", linear=True,
                  transpose=_neg_transpose)
_U["abs"] = unary("abs", np.abs, lambda t, ans, x: lax.mul(t, lax.sign(x)), kinds="fi")
_U["sign"] = unary("sign", np.sign, None, kinds="fi")
_U["floor"] = unary("floor", np.floor, None)
_U["ceil"] = unary("ceil", np.ceil, None)
_U["round"] = unary("round", np.round, None)
_U["exp"] = unary("exp", np.exp, lambda t, ans, x: lax.mul(t, ans))
_U["exp2"] = unary("exp2", np.exp2, lambda t, ans, x: lax.mul(t, lax.mul(ans, _LN2)))
_U["expm1"] = unary("expm1", np.expm1, lambda t, ans, x: lax.mul(t, lax.add(ans, 1.0)))
_U["log"] = unary("log", np.log, lambda t, ans, x: lax.div(t, x), domain=((0.1, 5.0),))
_U["log1p"] = unary("log1p", np.log1p, lambda t, ans, x: lax.div(t, lax.add(x, 1.0)),
                    domain=((-0.9, 5.0),))
_U["sqrt"] = unary("sqrt", np.sqrt, lambda t, ans, x: lax.div(lax.mul(t, 0.5), ans),
                   domain=((0.1, 5.0),))
_U["rsqrt"] = unary("rsqrt", lambda x: (1 / np.sqrt(x)).astype(x.dtype, copy=False),
                    lambda t, ans, x: lax.mul(t, lax.div(lax.mul(ans, -0.5), x)),
                    domain=((0.1, 5.0),))
_U["cbrt"] = unary("cbrt", _cbrt_impl,
                   lambda t, ans, x: lax.div(t, lax.mul(lax.mul(ans, ans), 3.0)),
                   domain=((0.1, 5.0),))
_U["sin"] = unary("sin", np.sin, lambda t, ans, x: lax.mul(t, lax.cos(x)))
_U["cos"] = unary("cos", np.cos, lambda t, ans, x: lax.neg(lax.mul(t, lax.sin(x))))
_U["tan"] = unary("tan", np.tan,
                  lambda t, ans, x: lax.mul(t, lax.add(lax.mul(ans, ans), 1.0)),
                  domain=((-1.2, 1.2),))
_U["asin"] = unary("asin", np.arcsin,
                   lambda t, ans, x: lax.mul(t, lax.rsqrt(lax.sub(1.0, lax.mul(x, x)))),
                   domain=((-0.9, 0.9),))
_U["acos"] = unary("acos", np.arccos,
                   lambda t, ans, x: lax.neg(lax.mul(t, lax.rsqrt(lax.sub(1.0,
                                                                          lax.mul(x, x))))),
                   domain=((-0.9, 0.9),))
_U["atan"] = unary("atan", np.arctan,
                   lambda t, ans, x: lax.div(t, lax.add(lax.mul(x, x), 1.0)))
_U["sinh"] = unary("sinh", np.sinh, lambda t, ans, x: lax.mul(t, lax.cosh(x)))
_U["cosh"] = unary("cosh", np.cosh, lambda t, ans, x: lax.mul(t, lax.sinh(x)))
_U["tanh"] = unary("tanh", np.tanh,
                   lambda t, ans, x: lax.mul(t, lax.sub(1.0, lax.mul(ans, ans))))
_U["asinh"] = unary("asinh", np.arcsinh,
                    lambda t, ans, x: lax.mul(t, lax.rsqrt(lax.add(lax.mul(x, x), 1.0))))
_U["acosh"] = unary("acosh", np.arccosh,
                    lambda t, ans, x: lax.mul(t, lax.rsqrt(lax.mul(lax.sub(x, 1.0),
                                                                   lax.add(x, 1.0)))),
                    domain=((1.1, 5.0),))
_U["atanh"] = unary("atanh", np.arctanh,
                    lambda t, ans, x: lax.div(t, lax.sub(1.0, lax.mul(x, x))),
                    domain=((-0.9, 0.9),))
_U["logistic"] = unary("logistic", _logistic_impl,
                       lambda t, ans, x: lax.mul(t, lax.mul(ans, lax.sub(1.0, ans))))
_U["erf"] = unary("erf", _erf_impl,
                  lambda t, ans, x: lax.mul(t, lax.mul(lax.exp(lax.neg(lax.mul(x, x))),
                                                       _TWO_OVER_SQRT_PI)))
_U["not"] = unary("not", lambda x: np.logical_not(x) if x.dtype == np.bool_ else np.invert(x),
                  None, kinds="bi", test_dtypes=("bool", "int64"))
for _n, _p in _U.items():
    globals()[_n + "_p"] = _p
    _wrap_unary(_n if _n != "not" else "not_", _p)
    __all__.append(_n + "_p")


# integer_pow: x ** y for a static Python int y -------------------------------------------------

def _integer_pow_impl(x, *, y):
    if x.dtype.kind in "iu" and y < 0:
        raise ValueError("lax.integer_pow: integers to negative powers are not allowed")
    return np.power(x, x.dtype.type(y)) if x.dtype.kind != "f" else np.power(x, float(y)
                                                                            ).astype(x.dtype)


def _integer_pow_jvp(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    ans = integer_pow(x, y)
    if y == 0:
        return ans, Zero(get_aval(ans))
    d = lax.mul(integer_pow(x, y - 1), float(y)) if y != 1 else _scalar_like(1.0, x)
    return ans, lax.mul(t, d)


def _integer_pow_abstract(x, *, y):
    check_kind("integer_pow", x, "fi")
    if x.dtype.kind in "iu" and y < 0:
        raise TypeError(f"lax.integer_pow: integers cannot be raised to the negative power "
                        f"{y}; convert to float first")
    return x


def _integer_pow_test_args(rng, dtype):
    from funcad.testing import rand_array
    # magnitudes in [0.3, 2]: negative powers stay away from the pole at 0
    x = rand_array(rng, (3, 4), dtype, 0.3, 2.0)
    return [x * np.where(rng.random((3, 4)) < 0.5, -1, 1).astype(x.dtype)]


integer_pow_p = Primitive(
    "integer_pow", impl=_integer_pow_impl, abstract_eval=_integer_pow_abstract,
    jvp=_integer_pow_jvp, domain=((-2.0, 2.0),),
    test_params=({"y": 2}, {"y": 3}, {"y": -2}, {"y": 0}, {"y": 1}),
    test_args=_integer_pow_test_args)
integer_pow_p.batch = _elementwise_batch(integer_pow_p)


@_export
def integer_pow(x, y: int):
    """``x ** y`` for a Python int ``y``."""
    return integer_pow_p.bind(x, y=int(y))


__all__.append("integer_pow_p")


# ---------------------------------------------------------------------------------------------
# Binary family

def binary(name, impl, dx, dy, *, kinds="f", domain=((-3.0, 3.0), (-3.0, 3.0)),
           out_dtype=None, **extra) -> Primitive:
    """Declare an elementwise binary primitive. ``dx(t, ans, x, y)`` and ``dy`` give the
    tangent contributions (None for both: zero derivative)."""

    def abstract_eval(x, y):
        a = x if x is y else _binary_aval(name, x, y)  # avals are shared: often the same
        if a.dtype.kind not in kinds:
            check_kind(name, a, kinds)
        return a if out_dtype is None else a.update(dtype=out_dtype)

    prim = Primitive(name, impl=impl, abstract_eval=abstract_eval, domain=domain, **extra)
    if dx is None and dy is None:
        prim.jvp = _zero_jvp(prim)
    elif prim.jvp is None:
        def jvp(primals, tangents):
            x, y = primals
            tx, ty = tangents
            ans = prim.bind(x, y)
            a = get_aval(ans)
            if type(tx) is Zero:
                if type(ty) is Zero:
                    return ans, zero(a)
                return ans, _full_shape(dy(ty, ans, x, y), a)
            out = _full_shape(dx(tx, ans, x, y), a)
            if type(ty) is not Zero:
                out = add_tangents(out, _full_shape(dy(ty, ans, x, y), a))
            return ans, out
        prim.jvp = jvp
    prim.batch = _elementwise_batch(prim)
    return prim


def _full_shape(t, aval):
    return t if get_aval(t).shape == aval.shape else lax.broadcast_in_dim(t, aval.shape, ())


def _wrap_binary(name, prim):
    def fn(x, y):
        if isinstance(x, _PY_SCALARS) or isinstance(y, _PY_SCALARS):
            x, y = _coerce2(x, y)
        return prim.bind(x, y)
    fn.__name__ = name
    fn.__doc__ = (f"Elementwise `{name}` (lax primitive: equal shapes and dtypes; a Python "
                  f"scalar operand takes the other operand's dtype and shape).")
    return _export(fn)


def _add_transpose(ct, x, y):
    return [_unbroadcast(ct, x.aval) if type(x) is UndefinedPrimal else None,
            _unbroadcast(ct, y.aval) if type(y) is UndefinedPrimal else None]


def _sub_transpose(ct, x, y):
    return [_unbroadcast(ct, x.aval) if type(x) is UndefinedPrimal else None,
            _unbroadcast(lax.neg(ct), y.aval) if type(y) is UndefinedPrimal else None]


def _mul_transpose(ct, x, y):
    ux, uy = type(x) is UndefinedPrimal, type(y) is UndefinedPrimal
    if ux and uy:
        raise TypeError("lax.mul: cannot transpose a product of two linear values "
                        "(the function is not linear)")
    return [_unbroadcast(lax.mul(ct, y), x.aval) if ux else None,
            _unbroadcast(lax.mul(x, ct), y.aval) if uy else None]


def _div_transpose(ct, x, y):
    if _undef(y):
        raise TypeError("lax.div: cannot transpose with respect to the divisor "
                        "(the function is not linear in it)")
    return [_unbroadcast(lax.div(ct, y), x.aval), None]


def _undef(x):
    return type(x) is UndefinedPrimal


def _sub_jvp(primals, tangents):
    # tx - ty as one equation (the family's rule would stage neg(ty) and an add)
    (x, y), (tx, ty) = primals, tangents
    ans = sub(x, y)  # noqa: F821  (lax.sub, exported below)
    a = get_aval(ans)
    if type(ty) is Zero:
        return ans, zero(a) if type(tx) is Zero else _full_shape(tx, a)
    if type(tx) is Zero:
        return ans, _full_shape(neg(ty), a)  # noqa: F821
    return ans, sub(tx, ty)  # noqa: F821  (a rank-0 operand broadcasts, as in the primal)


def _int_div_impl(x, y):
    if x.dtype.kind == "f":
        return np.true_divide(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.floor_divide(x, y)
        fix = (np.remainder(x, y) != 0) & ((x < 0) ^ (y < 0))
    return (q + fix).astype(x.dtype, copy=False)


def _rem_dy(t, ans, x, y):
    q = lax.round(lax.div(lax.sub(x, ans), y))
    return lax.neg(lax.mul(t, q))


def _pow_dx(t, ans, x, y):
    # y * x**(y-1), defined as 0 where y == 0 (also at x == 0)
    d = lax.mul(y, lax.pow(x, lax.sub(y, 1.0)))
    return lax.mul(t, lax.select_n(lax.eq(y, _scalar_like(0.0, y)), d, _scalar_like(0.0, d)))


def _pow_dy(t, ans, x, y):
    # log(x) * x**y, defined as 0 where x == 0
    zero = lax.eq(x, _scalar_like(0.0, x))
    safe_x = lax.select_n(zero, x, _scalar_like(1.0, x))
    return lax.mul(t, lax.mul(lax.log(safe_x), ans))


def _minmax_d(pick_x):
    def d(t, ans, x, y):
        # ties split the tangent evenly, as in JAX
        cmp = lax.gt if pick_x else lax.lt
        w = lax.add(lax.convert_element_type(cmp(x, y), get_aval(x).dtype),
                    lax.mul(lax.convert_element_type(lax.eq(x, y), get_aval(x).dtype), 0.5))
        return lax.mul(t, w)
    return d


def _atan2_d(which):
    def d(t, ans, x, y):
        r = lax.add(lax.mul(x, x), lax.mul(y, y))
        return lax.mul(t, lax.div(y, r)) if which == 0 else lax.neg(lax.mul(t, lax.div(x, r)))
    return d


_B = {}
_B["add"] = binary("add", np.add, lambda t, a, x, y: t, lambda t, a, x, y: t, kinds="fi",
                   linear=True, transpose=_add_transpose)
_B["sub"] = binary("sub", np.subtract, lambda t, a, x, y: t, lambda t, a, x, y: lax.neg(t),
                   kinds="fi", linear=True, transpose=_sub_transpose, jvp=_sub_jvp)
_B["mul"] = binary("mul", np.multiply, lambda t, a, x, y: lax.mul(t, y),
                   lambda t, a, x, y: lax.mul(x, t), kinds="fi", transpose=_mul_transpose)
_B["div"] = binary("div", _int_div_impl, lambda t, a, x, y: lax.div(t, y),
                   lambda t, a, x, y: lax.neg(lax.mul(t, lax.div(a, y))), kinds="fi",
                   transpose=_div_transpose, domain=((-3.0, 3.0), (0.5, 3.0)))
_B["rem"] = binary("rem", np.fmod, lambda t, a, x, y: t, _rem_dy, kinds="fi",
                   domain=((-3.0, 3.0), (0.7, 3.0)))
_B["pow"] = binary("pow", np.power, _pow_dx, _pow_dy, domain=((0.5, 3.0), (-2.0, 2.0)))
_B["max"] = binary("max", np.maximum, _minmax_d(True), _minmax_d(False), kinds="fib")
_B["min"] = binary("min", np.minimum, _minmax_d(False), _minmax_d(True), kinds="fib")
_B["atan2"] = binary("atan2", np.arctan2, _atan2_d(0), _atan2_d(1),
                     domain=((-3.0, 3.0), (0.5, 3.0)))
_B["and"] = binary("and", np.bitwise_and, None, None, kinds="bi",
                   test_dtypes=("bool", "int64"))
_B["or"] = binary("or", np.bitwise_or, None, None, kinds="bi", test_dtypes=("bool", "int64"))
_B["xor"] = binary("xor", np.bitwise_xor, None, None, kinds="bi",
                   test_dtypes=("bool", "int64"))
for _n, _f in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
               ("gt", np.greater), ("ge", np.greater_equal)]:
    _B[_n] = binary(_n, _f, None, None, kinds="fib", out_dtype=bool_)
for _n, _p in _B.items():
    globals()[_n + "_p"] = _p
    _wrap_binary(_n if _n not in ("and", "or") else _n + "_", _p)
    __all__.append(_n + "_p")


# ---------------------------------------------------------------------------------------------
# select_n: cases[pred], elementwise

def _select_n_abstract(pred, *cases):
    if not cases:
        raise TypeError("lax.select_n needs at least one case")
    c = strict_same("select_n", list(cases), "cases")
    if pred.shape != c.shape and pred.shape != ():
        raise TypeError(f"lax.select_n: the predicate has shape {pred.shape} but the cases "
                        f"have shape {c.shape}; it must be equal or a scalar")
    if pred.dtype != bool_ and pred.dtype.kind != "i":
        raise TypeError(f"lax.select_n: the predicate must be bool or int, got {pred.dtype}")
    if pred.dtype == bool_ and len(cases) > 2:
        raise TypeError("lax.select_n: a bool predicate selects between exactly two cases")
    return c


def _select_n_impl(pred, *cases):
    if len(cases) == 1:
        return cases[0]
    if pred.dtype == np.bool_:
        return np.where(pred, cases[1], cases[0])
    return np.choose(np.clip(pred, 0, len(cases) - 1), cases)


def _select_n_jvp(primals, tangents):
    pred, cases = primals[0], primals[1:]
    out = select_n(pred, *cases)
    ts = tangents[1:]
    if all(type(t) is Zero for t in ts):
        return out, Zero(get_aval(out))
    return out, select_n(pred, *[instantiate(t) for t in ts])


def _select_n_transpose(ct, pred, *cases):
    from funcad.interpreters.jvp import zeros_like_aval
    if _undef(pred):
        raise TypeError("lax.select_n: the predicate cannot be linear")
    zeros = zeros_like_aval(get_aval(ct))
    out = [None]
    for i, c in enumerate(cases):
        if _undef(c):
            branches = [zeros] * len(cases)
            branches[i] = ct
            out.append(select_n(pred, *branches))
        else:
            out.append(None)
    return out


def _select_n_test_args(rng, dtype):
    from funcad.testing import rand_array
    return [rng.random((3, 4)) < 0.5, rand_array(rng, (3, 4), dtype),
            rand_array(rng, (3, 4), dtype)]


select_n_p = Primitive("select_n", impl=_select_n_impl, abstract_eval=_select_n_abstract,
                       jvp=_select_n_jvp, transpose=_select_n_transpose,
                       linear=True, test_args=_select_n_test_args)
select_n_p.batch = _elementwise_batch(select_n_p)
__all__.append("select_n_p")


@_export
def select_n(pred, *cases):
    """``cases[pred]`` elementwise: with a bool ``pred``, ``select_n(p, f, t)`` is
    ``where(p, t, f)``."""
    return select_n_p.bind(pred, *cases)


# ---------------------------------------------------------------------------------------------
# convert_element_type

def _convert_impl(x, *, new_dtype):
    return x.astype(new_dtype)


def _convert_abstract(x, *, new_dtype):
    return x.update(dtype=check_dtype(new_dtype, "lax.convert_element_type"))


def _convert_jvp(primals, tangents, *, new_dtype):
    (x,), (t,) = primals, tangents
    out = convert_element_type(x, new_dtype)
    if type(t) is Zero or not is_float(new_dtype) or not is_float(get_aval(x).dtype):
        return out, Zero(get_aval(out))
    return out, convert_element_type(t, new_dtype)


def _convert_transpose(ct, x, *, new_dtype):
    return [convert_element_type(ct, x.aval.dtype)]


convert_element_type_p = Primitive(
    "convert_element_type", impl=_convert_impl, abstract_eval=_convert_abstract,
    jvp=_convert_jvp, transpose=_convert_transpose, linear=True,
    test_params=({"new_dtype": np.dtype("float32")}, {"new_dtype": np.dtype("int32")},
                 {"new_dtype": np.dtype("float64")}, {"new_dtype": np.dtype("bool")}))
convert_element_type_p.batch = _elementwise_batch(convert_element_type_p)
__all__.append("convert_element_type_p")


@_export
def convert_element_type(x, new_dtype):
    """``x`` converted to ``new_dtype`` (a no-op when it already has it)."""
    dt = check_dtype(new_dtype, "lax.convert_element_type")
    if get_aval(x).dtype == dt and not isinstance(x, (int, float, bool)):
        return x
    if isinstance(x, (int, float, bool)):
        return np.asarray(x, dt)
    return convert_element_type_p.bind(x, new_dtype=dt)


# ---------------------------------------------------------------------------------------------
# stop_gradient: the identity, with a zero derivative

stop_gradient_p = unary("stop_gradient", lambda x: x, None, kinds="fib",
                        test_dtypes=("float64",))
__all__.append("stop_gradient_p")


@_export
def stop_gradient(x):
    """``x``, treated as a constant by every derivative (works on pytrees)."""
    from funcad.tree_util import tree_map
    return tree_map(lambda a: stop_gradient_p.bind(a)
                    if not isinstance(a, (int, float, bool)) else a, x)
