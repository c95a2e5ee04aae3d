"""NumPy indexing on traced values, and functional updates ``x.at[idx].set(v)``.

``x[idx]`` supports ints, slices with steps, ``None``, ``...``, integer arrays (concrete or
traced) and boolean masks whose values are concrete (their count fixes the result's shape).
Basic indices become one static ``slice`` (plus ``rev`` for negative steps, and
``dynamic_slice`` for traced integer scalars); advanced indices become one ``gather``. The
result's axis order is NumPy's.

Updates reuse the same machinery: indexing an iota of flat positions with ``idx`` tells which
elements are addressed, and one ``scatter`` writes them. So ``x.at[idx]`` accepts exactly what
``x[idx]`` accepts, with NumPy's semantics (repeated indices: last write wins for ``set``,
accumulate for ``add``). For plain NumPy arrays, ``fnp.at(x)[idx].set(v)`` does the same.
"""
from __future__ import annotations

import operator

import numpy as np

from funcad import lax
from funcad.core import ConcretizationError, Tracer, get_aval
from funcad.numpy._util import asarray_of, broadcast_shapes, broadcast_to, to_value

__all__ = ["at", "take", "take_along_axis"]


class NonConcreteBooleanIndexError(ConcretizationError):
    pass


def _is_int_scalar(i) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _concrete(i):
    if isinstance(i, Tracer):
        return i.concrete_value()
    return i


