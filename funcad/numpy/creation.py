"""Array creation in ``funcad.numpy``. Results are NumPy arrays (constants: they depend on no
traced value), except ``array``/``asarray`` of traced values, fills with a traced value, and
``linspace`` with traced end points."""
from __future__ import annotations

import numpy as np

from funcad import lax
from funcad.core import ConcretizationError, Tracer, check_dtype, get_aval
from funcad.numpy._util import (asarray_of, broadcast_to, canonical_axis, has_tracer,
                                result_type, to_value)
from funcad.numpy import ufuncs
from funcad.numpy.shape import concatenate, moveaxis, stack
from funcad.numpy.ufuncs import where

__all__ = ["array", "asarray", "copy", "zeros", "ones", "full", "empty", "zeros_like",
           "ones_like", "full_like", "empty_like", "arange", "linspace", "eye", "identity",
           "tri", "tril", "triu", "meshgrid"]


def _supported(a: np.ndarray, who: str) -> np.ndarray:
    check_dtype(a.dtype, who)
    return a


def _dtype(dtype, who, default="float64"):
    return np.dtype(default) if dtype is None else check_dtype(dtype, who)


def _shape(shape) -> tuple:
    return (int(shape),) if not isinstance(shape, (tuple, list)) else tuple(int(s) for s in
                                                                             shape)


def array(object, dtype=None, copy=True, ndmin=0):
    """``numpy.array``; nested lists may hold traced values (they are stacked)."""
    if has_tracer(object):
        if isinstance(object, Tracer):
            out = object
        else:
            out = stack([array(o) for o in object])
        if dtype is not None:
            out = asarray_of(out, check_dtype(dtype, "fnp.array"))
        nd = get_aval(out).ndim
        return out if nd >= ndmin else lax.reshape(out, (1,) * (ndmin - nd) +
                                                   get_aval(out).shape)
    if dtype is not None:
        check_dtype(dtype, "fnp.array")
    return _supported(np.array(object, dtype=dtype, copy=copy, ndmin=ndmin), "fnp.array")


def asarray(a, dtype=None):
    """``numpy.asarray``: a traced value stays traced (converted to ``dtype`` if given)."""
    if has_tracer(a):
        return array(a, dtype=dtype)
    if dtype is not None:
        check_dtype(dtype, "fnp.asarray")
    return _supported(np.asarray(a, dtype=dtype), "fnp.asarray")


def copy(a):
    """``numpy.copy`` (traced values are immutable, so they are returned as they are)."""
    return a if isinstance(a, Tracer) else asarray(a).copy() if not has_tracer(a) else array(a)


def zeros(shape, dtype=None):
    """``numpy.zeros`` (float64 by default)."""
    return np.zeros(_shape(shape), _dtype(dtype, "fnp.zeros"))


def ones(shape, dtype=None):
    """``numpy.ones`` (float64 by default)."""
    return np.ones(_shape(shape), _dtype(dtype, "fnp.ones"))


def empty(shape, dtype=None):
    """Like ``numpy.empty``, but filled with zeros so results are deterministic."""
    return np.zeros(_shape(shape), _dtype(dtype, "fnp.empty"))


def full(shape, fill_value, dtype=None):
    """``numpy.full``; a traced ``fill_value`` gives a traced (broadcast) result."""
    if has_tracer(fill_value):
        fill = to_value(fill_value)
        dt = get_aval(fill).dtype if dtype is None else check_dtype(dtype, "fnp.full")
        return broadcast_to(asarray_of(fill, dt), _shape(shape), "fnp.full")
    if dtype is not None:
        check_dtype(dtype, "fnp.full")
    return _supported(np.full(_shape(shape), fill_value, dtype), "fnp.full")


def _like(a, dtype, shape, who):
    if dtype is not None:
        dtype = check_dtype(dtype, who)
    elif isinstance(a, (list, tuple)) and not has_tracer(a):
        dtype = np.asarray(a).dtype
    else:
        dtype = get_aval(to_value(a)).dtype
    if shape is None:
        shape = get_aval(to_value(a)).shape if has_tracer(a) else np.shape(a)
    return _supported(np.empty(0, dtype), who).dtype, _shape(shape)


def zeros_like(a, dtype=None, shape=None):
    """``numpy.zeros_like`` (a constant, even for a traced ``a``)."""
    dt, shape = _like(a, dtype, shape, "fnp.zeros_like")
    return np.zeros(shape, dt)


def ones_like(a, dtype=None, shape=None):
    """``numpy.ones_like`` (a constant, even for a traced ``a``)."""
    dt, shape = _like(a, dtype, shape, "fnp.ones_like")
    return np.ones(shape, dt)


def empty_like(a, dtype=None, shape=None):
    """Like ``numpy.empty_like``, filled with zeros."""
    dt, shape = _like(a, dtype, shape, "fnp.empty_like")
    return np.zeros(shape, dt)


