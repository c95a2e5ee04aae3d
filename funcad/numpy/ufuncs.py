"""Elementwise functions of ``funcad.numpy``: NumPy's names, dtypes, broadcasting and values.

Each function mirrors a NumPy ufunc and is declared by :func:`_ufunc` from a *body*: the lax
computation for operands already converted to the dtypes of the loop NumPy would run
(``ufunc.resolve_dtypes``, so NEP 50 promotion comes from NumPy itself) and broadcast to one
shape. Bodies branch on the operand dtype where NumPy's loops differ (integer floor division,
``floor`` of integers, ...).

The eager check is written out for one and two operands because it is the overhead users feel
on small arrays: a ``type`` test per operand, the ufunc, and a dtype test of the result
(about 0.1 microseconds in all).
"""
from __future__ import annotations

import math

import numpy as np

from funcad import lax
from funcad._memo import Memo
from funcad.core import ConcretizationError, Tracer, get_aval, scalar_array
from funcad.primitives.binary import add_p, and_p, lexicographic, mul_p, or_p
from funcad.primitives.shape import broadcast_in_dim_p
from funcad.numpy._util import (EAGER_TYPES as _EAGER_TYPES, SUPPORTED as _SUPPORTED,
                                broadcast_shapes, broadcast_to, float_dtype, is_plain, promote,
                                promote_to, result_type, scalar_like, to_value, ufunc_loop)

__all__ = []
_ndarray = np.ndarray


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)
    return fn


def _alias(name, fn):
    globals()[name] = fn
    __all__.append(name)


# The code of lax's one-primitive functions: ``fn(x) -> prim.bind(x)`` and ``fn(x, y) ->
# prim.bind(x, y)`` (the binary one first makes Python scalars arrays, as the fast path does).
_WRAPPER_CODES = frozenset([lax.sin.__code__, lax.add.__code__])


def _bound_prim(body):
    """The primitive ``body`` binds when it is one of lax's one-primitive functions
    (``lax.sin`` binds ``sin_p``), else None."""
    code = getattr(body, "__code__", None)
    if code in _WRAPPER_CODES and "prim" in code.co_freevars:
        return body.__closure__[code.co_freevars.index("prim")].cell_contents
    return None


def _ufunc(np_fn: np.ufunc, body, name: str | None = None, traced=None, scalars=False,
           prims=None):
    """Declare ``fnp.<name>`` mirroring ``np_fn``. ``body(*operands)`` receives operands in
    NumPy's loop dtypes, broadcast to one shape; ``traced(*args)`` replaces the whole traced
    path when a function needs to see its raw arguments (``power`` with a Python int).
    ``prims`` (``{dtype kind: primitive}``) says which primitive ``body`` binds for operands
    of that kind, so the traced fast path binds it without calling ``body``; it is found by
    itself when ``body`` is a lax function such as ``lax.sin``.

    The eager path calls ``np_fn`` when every operand is an array or a scalar (never a tracer
    or a list, which may hold tracers) and keeps NumPy's result if funcad supports its dtype;
    otherwise (float16 or int8 results from bools, unsupported inputs) the traced path runs
    on the eval interpreter and gives funcad's answer or error."""
    name = name or np_fn.__name__
    who = f"fnp.{name}"
    nin = np_fn.nin

    if traced is None:
        general = _general_traced(who, np_fn, body, scalars)
        if prims is None:
            p = _bound_prim(body)
            prims = {"f": p, "i": p, "b": p} if p is not None else {}
        traced = _fast_traced(who, np_fn, body, general, scalars, prims)
    else:
        general = traced

    # Fast path: NumPy itself for arrays and scalars. Its plain rule is the traced path run
    # on the eval interpreter (``fn.general``), whose dtypes and values NumPy's must match.
    if nin == 1:
        def fn(x, /):
            if type(x) in _EAGER_TYPES:
                r = np_fn(x)
                if r.dtype in _SUPPORTED:
                    return r
            return traced(x)
    else:
        def fn(x, y, /):
            if type(x) in _EAGER_TYPES and type(y) in _EAGER_TYPES:
                r = np_fn(x, y)
                if r.dtype in _SUPPORTED:
                    return r
            return traced(x, y)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"Elementwise ``numpy.{np_fn.__name__}``: NumPy's dtype and values for the "
                  f"same inputs, and traceable (grad, vmap, jit).")
    fn.__wrapped_numpy__ = np_fn
    fn.traced = traced     # the traced path (with _fast_traced's shortcut, unless given)
    fn.general = general   # the plain rule it shortcuts (tests run programs on both)
    return _export(fn)


