"""Elementwise functions of ``funcad.numpy``, with NumPy's names, promotion and broadcasting.

Each is a few lax calls after :func:`~funcad.numpy._util.promote`; outside transformations
the NumPy function runs directly (see ``_util.eager``).
"""
from __future__ import annotations

import math

import numpy as np

from funcad import lax
from funcad.core import Tracer, get_aval
from funcad.numpy._util import (asarray_of, eager, float_dtype, promote, result_type,
                                to_value)

__all__ = []


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)
    return fn


def _float_arg(x):
    x = to_value(x)
    return asarray_of(x, float_dtype(x))


def _is_float_plain(x):
    return (type(x) is np.ndarray and x.dtype.kind == "f") or type(x) is float


def _unary_float(name, np_fn, lax_fn):
    """A float-valued unary function: ints and bools are computed in float64."""
    def fn(x, /):
        if _is_float_plain(x) and not isinstance(x, Tracer):
            from funcad import core
            if core._current is core.eval_interpreter:
                return np_fn(x)
        return lax_fn(_float_arg(x))
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{np_fn.__name__}``, as NumPy's (traceable)."
    globals()[name] = fn
    __all__.append(name)
    return fn


for _name, _np, _lax in [
        ("sin", np.sin, lax.sin), ("cos", np.cos, lax.cos), ("tan", np.tan, lax.tan),
        ("arcsin", np.arcsin, lax.asin), ("arccos", np.arccos, lax.acos),
        ("arctan", np.arctan, lax.atan), ("sinh", np.sinh, lax.sinh),
        ("cosh", np.cosh, lax.cosh), ("tanh", np.tanh, lax.tanh),
        ("arcsinh", np.arcsinh, lax.asinh), ("arccosh", np.arccosh, lax.acosh),
        ("arctanh", np.arctanh, lax.atanh), ("exp", np.exp, lax.exp),
        ("exp2", np.exp2, lax.exp2), ("expm1", np.expm1, lax.expm1),
        ("log", np.log, lax.log), ("log1p", np.log1p, lax.log1p),
        ("sqrt", np.sqrt, lax.sqrt), ("cbrt", np.cbrt, lax.cbrt)]:
    _unary_float(_name, _np, _lax)
asin, acos, atan = arcsin, arccos, arctan  # noqa: F821
asinh, acosh, atanh = arcsinh, arccosh, arctanh  # noqa: F821
__all__ += ["asin", "acos", "atan", "asinh", "acosh", "atanh"]

_LOG2E = 1.0 / math.log(2.0)
_LOG10E = 1.0 / math.log(10.0)
_unary_float("log2", np.log2, lambda x: lax.mul(lax.log(x), _LOG2E))
_unary_float("log10", np.log10, lambda x: lax.mul(lax.log(x), _LOG10E))
_unary_float("deg2rad", np.deg2rad, lambda x: lax.mul(x, math.pi / 180.0))
_unary_float("rad2deg", np.rad2deg, lambda x: lax.mul(x, 180.0 / math.pi))
radians, degrees = deg2rad, rad2deg  # noqa: F821
__all__ += ["radians", "degrees"]


