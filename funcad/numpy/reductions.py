"""Reductions of ``funcad.numpy``: ``axis`` (None, int or tuple) and ``keepdims`` as in NumPy,
and NumPy's dtypes (sums and products of bools and int32 are int64, means of integers are
float64). Composites (mean, var, std, ...) are a few reductions and elementwise ops, so their
derivatives come from the primitives'."""
from __future__ import annotations

import builtins
import math

import numpy as np

from funcad import core, lax
from funcad.core import check_dtype, get_aval
from funcad.primitives.binary import div_p
from funcad.primitives.reductions import reduce_sum_p
from funcad.primitives.shape import reshape_p
from funcad.numpy._util import (asarray_of, broadcast_to, canonical_axes, canonical_axis,
                                eager, is_plain, scalar_like, to_value)
from funcad.numpy import ufuncs
from funcad.numpy.ufuncs import isnan, logical_not, multiply, subtract, to_bool, true_divide

__all__ = ["sum", "prod", "mean", "var", "std", "max", "min", "amax", "amin", "ptp", "argmax",
           "argmin", "all", "any", "cumsum", "cumprod", "count_nonzero", "average", "nansum",
           "nanmean", "sort", "argsort"]
_ndarray = np.ndarray
_SUPPORTED = core._SUPPORTED
_add_reduce = np.add.reduce


def _keep(out, shape, axes, keepdims):
    """Put the reduced axes back as size-1 axes when ``keepdims``."""
    if not keepdims or not axes:
        return out
    return reshape_p.bind(out, new_sizes=tuple([1 if i in axes else s
                                                for i, s in enumerate(shape)]))


def _acc_dtype(dt, dtype, who):
    """The accumulation dtype of sum/prod/cumsum: NumPy's, bools and int32 become int64."""
    if dtype is not None:
        return check_dtype(dtype, who)
    return np.dtype("int64") if dt.kind in "bi" and dt.itemsize < 8 else dt


def _mean_dtype(dt, dtype, who):
    if dtype is not None:
        return check_dtype(dtype, who)
    return dt if dt.kind in "fc" else np.dtype("float64")


def _count(shape, axes) -> int:
    return math.prod([shape[i] for i in axes])


def _prepare(who, a, axis):
    a = to_value(a)
    av = get_aval(a)
    return a, av, canonical_axes(who, axis, av.ndim)


def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001
    """``numpy.sum``; ``dtype=bool`` is NumPy's sum in bool, a logical or (:func:`any`)."""
    if type(a) is _ndarray and dtype is None and a.dtype in _SUPPORTED:
        # fast path of the np.sum call below: what np.sum runs, minus its overhead
        return _add_reduce(a, axis, None, None, keepdims)
    if is_plain(a):
        if dtype is not None:
            dtype = check_dtype(dtype, "fnp.sum")
        return np.sum(a, axis=axis, dtype=dtype, keepdims=keepdims)
    if dtype is not None and check_dtype(dtype, "fnp.sum") == np.bool_:
        return any(a, axis=axis, keepdims=keepdims)  # a sum in bool is NumPy's logical or
    a, av, axes = _prepare("fnp.sum", a, axis)
    a = asarray_of(a, _acc_dtype(av.dtype, dtype, "fnp.sum"))
    return _keep(reduce_sum_p.bind(a, axes=axes), av.shape, axes, keepdims)


sum.__wrapped_numpy__ = np.sum


@eager(np.prod)
def prod(a, axis=None, dtype=None, keepdims=False):
    """``numpy.prod``; its derivative is exact with zeros in the input. ``dtype=bool`` is a
    logical and (:func:`all`)."""
    if dtype is not None and check_dtype(dtype, "fnp.prod") == np.bool_:
        return all(a, axis=axis, keepdims=keepdims)  # a product in bool is a logical and
    a, av, axes = _prepare("fnp.prod", a, axis)
    a = asarray_of(a, _acc_dtype(av.dtype, dtype, "fnp.prod"))
    return _keep(lax.reduce_prod(a, axes), av.shape, axes, keepdims)


