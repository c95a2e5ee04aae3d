"""Sorting: ``sort`` orders its first operand (the keys) along one axis and applies the same
permutation to the other operands, as ``lax.sort`` with ``num_keys=1``. The sort is stable
(ties keep their order) and NaNs go last, as in NumPy.

The derivative is a permutation: the tangent of every output is the operand's tangent sorted
by the same keys (one more ``sort`` with the tangents as operands). That map is linear in the
non-key operands, and its transpose sorts the cotangents by the permutation itself (sorting by
``perm`` inverts it), so jvp, transpose, batching and jit all close over this one primitive.
In generated code each row is argsorted (Numba's stable mergesort) and every operand is read
through the permutation.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, ShapedArray, canonicalize_axis, get_aval
from funcad.lowering import Opaque
from funcad.primitives._family import rand_array
from funcad.primitives.shape import broadcasted_iota
from funcad.rule_util import UndefinedPrimal, Zero, bdim_to_front, instantiate

__all__ = ["sort_p", "sort", "sort_key_val"]


def _sort_abstract(*operands, dimension, num_keys):
    if not operands:
        raise TypeError("lax.sort needs at least one operand")
    if num_keys != 1:
        raise NotImplementedError(f"lax.sort: num_keys={num_keys} is not supported yet; sort "
                                  f"by one key (num_keys=1)")
    x = operands[0]
    if x.ndim == 0:
        raise TypeError("lax.sort: the operand must have at least one axis, got a scalar")
    if x.dtype.kind == "c":
        raise TypeError(f"lax.sort: complex keys ({x.str_short()}) are not supported; sort by "
                        f"a real key (lax.real(x), lax.abs(x)) and carry x as another operand")
    if not 0 <= dimension < x.ndim:
        raise TypeError(f"lax.sort: dimension {dimension} is out of range for rank {x.ndim}")
    for o in operands[1:]:
        if o.shape != x.shape:
            raise TypeError(f"lax.sort: every operand must have the keys' shape {x.shape}; "
                            f"got {', '.join(a.str_short() for a in operands)}")
    return list(operands)


def _sort_impl(*operands, dimension, num_keys):
    perm = np.argsort(operands[0], axis=dimension, kind="stable")
    return [np.take_along_axis(o, perm, axis=dimension) for o in operands]


def _sort_jvp(primals, tangents, *, dimension, num_keys):
    outs = sort_p.bind(*primals, dimension=dimension, num_keys=num_keys)
    live = [i for i, t in enumerate(tangents) if type(t) is not Zero]
    t_out = [Zero(get_aval(o)) for o in outs]
    if live:
        moved = sort_p.bind(primals[0], *[instantiate(tangents[i]) for i in live],
                            dimension=dimension, num_keys=num_keys)[1:]
        for i, t in zip(live, moved):
            t_out[i] = t
    return outs, t_out


def _sort_transpose(cts, keys, *operands, dimension, num_keys):
    if type(keys) is UndefinedPrimal:
        raise TypeError("lax.sort: cannot transpose with respect to the keys (sorting is not "
                        "linear in them)")
    shape = get_aval(keys).shape
    iota = broadcasted_iota(np.int64, shape, dimension)
    perm = sort_p.bind(keys, iota, dimension=dimension, num_keys=1)[1]
    out = [None]
    for x, ct in zip(operands, cts[1:]):
        if type(x) is not UndefinedPrimal or type(ct) is Zero:
            out.append(None)
            continue
        out.append(sort_p.bind(perm, instantiate(ct), dimension=dimension, num_keys=1)[1])
    return out


def _sort_batch(vals, dims, *, dimension, num_keys):
    size = next(get_aval(v).shape[d] for v, d in zip(vals, dims) if d is not None)
    vals = [bdim_to_front(v, d, size) for v, d in zip(vals, dims)]
    outs = sort_p.bind(*vals, dimension=dimension + 1, num_keys=num_keys)
    return outs, [0] * len(outs)


def _sort_rule(ctx, eqn):
    """Per row: copy the keys into a buffer, argsort it (stable), read every operand through
    the permutation."""
    keys = eqn.inputs[0]
    d = eqn.params["dimension"]
    shape = keys.aval.shape
    outer = [s for k, s in enumerate(shape) if k != d]
    for o in eqn.outvars:
        ctx.alloc(o)
    row, perm = ctx.fresh("row"), ctx.fresh("perm")
    kdt = np.int64 if keys.aval.dtype == np.bool_ else keys.aval.dtype
    ctx.em.line(f"{row} = np.empty({ctx.dim(shape[d])}, {ctx.dtype(kdt)})")
    with ctx.loops(outer) as o:   # serial: the row buffer is shared
        with ctx.loops([shape[d]], first=len(o)) as (j,):
            idx = list(o)
            idx.insert(d, j)
            ctx.em.line(f"{row}[{j}] = {ctx.read(keys, idx)}")
        ctx.em.line(f"{perm} = np.argsort({row}, kind='mergesort')")
        with ctx.loops([shape[d]], first=len(o)) as (j,):
            dst, src = list(o), list(o)
            dst.insert(d, j)
            src.insert(d, f"{perm}[{j}]")
            for x, out in zip(eqn.inputs, eqn.outvars):
                ctx.store(out, dst, ctx.read(x, src))


def _sort_test_args(rng, dtype):
    # distinct keys (ties have no derivative to compare with finite differences); two more
    # operands of other dtypes ride along
    keys = rng.permutation(12).reshape(3, 4).astype(dtype) * 0.5
    return [keys, rand_array(rng, (3, 4), np.float64), rng.integers(-5, 5, (3, 4))]


sort_p = Primitive("sort", impl=_sort_impl, abstract_eval=_sort_abstract, jvp=_sort_jvp,
                   transpose=_sort_transpose, batch=_sort_batch, multiple_results=True,
                   lowering=Opaque(_sort_rule, fresh=True), test_args=_sort_test_args,
                   test_dtypes=("float64", "float32", "int64", "int32"),
                   test_params=({"dimension": 1, "num_keys": 1},
                                {"dimension": 0, "num_keys": 1}))


def sort(operand, dimension: int = -1, is_stable: bool = True, num_keys: int = 1):
    """Sort along ``dimension``: one array, or a sequence of arrays of one shape sorted by
    the first (``lax.sort``). Always stable; NaNs sort last."""
    ops = list(operand) if isinstance(operand, (list, tuple)) else [operand]
    ops = [np.asarray(o) if isinstance(o, (int, float, bool)) else o for o in ops]
    d = canonicalize_axis(dimension, get_aval(ops[0]).ndim or 1, "lax.sort")
    outs = sort_p.bind(*ops, dimension=d, num_keys=int(num_keys))
    return tuple(outs) if isinstance(operand, (list, tuple)) else outs[0]


def sort_key_val(keys, values, dimension: int = -1, is_stable: bool = True):
    """``(sorted keys, values in the keys' order)`` along ``dimension``."""
    return sort((keys, values), dimension, is_stable)
