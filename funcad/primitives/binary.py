"""Binary elementwise primitives: arithmetic, extrema, logic and comparisons.

One declaration each, from the binary family: ``binary(name, impl, dx, dy, lowering)`` derives
the strict shape rule (equal shapes and dtypes, or a rank-0 operand), the batching rule and the
jvp from the two tangent contributions ``dx(t, ans, x, y)``, ``dy(...)`` written in lax ops.
The scalar rules of the primitives whose Numba semantics differ from NumPy's (integer
division, NaN-propagating max) sit above their declarations, with the exact peepholes
(``x + 0``, ``x * 1``) the small-array rewrite of loops uses.
"""
from __future__ import annotations

import numpy as np

from funcad.codegen.scalar_rules import binop, template
from funcad.core import Primitive, bool_, get_aval, per_primitive
from funcad.ir import Lit
from funcad.lowering import Elementwise
from funcad.primitives._family import (PY_SCALARS, binary_aval, check_kind, coerce2,
                                       elementwise_batch, scalar_like, unbroadcast, zero_jvp)
from funcad.rule_util import UndefinedPrimal, Zero, add_tangents, is_undefined

__all__ = []  # filled by _export
_E = Elementwise

# The rules call this module's own functions (add, mul, pow, ...: lax's, not Python's), which
# the loop at the end defines before any rule runs, and elementwise's (neg, select_n, ...)
# through an import inside the rule: elementwise.py builds on this module.


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)
    return fn


# ---------------------------------------------------------------------------------------------
# Binary family

def _binary_jvp(dx, dy):
    def make(prim):
        def jvp(primals, tangents):
            x, y = primals
            tx, ty = tangents
            ans = prim.bind(x, y)
            a = get_aval(ans)
            if type(tx) is Zero:
                if type(ty) is Zero:
                    return ans, Zero(a)
                return ans, _full_shape(dy(ty, ans, x, y), a)
            out = _full_shape(dx(tx, ans, x, y), a)
            if type(ty) is not Zero:
                out = add_tangents(out, _full_shape(dy(ty, ans, x, y), a))
            return ans, out
        return jvp
    return per_primitive(make)


def binary(name, impl, dx, dy, lowering, *, kinds="f", domain=((-3.0, 3.0), (-3.0, 3.0)),
           out_dtype=None, jvp=None, **extra) -> Primitive:
    """Declare an elementwise binary primitive. ``dx(t, ans, x, y)`` and ``dy`` give the
    tangent contributions (None for both: zero derivative); ``lowering`` its
    :class:`~funcad.lowering.Elementwise` description."""

    def abstract_eval(x, y):
        a = x if x is y else binary_aval(name, x, y)  # avals are shared: often the same
        if a.dtype.kind not in kinds:
            check_kind(name, a, kinds)
        return a if out_dtype is None else a.update(dtype=out_dtype)

    if dx is None and dy is None:
        jvp = per_primitive(zero_jvp)
    elif jvp is None:
        jvp = _binary_jvp(dx, dy)
    return Primitive(name, impl=impl, abstract_eval=abstract_eval, domain=domain, jvp=jvp,
                     batch=per_primitive(elementwise_batch), lowering=lowering, **extra)


def _full_shape(t, aval):
    if get_aval(t).shape == aval.shape:
        return t
    from funcad.primitives.shape import broadcast_in_dim  # cycle: shape builds on binary
    return broadcast_in_dim(t, aval.shape, ())


def _wrap_binary(name, prim):
    def fn(x, y):
        if isinstance(x, PY_SCALARS) or isinstance(y, PY_SCALARS):
            x, y = coerce2(x, y)
        return prim.bind(x, y)
    fn.__name__ = name
    fn.__doc__ = (f"Elementwise `{name}` (lax primitive: equal shapes and dtypes; a Python "
                  f"scalar operand takes the other operand's dtype and shape).")
    return _export(fn)


def _add_transpose(ct, x, y):
    return [unbroadcast(ct, x.aval) if type(x) is UndefinedPrimal else None,
            unbroadcast(ct, y.aval) if type(y) is UndefinedPrimal else None]


def _sub_transpose(ct, x, y):
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    return [unbroadcast(ct, x.aval) if type(x) is UndefinedPrimal else None,
            unbroadcast(ew.neg(ct), y.aval) if type(y) is UndefinedPrimal else None]