@eager(np.mean)
def mean(a, axis=None, dtype=None, keepdims=False):
    """``numpy.mean``: integers and bools average in float64."""
    a, av, axes = _prepare("fnp.mean", a, axis)
    dt = _mean_dtype(av.dtype, dtype, "fnp.mean")
    s = reduce_sum_p.bind(asarray_of(a, dt), axes=axes)
    n = np.asarray(_count(av.shape, axes), dt)
    return _keep(div_p.bind(s, n), av.shape, axes, keepdims)


@eager(np.var)
def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """``numpy.var``: the mean of squared deviations from the mean, divided by ``N - ddof``."""
    a, av, axes = _prepare("fnp.var", a, axis)
    a = asarray_of(a, _mean_dtype(av.dtype, dtype, "fnp.var"))
    n = _count(av.shape, axes)
    m = lax.div(lax.reduce_sum(a, axes), float(n))
    d = lax.sub(a, lax.broadcast_in_dim(m, av.shape, tuple(i for i in range(av.ndim)
                                                            if i not in axes)))
    # complex: NumPy's mean of |d|**2, a real number
    sq = lax.real(lax.mul(d, lax.conj(d))) if d.dtype.kind == "c" else lax.mul(d, d)
    s = lax.reduce_sum(sq, axes)
    return _keep(lax.div(s, float(builtins.max(n - ddof, 0))), av.shape, axes, keepdims)


@eager(np.std)
def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    """``numpy.std``: the square root of :func:`var`."""
    return lax.sqrt(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def _extremum(name, np_fn, lax_fn, pick):
    who = f"fnp.{name}"

    @eager(np_fn)
    def fn(a, axis=None, keepdims=False, initial=None):
        a, av, axes = _prepare(who, a, axis)
        empty = 0 in av.shape and builtins.any(av.shape[i] == 0 for i in axes)
        if empty and initial is None:
            raise ValueError(f"{who}: zero-size array to reduction operation {name} which "
                             f"has no identity; pass initial=...")
        if empty:
            shape = tuple(s for i, s in enumerate(av.shape) if i not in axes)
            return _keep(lax.full(shape, initial, av.dtype), av.shape, axes, keepdims)
        out = lax_fn(a, axes)
        if initial is not None:
            out = getattr(ufuncs, pick)(out, initial)
        return _keep(out, av.shape, axes, keepdims)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"``numpy.{np_fn.__name__}``. Its derivative goes to the extreme elements, "
                  f"split evenly between ties.")
    return fn


max = _extremum("max", np.max, lax.reduce_max, "maximum")  # noqa: A001
min = _extremum("min", np.min, lax.reduce_min, "minimum")  # noqa: A001
amax = _extremum("amax", np.amax, lax.reduce_max, "maximum")
amin = _extremum("amin", np.amin, lax.reduce_min, "minimum")


@eager(np.ptp)
def ptp(a, axis=None, keepdims=False):
    """``numpy.ptp``: ``max - min``."""
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


def _bool_reduce(name, np_fn, lax_fn):
    who = f"fnp.{name}"

    @eager(np_fn)
    def fn(a, axis=None, keepdims=False):
        a, av, axes = _prepare(who, to_bool(a), axis)
        if av.size == 0:  # the identity: all() of nothing is True
            shape = tuple(s for i, s in enumerate(av.shape) if i not in axes)
            return _keep(lax.full(shape, name == "all", np.bool_), av.shape, axes, keepdims)
        return _keep(lax_fn(a, axes), av.shape, axes, keepdims)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``numpy.{name}``: {'every' if name == 'all' else 'some'} element is nonzero."
    return fn


all = _bool_reduce("all", np.all, lax.reduce_min)  # noqa: A001
any = _bool_reduce("any", np.any, lax.reduce_max)  # noqa: A001


