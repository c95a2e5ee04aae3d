"""NumPy indexing on traced values, and functional updates ``x.at[idx].set(v)``.

``x[idx]`` supports ints, slices with steps (also negative), ``None``, ``...``, integer arrays
(concrete or traced) and boolean masks whose values are concrete (their count fixes the
result's shape). Basic indices become one static ``slice`` (after a ``rev`` for negative
steps); traced integer scalars alone become a ``dynamic_slice``; advanced indices become one
``gather`` over the advanced axes, placed where NumPy places them: where the first advanced
index was if they are all adjacent, else first. Traced indices out of range are clamped (as
in JAX); concrete ones raise IndexError (as in NumPy).

Updates reuse the same machinery: indexing the array of flat positions ``arange(x.size)``
with ``idx`` tells which elements are addressed, and one ``scatter`` into the flattened array
writes them. So ``x.at[idx]`` accepts exactly what ``x[idx]`` accepts. Traced indices out of
range are dropped by every update (``set``, ``add``, ``multiply``, ``min``, ``max``), as in JAX,
under eager, ``jit``, ``vmap`` and derivatives alike; negative ones in range count from the end.
Repeated indices: the last write wins for ``set`` (eager and ``jit`` alike), and only that write
gets a cotangent in reverse mode, and ``add``/``multiply``/``min``/``max`` accumulate (like
``np.add.at``, unlike NumPy's ``x[idx] += v``). For plain NumPy arrays use
``fnp.at(x)[idx].set(v)``; the input is never modified.
"""
from __future__ import annotations

import operator

import numpy as np

from funcad import core, lax
from funcad.core import ConcretizationError, Tracer, get_aval
from funcad.numpy._util import asarray_of, broadcast_shapes, broadcast_to, has_tracer, to_value
from funcad.numpy import ufuncs
from funcad.numpy.ufuncs import negative, reciprocal

__all__ = ["at", "take", "take_along_axis", "NonConcreteBooleanIndexError"]
_INT64 = np.dtype("int64")


class NonConcreteBooleanIndexError(ConcretizationError, IndexError):
    """A boolean mask index whose values are not known while tracing."""


def _is_int_scalar(i) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _is_adv(i) -> bool:
    return not (i is None or isinstance(i, slice) or _is_int_scalar(i))


def _static_slice(i: slice) -> slice:
    out = []
    for v in (i.start, i.stop, i.step):
        if isinstance(v, Tracer):
            c = v.concrete_value()
            if c is None:
                raise IndexError("funcad.numpy: slice bounds must be concrete while tracing "
                                 "(the result's shape depends on them); use "
                                 "lax.dynamic_slice for a traced start with a fixed size")
            v = operator.index(np.asarray(c).item())
        out.append(v)
    return slice(*out)


def _mask_indices(i, dims: tuple, first_axis: int):
    """The integer index arrays a concrete boolean mask stands for (``nonzero``)."""
    c = i.concrete_value() if isinstance(i, Tracer) else i
    if c is None:
        raise NonConcreteBooleanIndexError(
            f"Boolean mask indexing with a traced mask of shape {get_aval(i).shape}: the "
            f"result's size depends on the mask's values, which are not known while tracing. "
            f"Use fnp.where(mask, x, 0) (or a masked reduction such as "
            f"fnp.sum(fnp.where(mask, x, 0))) instead.")
    c = np.asarray(c)
    for k, (m, n) in enumerate(zip(c.shape, dims)):
        if m != n:
            raise IndexError(f"boolean index did not match indexed array along axis "
                             f"{first_axis + k}; size of axis is {n} but size of "
                             f"corresponding boolean axis is {m}")
    return list(np.nonzero(c))