def _mul_transpose(ct, x, y):
    ux, uy = type(x) is UndefinedPrimal, type(y) is UndefinedPrimal
    if ux and uy:
        raise TypeError("lax.mul: cannot transpose a product of two linear values "
                        "(the function is not linear)")
    return [unbroadcast(mul(ct, y), x.aval) if ux else None,
            unbroadcast(mul(x, ct), y.aval) if uy else None]


def _div_transpose(ct, x, y):
    if is_undefined(y):
        raise TypeError("lax.div: cannot transpose with respect to the divisor "
                        "(the function is not linear in it)")
    return [unbroadcast(div(ct, y), x.aval), None]


def _sub_jvp(primals, tangents):
    # tx - ty as one equation (the family's rule would stage neg(ty) and an add)
    (x, y), (tx, ty) = primals, tangents
    ans = sub(x, y)
    a = get_aval(ans)
    if type(ty) is Zero:
        return ans, Zero(a) if type(tx) is Zero else _full_shape(tx, a)
    if type(tx) is Zero:
        from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
        return ans, _full_shape(ew.neg(ty), a)
    return ans, sub(tx, ty)  # a rank-0 operand broadcasts, as in the primal


def _int_div_impl(x, y):
    if x.dtype.kind in "fc":
        return np.true_divide(x, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.floor_divide(x, y)
        fix = (np.remainder(x, y) != 0) & ((x < 0) ^ (y < 0))
    return (q + fix).astype(x.dtype, copy=False)


def _sub_dy(t, ans, x, y):
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    return ew.neg(t)


def _div_dy(t, ans, x, y):
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    return ew.neg(mul(t, div(ans, y)))


def _rem_dy(t, ans, x, y):
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    q = ew.round(div(sub(x, ans), y))
    return ew.neg(mul(t, q))


def _pow_dx(t, ans, x, y):
    # y * x**(y-1), defined as 0 where y == 0 (also at x == 0)
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    d = mul(y, pow(x, sub(y, 1.0)))
    return mul(t, ew.select_n(eq(y, scalar_like(0.0, y)), d, scalar_like(0.0, d)))


def _pow_dy(t, ans, x, y):
    # log(x) * x**y, defined as 0 where x == 0
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    zero = eq(x, scalar_like(0.0, x))
    safe_x = ew.select_n(zero, x, scalar_like(1.0, x))
    return mul(t, mul(ew.log(safe_x), ans))


def lexicographic(cmp, x, y):
    """``cmp(x, y)`` (one of lt, le, gt, ge) in NumPy's order of complex numbers: by real
    part, then by imaginary part (lax's orderings refuse complex, as JAX's do)."""
    if get_aval(x).dtype.kind != "c":
        return cmp(x, y)
    from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
    rx, ry = ew.real(x), ew.real(y)
    strict = gt if cmp in (gt, ge) else lt
    return or_(strict(rx, ry), and_(eq(rx, ry), cmp(ew.imag(x), ew.imag(y))))


def _minmax_d(pick_x):
    def d(t, ans, x, y):
        # ties split the tangent evenly, as in JAX
        from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
        base = gt if pick_x else lt
        cmp = (lambda a, b: lexicographic(base, a, b)) if get_aval(x).dtype.kind == "c" else base
        w = add(ew.convert_element_type(cmp(x, y), get_aval(x).dtype),
                mul(ew.convert_element_type(eq(x, y), get_aval(x).dtype), 0.5))
        return mul(t, w)
    return d


def _atan2_d(which):
    def d(t, ans, x, y):
        from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
        r = add(mul(x, x), mul(y, y))
        return mul(t, div(y, r)) if which == 0 else ew.neg(mul(t, div(x, r)))
    return d


_LN2 = float(np.log(2.0))


def _logaddexp_d(which, scale):
    """The tangent of ``logaddexp`` (``scale`` 1) or ``logaddexp2`` (``scale`` ln 2) in one
    operand: ``t * logistic(scale * (x - y))``, the operand's share of the sum. It is smooth
    through ties (the weight is 1/2 and its derivative ``scale/4``, so second derivatives are
    exact) and exact at infinities: where ``x == y == ±inf`` the shares are 1/2 each."""
    def d(t, ans, x, y):
        from funcad.primitives import elementwise as ew  # cycle: elementwise builds on binary
        inf_tie = and_(eq(x, y), eq(ew.abs(x), scalar_like(np.inf, x)))
        xs, ys = (ew.select_n(inf_tie, v, scalar_like(0, v)) for v in (x, y))  # no inf - inf
        diff = sub(xs, ys) if which == 0 else sub(ys, xs)
        return mul(t, ew.logistic(diff if scale == 1 else mul(diff, scale)))
    return d


def _logaddexp_scalar(base2: bool):
    """``max(x, y) + log1p(exp(-|x - y|))`` (base 2: ``2**-|x - y|``, over ln 2), and ``x``
    itself where ``x == y == ±inf`` (where ``x - y`` is NaN); NaN propagates through
    ``x - y``."""
    def rule(sc, args, avals, out, params):
        x, y = sc.hoist(args[0]), sc.hoist(args[1])
        a = sc.hoist(f"-abs({x} - {y})")
        tail = (f"math.log1p(2.0 ** {a}) * {1.0 / _LN2!r}" if base2
                else f"math.log1p(math.exp({a}))")
        return f"({x} if {x} == {y} and math.isinf({x}) else max({x}, {y}) + {tail})"
    return rule


def _int_parts(sc, args):
    """Hoisted x, y, floor quotient and Python remainder (Numba gives 0 for a zero y)."""
    x, y = sc.hoist(args[0]), sc.hoist(args[1])
    return x, y, sc.hoist(f"{x} // {y}"), sc.hoist(f"{x} % {y}")


def _div_scalar(sc, args, avals, out, params):
    if avals[0].dtype.kind in "fc":
        return f"({args[0]} / {args[1]})"
    # lax.div on integers rounds toward zero (C), and gives 0 for a zero divisor
    x, y, q, r = _int_parts(sc, args)
    return f"({q} + 1 if {r} != 0 and ({x} < 0) != ({y} < 0) else {q})"


def _rem_scalar(sc, args, avals, out, params):
    if avals[0].dtype.kind == "f":
        return f"np.fmod({args[0]}, {args[1]})"
    # C's fmod: the sign of x (Numba's np.fmod on integers takes the sign of y)
    x, y, q, r = _int_parts(sc, args)
    return f"({r} - {y} if {r} != 0 and ({x} < 0) != ({y} < 0) else {r})"


def _extremum_scalar(cmp: str, bool_op: str):
    def rule(sc, args, avals, out, params):
        dt = avals[0].dtype
        if dt == np.bool_:
            return f"({args[0]} {bool_op} {args[1]})"
        x, y = sc.hoist(args[0]), sc.hoist(args[1])
        if dt.kind == "c":  # NumPy's lexicographic order; NaN wins, ties keep x
            s = cmp[0]
            return (f"({x} if {x}.real {s} {y}.real or ({x}.real == {y}.real and {x}.imag "
                    f"{cmp} {y}.imag) or {x} != {x} else {y})")
        if dt.kind == "f":  # NumPy's np.maximum/np.minimum: NaN wins, ties keep x
            return f"({x} if {x} {cmp} {y} or {x} != {x} else {y})"
        return f"({x} if {x} {cmp} {y} else {y})"
    return rule


# Exact peepholes for small arrays in loops (funcad.codegen.scalarise). Transposed slices and
# pads add literal zeros (``ct + 0.0``), and one long chain of them is the critical path of a
# reverse loop. ``x + 0.0`` is ``x`` except for ``x == -0.0`` (it gives +0.0), so it is dropped
# only where ``x`` cannot be -0.0: a sum with an operand that is not -0.0 is never -0.0 (round
# to nearest), so in ``((x + 0.0) + 0.0) + y`` only the first zero stays.

def _zero_identity(commutes: bool):
    """``x + 0`` (``commutes``) or ``x - 0``: the operand it equals exactly, or None."""
    def simplify(rw, atoms, dt):
        a, b = atoms
        float_ = dt.kind == "f"
        for x, y in ((a, b), (b, a)) if commutes else ((a, b),):
            if type(y) is not Lit or y.val != 0 or dt.kind not in "fiu":
                continue
            neg = float_ and bool(np.signbit(y.val))
            # x + (-0.0) == x; x - (+0.0) == x; x + (+0.0), x - (-0.0) need x != -0.0
            if not float_ or neg == commutes or rw.never_negzero(x):
                return x
        return None
    return simplify


def _mul_identity(rw, atoms, dt):
    a, b = atoms
    for x, y in ((a, b), (b, a)):
        if type(y) is Lit and y.val == 1 and dt.kind in "fiu":
            return x
    return None


_B = {}
_B["add"] = binary("add", np.add, lambda t, a, x, y: t, lambda t, a, x, y: t,
                   _E(binop("+"), simplify=_zero_identity(True),
                      never_negzero=lambda rw, atoms: any(map(rw.never_negzero, atoms))),
                   kinds="fic", linear=True, transpose=_add_transpose)
_B["sub"] = binary("sub", np.subtract, lambda t, a, x, y: t, _sub_dy,
                   _E(binop("-"), simplify=_zero_identity(False),
                      never_negzero=lambda rw, atoms: rw.never_negzero(atoms[0])),
                   kinds="fic", linear=True, transpose=_sub_transpose, jvp=_sub_jvp)
_B["mul"] = binary("mul", np.multiply, lambda t, a, x, y: mul(t, y),
                   lambda t, a, x, y: mul(x, t), _E(binop("*"), simplify=_mul_identity),
                   kinds="fic", transpose=_mul_transpose)
_B["div"] = binary("div", _int_div_impl, lambda t, a, x, y: div(t, y), _div_dy, _E(_div_scalar),
                   kinds="fic", transpose=_div_transpose, domain=((-3.0, 3.0), (0.5, 3.0)))
_B["rem"] = binary("rem", np.fmod, lambda t, a, x, y: t, _rem_dy, _E(_rem_scalar), kinds="fi",
                   domain=((-3.0, 3.0), (0.7, 3.0)))
_B["pow"] = binary("pow", np.power, _pow_dx, _pow_dy, _E(binop("**")), kinds="fc",
                   domain=((0.5, 3.0), (-2.0, 2.0)))
_B["max"] = binary("max", np.maximum, _minmax_d(True), _minmax_d(False),
                   _E(_extremum_scalar(">=", "|")), kinds="fibc")
_B["min"] = binary("min", np.minimum, _minmax_d(False), _minmax_d(True),
                   _E(_extremum_scalar("<=", "&")), kinds="fibc")
_B["atan2"] = binary("atan2", np.arctan2, _atan2_d(0), _atan2_d(1),
                     _E(template("math.atan2({0}, {1})")), domain=((-3.0, 3.0), (0.5, 3.0)))
_B["logaddexp"] = binary("logaddexp", np.logaddexp, _logaddexp_d(0, 1), _logaddexp_d(1, 1),
                          _E(_logaddexp_scalar(False)))
_B["logaddexp2"] = binary("logaddexp2", np.logaddexp2, _logaddexp_d(0, _LN2),
                           _logaddexp_d(1, _LN2), _E(_logaddexp_scalar(True)))
for _n, _f, _op in [("and", np.bitwise_and, "&"), ("or", np.bitwise_or, "|"),
                    ("xor", np.bitwise_xor, "^")]:
    _B[_n] = binary(_n, _f, None, None, _E(binop(_op)), kinds="bi",
                    test_dtypes=("bool", "int64"))
# eq and ne take complex operands; the orderings do not (as in JAX: funcad.numpy orders
# complex numbers lexicographically, as NumPy does, from the parts)
for _n, _f, _op in [("eq", np.equal, "=="), ("ne", np.not_equal, "!="), ("lt", np.less, "<"),
                    ("le", np.less_equal, "<="), ("gt", np.greater, ">"),
                    ("ge", np.greater_equal, ">=")]:
    _B[_n] = binary(_n, _f, None, None, _E(binop(_op)), kinds="fibc" if _n in ("eq", "ne")
                    else "fib", out_dtype=bool_)
for _n, _p in _B.items():
    globals()[_n + "_p"] = _p
    _wrap_binary(_n if _n not in ("and", "or") else _n + "_", _p)
    __all__.append(_n + "_p")
