"""Indexing with traced indices: dynamic_slice, dynamic_update_slice, gather and scatter.

dynamic_slice and dynamic_update_slice take one traced integer scalar start per axis and
clamp it so the window fits, as in JAX; batched starts turn them into a gather or a scatter.

gather and scatter use one simple, canonical form: ``indices`` has shape ``batch + (k,)``
and indexes the *leading* ``k`` axes of the operand; the result of gather (and the updates of
scatter) have shape ``batch + operand.shape[k:]``. ``funcad.numpy`` turns NumPy indexing into
this form. Out-of-bounds indices are clamped by gather and dropped by scatter, as in JAX.

All four are linear in their array operands (scatter in ``x`` and ``updates`` for the modes
``add`` and ``set``); the index operands are not differentiated. Repeated indices under ``set``:
the last write wins (impl and jit loop alike) and the transpose gives the cotangent to that
write only. The ``mul`` jvp multiplies the other updates at each position, with no division,
so it is exact at zero updates.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from funcad.core import Primitive, ShapedArray, Tracer, get_aval, int64
from funcad.primitives._shape_family import aval_of as _aval, declare_linear
from funcad.primitives._shape_family import rand as _rand, undef as _undef
from funcad.primitives import binary as bi, elementwise as ew, indexing_lowering as _lw
from funcad.primitives import reductions as red
from funcad.primitives.shape import (broadcast_in_dim, broadcasted_iota, concatenate, expand_dims,
                                     full, reshape)
from funcad.rule_util import (Zero, bdim_to_front, instantiate, moveaxis, needs_axis_size,
                              zeros_like_aval)

__all__ = []
_declare = partial(declare_linear, exports=__all__)


def _export(fn):
    __all__.append(fn.__name__)
    return fn


# ---------------------------------------------------------------------------------------------
# dynamic_slice and dynamic_update_slice (start indices are traced scalars, clamped)

def _check_indices(name, x, idx):
    if len(idx) != x.ndim:
        raise TypeError(f"lax.{name}: needs one start index per axis of the operand "
                        f"(rank {x.ndim}), got {len(idx)}")
    for i in idx:
        if i.shape != () or i.dtype.kind not in "iu":
            raise TypeError(f"lax.{name}: start indices must be integer scalars, got "
                            f"{i.str_short()}")


def _ds_abstract(x, *idx, slice_sizes):
    _check_indices("dynamic_slice", x, idx)
    if len(slice_sizes) != x.ndim or any(not 0 <= s <= n for s, n in
                                          zip(slice_sizes, x.shape)):
        raise TypeError(f"lax.dynamic_slice: slice_sizes {slice_sizes} do not fit in shape "
                        f"{x.shape}")
    return ShapedArray(slice_sizes, x.dtype)


def _clamp_starts(shape, sizes, idx):
    return [min(max(int(i), 0), n - s) for i, n, s in zip(idx, shape, sizes)]


def _ds_impl(x, *idx, slice_sizes):
    starts = _clamp_starts(x.shape, slice_sizes, idx)
    return x[tuple(slice(s, s + k) for s, k in zip(starts, slice_sizes))]


def _ds_transpose(ct, x, *idx, slice_sizes):
    zeros = zeros_like_aval(x.aval)
    return [dynamic_update_slice(zeros, instantiate(ct), idx)] + [None] * len(idx)


def _window_indices(idx_vals, idx_dims, shape, sizes, batch_size):
    """Gather/scatter indices (B, *sizes, 1 + k) of the windows of a dynamic slice with
    batched start indices: the batch position, then each clamped start plus the offset."""
    clamped = [bi.max(bi.min(ew.convert_element_type(i, int64), n - s), 0)
               for i, n, s in zip(idx_vals, shape, sizes)]
    full_shape = (batch_size,) + tuple(sizes)
    cols = []
    for a, (i, d) in enumerate(zip(clamped, idx_dims)):
        i = bdim_to_front(ew.convert_element_type(i, int64), d, batch_size)  # (B,)
        start = broadcast_in_dim(i, full_shape, (0,))
        offs = broadcasted_iota(int64, full_shape, a + 1)
        cols.append(bi.add(start, offs))
    bcol = broadcasted_iota(int64, full_shape, 0)
    return concatenate([expand_dims(c, (len(full_shape),)) for c in [bcol] + cols],
                       len(full_shape))


@needs_axis_size
def _ds_batch(vals, dims, *, slice_sizes, axis_size):
    x, idx = vals[0], vals[1:]
    dx, didx = dims[0], dims[1:]
    if all(d is None for d in didx):
        n = get_aval(x).shape[dx]
        zero = np.asarray(0, get_aval(idx[0]).dtype if idx else np.int64)
        new_idx = list(idx[:dx]) + [zero] + list(idx[dx:])
        sizes = tuple(slice_sizes[:dx]) + (n,) + tuple(slice_sizes[dx:])
        return dynamic_slice(x, new_idx, sizes), dx
    # batched starts: a gather with a batch column of indices
    x = bdim_to_front(x, dx, axis_size)
    indices = _window_indices(idx, didx, get_aval(x).shape[1:], slice_sizes, axis_size)
    return gather(x, indices), 0


def _starts(rng):
    """Start indices for a (5, 6) operand, sometimes out of bounds (they are clamped)."""
    return [np.asarray(rng.integers(-1, 6), np.int64), np.asarray(rng.integers(-1, 7), np.int32)]


dynamic_slice_p = _declare("dynamic_slice", _ds_impl, _ds_abstract, _ds_transpose, _ds_batch,
                           linear_args=(0,), lowering=_lw.DYNAMIC_SLICE,
                           test_args=lambda rng, dtype: [_rand(rng, (5, 6), dtype)] + _starts(rng),
                           test_params=({"slice_sizes": (2, 3)}, {"slice_sizes": (5, 1)}))


@_export
def dynamic_slice(x, start_indices, slice_sizes):
    """``x[s0:s0+k0, s1:s1+k1, ...]`` with traced starts, clamped so the slice fits."""
    idx = [np.asarray(i, np.int64) if isinstance(i, int) else i for i in start_indices]
    return dynamic_slice_p.bind(x, *idx, slice_sizes=tuple(int(s) for s in slice_sizes))


def _dus_abstract(x, upd, *idx):
    _check_indices("dynamic_update_slice", x, idx)
    if upd.ndim != x.ndim or upd.dtype != x.dtype or any(u > n for u, n in
                                                          zip(upd.shape, x.shape)):
        raise TypeError(f"lax.dynamic_update_slice: update {upd.str_short()} does not fit in "
                        f"operand {x.str_short()}")
    return x


def _dus_impl(x, upd, *idx):
    starts = _clamp_starts(x.shape, upd.shape, idx)
    out = np.array(x, copy=True)
    out[tuple(slice(s, s + k) for s, k in zip(starts, upd.shape))] = upd
    return out


def _dus_transpose(ct, x, upd, *idx):
    ct = instantiate(ct)
    ua = _aval(upd)
    ct_x = dynamic_update_slice(ct, zeros_like_aval(ua), idx) if _undef(x) else None
    ct_u = dynamic_slice(ct, idx, ua.shape) if _undef(upd) else None
    return [ct_x, ct_u] + [None] * len(idx)


@needs_axis_size
def _dus_batch(vals, dims, *, axis_size):
    x, upd, idx = vals[0], vals[1], vals[2:]
    dx, du, didx = dims[0], dims[1], dims[2:]
    if all(d is None for d in didx):
        x = bdim_to_front(x, dx, axis_size)
        upd = bdim_to_front(upd, du, axis_size)
        zero = np.asarray(0, get_aval(idx[0]).dtype if idx else np.int64)
        return dynamic_update_slice(x, upd, [zero] + list(idx)), 0
    x = bdim_to_front(x, dx, axis_size)
    upd = bdim_to_front(upd, du, axis_size)
    indices = _window_indices(idx, didx, get_aval(x).shape[1:], get_aval(upd).shape[1:],
                              axis_size)
    return scatter(x, indices, upd, mode="set"), 0


dynamic_update_slice_p = _declare(
    "dynamic_update_slice", _dus_impl, _dus_abstract, _dus_transpose, _dus_batch,
    linear_args=(0, 1), lowering=_lw.DYNAMIC_UPDATE_SLICE,
    test_args=lambda rng, dtype: [_rand(rng, (5, 6), dtype), _rand(rng, (2, 3), dtype)]
    + _starts(rng))


@_export
def dynamic_update_slice(x, update, start_indices):
    idx = [np.asarray(i, np.int64) if isinstance(i, int) else i for i in start_indices]
    return dynamic_update_slice_p.bind(x, update, *idx)


# ---------------------------------------------------------------------------------------------
# gather and scatter (canonical form: indices (..., k) index the leading k axes)

def _gather_abstract(x, indices):
    if indices.dtype.kind not in "iu" or indices.ndim < 1:
        raise TypeError(f"lax.gather: indices must be an integer array of shape (..., k), "
                        f"got {indices.str_short()}")
    k = indices.shape[-1]
    if k > x.ndim:
        raise TypeError(f"lax.gather: {k} index columns for an operand of rank {x.ndim}")
    return ShapedArray(indices.shape[:-1] + x.shape[k:], x.dtype)


def _clip_indices(shape, indices):
    k = indices.shape[-1]
    hi = np.asarray(shape[:k], np.int64) - 1
    return np.clip(indices, 0, np.maximum(hi, 0))


def _gather_impl(x, indices):
    k = indices.shape[-1]
    idx = _clip_indices(x.shape, indices)
    return x[tuple(np.moveaxis(idx, -1, 0))] if k else np.broadcast_to(
        x, indices.shape[:-1] + x.shape).copy()


def _clamp_in_bounds(indices, shape):
    """Indices clamped into ``shape`` as gather clamps them, and a mask (over the index batch
    shape) of the index rows that were in bounds, written in funcad ops."""
    ia = get_aval(indices)
    k = ia.shape[-1]
    hi = np.maximum(np.asarray(shape[:k], ia.dtype) - 1, 0)
    hi = broadcast_in_dim(hi, ia.shape, (ia.ndim - 1,))
    clamped = bi.max(bi.min(indices, hi), full(ia.shape, 0, ia.dtype))
    ok = red.reduce_min(bi.eq(clamped, indices), (ia.ndim - 1,))
    return clamped, ok


def _gather_transpose(ct, x, indices):
    # gather clamps out-of-bounds indices, so their cotangent goes to the clamped position
    zeros = zeros_like_aval(x.aval)
    clamped, _ = _clamp_in_bounds(indices, x.aval.shape)
    return [scatter(zeros, clamped, instantiate(ct), mode="add"), None]


def _augment_indices(indices, axis_size):
    """Prepend the batch position as a first index column: (B, ..., k) -> (B, ..., k+1)."""
    shape = get_aval(indices).shape
    col = broadcasted_iota(get_aval(indices).dtype, shape[:-1] + (1,), 0)
    return concatenate([col, indices], len(shape) - 1)


@needs_axis_size
def _gather_batch(vals, dims, *, axis_size):
    (x, indices), (dx, di) = vals, dims
    k = get_aval(indices).shape[-1]
    if di is None:
        x = moveaxis(x, dx, k)
        return gather(x, indices), get_aval(indices).ndim - 1
    x = bdim_to_front(x, dx, axis_size)
    indices = moveaxis(indices, di, 0)
    return gather(x, _augment_indices(indices, axis_size)), 0


def _gather_test_args(rng, dtype):
    # two index columns into a (5, 4, 3) operand, some out of bounds (clamped)
    idx = np.stack([rng.integers(-1, 7, (2, 3)), rng.integers(-1, 5, (2, 3))], axis=-1)
    return [_rand(rng, (5, 4, 3), dtype), idx.astype(np.int64)]


gather_p = _declare("gather", _gather_impl, _gather_abstract, _gather_transpose, _gather_batch,
                    linear_args=(0,), lowering=_lw.GATHER, test_args=_gather_test_args)


@_export
def gather(x, indices):
    """``x[indices[..., 0], ..., indices[..., k-1]]`` for the leading k axes (clamped)."""
    return gather_p.bind(x, indices)


_SCATTER_UFUNC = {"add": np.add, "mul": np.multiply, "min": np.minimum, "max": np.maximum}


def _scatter_abstract(x, indices, updates, *, mode):
    if mode not in ("set", "add", "mul", "min", "max"):
        raise TypeError(f"lax.scatter: mode must be set, add, mul, min or max; got {mode!r}")
    if mode in ("min", "max") and x.dtype.kind == "c":
        raise TypeError(f"lax.scatter: mode={mode!r} needs an order, which complex numbers "
                        f"({x.str_short()}) do not have; use mode 'set', 'add' or 'mul'")
    want = _gather_abstract(x, indices)
    if updates.shape != want.shape or updates.dtype != x.dtype:
        raise TypeError(f"lax.scatter: updates must have shape {want.shape} and dtype "
                        f"{x.dtype}, got {updates.str_short()}")
    return x


def _scatter_impl(x, indices, updates, *, mode):
    out = np.array(x, copy=True)
    k = indices.shape[-1]
    flat_idx = indices.reshape(-1, k)
    flat_upd = updates.reshape((flat_idx.shape[0],) + x.shape[k:])
    ok = np.all((flat_idx >= 0) & (flat_idx < np.asarray(x.shape[:k], np.int64)), axis=1)
    flat_idx, flat_upd = flat_idx[ok], flat_upd[ok]
    idx = tuple(flat_idx.T)
    if mode == "set":
        out[idx] = flat_upd
    else:
        _SCATTER_UFUNC[mode].at(out, idx, flat_upd)
    return out


def _flat_rows(indices, updates):
    """Index rows (m, k) and update rows (m, *trail) of a scatter."""
    ia, ua = get_aval(indices), get_aval(updates)
    k = ia.shape[-1]
    m = int(np.prod(ia.shape[:-1], dtype=np.int64))
    return (reshape(indices, (m, k)), reshape(updates, (m,) + ua.shape[ia.ndim - 1:]), m)


def _partner_table(flat):
    """For index rows ``flat`` (m, k): an (m, w) table of the other rows with the same index
    (w = the most repeats - 1), padded with m."""
    m = flat.shape[0]
    if m == 0:
        return np.zeros((0, 0), np.int64)
    _, group = np.unique(flat, axis=0, return_inverse=True)
    group = group.reshape(-1)
    counts = np.bincount(group)
    width = int(counts.max()) - 1
    if width == 0:
        return np.zeros((m, 0), np.int64)
    order = np.argsort(group, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.empty(m, np.int64)
    pos[order] = np.arange(m) - starts[group[order]]        # each row's place in its group
    members = np.full((len(counts), width + 1), m, np.int64)
    members[group, pos] = np.arange(m)
    cols = np.arange(width)[None, :]
    cols = cols + (cols >= pos[:, None])                     # skip the row itself
    return members[group[:, None], cols]


def _products_of_others(indices, updates):
    """For each update, the product of the other updates with the same index row (1 when it
    is alone), without division. Concrete indices: a NumPy table of each row's partners,
    O(m * most repeats); traced indices: a pairwise (m, m) mask, O(m**2)."""
    ua = get_aval(updates)
    rows, urows, m = _flat_rows(indices, updates)
    trail = ua.shape[get_aval(indices).ndim - 1:]
    if m == 0:
        return full(ua.shape, 1, ua.dtype)
    conc = indices.concrete_value() if isinstance(indices, Tracer) else indices
    ones_row = full((1,) + trail, 1, ua.dtype)
    if conc is not None:
        flat = np.asarray(conc).reshape(m, -1)
        table = _partner_table(flat)
        if table.shape[1] == 0:
            return full(ua.shape, 1, ua.dtype)
        ext = concatenate([urows, ones_row], 0)
        picked = gather(ext, table[..., None])     # (m, width, *trail)
        return reshape(red.reduce_prod(picked, (1,)), ua.shape)
    k = get_aval(rows).shape[1]
    same = red.reduce_min(bi.eq(broadcast_in_dim(rows, (m, m, k), (0, 2)),
                                broadcast_in_dim(rows, (m, m, k), (1, 2))), (2,))
    other = bi.and_(same, bi.ne(broadcasted_iota(int64, (m, m), 0),
                                broadcasted_iota(int64, (m, m), 1)))
    nd = len(trail)
    pair_u = broadcast_in_dim(urows, (m, m) + trail, (1,) + tuple(range(2, 2 + nd)))
    mask = broadcast_in_dim(other, (m, m) + trail, (0, 1))
    picked = ew.select_n(mask, full((m, m) + trail, 1, ua.dtype), pair_u)
    return reshape(red.reduce_prod(picked, (1,)), ua.shape)


def _last_writes(indices, shape):
    """A boolean mask over the index batch: the rows of a ``set`` scatter whose write is
    kept, in bounds and not overwritten by a later row with the same index (the order
    NumPy's ``out[idx] = v`` and the jit loop both apply: the last write wins)."""
    ia = get_aval(indices)
    batch, k = ia.shape[:-1], ia.shape[-1]
    m = int(np.prod(batch, dtype=np.int64))
    order = reshape(broadcasted_iota(int64, (m,), 0), batch)
    lead = tuple(shape[:k])
    last = scatter(full(lead, -1, int64), indices, order, mode="max")
    clamped, ok = _clamp_in_bounds(indices, lead)
    return bi.and_(ok, bi.eq(gather(last, clamped), order))


def _scatter_jvp(primals, tangents, *, mode):
    x, indices, updates = primals
    tx, _, tu = tangents
    out = scatter(x, indices, updates, mode=mode)
    if type(tx) is Zero and type(tu) is Zero:
        return out, Zero(get_aval(out))
    tx, tu = instantiate(tx), instantiate(tu)
    if mode in ("add", "set"):
        return out, scatter(tx, indices, tu, mode=mode)
    if mode == "mul":
        # out = x * P with P the product of the updates landing at each position; the
        # derivative in update i is x * (the product of the *other* updates at its position),
        # formed without dividing by update i (exact where updates are zero)
        xa = get_aval(x)
        P = scatter(full(xa.shape, 1, xa.dtype), indices, updates, mode="mul")
        dP = scatter(full(xa.shape, 0, xa.dtype), indices,
                     bi.mul(tu, _products_of_others(indices, updates)), mode="add")
        return out, bi.add(bi.mul(tx, P), bi.mul(x, dP))
    # min / max: the tangent of whichever value won (ties: the operand's)
    from_x = bi.eq(out, x)
    t = ew.select_n(from_x, full(get_aval(x).shape, 0, get_aval(x).dtype), tx)
    won = bi.eq(gather(out, indices), updates)
    tu_won = ew.select_n(won, full(get_aval(tu).shape, 0, get_aval(tu).dtype), tu)
    ones_u = full(get_aval(tu).shape, 1, get_aval(tu).dtype)
    cnt = scatter(full(get_aval(x).shape, 0, get_aval(x).dtype), indices,
                  ew.select_n(won, bi.mul(ones_u, 0.0), ones_u), mode="add")
    upd_t = scatter(full(get_aval(x).shape, 0, get_aval(x).dtype), indices, tu_won,
                    mode="add")
    upd_t = ew.select_n(from_x, bi.div(upd_t, bi.max(cnt, full(get_aval(x).shape, 1,
                                                               get_aval(x).dtype))),
                        full(get_aval(x).shape, 0, get_aval(x).dtype))
    return out, bi.add(t, upd_t)


def _scatter_transpose(ct, x, indices, updates, *, mode):
    if mode not in ("add", "set"):
        raise NotImplementedError(f"lax.scatter: mode {mode!r} is not linear and has no "
                                  f"transpose")
    ct = instantiate(ct)
    if mode == "add":
        ct_x = ct if _undef(x) else None
    else:
        ua = _aval(updates)
        ct_x = scatter(ct, indices, zeros_like_aval(ua), mode="set") if _undef(x) else None
    ct_u = None
    if _undef(updates):
        # scatter drops out-of-bounds updates: their cotangent is zero (gather would clamp)
        ua = updates.aval
        _, ok = _clamp_in_bounds(indices, get_aval(ct).shape)
        if mode == "set":   # repeated indices: only the write that is kept gets a cotangent
            ok = _last_writes(indices, get_aval(ct).shape)
        ok = broadcast_in_dim(ok, ua.shape, tuple(range(get_aval(ok).ndim)))
        ct_u = ew.select_n(ok, zeros_like_aval(ua), gather(ct, indices))
    return [ct_x, None, ct_u]


@needs_axis_size
def _scatter_batch(vals, dims, *, mode, axis_size):
    (x, indices, updates), (dx, di, du) = vals, dims
    x = bdim_to_front(x, dx, axis_size)
    updates = bdim_to_front(updates, du, axis_size)
    indices = bdim_to_front(indices, di, axis_size)
    return scatter(x, _augment_indices(indices, axis_size), updates, mode=mode), 0


def _scatter_test_args(rng, dtype):
    # three distinct in-bounds positions of a (5, 4, 3) operand and one out of bounds (dropped)
    flat = rng.permutation(20)[:3]
    idx = np.stack([flat // 4, flat % 4], axis=-1)
    idx = np.concatenate([idx, [[5, int(rng.integers(0, 4))]]]).astype(np.int64)
    updates = _rand(rng, (4, 3), dtype)
    if np.dtype(dtype).kind == "f":  # keep mode="mul" away from zero updates
        updates = np.where(np.abs(updates) < 0.3, 0.5, updates).astype(dtype)
    return [_rand(rng, (5, 4, 3), dtype), idx, updates]


scatter_p = Primitive("scatter", impl=_scatter_impl, abstract_eval=_scatter_abstract,
                      jvp=_scatter_jvp, transpose=_scatter_transpose, batch=_scatter_batch,
                      linear=True, linear_args=(0, 2), lowering=_lw.SCATTER,
                      test_params=({"mode": "add"}, {"mode": "set"}, {"mode": "mul"},
                                   {"mode": "min"}, {"mode": "max"}),
                      test_args=_scatter_test_args)
__all__.append("scatter_p")


@_export
def scatter(x, indices, updates, mode="set"):
    """Functional ``x[indices] <mode>= updates`` for the leading k axes; out-of-bounds
    updates are dropped."""
    return scatter_p.bind(x, indices, updates, mode=mode)
