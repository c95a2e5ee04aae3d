"""Scalar expressions for elementwise primitives, as Numba sees them.

One rule per primitive: ``rule(sc, args, avals, out, params) -> str`` builds the expression
for one element from the operand expressions ``args`` (strings), their avals, the output
aval and the equation's params. ``sc`` is the nest builder: ``sc.hoist(expr)`` binds an
operand that is used twice to a local scalar (so no expression is ever duplicated),
``sc.lit(value, dtype)`` writes a typed literal, ``sc.fast`` says whether the vectorizable
approximations of :mod:`funcad.codegen.fastmath` may be used (``config.exact_math`` off),
``sc.trig(name, x)`` writes (and imports) the call of one of them (the nest picks the cheap
bounded sin/cos where it can) and ``sc.use(name)`` imports a function.

Why rules rather than fixed expression templates: Numba's scalar semantics differ from
NumPy's in ways a template cannot see without the dtype. ``math.floor`` returns an int,
Python's ``max`` does not propagate NaN, ``2.0 * x`` turns a float32 ``x`` into float64,
integer ``//`` floors where lax divides toward zero. The rules follow the primitives' NumPy
``impl``: ``max``/``min`` propagate NaN exactly as ``np.maximum`` (``a >= b or a != a``),
integer division and remainder by zero give 0, float32 stays float32.

This table alone decides which primitives are elementwise to the code generator
(:func:`funcad.codegen.fuse.classify`). A primitive missing here is opaque: it needs a
``lower`` rule or an array rule, or jit raises ``NotImplementedError`` naming it.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.codegen import fastmath

FAST_KERNELS = frozenset(getattr(fastmath, "__all__", ()))


def literal(value, dtype) -> str:
    """Source text for a scalar of ``dtype`` that Numba types as that dtype."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return "True" if bool(value) else "False"
    if dt.kind == "f":
        v = float(value)
        if math.isnan(v):
            text = "np.nan"
        elif math.isinf(v):
            text = "np.inf" if v > 0 else "(-np.inf)"
        else:
            text = repr(v) if v >= 0 or v != v else f"({v!r})"
        if dt == np.float32:
            return f"np.float32({text})"
        return text
    v = int(value)
    if dt == np.int64:
        return str(v) if v >= 0 else f"({v})"
    return f"np.{dt.name}({v})"


def _math_unary(exact: str, fast: str | None = None):
    """``math.<exact>(x)`` (libm), or ``<fast>(x)`` from fastmath for float64 (and for
    float32 via a float64 round trip, which is still faster than scalar libm)."""
    def rule(sc, args, avals, out, params):
        (x,) = args
        if fast is not None and sc.fast and fast in FAST_KERNELS:
            if out.dtype == np.float32:
                return f"np.float32({sc.trig(fast, f'np.float64({x})')})"
            return sc.trig(fast, x)
        return f"{exact}({x})"
    return rule


def _rsqrt(sc, args, avals, out, params):
    return f"({sc.lit(1, out.dtype)} / math.sqrt({args[0]}))"


def _logistic(sc, args, avals, out, params):
    if sc.fast and "flogistic" in FAST_KERNELS:
        return _math_unary("", "flogistic")(sc, args, avals, out, params)
    x = sc.hoist(args[0])
    e = sc.hoist(f"math.exp(-abs({x}))")
    one = sc.lit(1, out.dtype)
    return f"({one} / ({one} + {e}) if {x} >= 0 else {e} / ({one} + {e}))"


def _not(sc, args, avals, out, params):
    return f"(not {args[0]})" if out.dtype == np.bool_ else f"(~{args[0]})"


def _integer_pow(sc, args, avals, out, params):
    y = params["y"]
    one = sc.lit(1, out.dtype)
    if y == 0:
        return one
    x = sc.hoist(args[0]) if abs(y) > 1 else args[0]
    # square-and-multiply with locals: x**5 = (x*x)*(x*x)*x
    acc, base, n = None, x, abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else sc.hoist(f"{acc} * {base}")
        n >>= 1
        if n:
            base = sc.hoist(f"{base} * {base}")
    return acc if y > 0 else f"({one} / {acc})"


def _binop(op: str):
    def rule(sc, args, avals, out, params):
        return f"({args[0]} {op} {args[1]})"
    return rule


def _int_parts(sc, args):
    """Hoisted x, y, floor quotient and Python remainder (Numba gives 0 for a zero y)."""
    x, y = sc.hoist(args[0]), sc.hoist(args[1])
    return x, y, sc.hoist(f"{x} // {y}"), sc.hoist(f"{x} % {y}")


def _div(sc, args, avals, out, params):
    if avals[0].dtype.kind == "f":
        return f"({args[0]} / {args[1]})"
    # lax.div on integers rounds toward zero (C), and gives 0 for a zero divisor
    x, y, q, r = _int_parts(sc, args)
    return f"({q} + 1 if {r} != 0 and ({x} < 0) != ({y} < 0) else {q})"