def _keep_int(name, np_fn, lax_fn, int_fn=None):
    """A unary function that keeps the input dtype (ints stay ints)."""
    @eager(np_fn)
    def fn(x, /):
        x = to_value(x)
        if get_aval(x).dtype.kind in "iub":
            return int_fn(x) if int_fn is not None else x
        return lax_fn(x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{np_fn.__name__}``, as NumPy's (traceable)."
    return _export(fn)


_keep_int("floor", np.floor, lax.floor)
_keep_int("ceil", np.ceil, lax.ceil)
_keep_int("trunc", np.trunc, lambda x: lax.mul(lax.floor(lax.abs(x)), lax.sign(x)))
_keep_int("fix", np.fix, lambda x: lax.mul(lax.floor(lax.abs(x)), lax.sign(x)))
_keep_int("rint", np.rint, lax.round)


def _neg_int(x):
    if get_aval(x).dtype == np.bool_:
        raise TypeError("fnp.negative: the - operator is not supported for booleans; use ~ "
                        "or logical_not")
    return lax.neg(x)


_keep_int("negative", np.negative, lax.neg, _neg_int)
_keep_int("positive", np.positive, lambda x: x)
_keep_int("abs", np.abs, lax.abs, lambda x: x if get_aval(x).dtype == np.bool_ else lax.abs(x))
_keep_int("sign", np.sign, lax.sign, lambda x: x if get_aval(x).dtype == np.bool_
          else lax.sign(x))
absolute = abs  # noqa: F821
__all__.append("absolute")


@_export
@eager(np.square)
def square(x, /):
    x = to_value(x)
    if get_aval(x).dtype == np.bool_:
        return lax.and_(x, x)
    return lax.integer_pow(x, 2)


@_export
@eager(np.reciprocal)
def reciprocal(x, /):
    x = to_value(x)
    return lax.div(_scalar(1, get_aval(x).dtype, x), x)


@_export
@eager(np.round)
def round(x, decimals=0):  # noqa: A001
    x = to_value(x)
    if get_aval(x).dtype.kind in "iub":
        return x
    if decimals == 0:
        return lax.round(x)
    f = 10.0 ** decimals
    return lax.div(lax.round(lax.mul(x, f)), f)


around = round
__all__.append("around")


def _scalar(c, dtype, like):
    a = get_aval(like)
    s = np.asarray(c, dtype)
    return s if a.ndim == 0 else lax.broadcast_in_dim(s, a.shape, ())


# ---------------------------------------------------------------------------------------------
# Binary arithmetic

@_export
@eager(np.add)
def add(x, y, /):
    x, y = promote("fnp.add", x, y)
    if get_aval(x).dtype == np.bool_:
        return lax.or_(x, y)
    return lax.add(x, y)


@_export
@eager(np.subtract)
def subtract(x, y, /):
    x, y = promote("fnp.subtract", x, y)
    if get_aval(x).dtype == np.bool_:
        raise TypeError("fnp.subtract: the - operator is not supported for booleans; use "
                        "logical_xor")
    return lax.sub(x, y)


@_export
@eager(np.multiply)
def multiply(x, y, /):
    x, y = promote("fnp.multiply", x, y)
    if get_aval(x).dtype == np.bool_:
        return lax.and_(x, y)
    return lax.mul(x, y)


@_export
@eager(np.true_divide)
def true_divide(x, y, /):
    x, y = promote("fnp.true_divide", x, y, dtype=float_dtype(x, y))
    return lax.div(x, y)


divide = true_divide
__all__.append("divide")


def _floor_divide_float(x, y):
    # NumPy's algorithm: exact for values like 1.0 // 0.1 == 9.0
    mod = lax.rem(x, y)
    div = lax.div(lax.sub(x, mod), y)
    zero = _scalar(0, get_aval(x).dtype, x)
    adjust = lax.and_(lax.ne(mod, zero), lax.ne(lax.lt(y, zero), lax.lt(mod, zero)))
    div = lax.select_n(adjust, div, lax.sub(div, 1.0))
    fl = lax.floor(div)
    fl = lax.select_n(lax.gt(lax.sub(div, fl), 0.5), fl, lax.add(fl, 1.0))
    # div == 0 keeps the sign of the true quotient; y == 0 gives x / y
    signed_zero = lax.mul(lax.div(x, y), zero)
    fl = lax.select_n(lax.eq(div, zero), fl, signed_zero)
    return lax.select_n(lax.eq(y, zero), fl, lax.div(x, y))


def _floor_divide_int(x, y):
    q = lax.div(x, y)
    r = lax.rem(x, y)
    zero = _scalar(0, get_aval(x).dtype, x)
    fix = lax.and_(lax.ne(r, zero), lax.ne(lax.lt(x, zero), lax.lt(y, zero)))
    q = lax.select_n(fix, q, lax.sub(q, 1))
    return lax.select_n(lax.eq(y, zero), q, zero)


@_export
@eager(np.floor_divide)
def floor_divide(x, y, /):
    x, y = promote("fnp.floor_divide", x, y)
    dt = get_aval(x).dtype
    if dt == np.bool_:
        x, y = asarray_of(x, np.int64), asarray_of(y, np.int64)
        return _floor_divide_int(x, y)
    return _floor_divide_float(x, y) if dt.kind == "f" else _floor_divide_int(x, y)


@_export
@eager(np.remainder)
def remainder(x, y, /):
    x, y = promote("fnp.remainder", x, y)
    dt = get_aval(x).dtype
    zero = _scalar(0, dt, x)
    if dt.kind != "f":
        r = lax.rem(x, y)
        fix = lax.and_(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))
        r = lax.select_n(fix, r, lax.add(r, y))
        return lax.select_n(lax.eq(y, zero), r, zero)
    mod = lax.rem(x, y)
    fix = lax.and_(lax.ne(mod, zero), lax.ne(lax.lt(y, zero), lax.lt(mod, zero)))
    mod = lax.select_n(fix, mod, lax.add(mod, y))
    # a zero result takes the sign of y
    return lax.select_n(lax.eq(mod, zero), mod, _copysign_zero(y, zero))


def _copysign_zero(y, zero):
    neg = lax.lt(y, zero)
    return lax.select_n(neg, zero, lax.neg(zero))