def _argext(name, np_fn, lax_fn):
    who = f"fnp.{name}"

    @eager(np_fn)
    def fn(a, axis=None, keepdims=False):
        a = to_value(a)
        av = get_aval(a)
        if av.size == 0:
            raise ValueError(f"{who}: attempt to get {name} of an empty sequence")
        if axis is None:
            out = fn(lax.reshape(a, (av.size,)), 0)
            return lax.reshape(out, (1,) * av.ndim) if keepdims else out
        ax = canonical_axis(who, axis, av.ndim)
        out = lax_fn(a, ax, np.int64)
        if av.dtype.kind == "f":
            # NumPy returns the first NaN, if there is one
            nan = lax.ne(a, a)
            out = lax.select_n(lax.reduce_max(nan, (ax,)), out, lax.argmax(nan, ax, np.int64))
        return _keep(out, av.shape, (ax,), keepdims)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``numpy.{name}`` (int64 indices; the first one on ties and NaNs)."
    return fn


argmax = _argext("argmax", np.argmax, lax.argmax)
argmin = _argext("argmin", np.argmin, lax.argmin)


def _flat_axis(who, a, axis):
    a = to_value(a)
    if axis is None:
        return lax.reshape(a, (get_aval(a).size,)), 0
    return a, canonical_axis(who, axis, get_aval(a).ndim)


@eager(np.cumsum)
def cumsum(a, axis=None, dtype=None):
    """``numpy.cumsum`` (``axis=None`` flattens first); ``dtype=bool`` is a running logical
    or (a count of the nonzero elements so far, above 0)."""
    if dtype is not None and check_dtype(dtype, "fnp.cumsum") == np.bool_:
        return ufuncs.greater(cumsum(ufuncs.not_equal(a, 0), axis, np.int64), 0)
    a, ax = _flat_axis("fnp.cumsum", a, axis)
    return lax.cumsum(asarray_of(a, _acc_dtype(get_aval(a).dtype, dtype, "fnp.cumsum")), ax)


@eager(np.cumprod)
def cumprod(a, axis=None, dtype=None):
    """``numpy.cumprod`` (``axis=None`` flattens first), as log2(n) rounds of products of
    shifted copies, so the derivative comes from multiplication and is exact with zeros.
    ``dtype=bool`` is a running logical and (no zero element so far)."""
    if dtype is not None and check_dtype(dtype, "fnp.cumprod") == np.bool_:
        return ufuncs.equal(cumsum(ufuncs.equal(a, 0), axis, np.int64), 0)
    a, ax = _flat_axis("fnp.cumprod", a, axis)
    av = get_aval(a)
    a = asarray_of(a, _acc_dtype(av.dtype, dtype, "fnp.cumprod"))
    n, nd, k = av.shape[ax], av.ndim, 1
    one = np.asarray(1, get_aval(a).dtype)
    while k < n:
        # a[i] *= a[i - k], with ones shifted in at the front
        limit = tuple(n - k if d == ax else s for d, s in enumerate(av.shape))
        shifted = lax.pad(lax.slice(a, (0,) * nd, limit), one,
                          tuple((k, 0, 0) if d == ax else (0, 0, 0) for d in range(nd)))
        a = lax.mul(a, shifted)
        k *= 2
    return a


@eager(np.count_nonzero)
def count_nonzero(a, axis=None, keepdims=False):
    """``numpy.count_nonzero`` (int64)."""
    return sum(asarray_of(to_bool(a), np.dtype("int64")), axis=axis, keepdims=keepdims)