def _general_traced(who, np_fn, body, scalars):
    """The plain traced rule of an elementwise function: the operand dtypes of NumPy's loop
    (:func:`ufunc_loop`), operands converted and broadcast to them (:func:`promote_to`), then
    ``body``. With ``scalars`` (``body`` is one binary lax primitive, which broadcasts a rank-0
    operand itself) Python scalars stay scalars: no broadcast equation."""
    nin = np_fn.nin

    def general(*args):
        loop = ufunc_loop(who, np_fn, args)
        return body(*promote_to(who, args, loop[:nin], keep_scalars=scalars))
    return general


def _fast_traced(who, np_fn, body, general, scalars, prims):
    """Fast path of :func:`_general_traced` (the plain rule just above, passed in as
    ``general``, which it falls back to): tracers already in the dtype of NumPy's loop and of
    one shape (and, when ``scalars``, Python scalars), which need no conversion or broadcast,
    so ``body`` (or the primitive it binds, from ``prims``) runs on them directly. Loops are
    looked up once per combination of operand dtypes."""
    loops_memo = Memo(f"{who}: loops by operand dtypes", 256)
    loops = loops_memo.table

    def loop_of(key, args):
        loop = loops.get(key)
        if loop is None:
            loop = loops_memo.put(key, ufunc_loop(who, np_fn, args))
        return loop

    if np_fn.nin == 1:
        # operand dtype NumPy's loop keeps -> body, or its primitive's bind
        direct_memo = Memo(f"{who}: direct calls by operand dtype", 256)
        direct = direct_memo.table

        def traced(x):
            if isinstance(x, Tracer):
                dt = x.aval.dtype
                f = direct.get(dt)
                if f is not None:
                    return f(x)
                if loop_of(dt, (x,))[0] == dt:
                    p = prims.get(dt.kind)
                    f = direct_memo.put(dt, body if p is None else p.bind)
                    return f(x)
            return general(x)
        return traced

    def traced(x, y):
        # Each operand: a tracer or a plain array (its dtype and shape), or, when the body
        # broadcasts rank-0 operands itself, a Python int or float (weak: it takes the loop's
        # dtype). Anything else, or a loop that needs a conversion, takes the general path.
        if isinstance(x, Tracer):
            a = x.aval
            kx, sx = a.dtype, a.shape
        elif type(x) is _ndarray and x.dtype in _SUPPORTED:
            kx, sx = x.dtype, x.shape
        elif scalars and (type(x) is float or type(x) is int):
            kx = sx = None
        else:
            return general(x, y)
        if isinstance(y, Tracer):
            a = y.aval
            ky, sy = a.dtype, a.shape
        elif type(y) is _ndarray and y.dtype in _SUPPORTED:
            ky, sy = y.dtype, y.shape
        elif scalars and (type(y) is float or type(y) is int) and kx is not None:
            ky = sy = None
        else:
            return general(x, y)
        loop = loop_of((type(x) if kx is None else kx, type(y) if ky is None else ky), (x, y))
        if kx is None:
            x, kx, sx = scalar_array(x, loop[0]), loop[0], ()
        elif ky is None:
            y, ky, sy = scalar_array(y, loop[1]), loop[1], ()
        if kx != loop[0] or ky != loop[1]:
            return general(x, y)
        if sx != sy and not (scalars and (not sx or not sy)):
            shape = broadcast_shapes(who, sx, sy)
            x = _broadcast(x, sx, shape)
            y = _broadcast(y, sy, shape)
        p = prims.get(kx.kind)
        return body(x, y) if p is None else p.bind(x, y)
    return traced


def _broadcast(x, xs, shape):
    """``x`` of shape ``xs`` broadcast to ``shape`` (known to be valid), NumPy-style."""
    if xs == shape:
        return x
    n = len(shape)
    return broadcast_in_dim_p.bind(x, shape=shape,
                                   broadcast_dimensions=tuple(range(n - len(xs), n)))


def _dt(x):
    return get_aval(x).dtype


def _zero(x):
    return scalar_like(0, x)


def _one(x):
    return scalar_like(1, x)


# ---------------------------------------------------------------------------------------------
# Unary math (NumPy's loops are float for these: ints compute in float64)

