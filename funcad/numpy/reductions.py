"""Reductions of ``funcad.numpy``: ``axis`` (None, int or tuple) and ``keepdims`` as in NumPy,
dtypes as NumPy's (sums of bools and small ints are int64, means of ints are float64)."""
from __future__ import annotations

import numpy as np

from funcad import lax
from funcad.core import get_aval
from funcad.numpy._util import asarray_of, canonical_axes, eager, to_value

__all__ = []


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)
    return fn


def _keep(out, shape, axes, keepdims):
    if not keepdims:
        return out
    return lax.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(shape)))


def _sum_dtype(dt, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    if dt.kind in "bi" and dt.itemsize < 8:
        return np.dtype("int64")
    return dt


@_export
@eager(np.sum)
def sum(a, axis=None, dtype=None, keepdims=False):  # noqa: A001
    a = to_value(a)
    av = get_aval(a)
    axes = canonical_axes("fnp.sum", axis, av.ndim)
    a = asarray_of(a, _sum_dtype(av.dtype, dtype))
    return _keep(lax.reduce_sum(a, axes), av.shape, axes, keepdims)


@_export
@eager(np.prod)
def prod(a, axis=None, dtype=None, keepdims=False):
    a = to_value(a)
    av = get_aval(a)
    axes = canonical_axes("fnp.prod", axis, av.ndim)
    a = asarray_of(a, _sum_dtype(av.dtype, dtype))
    return _keep(lax.reduce_prod(a, axes), av.shape, axes, keepdims)


def _count(shape, axes):
    return int(np.prod([shape[i] for i in axes])) if axes else 1


@_export
@eager(np.mean)
def mean(a, axis=None, dtype=None, keepdims=False):
    a = to_value(a)
    av = get_aval(a)
    axes = canonical_axes("fnp.mean", axis, av.ndim)
    dt = np.dtype(dtype) if dtype is not None else (
        av.dtype if av.dtype.kind == "f" else np.dtype("float64"))
    s = lax.reduce_sum(asarray_of(a, dt), axes)
    n = _count(av.shape, axes)
    return _keep(lax.div(s, float(n)), av.shape, axes, keepdims)


@_export
@eager(np.var)
def var(a, axis=None, dtype=None, ddof=0, keepdims=False):
    a = to_value(a)
    av = get_aval(a)
    axes = canonical_axes("fnp.var", axis, av.ndim)
    dt = np.dtype(dtype) if dtype is not None else (
        av.dtype if av.dtype.kind == "f" else np.dtype("float64"))
    a = asarray_of(a, dt)
    m = mean(a, axis=axes, keepdims=True)
    from funcad.numpy._util import broadcast_to
    d = lax.sub(a, broadcast_to(m, av.shape))
    s = lax.reduce_sum(lax.mul(d, d), axes)
    n = _count(av.shape, axes) - ddof
    return _keep(lax.div(s, float(max(n, 0))), av.shape, axes, keepdims)


@_export
@eager(np.std)
def std(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return lax.sqrt(to_value(var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)))


def _extremum(name, np_fn, lax_fn):
    @eager(np_fn)
    def fn(a, axis=None, keepdims=False, initial=None):
        a = to_value(a)
        av = get_aval(a)
        axes = canonical_axes(f"fnp.{name}", axis, av.ndim)
        if av.size == 0 and initial is None and any(av.shape[i] == 0 for i in axes):
            raise ValueError(f"fnp.{name}: zero-size array to reduction operation which has "
                             f"no identity; pass initial=...")
        out = lax_fn(a, axes)
        if initial is not None:
            from funcad.numpy import ufuncs
            out = (ufuncs.maximum if name in ("max", "amax") else ufuncs.minimum)(out, initial)
        return _keep(out, av.shape, axes, keepdims)
    fn.__name__ = name
    return _export(fn)


_extremum("max", np.max, lax.reduce_max)
_extremum("min", np.min, lax.reduce_min)
_extremum("amax", np.amax, lax.reduce_max)
_extremum("amin", np.amin, lax.reduce_min)


def _bool_reduce(name, np_fn, lax_fn):
    @eager(np_fn)
    def fn(a, axis=None, keepdims=False):
        from funcad.numpy.ufuncs import _to_bool
        a = _to_bool(to_value(a))
        av = get_aval(a)
        axes = canonical_axes(f"fnp.{name}", axis, av.ndim)
        if av.size == 0:
            shape = tuple(s for i, s in enumerate(av.shape) if i not in axes)
            return _keep(lax.full(shape, name == "all", np.bool_), av.shape, axes, keepdims)
        return _keep(lax_fn(a, axes), av.shape, axes, keepdims)
    fn.__name__ = name
    return _export(fn)


_bool_reduce("all", np.all, lax.reduce_min)
_bool_reduce("any", np.any, lax.reduce_max)


def _argext(name, np_fn, lax_fn):
    @eager(np_fn)
    def fn(a, axis=None, keepdims=False):
        a = to_value(a)
        av = get_aval(a)
        if axis is None:
            out = lax_fn(lax.reshape(a, (av.size,)), 0, np.int64)
            return lax.reshape(out, (1,) * av.ndim) if keepdims else out
        ax = canonical_axes(f"fnp.{name}", axis, av.ndim)[0]
        if av.dtype.kind == "f":
            # NumPy returns the first NaN: make NaNs win
            from funcad.numpy.ufuncs import isnan
            nan = isnan(a)
            has = lax.reduce_max(nan, (ax,))
            first_nan = lax.argmax(nan, ax, np.int64)
            out = lax.select_n(has, lax_fn(a, ax, np.int64), first_nan)
        else:
            out = lax_fn(a, ax, np.int64)
        return _keep(out, av.shape, (ax,), keepdims)
    fn.__name__ = name
    return _export(fn)


_argext("argmax", np.argmax, lax.argmax)
_argext("argmin", np.argmin, lax.argmin)


@_export
@eager(np.cumsum)
def cumsum(a, axis=None, dtype=None):
    a = to_value(a)
    av = get_aval(a)
    if axis is None:
        a = lax.reshape(a, (av.size,))
        axis = 0
    ax = canonical_axes("fnp.cumsum", axis, get_aval(a).ndim)[0]
    return lax.cumsum(asarray_of(a, _sum_dtype(av.dtype, dtype)), ax)


@_export
@eager(np.count_nonzero)
def count_nonzero(a, axis=None, keepdims=False):
    from funcad.numpy.ufuncs import _to_bool
    return sum(asarray_of(_to_bool(a), np.int64), axis=axis, keepdims=keepdims)
