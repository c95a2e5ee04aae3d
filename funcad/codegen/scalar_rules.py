"""Builders of scalar rules, and the call of one: the vocabulary elementwise declarations use.

A scalar rule (the ``scalar`` of a :class:`funcad.lowering.Elementwise`) is ``rule(sc, args,
avals, out, params) -> str``: the expression for one element from the operand expressions
``args`` (strings), their avals, the output aval and the equation's params. ``sc`` is the nest
builder: ``sc.hoist(expr)`` binds an operand that is used twice to a local scalar (so no
expression is ever duplicated), ``sc.lit(value, dtype)`` writes a typed literal, ``sc.fast``
says whether the vectorizable approximations of :mod:`funcad.codegen.fastmath` may be used
(``config.exact_math`` off), ``sc.trig(name, x)`` writes (and imports) the call of one of them
(the nest picks the cheap bounded sin/cos where it can) and ``sc.use(name)`` imports a function.

Why rules rather than fixed expression templates: Numba's scalar semantics differ from
NumPy's in ways a template cannot see without the dtype. ``math.floor`` returns an int,
Python's ``max`` does not propagate NaN, ``2.0 * x`` turns a float32 ``x`` into float64,
integer ``//`` floors where lax divides toward zero. The rules follow the primitives' NumPy
``impl``; the ones particular to one primitive sit beside its declaration.

This module holds no per-primitive knowledge: the rules are found on the primitives.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.codegen import fastmath

_FAST = frozenset(fastmath.__all__)


def fast_kernels() -> frozenset:
    """The names :mod:`funcad.codegen.fastmath` exports."""
    return _FAST


def literal(value, dtype) -> str:
    """Source text for a scalar of ``dtype`` that Numba types as that dtype."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return "True" if bool(value) else "False"
    if dt.kind == "c":
        v = complex(value)
        text = f"complex({literal(v.real, 'float64')}, {literal(v.imag, 'float64')})"
        return text if dt == np.complex128 else f"np.complex64({text})"
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


def math_call(exact: str, fast: str | None = None):
    """``<exact>(x)`` (libm through ``math``/``np``), or ``<fast>(x)`` from fastmath for
    float64 (and for float32 via a float64 round trip, which is still faster than scalar libm)
    when fast math is on. Complex operands call ``cmath``'s function of the same name, never
    a fast kernel (they are real-only)."""
    def rule(sc, args, avals, out, params):
        (x,) = args
        if avals[0].dtype.kind == "c":
            z = f"cmath.{exact.split('.')[-1]}({x})"
            return z if out.dtype == np.complex128 else f"np.complex64({z})"
        if fast is not None and sc.fast and fast in fast_kernels():
            if out.dtype == np.float32:
                return f"np.float32({sc.trig(fast, f'np.float64({x})')})"
            return sc.trig(fast, x)
        return f"{exact}({x})"
    rule.__name__ = f"scalar_{(fast or exact).split('.')[-1]}"
    return rule


def binop(op: str):
    """``(x <op> y)``."""
    def rule(sc, args, avals, out, params):
        return f"({args[0]} {op} {args[1]})"
    rule.__name__ = "scalar_binop"
    return rule


def template(text: str):
    """A fixed expression: ``text.format(*args)``, e.g. ``"math.atan2({0}, {1})"``."""
    def rule(sc, args, avals, out, params):
        return text.format(*args)
    rule.__name__ = "scalar_template"
    return rule


def emit_elementwise(sc, eqn, args: list) -> str:
    """The expression for one element of ``eqn``'s output (an equation whose primitive's
    lowering is :class:`funcad.lowering.Elementwise`)."""
    rule = eqn.prim.lowering.scalar
    return rule(sc, args, [a.aval for a in eqn.inputs], eqn.outvars[0].aval, eqn.params)