_LN2 = math.log(2.0)


def _parts(x):
    return lax.real(x), lax.imag(x)


def _complex_or(real_fn, complex_fn):
    """``real_fn`` for real operands, ``complex_fn`` (from real primitives) for complex."""
    return lambda x: complex_fn(x) if _dt(x).kind == "c" else real_fn(x)


def _expm1_complex(z):
    # exp(x) cos(y) - 1 as expm1(x) cos(y) - 2 sin(y/2)**2: no cancellation near 0
    x, y = _parts(z)
    s = lax.sin(lax.mul(y, 0.5))
    re = lax.sub(lax.mul(lax.expm1(x), lax.cos(y)), lax.mul(lax.mul(s, s), 2.0))
    return lax.complex_(re, lax.mul(lax.exp(x), lax.sin(y)))


def _log1p_complex(z):
    # log|1 + z| = log1p(x (2 + x) + y**2) / 2 (accurate near 0), arg(1 + z)
    x, y = _parts(z)
    re = lax.mul(lax.log1p(lax.add(lax.mul(x, lax.add(x, 2.0)), lax.mul(y, y))), 0.5)
    return lax.complex_(re, lax.atan2(y, lax.add(x, 1.0)))


def _rint_complex(z):
    x, y = _parts(z)
    return lax.complex_(lax.round(x), lax.round(y))


for _name, _np_fn, _lax_fn in [
        ("sin", np.sin, lax.sin), ("cos", np.cos, lax.cos), ("tan", np.tan, lax.tan),
        ("arcsin", np.arcsin, lax.asin), ("arccos", np.arccos, lax.acos),
        ("arctan", np.arctan, lax.atan), ("sinh", np.sinh, lax.sinh),
        ("cosh", np.cosh, lax.cosh), ("tanh", np.tanh, lax.tanh),
        ("arcsinh", np.arcsinh, lax.asinh), ("arccosh", np.arccosh, lax.acosh),
        ("arctanh", np.arctanh, lax.atanh), ("exp", np.exp, lax.exp),
        ("exp2", np.exp2, _complex_or(lax.exp2, lambda z: lax.exp(lax.mul(z, _LN2)))),
        ("expm1", np.expm1, _complex_or(lax.expm1, _expm1_complex)),
        ("log", np.log, lax.log), ("log1p", np.log1p, _complex_or(lax.log1p, _log1p_complex)),
        ("sqrt", np.sqrt, lax.sqrt), ("cbrt", np.cbrt, lax.cbrt),
        ("rint", np.rint, _complex_or(lax.round, _rint_complex)),
        ("log2", np.log2, lambda x: lax.mul(lax.log(x), 1.0 / _LN2)),
        ("log10", np.log10, lambda x: lax.mul(lax.log(x), 1.0 / math.log(10.0))),
        ("deg2rad", np.deg2rad, lambda x: lax.mul(x, math.pi / 180.0)),
        ("rad2deg", np.rad2deg, lambda x: lax.mul(x, 180.0 / math.pi))]:
    _ufunc(_np_fn, _lax_fn, _name)
for _a, _n in [("asin", "arcsin"), ("acos", "arccos"), ("atan", "arctan"), ("asinh", "arcsinh"),
               ("acosh", "arccosh"), ("atanh", "arctanh"), ("radians", "deg2rad"),
               ("degrees", "rad2deg")]:
    _alias(_a, globals()[_n])


def _int_identity(lax_fn):
    """NumPy keeps integer and bool dtypes for floor/ceil/trunc: the identity on them."""
    return lambda x: x if _dt(x).kind in "biu" else lax_fn(x)


def _trunc(x):
    return lax.select_n(lax.lt(x, _zero(x)), lax.floor(x), lax.ceil(x))  # keeps -0.0


_ufunc(np.floor, _int_identity(lax.floor))
_ufunc(np.ceil, _int_identity(lax.ceil))
_ufunc(np.trunc, _int_identity(_trunc))
_ufunc(np.negative, lax.neg)
_ufunc(np.positive, lambda x: x)
_ufunc(np.absolute, lambda x: x if _dt(x) == np.bool_ else lax.abs(x), "abs")
_alias("absolute", abs)  # noqa: F821
_ufunc(np.sign, lax.sign)
_ufunc(np.square, lambda x: lax.integer_pow(x, 2))