def full_like(a, fill_value, dtype=None, shape=None):
    """``numpy.full_like``: ``a``'s shape and dtype (unless given), filled."""
    dt, shape = _like(a, dtype, shape, "fnp.full_like")
    if has_tracer(fill_value):
        return full(shape, fill_value, dt)
    return np.full(shape, fill_value, dt)


def _concrete_scalar(who, v):
    if isinstance(v, Tracer):
        c = v.concrete_value()
        if c is None:
            raise ConcretizationError(
                f"{who} needs concrete start/stop/step: the length of the result must be "
                f"known while tracing. Pass Python numbers, or mark them static.")
        return np.asarray(c).item()
    return v


def arange(start, stop=None, step=None, dtype=None):
    """``numpy.arange`` (its arguments must be concrete: they fix the length)."""
    args = [_concrete_scalar("fnp.arange", v) for v in (start, stop, step) if v is not None]
    if dtype is not None:
        check_dtype(dtype, "fnp.arange")
    return _supported(np.arange(*args, dtype=dtype), "fnp.arange")


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``numpy.linspace``; ``start`` and ``stop`` may be traced (``num`` may not)."""
    if not has_tracer([start, stop]):
        if dtype is not None:
            check_dtype(dtype, "fnp.linspace")
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    num = int(num)
    if num < 0:
        raise ValueError(f"fnp.linspace: number of samples, {num}, must be non-negative")
    dt = result_type(start, stop, float(num))
    dt = dt if dt.kind == "f" else np.dtype("float64")
    start, stop = asarray_of(to_value(start), dt), asarray_of(to_value(stop), dt)
    div = (num - 1) if endpoint else num
    delta = ufuncs.subtract(stop, start)
    nd = get_aval(delta).ndim
    i = np.arange(num, dtype=dt).reshape((num,) + (1,) * nd)
    # as NumPy: arange(num) * (delta / div) + start, and the last point is exactly stop
    step = ufuncs.true_divide(delta, div) if div > 0 else np.asarray(np.nan, dt)
    y = ufuncs.add(ufuncs.multiply(i, step), start) if div > 0 else ufuncs.add(
        ufuncs.multiply(i, delta), start)
    if endpoint and num > 1:
        y = concatenate([y[:-1], ufuncs.add(stop, np.zeros((1,) + (1,) * nd, dt))], 0)
    if axis != 0:
        y = moveaxis(y, 0, canonical_axis("fnp.linspace", axis, nd + 1))
    if dtype is not None:
        dtype = check_dtype(dtype, "fnp.linspace")
        y = asarray_of(ufuncs.floor(y) if dtype.kind in "iu" else y, dtype)
    return (y, step) if retstep else y


def eye(N, M=None, k=0, dtype=None):
    """``numpy.eye`` (float64 by default)."""
    return np.eye(N, M, k, dtype=_dtype(dtype, "fnp.eye"))


def identity(n, dtype=None):
    """``numpy.identity`` (float64 by default)."""
    return np.identity(n, dtype=_dtype(dtype, "fnp.identity"))


def tri(N, M=None, k=0, dtype=None):
    """``numpy.tri``: ones at and below the k-th diagonal."""
    return np.tri(N, M, k, dtype=_dtype(dtype, "fnp.tri"))


def _tri_mask(who, m, k, lower):
    m = to_value(m)
    shape = get_aval(m).shape
    if len(shape) < 2:
        raise ValueError(f"{who}: the input must have at least 2 dimensions, got shape "
                         f"{shape}")
    mask = np.tri(shape[-2], shape[-1], k if lower else k - 1, dtype=bool)
    return m, mask if lower else ~mask


def tril(m, k=0):
    """``numpy.tril``: zeros above the k-th diagonal (of the last two axes)."""
    if not has_tracer(m):
        return np.tril(m, k)
    m, mask = _tri_mask("fnp.tril", m, k, True)
    return where(mask, m, np.zeros((), get_aval(m).dtype))


def triu(m, k=0):
    """``numpy.triu``: zeros below the k-th diagonal (of the last two axes)."""
    if not has_tracer(m):
        return np.triu(m, k)
    m, mask = _tri_mask("fnp.triu", m, k, False)
    return where(mask, m, np.zeros((), get_aval(m).dtype))


def meshgrid(*xi, indexing="xy"):
    """``numpy.meshgrid`` (a tuple of broadcast arrays; ``sparse`` and ``copy`` are not
    supported)."""
    if not has_tracer(list(xi)):
        return tuple(np.meshgrid(*xi, indexing=indexing))
    if indexing not in ("xy", "ij"):
        raise ValueError("fnp.meshgrid: indexing must be 'xy' or 'ij'")
    vals = [lax.reshape(to_value(x), (get_aval(to_value(x)).size,)) for x in xi]
    shape = [get_aval(v).shape[0] for v in vals]
    if indexing == "xy" and len(vals) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    outs = []
    for i, v in enumerate(vals):
        d = i if indexing == "ij" or len(vals) < 2 else {0: 1, 1: 0}.get(i, i)
        outs.append(lax.broadcast_in_dim(v, tuple(shape), (d,)))
    return tuple(outs)
