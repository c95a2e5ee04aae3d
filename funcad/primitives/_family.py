"""Shared builders for primitive families, so that most primitives are one declaration.

A family derives the rules its members have in common (an elementwise primitive's shape rule
and batching rule) and leaves the member to state only what is its
own: the NumPy implementation, the derivative and the input domain for the generated tests.
(The code generator's scalar expressions live in ``funcad/codegen/scalar_rules.py``.)
"""
from __future__ import annotations

from funcad.core import ShapedArray, is_float


def strict_same(name: str, avals, what="operands"):
    """Strict primitives want equal shapes and dtypes; say which differ."""
    a0 = avals[0]
    for a in avals[1:]:
        if a.shape != a0.shape or a.dtype != a0.dtype:
            raise TypeError(
                f"lax.{name} requires {what} of equal shape and dtype; got "
                f"{', '.join(x.str_short() for x in avals)}. Use funcad.numpy (fnp.{name}) "
                f"for broadcasting and type promotion.")
    return a0


def check_kind(name: str, aval: ShapedArray, kinds: str):
    if aval.dtype.kind not in kinds:
        want = {"f": "floating", "i": "integer", "b": "boolean"}
        raise TypeError(f"lax.{name} does not accept dtype {aval.dtype}; it needs "
                        f"{' or '.join(want[k] for k in kinds)} inputs.")


def is_float_aval(a) -> bool:
    return is_float(a.dtype)