@eager(np.average)
def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """``numpy.average``: the mean, or ``sum(a * w) / sum(w)`` with ``weights`` (which have
    ``a``'s shape, or are 1-D along a single ``axis``)."""
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        a = to_value(a)
        n = _count(get_aval(a).shape, canonical_axes("fnp.average", axis, get_aval(a).ndim))
        return avg, lax.full(get_aval(avg).shape, n, get_aval(avg).dtype)
    a, w = to_value(a), to_value(weights)
    av, wv = get_aval(a), get_aval(w)
    if wv.shape != av.shape:
        if axis is None or wv.ndim != 1 or isinstance(axis, (tuple, list)):
            raise ValueError(f"fnp.average: weights of shape {wv.shape} differ from the "
                             f"array's shape {av.shape}; give 1-D weights with an int axis")
        ax = canonical_axis("fnp.average", axis, av.ndim)
        if wv.shape[0] != av.shape[ax]:
            raise ValueError(f"fnp.average: {wv.shape[0]} weights for an axis of length "
                             f"{av.shape[ax]}")
        w = lax.broadcast_in_dim(w, av.shape, (ax,))
    scl = sum(w, axis=axis, keepdims=keepdims)
    avg = true_divide(sum(multiply(a, w), axis=axis, keepdims=keepdims), scl)
    if returned:
        return avg, broadcast_to(asarray_of(scl, get_aval(avg).dtype), get_aval(avg).shape)
    return avg


def _nan_to_zero(a):
    a = to_value(a)
    if get_aval(a).dtype.kind not in "fc":
        return a
    return lax.select_n(lax.ne(a, a), a, scalar_like(0, a))


@eager(np.nansum)
def nansum(a, axis=None, dtype=None, keepdims=False):
    """``numpy.nansum``: NaNs count as zero."""
    return sum(_nan_to_zero(a), axis=axis, dtype=dtype, keepdims=keepdims)


@eager(np.nanmean)
def nanmean(a, axis=None, dtype=None, keepdims=False):
    """``numpy.nanmean``: the mean of the non-NaN elements."""
    a = to_value(a)
    if get_aval(a).dtype.kind not in "fc":
        return mean(a, axis=axis, dtype=dtype, keepdims=keepdims)
    n = sum(logical_not(isnan(a)), axis=axis, keepdims=keepdims)
    s = sum(_nan_to_zero(a), axis=axis, dtype=dtype, keepdims=keepdims)
    return true_divide(s, asarray_of(n, get_aval(s).dtype))


def _sort_args(who, a, axis, kind, order):
    if order is not None:
        raise TypeError(f"{who}: order= (structured arrays) is not supported")
    if kind not in (None, "stable", "mergesort", "quicksort", "heapsort"):
        raise ValueError(f"{who}: unknown kind {kind!r}")
    return _flat_axis(who, a, axis)


def sort(a, axis=-1, kind=None, order=None, *, stable=True, descending=False):
    """``numpy.sort`` (``axis=None`` flattens first): always stable, NaNs last; with
    ``descending=True`` (JAX's keyword) the largest first. Differentiable: the derivative
    permutes the tangent as the values are permuted."""
    if is_plain(a):
        out = np.sort(a, axis=axis, kind="stable" if kind is None else kind, order=order)
        return np.flip(out, -1 if axis is None else axis) if descending else out
    x, ax = _sort_args("fnp.sort", a, axis, kind, order)
    out = lax.sort(x, dimension=ax)
    return lax.rev(out, (ax,)) if descending else out


def argsort(a, axis=-1, kind=None, order=None, *, stable=True, descending=False):
    """``numpy.argsort`` (``axis=None`` flattens first), stable (ties keep their order, also
    with ``descending=True``), NaNs last; int64 indices (no derivative)."""
    if is_plain(a) and not descending:
        return np.argsort(a, axis=axis, kind="stable" if kind is None else kind, order=order)
    x, ax = _sort_args("fnp.argsort", a, axis, kind, order)
    av = get_aval(x)
    if descending:
        # stable descending: argsort the reversed keys, reverse, map back to the original
        # positions (ties then keep their order)
        x = lax.rev(x, (ax,))
    iota = lax.broadcasted_iota(np.int64, av.shape, ax)
    idx = lax.sort((x, iota), dimension=ax)[1]
    if descending:
        idx = lax.sub(np.asarray(av.shape[ax] - 1, np.int64), lax.rev(idx, (ax,)))
    return idx