mod = remainder
__all__.append("mod")


@_export
@eager(np.fmod)
def fmod(x, y, /):
    x, y = promote("fnp.fmod", x, y)
    return lax.rem(x, y)


@_export
@eager(np.power)
def power(x, y, /):
    if type(y) is int and not isinstance(x, (int, float)):
        x = to_value(x)
        dt = result_type(x, y)
        x = asarray_of(x, dt)
        if dt.kind in "iu" and y < 0:
            raise ValueError("fnp.power: integers to negative integer powers are not allowed")
        return lax.integer_pow(x, y)
    x, y = promote("fnp.power", x, y)
    dt = get_aval(x).dtype
    if dt.kind == "f":
        return lax.pow(x, y)
    f = lax.pow(lax.convert_element_type(x, np.float64), lax.convert_element_type(y, np.float64))
    return lax.convert_element_type(lax.round(f), dt)


pow = power  # noqa: A001
__all__.append("pow")


@_export
@eager(np.float_power)
def float_power(x, y, /):
    x, y = promote("fnp.float_power", x, y, dtype=np.dtype("float64"))
    return lax.pow(x, y)


@_export
@eager(np.maximum)
def maximum(x, y, /):
    x, y = promote("fnp.maximum", x, y)
    return lax.max(x, y)


@_export
@eager(np.minimum)
def minimum(x, y, /):
    x, y = promote("fnp.minimum", x, y)
    return lax.min(x, y)


@_export
@eager(np.fmax)
def fmax(x, y, /):
    x, y = promote("fnp.fmax", x, y)
    if get_aval(x).dtype.kind != "f":
        return lax.max(x, y)
    return lax.select_n(lax.ne(x, x), lax.select_n(lax.ne(y, y), lax.max(x, y), x), y)


@_export
@eager(np.fmin)
def fmin(x, y, /):
    x, y = promote("fnp.fmin", x, y)
    if get_aval(x).dtype.kind != "f":
        return lax.min(x, y)
    return lax.select_n(lax.ne(x, x), lax.select_n(lax.ne(y, y), lax.min(x, y), x), y)


@_export
@eager(np.arctan2)
def arctan2(y, x, /):
    y, x = promote("fnp.arctan2", y, x, dtype=float_dtype(y, x))
    return lax.atan2(y, x)


atan2 = arctan2
__all__.append("atan2")


@_export
@eager(np.hypot)
def hypot(x, y, /):
    x, y = promote("fnp.hypot", x, y, dtype=float_dtype(x, y))
    ax, ay = lax.abs(x), lax.abs(y)
    hi, lo = lax.max(ax, ay), lax.min(ax, ay)
    zero = _scalar(0, get_aval(hi).dtype, hi)
    safe_hi = lax.select_n(lax.eq(hi, zero), hi, _scalar(1, get_aval(hi).dtype, hi))
    r = lax.div(lo, safe_hi)
    out = lax.mul(hi, lax.sqrt(lax.add(lax.mul(r, r), 1.0)))
    inf = lax.eq(hi, _scalar(np.inf, get_aval(hi).dtype, hi))
    return lax.select_n(inf, out, hi)


@_export
@eager(np.logaddexp)
def logaddexp(x, y, /):
    x, y = promote("fnp.logaddexp", x, y, dtype=float_dtype(x, y))
    m = lax.max(x, y)
    d = lax.neg(lax.abs(lax.sub(x, y)))
    same = lax.eq(x, y)  # covers +-inf == +-inf, where x - y is nan
    d = lax.select_n(same, d, _scalar(0, get_aval(d).dtype, d))
    out = lax.add(m, lax.log1p(lax.exp(d)))
    return lax.select_n(lax.and_(same, _is_inf(m)), out, m)


def _is_inf(x):
    return lax.eq(lax.abs(x), _scalar(np.inf, get_aval(x).dtype, x))


@_export
@eager(np.clip)
def clip(a, a_min=None, a_max=None, /):
    a = to_value(a)
    if a_min is None and a_max is None:
        raise ValueError("fnp.clip: one of a_min and a_max must be given")
    out = a
    if a_min is not None:
        out = maximum(out, a_min)
    if a_max is not None:
        out = minimum(out, a_max)
    return out


