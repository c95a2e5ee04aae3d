"""Array creation in ``funcad.numpy``. Results are NumPy arrays (constants), except ``array``
and ``asarray`` of traced values, and the ``*_like`` functions whose fill value is traced."""
from __future__ import annotations

import numpy as np

from funcad import lax
from funcad.core import Tracer, check_dtype, get_aval
from funcad.numpy._util import asarray_of, eager

__all__ = ["array", "asarray", "zeros", "ones", "full", "empty", "zeros_like", "ones_like",
           "full_like", "empty_like", "arange", "linspace", "eye", "identity"]


def _has_tracer(x) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(_has_tracer(y) for y in x)
    return False


def _check_np(a: np.ndarray, who: str) -> np.ndarray:
    if a.dtype == np.float16:
        return a.astype(np.float64)
    check_dtype(a.dtype, who)
    return a


def array(object, dtype=None, copy=True):
    """Like ``np.array``; nested lists may hold traced values (they are stacked)."""
    if _has_tracer(object):
        if isinstance(object, Tracer):
            return asarray_of(object, dtype) if dtype is not None else object
        from funcad.numpy.ufuncs import _scalar  # noqa: F401
        items = [array(o) for o in object]
        from funcad.numpy.shape import stack
        out = stack(items)
        return out if dtype is None else asarray_of(out, check_dtype(dtype, "fnp.array"))
    if isinstance(object, complex) or (isinstance(object, np.ndarray) and
                                       object.dtype.kind == "c"):
        raise TypeError("fnp.array: complex numbers are not supported yet")
    a = np.array(object, dtype=dtype, copy=copy)
    return _check_np(a, "fnp.array")


def asarray(a, dtype=None):
    """Like ``np.asarray``: a traced value stays traced (converted to ``dtype`` if given)."""
    if _has_tracer(a):
        return array(a, dtype=dtype)
    out = np.asarray(a, dtype=dtype)
    return _check_np(out, "fnp.asarray")


def _dt(dtype):
    return np.dtype("float64") if dtype is None else check_dtype(dtype, "funcad.numpy")


def zeros(shape, dtype=None):
    return np.zeros(shape, _dt(dtype))


def ones(shape, dtype=None):
    return np.ones(shape, _dt(dtype))


def empty(shape, dtype=None):
    return np.zeros(shape, _dt(dtype))


def full(shape, fill_value, dtype=None):
    if isinstance(fill_value, Tracer):
        dt = get_aval(fill_value).dtype if dtype is None else check_dtype(dtype)
        from funcad.numpy._util import broadcast_to
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return broadcast_to(asarray_of(fill_value, dt), shape)
    out = np.full(shape, fill_value, dtype)
    return _check_np(out, "fnp.full")


def _like_dtype(a, dtype):
    return check_dtype(dtype) if dtype is not None else get_aval(a).dtype if not isinstance(
        a, (list, tuple)) else np.asarray(a).dtype


def _like_shape(a, shape):
    if shape is not None:
        return (shape,) if isinstance(shape, int) else tuple(shape)
    return get_aval(a).shape if not isinstance(a, (list, tuple)) else np.shape(a)


def zeros_like(a, dtype=None, shape=None):
    return np.zeros(_like_shape(a, shape), _like_dtype(a, dtype))


def ones_like(a, dtype=None, shape=None):
    return np.ones(_like_shape(a, shape), _like_dtype(a, dtype))


def empty_like(a, dtype=None, shape=None):
    return zeros_like(a, dtype, shape)


def full_like(a, fill_value, dtype=None, shape=None):
    return full(_like_shape(a, shape), fill_value, _like_dtype(a, dtype))


def arange(start, stop=None, step=None, dtype=None):
    for v in (start, stop, step):
        if isinstance(v, Tracer) and v.concrete_value() is None:
            from funcad.core import ConcretizationError
            raise ConcretizationError(
                "fnp.arange needs concrete start/stop/step: the length of the result must be "
                "known while tracing. Pass them as Python numbers or static arguments.")
    args = [np.asarray(v).item() if isinstance(v, Tracer) else v
            for v in (start, stop, step) if v is not None]
    return _check_np(np.arange(*args, dtype=dtype), "fnp.arange")


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    if _has_tracer([start, stop]):
        # traced end points: start + (stop - start) * i / div, as NumPy computes it
        from funcad.numpy import ufuncs
        div = (num - 1) if endpoint else num
        i = np.arange(num, dtype=np.float64)
        step = ufuncs.true_divide(ufuncs.subtract(stop, start), div) if div > 0 else None
        out = ufuncs.add(start, ufuncs.multiply(i, step)) if step is not None else \
            ufuncs.add(start, np.zeros(num))
        if endpoint and num > 1:
            from funcad.numpy.indexing import _IndexUpdateHelper
            out = _IndexUpdateHelper(asarray(out))[-1].set(stop)
        if dtype is not None:
            out = asarray_of(out, check_dtype(dtype))
        return (out, step) if retstep else out
    return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)


def eye(N, M=None, k=0, dtype=None):
    return np.eye(N, M, k, dtype=_dt(dtype))


def identity(n, dtype=None):
    return np.identity(n, dtype=_dt(dtype))