def _reciprocal_body(x):
    if _dt(x).kind in "fc":
        return lax.div(scalar_like(1, x), x)
    # integers: 1 // x truncated, and the most negative integer for 1 // 0, as NumPy
    zero = lax.eq(x, _zero(x))
    safe = lax.select_n(zero, x, scalar_like(1, x))
    return lax.select_n(zero, lax.div(scalar_like(1, x), safe),
                        scalar_like(np.iinfo(_dt(x)).min, x))


_ufunc(np.reciprocal, _reciprocal_body)


@_export
def fix(x, /):
    """``numpy.fix``: round towards zero (integers are kept)."""
    return trunc(x)  # noqa: F821


@_export
def round(x, /, decimals: int = 0):  # noqa: A001
    """``numpy.round``: half to even, at ``decimals`` decimal places."""
    if is_plain(x):
        return np.round(x, decimals)
    x = to_value(x)
    if _dt(x).kind in "biu":
        if decimals >= 0:
            return x
        raise NotImplementedError("fnp.round: negative decimals for traced integer arrays "
                                  "are not supported; round a float array instead")
    if _dt(x).kind == "c":  # NumPy rounds both parts
        return lax.complex_(round(lax.real(x), decimals), round(lax.imag(x), decimals))
    if decimals == 0:
        return lax.round(x)
    f = 10.0 ** decimals
    return lax.div(lax.round(lax.mul(x, f)), f)


_alias("around", round)


# ---------------------------------------------------------------------------------------------
# Binary arithmetic

_ufunc(np.add, lambda x, y: lax.or_(x, y) if _dt(x).kind == "b" else lax.add(x, y),
       scalars=True, prims={"f": add_p, "i": add_p, "b": or_p})
_ufunc(np.subtract, lax.sub, scalars=True)
_ufunc(np.multiply, lambda x, y: lax.and_(x, y) if _dt(x).kind == "b" else lax.mul(x, y),
       scalars=True, prims={"f": mul_p, "i": mul_p, "b": and_p})
_ufunc(np.true_divide, lax.div, "true_divide", scalars=True)
_alias("divide", true_divide)  # noqa: F821


def _floor_divide_body(x, y):
    if _dt(x).kind != "f":
        q, r, zero = lax.div(x, y), lax.rem(x, y), _zero(x)
        # lax.div truncates; step down where the remainder and the divisor differ in sign
        fix = lax.and_(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))
        q = lax.select_n(fix, q, lax.sub(q, 1))
        return lax.select_n(lax.eq(y, zero), q, zero)  # NumPy gives 0 for x // 0
    # NumPy's algorithm (npy_divmod): exact for values like 1.0 // 0.1 == 9.0
    mod, zero = lax.rem(x, y), _zero(x)
    div = lax.div(lax.sub(x, mod), y)
    adjust = lax.and_(lax.ne(mod, zero), lax.ne(lax.lt(y, zero), lax.lt(mod, zero)))
    div = lax.select_n(adjust, div, lax.sub(div, 1.0))
    fl = lax.floor(div)
    fl = lax.select_n(lax.gt(lax.sub(div, fl), 0.5), fl, lax.add(fl, 1.0))
    signed_zero = lax.mul(lax.div(x, y), zero)  # a zero quotient keeps the true sign
    fl = lax.select_n(lax.eq(div, zero), fl, signed_zero)
    return lax.select_n(lax.eq(y, zero), fl, lax.div(x, y))


def _remainder_body(x, y):
    r, zero = lax.rem(x, y), _zero(x)
    fix = lax.and_(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))
    r = lax.select_n(fix, r, lax.add(r, y))
    if _dt(x).kind != "f":
        return lax.select_n(lax.eq(y, zero), r, zero)  # NumPy gives 0 for x % 0
    # a zero result takes the sign of y
    return lax.select_n(lax.eq(r, zero), r, lax.select_n(lax.lt(y, zero), zero, lax.neg(zero)))


_ufunc(np.floor_divide, _floor_divide_body)
_ufunc(np.remainder, _remainder_body)
_alias("mod", remainder)  # noqa: F821
_ufunc(np.fmod, lambda x, y: lax.select_n(lax.eq(y, _zero(y)), lax.rem(x, y), _zero(x))
       if _dt(x).kind != "f" else lax.rem(x, y))


@_export
def divmod(x, y, /):  # noqa: A001
    """``numpy.divmod``: ``(x // y, x % y)``."""
    return floor_divide(x, y), remainder(x, y)  # noqa: F821