def _normalize(shape: tuple, idx) -> list:
    """Expand lists, masks and Ellipsis: one item per axis of ``shape`` (plus Nones)."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for i in idx:
        if isinstance(i, list):
            i = to_value(i) if has_tracer(i) else np.asarray(i)
            if i.dtype == np.float64 and i.size == 0:
                i = i.astype(_INT64)  # [] indexes nothing
        if isinstance(i, (bool, np.bool_)):
            raise IndexError("funcad.numpy: a Python bool as an index is not supported; use "
                             "None to insert an axis")
        if isinstance(i, slice):
            i = _static_slice(i)
        elif i is not None and i is not Ellipsis and not _is_int_scalar(i):
            i = to_value(i)
        items.append(i)
    is_mask = [not (i is None or i is Ellipsis or isinstance(i, slice) or _is_int_scalar(i))
               and get_aval(i).dtype == np.bool_ for i in items]
    n_ell = sum(1 for i in items if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(get_aval(i).ndim if m else 1 for i, m in zip(items, is_mask)
                   if i is not None and i is not Ellipsis)
    if consumed > len(shape):
        raise IndexError(f"too many indices for array: array is {len(shape)}-dimensional, "
                         f"but {consumed} were indexed")
    out, axis = [], 0
    for i, m in zip(items, is_mask):
        if i is Ellipsis:
            k = len(shape) - consumed
            out.extend([slice(None)] * k)
            axis += k
        elif m:
            nd = get_aval(i).ndim
            out.extend(_mask_indices(i, shape[axis:axis + nd], axis) if nd else [i])
            axis += nd
        else:
            out.append(i)
            axis += i is not None
    out.extend([slice(None)] * (len(shape) - axis))
    return out


def _getitem(x, idx, drop_axes=frozenset()):
    """``x[idx]``. Axes in ``drop_axes`` (of ``x``, before any newaxis) end in one padding
    entry: their traced indices count against the length without it, and out-of-range ones
    pick the padding (see :func:`_traced_positions`)."""
    x = to_value(x)
    items = _normalize(get_aval(x).shape, idx)
    # the axis of x each item addresses (None for newaxis)
    src, a = [], 0
    for i in items:
        src.append(None if i is None else a)
        a += i is not None
    if any(i is not None and not isinstance(i, slice) and not _is_int_scalar(i)
           and get_aval(i).dtype == np.bool_ and get_aval(i).ndim == 0 for i in items):
        raise IndexError("funcad.numpy: 0-d boolean indices are not supported")
    # newaxis: insert size-1 axes first, then treat them as full slices
    if any(i is None for i in items):
        shape, it = [], iter(get_aval(x).shape)
        for i in items:
            shape.append(1 if i is None else next(it))
        x = lax.reshape(x, tuple(shape))
        src = [s if i is not None else None for s, i in zip(src, items)]
        items = [slice(None) if i is None else i for i in items]
    has_adv = any(_is_adv(i) for i in items)
    shape = get_aval(x).shape
    # 1. one static slice for the slices (and the ints, when no index is advanced)
    start, limit, strides, flips, squeeze_dims, dyn = [], [], [], [], [], []
    for d, (i, n) in enumerate(zip(items, shape)):
        if isinstance(i, slice):
            s, e, k = i.indices(n)
            m = len(range(s, e, k))
            if k < 0:
                flips.append(d)
                s, k = n - 1 - s, -k
            start.append(s)
            limit.append(s + (m - 1) * k + 1 if m > 0 else s)
            strides.append(k)
            continue
        start.append(0), limit.append(n), strides.append(1)
        if has_adv:
            continue
        squeeze_dims.append(d)
        if _is_int_scalar(i):
            j = operator.index(i)
            if not -n <= j < n:
                raise IndexError(f"index {j} is out of bounds for axis {d} with size {n}")
            start[-1], limit[-1] = j % n, j % n + 1
        else:
            dyn.append(d)  # a traced integer scalar
    x = lax.slice(lax.rev(x, tuple(flips)), start, limit, strides)
    drops = frozenset(d for d, a in enumerate(src) if a is not None and a in drop_axes)
    if dyn:
        x = _dynamic_ints(x, items, dyn, drops)
    if not has_adv:
        return lax.squeeze(x, tuple(squeeze_dims))
    # 2. advanced indices: one gather over the advanced axes moved to the front
    adv_dims = [d for d, i in enumerate(items) if not isinstance(i, slice)]
    shape = get_aval(x).shape
    arrays = [_index_array(items[d], d, shape[d], d in drops) for d in adv_dims]
    try:
        bshape = broadcast_shapes("indexing", *[get_aval(a).shape for a in arrays])
    except ValueError:
        raise IndexError(f"shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {' '.join(str(get_aval(a).shape) for a in arrays)}"
                         ) from None
    cols = [lax.expand_dims(broadcast_to(a, bshape), (len(bshape),)) for a in arrays]
    indices = lax.concatenate(cols, len(bshape)) if len(cols) > 1 else cols[0]
    rest = [d for d in range(len(shape)) if d not in adv_dims]
    out = lax.gather(lax.transpose(x, tuple(adv_dims + rest)), indices)
    # NumPy puts the advanced axes where the first one was if they are adjacent
    adjacent = adv_dims == list(range(adv_dims[0], adv_dims[0] + len(adv_dims)))
    if adjacent and adv_dims[0] > 0:
        nb, p = len(bshape), adv_dims[0]
        nd = get_aval(out).ndim
        perm = list(range(nb, nb + p)) + list(range(nb)) + list(range(nb + p, nd))
        out = lax.transpose(out, tuple(perm))
    return out


def _index_array(i, d: int, n: int, drop: bool = False):
    """An advanced index for axis ``d`` of length ``n`` as int64 values in [0, n). With
    ``drop`` the axis ends in one padding entry: traced indices count against ``n - 1`` and
    out-of-range ones become ``n - 1``, the padding."""
    a = to_value(i)
    if get_aval(a).dtype.kind not in "iu":
        raise IndexError(f"arrays used as indices must be of integer (or boolean) type, got "
                         f"{get_aval(a).dtype}")
    a = asarray_of(a, _INT64)
    if not isinstance(a, Tracer):
        bad = (a < -n) | (a >= n)
        if np.any(bad):
            raise IndexError(f"index {a[bad].flat[0]} is out of bounds for axis {d} with "
                             f"size {n}")
        return np.where(a < 0, a + n, a)
    return _wrap_or_drop(a, n, drop)


def _wrap_or_drop(a, n: int, drop: bool):
    """Traced int64 indices ``a`` for an axis of length ``n``: negative ones count from the
    end; with ``drop`` (the axis's last entry is padding) out-of-range ones pick it."""
    zero = lax.full(get_aval(a).shape, 0, _INT64)
    if not drop:
        return lax.select_n(lax.lt(a, zero), a, lax.add(a, n))
    n -= 1
    wrapped = lax.select_n(lax.lt(a, zero), a, lax.add(a, n))
    bad = lax.or_(lax.lt(wrapped, zero), lax.ge(wrapped, lax.full(get_aval(a).shape, n, _INT64)))
    return lax.select_n(bad, wrapped, lax.full(get_aval(a).shape, n, _INT64))


def _dynamic_ints(x, items, dyn, drops=frozenset()):
    starts, sizes = [], []
    zero = np.zeros((), _INT64)
    for d, n in enumerate(get_aval(x).shape):
        if d in dyn:
            i = to_value(items[d])
            if get_aval(i).dtype.kind not in "iu" or get_aval(i).ndim:
                raise IndexError(f"only integers, slices, None, Ellipsis and integer or "
                                 f"boolean arrays are valid indices; got "
                                 f"{get_aval(i).str_short()}")
            i = asarray_of(i, _INT64)
            starts.append(_wrap_or_drop(i, n, d in drops))
            sizes.append(1)
        else:
            starts.append(zero)
            sizes.append(n)
    return lax.dynamic_slice(x, starts, sizes)


# ---------------------------------------------------------------------------------------------
# Functional updates

def _traced_positions(flat_pos, idx):
    """The flat positions ``x.at[idx]`` addresses when ``idx`` holds traced indices, with
    ``flat_pos.size`` (out of range for the flat scatter, so the update is dropped) where a
    traced index is out of range. Each axis a traced index addresses gets one extra entry
    holding that sentinel, and out-of-range traced indices are sent to it instead of being
    clamped as ``x[idx]`` clamps them. Negative indices in range count from the end."""
    items = _normalize(flat_pos.shape, idx)
    traced = []
    axis = 0
    for i in items:
        if i is None:
            continue
        if isinstance(i, Tracer):
            traced.append(axis)
        axis += 1
    pad = [(0, 1) if d in traced else (0, 0) for d in range(flat_pos.ndim)]
    padded = np.pad(flat_pos, pad, constant_values=flat_pos.size)
    return _getitem(padded, tuple(items), drop_axes=frozenset(traced))


class _IndexUpdateRef:
    """``x.at[idx]``: call ``.set(v)``, ``.add(v)``, ... for a new array."""
    __slots__ = ("x", "idx")

    def __init__(self, x, idx):
        self.x, self.idx = x, idx

    def get(self):
        """``x[idx]``."""
        return _getitem(self.x, self.idx)

    def _update(self, v, mode):
        x = to_value(self.x)
        xa = get_aval(x)
        flat_pos = np.arange(xa.size, dtype=_INT64).reshape(xa.shape)
        if has_tracer(self.idx):
            pos = _traced_positions(flat_pos, self.idx)
        else:  # static indices: the positions are a constant, only the scatter is traced
            pos = core.run_with(core.eval_interpreter, _getitem, flat_pos, self.idx)
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
        """``x[idx] = v`` (the last write wins for repeated indices)."""
        return self._update(v, "set")

    def add(self, v):
        """``x[idx] += v``, accumulating over repeated indices."""
        return self._update(v, "add")

    def subtract(self, v):
        """``x[idx] -= v``, accumulating over repeated indices."""
        return self._update(negative(to_value(v)), "add")

    def multiply(self, v):
        """``x[idx] *= v``, accumulating over repeated indices."""
        return self._update(v, "mul")

    mul = multiply

    def divide(self, v):
        """``x[idx] /= v`` (float arrays), accumulating over repeated indices."""
        return self._update(reciprocal(to_value(v)), "mul")

    def min(self, v):
        """``x[idx] = minimum(x[idx], v)``."""
        return self._update(v, "min")

    def max(self, v):
        """``x[idx] = maximum(x[idx], v)``."""
        return self._update(v, "max")


class _IndexUpdateHelper:
    """``x.at``: index it to get an object with ``set``/``add``/... methods."""
    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _IndexUpdateRef(self.x, idx)


def at(x):
    """Functional updates for any array: ``fnp.at(x)[idx].set(v)`` is ``x.at[idx].set(v)``
    (NumPy arrays have no ``.at``). The input is never modified."""
    return _IndexUpdateHelper(x)


def take(a, indices, axis=None, mode=None):
    """``numpy.take``. ``mode`` None or 'raise': concrete out-of-range indices raise and traced
    ones are clamped; 'clip' clamps; 'wrap' wraps around."""
    if not has_tracer([a, indices]) and mode in (None, "raise", "clip", "wrap"):
        return np.take(a, indices, axis=axis, mode=mode or "raise")
    a = to_value(a)
    if axis is None:
        a, axis = lax.reshape(a, (get_aval(a).size,)), 0
    nd = get_aval(a).ndim
    axis = core.canonicalize_axis(axis, nd, "fnp.take")
    n = get_aval(a).shape[axis]
    if mode in ("clip", "wrap"):
        indices = (ufuncs.clip(indices, 0, n - 1) if mode == "clip"
                   else ufuncs.remainder(indices, n))
    elif mode not in (None, "raise"):
        raise ValueError(f"fnp.take: mode must be 'raise', 'clip' or 'wrap', got {mode!r}")
    return _getitem(a, (slice(None),) * axis + (indices,))


def take_along_axis(arr, indices, axis=-1):
    """``numpy.take_along_axis``: ``indices`` has ``arr``'s rank, and the other axes
    broadcast against each other. ``axis`` defaults to the last, as in NumPy 2."""
    if not has_tracer([arr, indices]):
        return np.take_along_axis(np.asarray(arr), np.asarray(indices), axis)
    arr, indices = to_value(arr), to_value(indices)
    if axis is None:
        if get_aval(indices).ndim != 1:
            raise ValueError("fnp.take_along_axis: with axis=None the indices must be 1-D")
        arr, axis = lax.reshape(arr, (get_aval(arr).size,)), 0
    nd = get_aval(arr).ndim
    axis = core.canonicalize_axis(axis, nd, "fnp.take_along_axis")
    if get_aval(indices).ndim != nd:
        raise ValueError(f"fnp.take_along_axis: `indices` must have the array's rank {nd}, "
                         f"got rank {get_aval(indices).ndim}")
    idx = []
    for d, n in enumerate(get_aval(arr).shape):
        if d == axis:
            idx.append(indices)
        else:
            idx.append(np.arange(n).reshape([n if k == d else 1 for k in range(nd)]))
    return _getitem(arr, tuple(idx))