@_export
def where(condition, x=None, y=None, /):
    """``x`` where ``condition`` else ``y`` (broadcast); the one-argument form needs a
    concrete condition (it returns indices, whose number depends on the values)."""
    from funcad import core
    if x is None and y is None:
        if isinstance(condition, Tracer) and condition.concrete_value() is None:
            raise core.ConcretizationError(
                "fnp.where(condition) with one argument (nonzero) needs a concrete condition "
                "under tracing: the number of results depends on the values. Use the "
                "three-argument form fnp.where(condition, x, y).")
        return np.where(np.asarray(condition))
    if x is None or y is None:
        raise ValueError("fnp.where: give both x and y, or neither")
    if core._current is core.eval_interpreter and all(
            not isinstance(v, Tracer) for v in (condition, x, y)):
        return np.where(condition, x, y)
    c = _to_bool(condition)
    xv, yv = promote("fnp.where", x, y)
    from funcad.numpy._util import broadcast_shapes, broadcast_to
    shape = broadcast_shapes("fnp.where", get_aval(c).shape, get_aval(xv).shape)
    return lax.select_n(broadcast_to(c, shape), broadcast_to(yv, shape),
                        broadcast_to(xv, shape))


# ---------------------------------------------------------------------------------------------
# Comparisons and logic

def _compare(name, np_fn, lax_fn):
    @eager(np_fn)
    def fn(x, y, /):
        x, y = promote(f"fnp.{name}", x, y)
        return lax_fn(x, y)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{np_fn.__name__}`` (bool result), as NumPy's."
    return _export(fn)


_compare("equal", np.equal, lax.eq)
_compare("not_equal", np.not_equal, lax.ne)
_compare("less", np.less, lax.lt)
_compare("less_equal", np.less_equal, lax.le)
_compare("greater", np.greater, lax.gt)
_compare("greater_equal", np.greater_equal, lax.ge)


def _to_bool(x):
    x = to_value(x)
    if get_aval(x).dtype == np.bool_:
        return x
    return lax.ne(x, _scalar(0, get_aval(x).dtype, x))


def _logical(name, np_fn, lax_fn):
    @eager(np_fn)
    def fn(x, y, /):
        x, y = promote(f"fnp.{name}", _to_bool(x), _to_bool(y))
        return lax_fn(x, y)
    fn.__name__ = name
    return _export(fn)


_logical("logical_and", np.logical_and, lax.and_)
_logical("logical_or", np.logical_or, lax.or_)
_logical("logical_xor", np.logical_xor, lax.xor)


@_export
@eager(np.logical_not)
def logical_not(x, /):
    return lax.not_(_to_bool(x))


def _bitwise(name, np_fn, lax_fn):
    @eager(np_fn)
    def fn(x, y, /):
        x, y = promote(f"fnp.{name}", x, y)
        if get_aval(x).dtype.kind == "f":
            raise TypeError(f"fnp.{name} is not supported for float inputs")
        return lax_fn(x, y)
    fn.__name__ = name
    return _export(fn)


_bitwise("bitwise_and", np.bitwise_and, lax.and_)
_bitwise("bitwise_or", np.bitwise_or, lax.or_)
_bitwise("bitwise_xor", np.bitwise_xor, lax.xor)


@_export
@eager(np.invert)
def invert(x, /):
    x = to_value(x)
    if get_aval(x).dtype.kind == "f":
        raise TypeError("fnp.invert (~) is not supported for float inputs")
    return lax.not_(x)


bitwise_not = invert
__all__.append("bitwise_not")


@_export
@eager(np.isnan)
def isnan(x, /):
    x = to_value(x)
    if get_aval(x).dtype.kind != "f":
        return lax.full(get_aval(x).shape, False, np.bool_)
    return lax.ne(x, x)


@_export
@eager(np.isinf)
def isinf(x, /):
    x = to_value(x)
    if get_aval(x).dtype.kind != "f":
        return lax.full(get_aval(x).shape, False, np.bool_)
    return _is_inf(x)


@_export
@eager(np.isfinite)
def isfinite(x, /):
    x = to_value(x)
    if get_aval(x).dtype.kind != "f":
        return lax.full(get_aval(x).shape, True, np.bool_)
    return lax.not_(lax.or_(lax.ne(x, x), _is_inf(x)))


@_export
@eager(np.signbit)
def signbit(x, /):
    x = to_value(x)
    if get_aval(x).dtype.kind != "f":
        return lax.lt(x, _scalar(0, get_aval(x).dtype, x))
    # -0.0 has its sign bit set: 1/-0.0 == -inf
    zero = _scalar(0, get_aval(x).dtype, x)
    return lax.or_(lax.lt(x, zero), lax.and_(lax.eq(x, zero), lax.lt(lax.div(
        _scalar(1, get_aval(x).dtype, x), x), zero)))


@_export
@eager(np.copysign)
def copysign(x, y, /):
    x, y = promote("fnp.copysign", x, y, dtype=float_dtype(x, y))
    ax = lax.abs(x)
    return lax.select_n(signbit(y), ax, lax.neg(ax))