def _power_body(x, y):
    if _dt(x).kind in "fc":
        return lax.pow(x, y)
    return _int_power(x, y)


def _int_power(x, y):
    """Integer ``x ** y`` by binary exponentiation: exact, and wrapping on overflow as NumPy's
    integer power does (a float ``pow`` rounded back is wrong above 2**53 and at ``0 ** -1``).

    NumPy refuses a negative exponent; a traced one cannot be refused, so it follows integer
    division, ``1 // x ** -y``: ``1`` and ``-1`` keep their power, every other base gives 0
    (``0 ** -1`` too, as NumPy's ``1 // 0`` does).
    """
    zero = lax.mul(x, lax.mul(y, _zero(y)))      # zeros of the broadcast shape
    one, two = lax.add(zero, _one(zero)), lax.add(zero, lax.add(_one(zero), _one(zero)))
    # |y| fits every bit of the exponent: 64 steps cover int64 (a negative y's magnitude
    # wraps only at the most negative value, whose power is 0 or +-1 either way)
    e = lax.select_n(lax.lt(y, _zero(y)), lax.add(zero, y), lax.sub(zero, y))

    def step(_, carry):
        acc, base, e = carry
        acc = lax.select_n(lax.eq(lax.rem(e, two), one), acc, lax.mul(acc, base))
        return acc, lax.mul(base, base), lax.div(e, two)

    acc, _, _ = lax.fori_loop(0, 8 * _dt(zero).itemsize, step, (one, lax.add(zero, x), e))
    unit = lax.eq(lax.mul(x, x), _one(x))        # x is 1 or -1
    return lax.select_n(lax.lt(y, _zero(y)), acc, lax.select_n(unit, zero, acc))


def _power_traced(x, y):
    loop = ufunc_loop("fnp.power", np.power, (x, y))
    if type(y) is int and not isinstance(x, (int, float)):
        # x ** 2 and friends: integer_pow is cheaper and exact for integers
        if loop[0].kind not in "fc" and y < 0:
            raise ValueError("fnp.power: integers to negative integer powers are not "
                             "allowed; make the base a float")
        (x,) = promote_to("fnp.power", (x,), loop[:1])
        return lax.integer_pow(x, y)
    return _power_body(*promote_to("fnp.power", (x, y), loop[:2]))


_ufunc(np.power, _power_body, traced=_power_traced)
_alias("pow", power)  # noqa: F821
_ufunc(np.float_power, lax.pow, scalars=True)
_ufunc(np.maximum, lax.max, scalars=True)
_ufunc(np.minimum, lax.min, scalars=True)


def _isnan(x):
    return lax.ne(x, x)  # complex too: NaN in either part


def _fmax_body(pick):
    def body(x, y):
        if _dt(x).kind not in "fc":
            return pick(x, y)
        # NaN loses: take the other operand where one is NaN
        return lax.select_n(_isnan(x), lax.select_n(_isnan(y), pick(x, y), x), y)
    return body


_ufunc(np.fmax, _fmax_body(lax.max))
_ufunc(np.fmin, _fmax_body(lax.min))
_ufunc(np.arctan2, lax.atan2, scalars=True)
_alias("atan2", arctan2)  # noqa: F821


def _is_inf(x):
    ax = lax.abs(x)   # real for complex x: inf when either part is
    return lax.eq(ax, scalar_like(np.inf, ax))


def _hypot_body(x, y):
    # hi * sqrt(1 + (lo/hi)**2): no overflow for large inputs, and a finite gradient
    ax, ay = lax.abs(x), lax.abs(y)
    hi, lo = lax.max(ax, ay), lax.min(ax, ay)
    safe_hi = lax.select_n(lax.eq(hi, _zero(hi)), hi, scalar_like(1, hi))
    r = lax.div(lo, safe_hi)
    out = lax.mul(hi, lax.sqrt(lax.add(lax.mul(r, r), 1.0)))
    # an infinite operand wins, even over NaN (C's hypot)
    return lax.select_n(lax.or_(_is_inf(ax), _is_inf(ay)), out, scalar_like(np.inf, out))


_ufunc(np.hypot, _hypot_body)
# primitives: their derivative rules are exact at ties and infinities (see binary.py)
_ufunc(np.logaddexp, lax.logaddexp)
_ufunc(np.logaddexp2, lax.logaddexp2)


