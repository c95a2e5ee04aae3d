"""How jit writes the shape primitives (their ``lowering``, see :mod:`funcad.lowering`).

Most are index arithmetic (:class:`~funcad.lowering.Index`): ``index_map`` says at which
operand index an output element is read, in the index terms of :mod:`funcad.codegen.fuse`
(``("i", k)`` loop index k, ``ZERO``, ``("rev", n, t)``, ``("lin", start, stride, t)``), and
``element`` rearranges the rank-0 atoms of a small array (:mod:`funcad.codegen.scalarise`).
``pad`` and ``concatenate`` write whole arrays (:class:`~funcad.lowering.Opaque`), and so does
a reshape that does more than add or drop unit axes.
"""
from __future__ import annotations

import numpy as np

from funcad.codegen.fuse import ZERO
from funcad.core import ShapedArray
from funcad.ir import Eqn, Lit
from funcad.lowering import Index, Opaque


# ---------------------------------------------------------------------------------------------
# index maps: (eqn, idx) -> [(operand index, expanding)]


def _bid_map(eqn, idx):
    p, x = eqn.params, eqn.inputs[0].aval
    bd = p["broadcast_dimensions"]
    src = tuple(ZERO if x.shape[k] == 1 and p["shape"][d] != 1 else idx[d]
                for k, d in enumerate(bd))
    return [(src, x.size < eqn.outvars[0].aval.size)]


def _transpose_map(eqn, idx):
    src = [None] * eqn.inputs[0].aval.ndim
    for k, pk in enumerate(eqn.params["permutation"]):
        src[pk] = idx[k]
    return [(tuple(src), False)]


def _rev_map(eqn, idx):
    dims, x = eqn.params["dimensions"], eqn.inputs[0].aval
    return [(tuple(("rev", x.shape[k], t) if k in dims else t for k, t in enumerate(idx)),
             False)]


def _squeeze_map(eqn, idx):
    it = iter(idx)
    dims = eqn.params["dimensions"]
    return [(tuple(ZERO if k in dims else next(it) for k in range(eqn.inputs[0].aval.ndim)),
             False)]


def _expand_dims_map(eqn, idx):
    dims = eqn.params["dimensions"]
    return [(tuple(t for k, t in enumerate(idx) if k not in dims), False)]


def _unit_reshape_map(in_shape, out_shape):
    """For a reshape that only adds/drops unit axes: for each input axis, the output axis it
    reads from (None for a unit input axis), else None."""
    nz_in = [i for i, s in enumerate(in_shape) if s != 1]
    nz_out = [j for j, s in enumerate(out_shape) if s != 1]
    if [in_shape[i] for i in nz_in] != [out_shape[j] for j in nz_out]:
        return None
    src = [None] * len(in_shape)
    for i, j in zip(nz_in, nz_out):
        src[i] = j
    return src


def _reshape_fusible(eqn):
    return _unit_reshape_map(eqn.inputs[0].aval.shape, eqn.params["new_sizes"]) is not None


def _reshape_map(eqn, idx):
    src = _unit_reshape_map(eqn.inputs[0].aval.shape, eqn.params["new_sizes"])
    return [(tuple(ZERO if j is None else idx[j] for j in src), False)]


def _slice_map(eqn, idx):
    p = eqn.params
    src = []
    for t, s, k in zip(idx, p["start_indices"], p["strides"]):
        src.append(t if s == 0 and k == 1 else ("lin", s, k, t))
    return [(tuple(src), False)]


def _iota_value(low, eqn, idx):
    i = low.index(idx[eqn.params["dimension"]])
    dt = np.dtype(eqn.params["dtype"])
    return i if dt == np.int64 else f"np.{dt.name}({i})"


# ---------------------------------------------------------------------------------------------
# element rules: (rw, eqn, ins) -> [out], on object arrays of rank-0 atoms


def _bid_element(rw, eqn, ins):
    (x,) = ins
    shape, bd = eqn.params["shape"], eqn.params["broadcast_dimensions"]
    expanded = [1] * len(shape)
    for i, d in enumerate(bd):
        expanded[d] = x.shape[i]
    return [np.broadcast_to(x.reshape(expanded), shape)]


def _same_order(rw, eqn, ins):   # reshape, squeeze, expand_dims: C order is unchanged
    return [ins[0].reshape(eqn.outvars[0].aval.shape)]


def _slice_element(rw, eqn, ins):
    p = eqn.params
    return [ins[0][tuple(slice(s, l, k) for s, l, k in
                         zip(p["start_indices"], p["limit_indices"], p["strides"]))]]


def _pad_element(rw, eqn, ins):
    x, pv = ins
    out = np.empty(eqn.outvars[0].aval.shape, object)
    out.fill(pv[()])
    idx = tuple(slice(lo, lo + (n - 1) * (it + 1) + 1 if n else lo, it + 1)
                for n, (lo, hi, it) in zip(x.shape, eqn.params["padding_config"]))
    out[idx] = x
    return [out]