def _rem(sc, args, avals, out, params):
    if avals[0].dtype.kind == "f":
        return f"np.fmod({args[0]}, {args[1]})"
    # C's fmod: the sign of x (Numba's np.fmod on integers takes the sign of y)
    x, y, q, r = _int_parts(sc, args)
    return f"({r} - {y} if {r} != 0 and ({x} < 0) != ({y} < 0) else {r})"


def _extremum(cmp: str, bool_op: str):
    def rule(sc, args, avals, out, params):
        dt = avals[0].dtype
        if dt == np.bool_:
            return f"({args[0]} {bool_op} {args[1]})"
        x, y = sc.hoist(args[0]), sc.hoist(args[1])
        if dt.kind == "f":  # NumPy's np.maximum/np.minimum: NaN wins, ties keep x
            return f"({x} if {x} {cmp} {y} or {x} != {x} else {y})"
        return f"({x} if {x} {cmp} {y} else {y})"
    return rule


def _select_n(sc, args, avals, out, params):
    pred, cases = args[0], args[1:]
    if len(cases) == 1:
        return cases[0]
    if avals[0].dtype == np.bool_:
        return f"({cases[1]} if {pred} else {cases[0]})"
    p = sc.hoist(pred)
    expr = cases[-1]
    for i in range(len(cases) - 2, -1, -1):  # clipped like np.choose(np.clip(...))
        expr = f"({cases[i]} if {p} <= {i} else {expr})"
    return expr


def _convert(sc, args, avals, out, params):
    src, dst = avals[0].dtype, np.dtype(params["new_dtype"])
    if src == dst:
        return args[0]
    if dst == np.bool_:
        return f"({args[0]} != 0)"
    return f"np.{dst.name}({args[0]})"


def _sign(sc, args, avals, out, params):
    return f"np.sign({args[0]})"


def _unary_np(fn: str):
    def rule(sc, args, avals, out, params):
        return f"np.{fn}({args[0]})"
    return rule


SCALAR_RULES = {
    "neg": lambda sc, a, av, o, p: f"(-{a[0]})",
    "abs": lambda sc, a, av, o, p: f"abs({a[0]})",
    "sign": _sign,
    "floor": _unary_np("floor"),
    "ceil": _unary_np("ceil"),
    "round": _unary_np("rint"),
    "exp": _math_unary("math.exp", "fexp"),
    "exp2": _math_unary("np.exp2", "fexp2"),
    "expm1": _math_unary("math.expm1", "fexpm1"),
    "log": _math_unary("math.log", "flog"),
    "log1p": _math_unary("math.log1p", "flog1p"),
    "sqrt": _math_unary("math.sqrt"),
    "rsqrt": _rsqrt,
    "cbrt": _unary_np("cbrt"),
    "sin": _math_unary("math.sin", "fsin"),
    "cos": _math_unary("math.cos", "fcos"),
    "tan": _math_unary("math.tan"),
    "asin": _math_unary("math.asin"),
    "acos": _math_unary("math.acos"),
    "atan": _math_unary("math.atan", "fatan"),
    "sinh": _math_unary("math.sinh"),
    "cosh": _math_unary("math.cosh"),
    "tanh": _math_unary("math.tanh", "ftanh"),
    "asinh": _math_unary("math.asinh"),
    "acosh": _math_unary("math.acosh"),
    "atanh": _math_unary("math.atanh"),
    "logistic": _logistic,
    "erf": _math_unary("math.erf"),
    "not": _not,
    "integer_pow": _integer_pow,
    "stop_gradient": lambda sc, a, av, o, p: a[0],
    "add": _binop("+"),
    "sub": _binop("-"),
    "mul": _binop("*"),
    "div": _div,
    "rem": _rem,
    "pow": _binop("**"),
    "max": _extremum(">=", "|"),
    "min": _extremum("<=", "&"),
    "atan2": lambda sc, a, av, o, p: f"math.atan2({a[0]}, {a[1]})",
    "and": _binop("&"),
    "or": _binop("|"),
    "xor": _binop("^"),
    "eq": _binop("=="),
    "ne": _binop("!="),
    "lt": _binop("<"),
    "le": _binop("<="),
    "gt": _binop(">"),
    "ge": _binop(">="),
    "select_n": _select_n,
    "convert_element_type": _convert,
}


def emit_elementwise(sc, eqn, args: list) -> str:
    """The expression for one element of ``eqn``'s output (an equation that
    :func:`funcad.codegen.fuse.classify` found elementwise, so its rule is in the table)."""
    rule = SCALAR_RULES[eqn.prim.name]
    return rule(sc, args, [a.aval for a in eqn.inputs], eqn.outvars[0].aval, eqn.params)