def _signbit_body(x):
    zero = _zero(x)
    # -0.0 and -nan have the sign bit: 1 / -0.0 == -inf; copysign is not a primitive
    return lax.or_(lax.lt(x, zero), lax.and_(lax.eq(x, zero),
                                             lax.lt(lax.div(scalar_like(1, x), x), zero)))


_ufunc(np.signbit, _signbit_body)
_ufunc(np.copysign, lambda x, y: lax.select_n(_signbit_body(y), lax.abs(x),
                                              lax.neg(lax.abs(x))))


def _heaviside_body(x, h):
    zero = _zero(x)
    out = lax.select_n(lax.lt(x, zero), lax.select_n(lax.gt(x, zero), h, scalar_like(1, x)),
                       zero)
    return lax.select_n(lax.ne(x, x), out, x)  # NaN stays NaN


_ufunc(np.heaviside, _heaviside_body)


# ---------------------------------------------------------------------------------------------
# Comparisons, logic and floating-point classes

for _name, _np_fn, _lax_fn in [
        ("equal", np.equal, lax.eq), ("not_equal", np.not_equal, lax.ne),
        ("bitwise_and", np.bitwise_and, lax.and_), ("bitwise_or", np.bitwise_or, lax.or_),
        ("bitwise_xor", np.bitwise_xor, lax.xor), ("invert", np.invert, lax.not_)]:
    _ufunc(_np_fn, _lax_fn, _name, scalars=_np_fn.nin == 2)
_alias("bitwise_not", invert)  # noqa: F821


def _ordering(cmp):
    # lax's orderings refuse complex (JAX's rule); NumPy orders it lexicographically
    return lambda x, y: lexicographic(cmp, x, y) if _dt(x).kind == "c" else cmp(x, y)


for _name, _np_fn, _lax_fn in [
        ("less", np.less, lax.lt), ("less_equal", np.less_equal, lax.le),
        ("greater", np.greater, lax.gt), ("greater_equal", np.greater_equal, lax.ge)]:
    _p = _bound_prim(_lax_fn)
    _ufunc(_np_fn, _ordering(_lax_fn), _name, scalars=True, prims={"f": _p, "i": _p, "b": _p})


def to_bool(x):
    """``x != 0`` as a bool array (the identity on bools)."""
    x = to_value(x)
    return x if _dt(x) == np.bool_ else lax.ne(x, _zero(x))


_ufunc(np.logical_and, lambda x, y: lax.and_(to_bool(x), to_bool(y)))
_ufunc(np.logical_or, lambda x, y: lax.or_(to_bool(x), to_bool(y)))
_ufunc(np.logical_xor, lambda x, y: lax.xor(to_bool(x), to_bool(y)))
_ufunc(np.logical_not, lambda x: lax.not_(to_bool(x)))


def _constant_bool(value):
    return lambda x: lax.full(get_aval(x).shape, value, np.bool_)


# complex: a NaN or an infinity in either part (|x| is inf when a part is, even with a NaN)
_ufunc(np.isnan, lambda x: lax.ne(x, x) if _dt(x).kind in "fc" else _constant_bool(False)(x))
_ufunc(np.isinf, lambda x: _is_inf(x) if _dt(x).kind in "fc" else _constant_bool(False)(x))
_ufunc(np.isfinite, lambda x: lax.not_(lax.or_(lax.ne(x, x), _is_inf(x)))
       if _dt(x).kind in "fc" else _constant_bool(True)(x))


# sinc's Taylor series in u = pi x, used where |u| < _SINC_SERIES_BELOW: 1 - u²/3! + u⁴/5! - ...
_SINC_SERIES_BELOW = 0.1
_SINC_COEFFS = [(-1) ** k / math.factorial(2 * k + 1) for k in range(6)]


@_export
def sinc(x, /):
    """``numpy.sinc``: ``sin(pi x) / (pi x)``, and 1 at 0. Near 0 (``|pi x| < 0.1``) it is
    its Taylor polynomial in ``(pi x)**2`` (exact to rounding there), so the value and its
    derivatives at 0 are exact: 0 for the first, ``-pi**2 / 3`` for the second."""
    if is_plain(x):
        return np.sinc(x)
    x = to_value(x)
    x = lax.convert_element_type(x, float_dtype(x)) if get_aval(x).dtype.kind not in "fc" else x
    u = lax.mul(x, math.pi)
    u2 = lax.mul(u, u)
    series = scalar_like(_SINC_COEFFS[-1], u)
    for c in reversed(_SINC_COEFFS[:-1]):
        series = lax.add(lax.mul(series, u2), c)
    au = lax.abs(u)   # real for complex u
    near = lax.lt(au, scalar_like(_SINC_SERIES_BELOW, au))
    safe_u = lax.select_n(near, u, scalar_like(1, u))   # no 0 / 0, even in the unused branch
    return lax.select_n(near, lax.div(lax.sin(safe_u), safe_u), series)


