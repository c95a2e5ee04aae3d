"""Element rules of :mod:`funcad.codegen.scalarise`: an equation on small arrays, written as
rank-0 equations on their elements.

A rule is ``rule(rw, eqn, ins) -> [out]``: ``ins`` holds each operand as an object array (the
operand's shape) of rank-0 atoms (``Var`` or ``Lit``), and the rule returns the output the same
way, emitting rank-0 equations through ``rw.scalar(prim, atoms, dtype)`` (which folds literals)
or ``rw.choose(index, options, dtype)`` (a ``select_n`` over positions: traced indices). Index
operations only rearrange the atoms and emit nothing. ``ACCEPT[name](eqn)`` may decline an
equation (then it stays on arrays), e.g. a ``gather`` that could select among too many
positions. Elementwise primitives share :func:`elementwise`.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.core import ShapedArray
from funcad.ir import Lit

_MAX_CHOICES = 16          # positions a traced index may select among (gather and friends)


def prims():
    """The primitive modules (imported late: the code generator loads before them)."""
    from funcad.primitives import elementwise as ew, shape as sh
    return ew, sh


def scalar_aval(dtype) -> ShapedArray:
    return ShapedArray((), dtype)


def elementwise(rw, eqn, ins):
    out = eqn.outvars[0].aval
    ins = np.broadcast_arrays(*ins) if len(ins) > 1 else ins
    res = np.empty(out.shape, object)
    for idx in np.ndindex(out.shape):
        res[idx] = rw.scalar(eqn.prim, [x[idx] for x in ins], out.dtype, eqn.params)
    return [res]


def _broadcast(rw, eqn, ins):
    (x,) = ins
    shape, bd = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    expanded = [1] * len(shape)
    for i, d in enumerate(bd):
        expanded[d] = x.shape[i]
    return [np.broadcast_to(x.reshape(expanded), shape)]


def _same_order(rw, eqn, ins):   # reshape, squeeze, expand_dims: C order is unchanged
    return [ins[0].reshape(eqn.outvars[0].aval.shape)]


def _slice(rw, eqn, ins):
    p = eqn.params
    return [ins[0][tuple(slice(s, l, k) for s, l, k in
                         zip(p["start_indices"], p["limit_indices"], p["strides"]))]]


def _pad(rw, eqn, ins):
    x, pv = ins
    out = np.empty(eqn.outvars[0].aval.shape, object)
    out.fill(pv[()])
    idx = tuple(slice(lo, lo + (n - 1) * (it + 1) + 1 if n else lo, it + 1)
                for n, (lo, hi, it) in zip(x.shape, eqn.params["padding_config"]))
    out[idx] = x
    return [out]


def _iota(rw, eqn, ins):
    p = eqn.params
    vals = eqn.prim.impl(**p)
    aval = scalar_aval(p["dtype"])
    out = np.empty(vals.shape, object)
    for idx in np.ndindex(vals.shape):
        out[idx] = Lit(vals[idx], aval)
    return [out]


def _reduce(binop: str):
    def rule(rw, eqn, ins):
        ew, _ = prims()
        prim = getattr(ew, binop + "_p")
        (x,) = ins
        axes = eqn.params["axes"]
        out = eqn.outvars[0].aval
        kept = [d for d in range(x.ndim) if d not in axes]
        xt = x.transpose(kept + list(axes)).reshape(out.shape + (-1,))
        res = np.empty(out.shape, object)
        for idx in np.ndindex(out.shape):
            vals = xt[idx]
            acc = vals[0]
            for v in vals[1:]:
                acc = rw.scalar(prim, [acc, v], out.dtype)
            res[idx] = acc
        return [res]
    return rule


def _cumsum(rw, eqn, ins):
    ew, _ = prims()
    (x,) = ins
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    dt = eqn.outvars[0].aval.dtype
    xm = np.moveaxis(x, axis, -1)
    res = np.empty(xm.shape, object)
    n = xm.shape[-1]
    for idx in np.ndindex(xm.shape[:-1]):
        acc = None
        for k in (range(n - 1, -1, -1) if reverse else range(n)):
            v = xm[idx + (k,)]
            acc = v if acc is None else rw.scalar(ew.add_p, [acc, v], dt)
            res[idx + (k,)] = acc
    return [np.moveaxis(res, -1, axis)]


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot_accept(eqn):
    pet = eqn.params.get("preferred_element_type")
    x = eqn.inputs[0].aval
    return pet is None or np.dtype(pet) == x.dtype


def _dot(rw, eqn, ins):
    ew, _ = prims()
    x, y = ins
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    out = eqn.outvars[0].aval
    lf, rf = _free(x.ndim, lc, lb), _free(y.ndim, rc, rb)
    nb = math.prod(x.shape[i] for i in lb)
    nk = math.prod(x.shape[i] for i in lc)
    xm = x.transpose(list(lb) + lf + list(lc)).reshape(nb, -1, nk)
    ym = y.transpose(list(rb) + list(rc) + rf).reshape(nb, nk, -1)
    res = np.empty((nb, xm.shape[1], ym.shape[2]), object)
    for b, m, n in np.ndindex(res.shape):
        acc = Lit(np.zeros((), out.dtype)[()], scalar_aval(out.dtype))
        for k in range(nk):
            term = rw.scalar(ew.mul_p, [xm[b, m, k], ym[b, k, n]], out.dtype)
            acc = term if k == 0 else rw.scalar(ew.add_p, [acc, term], out.dtype)
        res[b, m, n] = acc
    return [res.reshape(out.shape)]


def _index_ok(a) -> bool:
    return a.aval.dtype.kind == "i"


def _ds_accept(eqn):
    x = eqn.inputs[0].aval
    sizes = eqn.params["slice_sizes"]
    return (all(_index_ok(i) for i in eqn.inputs[1:])
            and math.prod(n - s + 1 for n, s in zip(x.shape, sizes)) <= _MAX_CHOICES)


def _dynamic_slice(rw, eqn, ins):
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
            and math.prod(n - s + 1 for n, s in zip(x.shape, upd.shape)) <= _MAX_CHOICES)


def _dynamic_update_slice(rw, eqn, ins):
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
    return _index_ok(eqn.inputs[1]) and math.prod(x.shape[:k]) <= _MAX_CHOICES


def _gather(rw, eqn, ins):
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


RULES = {
    "broadcast_in_dim": _broadcast,
    "reshape": _same_order,
    "squeeze": _same_order,
    "expand_dims": _same_order,
    "transpose": lambda rw, eqn, ins: [ins[0].transpose(eqn.params["permutation"])],
    "rev": lambda rw, eqn, ins: [np.flip(ins[0], eqn.params["dimensions"])],
    "slice": _slice,
    "concatenate": lambda rw, eqn, ins: [np.concatenate(ins, axis=eqn.params["dimension"])],
    "pad": _pad,
    "iota": _iota,
    "reduce_sum": _reduce("add"),
    "reduce_prod": _reduce("mul"),
    "reduce_max": _reduce("max"),
    "reduce_min": _reduce("min"),
    "cumsum": _cumsum,
    "dot_general": _dot,
    "dynamic_slice": _dynamic_slice,
    "dynamic_update_slice": _dynamic_update_slice,
    "gather": _gather,
}
ACCEPT = {"dot_general": _dot_accept, "dynamic_slice": _ds_accept,
          "dynamic_update_slice": _dus_accept, "gather": _gather_accept}
