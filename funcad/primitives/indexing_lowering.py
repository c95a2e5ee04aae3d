"""How jit writes the indexing primitives (their ``lowering``, see :mod:`funcad.lowering`).

Each is an :class:`~funcad.lowering.Opaque` loop rule that follows the primitive's NumPy
``impl`` exactly: gather clamps indices, scatter drops out-of-bounds updates, dynamic slices
clamp their starts. On small arrays in loops (:mod:`funcad.codegen.scalarise`) an equation
with traced indices becomes a ``select_n`` over the few positions it may pick
(``rw.choose``), when there are at most ``MAX_CHOICES`` of them.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.lowering import Opaque

MAX_CHOICES = 16    # positions a traced index may select among on small arrays in loops


# ---------------------------------------------------------------------------------------------
# array rules: (ctx, eqn); indices (..., k) index the leading k axes


def _gather_rule(ctx, eqn):
    x, ind = eqn.inputs
    out = eqn.outvars[0]
    k = ind.aval.shape[-1]
    batch = ind.aval.shape[:-1]
    trail = x.aval.shape[k:]
    ctx.alloc(out)
    with ctx.loops(batch, parallel=True) as b:
        js = []
        for c in range(k):
            j = ctx.fresh("j")
            hi = ctx.dim(max(x.aval.shape[c] - 1, 0))
            ctx.em.line(f"{j} = min(max({ctx.read(ind, b + [str(c)])}, 0), {hi})")
            js.append(j)
        with ctx.loops(trail, first=len(b)) as t:
            ctx.store(out, b + t, ctx.read(x, js + t))


def _scatter_rule(ctx, eqn):
    x, ind, upd = eqn.inputs
    out = eqn.outvars[0]
    mode = eqn.params["mode"]
    k = ind.aval.shape[-1]
    batch = ind.aval.shape[:-1]
    trail = x.aval.shape[k:]
    _copy_or_reuse(ctx, eqn, x, out)
    with ctx.loops(batch) as b:   # sequential: indices may repeat
        js = []
        for c in range(k):
            j = ctx.fresh("j")
            ctx.em.line(f"{j} = {ctx.read(ind, b + [str(c)])}")
            js.append(j)
        cond = " and ".join(f"0 <= {j} < {ctx.dim(x.aval.shape[c])}"
                            for c, j in enumerate(js)) or "True"
        with ctx.em.block(f"if {cond}:"):
            with ctx.loops(trail, first=len(b)) as t:
                cell = ctx.read(out, js + t)
                u = ctx.read(upd, b + t)
                ctx.em.line(f"{cell} = {_combine(ctx, mode, cell, u, out.aval.dtype)}")


def _combine(ctx, mode, cell, u, dt):
    if mode == "set":
        return u
    if mode == "add":
        return f"{cell} + {u}"
    if mode == "mul":
        return f"{cell} * {u}"
    cmp = ">=" if mode == "max" else "<="
    if np.dtype(dt) == np.bool_:
        return f"{cell} {'|' if mode == 'max' else '&'} {u}"
    v = ctx.fresh("u")
    ctx.em.line(f"{v} = {u}")
    if np.dtype(dt).kind == "f":   # np.maximum.at: NaN wins
        return f"{cell} if {cell} {cmp} {v} or {cell} != {cell} else {v}"
    return f"{cell} if {cell} {cmp} {v} else {v}"


def _copy_or_reuse(ctx, eqn, x, out):
    """``out`` starts as a copy of ``x``, or takes over ``x``'s buffer when nothing else
    reads it."""
    o = ctx.out(out)
    if ctx.reusable(x, eqn):
        ctx.em.line(f"{o} = {ctx.name(x)}")
    elif x.aval.ndim == 0:
        ctx.em.line(f"{o} = {ctx.name(x)}")
        return
    else:
        ctx.em.line(f"{o} = {ctx.name(x)}.copy()")
    ctx.fresh_arrays.add(out)


def _clamped_starts(ctx, idx, shape, sizes):
    starts = []
    for i, n, s in zip(idx, shape, sizes):
        v = ctx.fresh("s")
        ctx.em.line(f"{v} = min(max({ctx.name(i)}, 0), {ctx.dim(n - s)})")
        starts.append(v)
    return starts


def _dynamic_slice_rule(ctx, eqn):
    x, *idx = eqn.inputs
    out = eqn.outvars[0]
    starts = _clamped_starts(ctx, idx, x.aval.shape, eqn.params["slice_sizes"])
    ctx.alloc(out)
    with ctx.loops(out.aval.shape, parallel=True) as t:
        ctx.store(out, t, ctx.read(x, [f"{s} + {i}" for s, i in zip(starts, t)]))


def _dynamic_update_slice_rule(ctx, eqn):
    x, upd, *idx = eqn.inputs
    out = eqn.outvars[0]
    starts = _clamped_starts(ctx, idx, x.aval.shape, upd.aval.shape)
    _copy_or_reuse(ctx, eqn, x, out)
    with ctx.loops(upd.aval.shape, parallel=True) as t:
        if out.aval.ndim == 0:
            ctx.store(out, [], ctx.read(upd, t))
        else:
            ctx.em.line(f"{ctx.read(out, [f'{s} + {i}' for s, i in zip(starts, t)])} = "
                        f"{ctx.read(upd, t)}")


# ---------------------------------------------------------------------------------------------
# element rules: (rw, eqn, ins) -> [out], on object arrays of rank-0 atoms


def _index_ok(a) -> bool:
    return a.aval.dtype.kind == "i"


def _ds_accept(eqn):
    x = eqn.inputs[0].aval
    sizes = eqn.params["slice_sizes"]
    return (all(_index_ok(i) for i in eqn.inputs[1:])
            and math.prod(n - s + 1 for n, s in zip(x.shape, sizes)) <= MAX_CHOICES)


def _dynamic_slice_element(rw, eqn, ins):
    x, starts = ins[0], [s[()] for s in ins[1:]]
    sizes = eqn.params["slice_sizes"]
    dt = eqn.outvars[0].aval.dtype
    out = np.empty(sizes, object)

    def pick(j, d, at):
        if d == x.ndim:
            return x[tuple(at)]
        return rw.choose(starts[d], [pick(j, d + 1, at + [c + j[d]])
                                     for c in range(x.shape[d] - sizes[d] + 1)], dt)

    for j in np.ndindex(*sizes):
        out[j] = pick(j, 0, [])
    return [out]


def _dus_accept(eqn):
    x, upd = eqn.inputs[0].aval, eqn.inputs[1].aval
    return (all(_index_ok(i) for i in eqn.inputs[2:])
            and math.prod(n - s + 1 for n, s in zip(x.shape, upd.shape)) <= MAX_CHOICES)


def _dynamic_update_slice_element(rw, eqn, ins):
    x, upd, starts = ins[0], ins[1], [s[()] for s in ins[2:]]
    dt = eqn.outvars[0].aval.dtype
    out = np.empty(x.shape, object)

    def pick(i, d, at):
        if d == x.ndim:
            rel = [a - b for a, b in zip(i, at)]
            inside = all(0 <= r < k for r, k in zip(rel, upd.shape))
            return upd[tuple(rel)] if inside else x[i]
        return rw.choose(starts[d], [pick(i, d + 1, at + [c])
                                     for c in range(x.shape[d] - upd.shape[d] + 1)], dt)

    for i in np.ndindex(*x.shape):
        out[i] = pick(i, 0, [])
    return [out]


def _gather_accept(eqn):
    x, ind = eqn.inputs[0].aval, eqn.inputs[1].aval
    k = ind.shape[-1]
    return _index_ok(eqn.inputs[1]) and math.prod(x.shape[:k]) <= MAX_CHOICES


def _gather_element(rw, eqn, ins):
    x, ind = ins
    k = ind.shape[-1]
    dt = eqn.outvars[0].aval.dtype
    batch, trail = ind.shape[:-1], x.shape[k:]
    out = np.empty(batch + trail, object)

    def pick(b, t, d, at):
        if d == k:
            return x[tuple(at) + t]
        return rw.choose(ind[b + (d,)], [pick(b, t, d + 1, at + [c])
                                         for c in range(x.shape[d])], dt)

    for b in np.ndindex(*batch):
        for t in np.ndindex(*trail):
            out[b + t] = pick(b, t, 0, [])
    return [out]


GATHER = Opaque(_gather_rule, fresh=True, element=_gather_element, accept=_gather_accept)
SCATTER = Opaque(_scatter_rule)
DYNAMIC_SLICE = Opaque(_dynamic_slice_rule, fresh=True, element=_dynamic_slice_element,
                       accept=_ds_accept)
DYNAMIC_UPDATE_SLICE = Opaque(_dynamic_update_slice_rule, element=_dynamic_update_slice_element,
                              accept=_dus_accept)