# ---------------------------------------------------------------------------------------------
# Functions of several arrays that are not ufuncs

@_export
def clip(a, a_min=None, a_max=None, /):
    """``numpy.clip``: ``minimum(maximum(a, a_min), a_max)``; NaNs propagate. Either bound may
    be None. The gradient at a bound is split evenly, as ``maximum``'s."""
    if is_plain(a) and is_plain(a_min) and is_plain(a_max):
        return np.clip(a, a_min, a_max)
    bounds = [b for b in (a_min, a_max) if b is not None]
    dt = result_type(a, *bounds)
    out = to_value(a)
    if a_min is not None:
        out = maximum(*promote("fnp.clip", out, a_min, dtype=dt))  # noqa: F821
    if a_max is not None:
        out = minimum(*promote("fnp.clip", out, a_max, dtype=dt))  # noqa: F821
    return out if bounds else promote("fnp.clip", out, dtype=dt)[0]


@_export
def where(condition, x=None, y=None, /):
    """``x`` where ``condition`` else ``y``, broadcast, in NumPy's common dtype.

    With only ``condition`` it is ``nonzero(condition)``, which needs a concrete condition:
    the number of results depends on its values."""
    if x is None and y is None:
        if has_traced_value(condition):
            raise ConcretizationError(
                "fnp.where(condition) with one argument (nonzero) needs a concrete condition "
                "while tracing: the length of the result depends on the values. Use the "
                "three-argument form fnp.where(condition, x, y).")
        return np.nonzero(np.asarray(concrete(condition)))
    if x is None or y is None:
        raise ValueError("fnp.where: give both x and y, or neither")
    if is_plain(condition) and is_plain(x) and is_plain(y):
        return np.where(condition, x, y)
    c = to_bool(condition)
    xv, yv = promote("fnp.where", x, y)
    shape = broadcast_shapes("fnp.where", get_aval(c).shape, get_aval(xv).shape)
    return lax.select_n(broadcast_to(c, shape, "fnp.where"), broadcast_to(yv, shape, "fnp.where"),
                        broadcast_to(xv, shape, "fnp.where"))


@_export
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``numpy.isclose``: ``|a - b| <= atol + rtol * |b|`` elementwise (infinities equal only
    to themselves)."""
    if is_plain(a) and is_plain(b):
        return np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)
    dt = float_dtype(a, b)
    a, b = promote("fnp.isclose", a, b, dtype=dt)
    finite = lax.and_(isfinite(a), isfinite(b))  # noqa: F821
    close = lax.le(lax.abs(lax.sub(a, b)), lax.add(lax.mul(lax.abs(b), rtol), atol))
    out = lax.select_n(finite, lax.eq(a, b), close)
    if equal_nan:
        out = lax.or_(out, lax.and_(lax.ne(a, a), lax.ne(b, b)))
    return out


@_export
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """``numpy.allclose``: ``all(isclose(a, b))``."""
    # cycle: funcad.numpy.reductions builds on this module
    from funcad.numpy.reductions import all as all_
    return all_(isclose(a, b, rtol, atol, equal_nan))


@_export
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """``numpy.nan_to_num`` for real inputs: NaN and infinities become finite numbers."""
    if is_plain(x):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    x = to_value(x)
    dt = _dt(x)
    if dt.kind != "f":
        return x
    info = np.finfo(dt)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = lax.select_n(lax.ne(x, x), x, scalar_like(nan, x))
    x = lax.select_n(lax.eq(x, scalar_like(np.inf, x)), x, scalar_like(posinf, x))
    return lax.select_n(lax.eq(x, scalar_like(-np.inf, x)), x, scalar_like(neginf, x))


def has_traced_value(x) -> bool:
    return isinstance(x, Tracer) and x.concrete_value() is None


def concrete(x):
    return x.concrete_value() if isinstance(x, Tracer) else x