def _normalize(x_ndim, idx):
    """Expand masks, lists, None and Ellipsis. Returns (items, newaxis positions)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for i in idx:
        if isinstance(i, list):
            i = np.asarray(i) if not any(isinstance(v, Tracer) for v in i) else \
                _stack_list(i)
        if isinstance(i, (bool, np.bool_)):
            raise IndexError("funcad.numpy: a Python bool as an index is not supported")
        if i is not None and i is not Ellipsis and not isinstance(i, slice) and \
                get_aval(to_value(i)).dtype == np.bool_:
            c = _concrete(i)
            if c is None:
                raise NonConcreteBooleanIndexError(
                    f"Boolean mask indexing with a traced mask of shape {get_aval(i).shape}: "
                    f"the result's size depends on the values. Use fnp.where(mask, x, 0) or "
                    f"a masked reduction instead.")
            items.extend(np.nonzero(np.asarray(c)))
            continue
        items.append(i)
    n_ell = sum(1 for i in items if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > x_ndim:
        raise IndexError(f"too many indices for array: array is {x_ndim}-dimensional, but "
                         f"{consumed} were indexed")
    fill = [slice(None)] * (x_ndim - consumed)
    if n_ell:
        k = items.index(Ellipsis)
        items = items[:k] + fill + items[k + 1:]
    else:
        items = items + fill
    return items


def _stack_list(lst):
    from funcad.numpy.creation import array
    return array(lst)


def _is_adv(i) -> bool:
    return not (i is None or isinstance(i, slice) or _is_int_scalar(i))


def _getitem(x, idx):
    x = to_value(x)
    items = _normalize(get_aval(x).ndim, idx)
    # newaxis: insert size-1 axes first, then treat them as full slices
    if any(i is None for i in items):
        shape, it = [], iter(get_aval(x).shape)
        for i in items:
            shape.append(1 if i is None else next(it))
        x = lax.reshape(x, tuple(shape))
        items = [slice(None) if i is None else i for i in items]
    has_adv = any(_is_adv(i) for i in items)
    shape = get_aval(x).shape
    # 1. static slices (and static ints when there is no advanced index)
    start, limit, strides, flips, squeeze_dims, dyn = [], [], [], [], [], []
    for d, (i, n) in enumerate(zip(items, shape)):
        if isinstance(i, slice):
            for v in (i.start, i.stop, i.step):
                if isinstance(v, Tracer):
                    raise IndexError("funcad.numpy: slice bounds must be static; use "
                                     "lax.dynamic_slice for traced starts")
            s, e, k = i.indices(n)
            m = len(range(s, e, k))
            if k < 0:
                flips.append(d)
                s, k = n - 1 - s, -k
            start.append(s)
            limit.append(s + (m - 1) * k + 1 if m > 0 else s)
            strides.append(k)
        elif _is_int_scalar(i) and not has_adv:
            j = operator.index(i)
            if not -n <= j < n:
                raise IndexError(f"index {j} is out of bounds for axis {d} with size {n}")
            j %= n
            start.append(j), limit.append(j + 1), strides.append(1)
            squeeze_dims.append(d)
        elif not has_adv:
            dyn.append(d)  # a traced integer scalar
            start.append(0), limit.append(n), strides.append(1)
            squeeze_dims.append(d)
        else:
            start.append(0), limit.append(n), strides.append(1)
    x = lax.rev(x, tuple(flips))
    x = lax.slice(x, start, limit, strides)
    if dyn:
        x = _dynamic_ints(x, items, dyn)
    if not has_adv:
        return lax.squeeze(x, tuple(squeeze_dims))
    # 2. advanced indices: one gather over the advanced axes moved to the front
    adv_dims = [d for d, i in enumerate(items) if _is_adv(i) or _is_int_scalar(i)]
    shape = get_aval(x).shape
    arrays = []
    for d in adv_dims:
        a = to_value(items[d])
        if get_aval(a).dtype.kind not in "iu":
            raise IndexError(f"arrays used as indices must be of integer (or boolean) type, "
                             f"got {get_aval(a).dtype}")
        a = asarray_of(a, np.dtype("int64"))
        if not isinstance(a, Tracer):
            bad = (a < -shape[d]) | (a >= shape[d])
            if np.any(bad):
                raise IndexError(f"index {a[bad].flat[0]} is out of bounds for axis {d} with "
                                 f"size {shape[d]}")
            a = np.where(a < 0, a + shape[d], a)
        else:
            zero = np.zeros((), np.int64)
            neg = lax.lt(a, broadcast_to(zero, get_aval(a).shape))
            a = lax.select_n(neg, a, lax.add(a, shape[d]))
        arrays.append(a)
    bshape = broadcast_shapes("indexing", *[get_aval(a).shape for a in arrays])
    cols = [lax.expand_dims(broadcast_to(a, bshape), (len(bshape),)) for a in arrays]
    indices = lax.concatenate(cols, len(bshape)) if len(cols) > 1 else cols[0]
    rest = [d for d in range(len(shape)) if d not in adv_dims]
    x = lax.transpose(x, tuple(adv_dims + rest))
    out = lax.gather(x, indices)
    # NumPy puts the advanced axes where the first one was if they are adjacent
    adjacent = adv_dims == list(range(adv_dims[0], adv_dims[0] + len(adv_dims)))
    if adjacent and adv_dims[0] > 0:
        nb, p = len(bshape), adv_dims[0]
        nd = get_aval(out).ndim
        perm = list(range(nb, nb + p)) + list(range(nb)) + list(range(nb + p, nd))
        out = lax.transpose(out, tuple(perm))
    return out


def _dynamic_ints(x, items, dyn):
    shape = get_aval(x).shape
    starts, sizes = [], []
    for d, n in enumerate(shape):
        if d in dyn:
            i = asarray_of(to_value(items[d]), np.dtype("int64"))
            zero = np.zeros((), np.int64)
            i = lax.select_n(lax.lt(i, zero), i, lax.add(i, n))
            starts.append(i)
            sizes.append(1)
        else:
            starts.append(np.zeros((), np.int64))
            sizes.append(n)
    return lax.dynamic_slice(x, starts, sizes)


# ---------------------------------------------------------------------------------------------
# Functional updates

class _IndexUpdateRef:
    __slots__ = ("x", "idx")

    def __init__(self, x, idx):
        self.x, self.idx = x, idx

    def get(self):
        return _getitem(self.x, self.idx)

    def _update(self, v, mode):
        x = to_value(self.x)
        xa = get_aval(x)
        flat_pos = lax.reshape(lax.iota(np.int64, xa.size), xa.shape)
        pos = _getitem(flat_pos, self.idx)
        pshape = get_aval(pos).shape
        v = to_value(v)
        if get_aval(v).dtype != xa.dtype:
            v = asarray_of(v, xa.dtype)
        try:
            v = broadcast_to(v, pshape)
        except ValueError:
            raise ValueError(f".at[...].{mode}: cannot broadcast the update of shape "
                             f"{get_aval(v).shape} to the indexed shape {pshape}") from None
        flat = lax.reshape(x, (xa.size,))
        out = lax.scatter(flat, lax.reshape(pos, pshape + (1,)), v, mode=mode)
        return lax.reshape(out, xa.shape)

    def set(self, v):
        return self._update(v, "set")

    def add(self, v):
        return self._update(v, "add")

    def multiply(self, v):
        return self._update(v, "mul")

    mul = multiply

    def min(self, v):
        return self._update(v, "min")

    def max(self, v):
        return self._update(v, "max")


class _IndexUpdateHelper:
    """``x.at[idx]``: functional updates that return a new array."""
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _IndexUpdateRef(self.x, idx)


def at(x):
    """Functional updates for any array: ``fnp.at(x)[idx].set(v)`` is ``x.at[idx].set(v)``
    (NumPy arrays have no ``.at``). The input is never modified."""
    return _IndexUpdateHelper(x)


def take(a, indices, axis=None):
    """``np.take`` (out-of-range indices raise for concrete indices, clamp for traced)."""
    a = to_value(a)
    if axis is None:
        a = lax.reshape(a, (get_aval(a).size,))
        axis = 0
    nd = get_aval(a).ndim
    axis = axis % nd
    return _getitem(a, (slice(None),) * axis + (indices,))


def take_along_axis(arr, indices, axis):
    """``np.take_along_axis``."""
    arr = to_value(arr)
    indices = to_value(indices)
    if axis is None:
        arr = lax.reshape(arr, (get_aval(arr).size,))
        axis = 0
    nd = get_aval(arr).ndim
    axis = axis % nd
    ishape = get_aval(indices).shape
    if len(ishape) != nd:
        raise ValueError(f"take_along_axis: indices must have the array's rank {nd}, got "
                         f"{len(ishape)}")
    idx = []
    for d in range(nd):
        if d == axis:
            idx.append(indices)
        else:
            shape = [1] * nd
            shape[d] = ishape[d] if get_aval(arr).shape[d] != 1 else 1
            idx.append(np.arange(shape[d]).reshape(shape))
    return _getitem(arr, tuple(idx))
