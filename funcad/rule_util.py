"""What the rules of primitives share with the interpreters that run them.

The symbols of automatic differentiation, :class:`Zero` (a tangent or cotangent known to be
zero) and :class:`UndefinedPrimal` (a linear input during transposition); the helpers every
jvp, transpose and batching rule uses (:func:`instantiate`, :func:`add_tangents`,
:func:`moveaxis`, :func:`bdim_to_front`, ...); and :func:`linear_jvp`, the jvp that
``Primitive(..., linear=True)`` derives.

This module sits just above :mod:`funcad.core` and below every primitive and every
interpreter (docs/architecture.md, "Layers"): a primitive's rules use it without importing an
interpreter. The helpers that make arrays bind the primitives they need (``add``,
``transpose``, ``broadcast_in_dim``) by name from the registry ``funcad.core.primitives``:
the modules that declare those build on this one, and importing funcad registers every
primitive before any rule runs.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, ShapedArray, Tracer, get_aval, is_eager, primitives
from funcad.tree_util import leaf_paths


class Zero:
    """A tangent or cotangent that is known to be zero, with the aval it stands for."""
    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval.str_short()})"


class UndefinedPrimal:
    """Stands for a linear input of a primitive during transposition."""
    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x) -> bool:
    return type(x) is UndefinedPrimal


# ---------------------------------------------------------------------------------------------
# Tangents

def zeros_like_aval(aval: ShapedArray):
    if is_eager():  # a plain array; under a transformation, a broadcast of a scalar
        return np.zeros(aval.shape, aval.dtype)
    z = np.zeros((), aval.dtype)
    return _broadcast(z, aval.shape, ()) if aval.shape else z


def instantiate(t):
    """An array for a tangent, turning a symbolic Zero into real zeros."""
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(a, b):
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    return primitives["add"].bind(a, b)


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
                return out, [Zero(ShapedArray(o.shape, o.dtype)) for o in map(get_aval, out)]
            return out, Zero(get_aval(out))
        args = [instantiate(tangents[i]) if i in idx else p for i, p in enumerate(primals)]
        return out, prim.bind(*args, **params)

    return jvp


# ---------------------------------------------------------------------------------------------
# Batch axes (the helpers run under the interpreter below the batching one, on plain values)

def needs_axis_size(rule):
    """Mark a batch rule that needs the batch size (it receives ``axis_size=...``)."""
    rule.needs_size = True
    return rule


def moveaxis(x, src, dst):
    """Move axis ``src`` of ``x`` to ``dst`` (both non-negative), with the transpose primitive."""
    nd = get_aval(x).ndim
    if src == dst:
        return x
    perm = [i for i in range(nd) if i != src]
    perm.insert(dst, src)
    return primitives["transpose"].bind(x, permutation=tuple(map(int, perm)))


def bdim_to_front(x, bdim, size):
    """``x`` with its batch axis first; an unbatched ``x`` is broadcast to ``size``."""
    if bdim is None:
        a = get_aval(x)
        return _broadcast(x, (size,) + a.shape, tuple(range(1, a.ndim + 1)))
    return moveaxis(x, bdim, 0)


def bdim_to(x, bdim, dst, size):
    if bdim is None:
        a = get_aval(x)
        shape = a.shape[:dst] + (size,) + a.shape[dst:]
        dims = tuple(i if i < dst else i + 1 for i in range(a.ndim))
        return _broadcast(x, shape, dims)
    return moveaxis(x, bdim, dst)


def _broadcast(x, shape, dims):
    """``lax.broadcast_in_dim(x, shape, dims)`` where ``shape`` is not ``x``'s own."""
    if isinstance(x, (int, float, bool)):
        x = np.asarray(x)
    return primitives["broadcast_in_dim"].bind(x, shape=tuple(map(int, shape)),
                                               broadcast_dimensions=tuple(map(int, dims)))


# what a pytree leaf may be wherever funcad turns leaves into arrays (complex gets its own
# "not supported yet" error from get_aval)
_ARRAY_LEAVES = (Tracer, np.ndarray, np.generic, bool, int, float, complex)


def check_array_leaves(leaves, tree, where: str, root: str, fix: str) -> None:
    """TypeError naming the path of the first leaf of ``tree`` (whose leaves are ``leaves``)
    that is not an array or a Python scalar, such as a string in a jitted function's output
    or in a loop carry. The message is ``where``, the leaf's path below ``root`` (as
    ``out[1]['a']``), what the leaf is, then ``fix``."""
    for i, x in enumerate(leaves):
        if not isinstance(x, _ARRAY_LEAVES):
            path = leaf_paths(tree, root)[i]
            shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
            raise TypeError(f"{where} {path} is a {type(x).__name__} ({shown}), not an "
                            f"array. {fix}")