def _iota_element(rw, eqn, ins):
    p = eqn.params
    vals = eqn.prim.impl(**p)
    aval = ShapedArray((), p["dtype"])
    out = np.empty(vals.shape, object)
    for idx in np.ndindex(vals.shape):
        out[idx] = Lit(vals[idx], aval)
    return [out]


def _concat_element(rw, eqn, ins):
    return [np.concatenate(ins, axis=eqn.params["dimension"])]


# ---------------------------------------------------------------------------------------------
# transpose(dot_general(x, y)) that swaps the free axes is dot_general(y, x)


def _transpose_fold(eqn, dot):
    """One BLAS call instead of a product and a strided copy (reverse mode makes these)."""
    if dot.prim.name != "dot_general":
        return None
    x, y = dot.inputs
    (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
    nb = len(lb)
    nx = x.aval.ndim - len(lc) - nb
    ny = y.aval.ndim - len(rc) - nb
    want = (tuple(range(nb)) + tuple(range(nb + nx, nb + nx + ny))
            + tuple(range(nb, nb + nx)))
    if eqn.params["permutation"] != want:
        return None
    params = dict(dot.params, dimension_numbers=((rc, lc), (rb, lb)))
    return Eqn(dot.prim, [y, x], eqn.outvars, params)


# ---------------------------------------------------------------------------------------------
# array rules: (ctx, eqn)


def _pad_rule(ctx, eqn):
    x, pv = eqn.inputs
    out = eqn.outvars[0]
    cfg = eqn.params["padding_config"]
    if out.aval.ndim == 0:
        ctx.store(out, [], ctx.name(x))
        return
    ctx.alloc(out, fill=ctx.name(pv))
    with ctx.loops(x.aval.shape, parallel=True) as t:
        dst = []
        for i, (lo, _, it) in zip(t, cfg):
            e = i if it == 0 else f"{i} * {ctx.dim(it + 1)}"
            dst.append(f"{ctx.dim(lo)} + {e}" if lo else e)
        ctx.em.line(f"{ctx.read(out, dst)} = {ctx.read(x, t)}")


def _concatenate_rule(ctx, eqn):
    out = eqn.outvars[0]
    d = eqn.params["dimension"]
    if out not in ctx.allocated:
        ctx.alloc(out)
    offset = 0
    for x in eqn.inputs:
        if x in ctx.views:   # computed in place already
            offset += x.aval.shape[d]
            continue
        with ctx.loops(x.aval.shape, parallel=True) as t:
            dst = list(t)
            if offset:
                dst[d] = f"{ctx.dim(offset)} + {t[d]}"
            ctx.em.line(f"{ctx.read(out, dst)} = {ctx.read(x, t)}")
        offset += x.aval.shape[d]


def _reshape_rule(ctx, eqn):
    (x,) = eqn.inputs
    out = eqn.outvars[0]
    o = ctx.out(out)
    if x.aval.ndim == 0:
        ctx.alloc(out, fill=ctx.name(x))
    elif out.aval.ndim == 0:
        ctx.em.line(f"{o} = {ctx.read(x, ['0'] * x.aval.ndim)}")
    else:
        src = ctx.name(x)
        if ctx.is_input(x) or x not in ctx.fresh_arrays:
            src = f"np.ascontiguousarray({src})"
        ctx.em.line(f"{o} = {src}.reshape({ctx.shape(out.aval.shape)})")
        ctx.fresh_arrays.discard(x)   # now viewed by out: never overwrite it in place


def _concat_places(eqn):
    d, off, out = eqn.params["dimension"], 0, []
    for x in eqn.inputs:
        out.append((off, d))
        off += x.aval.shape[d]
    return out


BROADCAST_IN_DIM = Index(_bid_map, _bid_element)
RESHAPE = Index(_reshape_map, _same_order, fusible=_reshape_fusible, opaque=_reshape_rule)
TRANSPOSE = Index(_transpose_map, lambda rw, eqn, ins: [ins[0].transpose(
    eqn.params["permutation"])], fold=_transpose_fold)
SQUEEZE = Index(_squeeze_map, _same_order)
EXPAND_DIMS = Index(_expand_dims_map, _same_order)
REV = Index(_rev_map, lambda rw, eqn, ins: [np.flip(ins[0], eqn.params["dimensions"])])
SLICE = Index(_slice_map, _slice_element)
IOTA = Index(lambda eqn, idx: [], _iota_element, value=_iota_value)
PAD = Opaque(_pad_rule, fresh=True, element=_pad_element)
CONCATENATE = Opaque(_concatenate_rule, fresh=True, places=_concat_places,
                     element=_concat_element)
