"""Shared builders for primitive families, so that most primitives are one declaration.

A family derives the rules its members have in common (an elementwise primitive's shape rule
and batching rule, a linear primitive's jvp) and leaves the member to state only what is its
own: the NumPy implementation, the derivative, how jit writes it (its ``lowering``) and the
input domain for the generated tests.
"""
from __future__ import annotations

from funcad.core import Primitive, ShapedArray, get_aval, is_float
from funcad.interpreters.jvp import Zero, instantiate


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


def linear_jvp(prim_getter, linear_args=None):
    """jvp of a primitive that is linear in ``linear_args`` (all when None): apply the
    primitive to the tangents of the linear arguments and the primals of the others.
    ``prim_getter`` is the primitive, or a function returning it (for a rule made before
    the primitive exists)."""
    def jvp(primals, tangents, **params):
        prim = prim_getter if type(prim_getter) is Primitive else prim_getter()
        out = prim.bind(*primals, **params)
        if linear_args is None and len(primals) == 1 and type(tangents[0]) is not Zero:
            return out, prim.bind(tangents[0], **params)
        idx = range(len(primals)) if linear_args is None else linear_args
        if all(type(tangents[i]) is Zero for i in idx):
            if prim.multiple_results:
                return out, [Zero(ShapedArray(o.shape, o.dtype)) for o in _avals(out)]
            return out, Zero(_aval(out))
        args = [instantiate(tangents[i]) if i in idx else p for i, p in enumerate(primals)]
        return out, prim.bind(*args, **params)

    return jvp


def _aval(x):
    return get_aval(x)


def _avals(xs):
    return [_aval(x) for x in xs]


def is_float_aval(a) -> bool:
    return is_float(a.dtype)
