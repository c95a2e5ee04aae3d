"""What every ``funcad.numpy`` function shares: the eager fast path, NumPy type promotion and
broadcasting onto strict lax primitives.

Outside any transformation, a ``funcad.numpy`` function given plain arrays calls the NumPy
function of the same name directly (``eager``): results are NumPy's by construction and the
overhead is one check. Under a transformation the same function is built from lax primitives
after promoting operands to NumPy's result dtype (NEP 50: Python scalars are weak) and
broadcasting them to a common shape; the tests compare both paths with NumPy.
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from funcad import core, lax
from funcad.core import Tracer, check_dtype, get_aval

_SUPPORTED = core._SUPPORTED


def _plain(x) -> bool:
    """True for a value NumPy can take directly (no tracer inside, supported dtype)."""
    t = type(x)
    if t is np.ndarray:
        return x.dtype in _SUPPORTED
    if t in (float, int, bool) or x is None:
        return True
    if isinstance(x, Tracer):
        return False
    if isinstance(x, np.generic):
        return x.dtype in _SUPPORTED
    if isinstance(x, (list, tuple)):
        return all(_plain(y) for y in x)
    return not isinstance(x, complex) and not isinstance(x, str)


def eager(np_fn: Callable):
    """Use ``np_fn`` when no transformation is active and every argument is plain."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if core._current is core.eval_interpreter:
                for a in args:
                    if not _plain(a):
                        break
                else:
                    return np_fn(*args, **kwargs)
            return fn(*args, **kwargs)
        wrapper.__wrapped_numpy__ = np_fn
        return wrapper
    return deco


def is_weak(x) -> bool:
    return type(x) in (int, float, bool)


def _dtype_arg(x):
    if is_weak(x):
        return x
    return get_aval(x).dtype


def result_type(*args) -> np.dtype:
    """NumPy's result dtype for these operands (Python scalars are weak)."""
    dt = np.result_type(*[_dtype_arg(a) for a in args])
    if dt == np.float16:
        dt = np.dtype("float64")
    return check_dtype(dt, "funcad.numpy")


def float_dtype(*args) -> np.dtype:
    """The dtype a float-valued function gives: ints and bools become float64."""
    dt = result_type(*args)
    return dt if dt.kind == "f" else np.dtype("float64")


def asarray_of(x, dtype):
    """``x`` as a funcad value of ``dtype`` (a NumPy array or a tracer)."""
    if isinstance(x, Tracer):
        return lax.convert_element_type(x, dtype)
    if isinstance(x, np.ndarray) and x.dtype == dtype:
        return x
    if isinstance(x, (list, tuple)):
        from funcad.numpy.creation import array
        return asarray_of(array(x), dtype)
    if isinstance(x, complex):
        raise TypeError("funcad.numpy: complex numbers are not supported yet")
    a = np.asarray(x)
    check_dtype(a.dtype, "funcad.numpy")
    return a.astype(dtype, copy=False)


def to_value(x):
    """A tracer stays; anything else becomes a NumPy array of a supported dtype."""
    if isinstance(x, Tracer):
        return x
    if isinstance(x, (list, tuple)):
        from funcad.numpy.creation import array
        return array(x)
    if isinstance(x, np.ndarray):
        check_dtype(x.dtype, "funcad.numpy")
        return x
    return np.asarray(x, get_aval(x).dtype)


def shape_of(x) -> tuple:
    return get_aval(x).shape if not isinstance(x, (list, tuple)) else np.shape(x)


def broadcast_shapes(who: str, *shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"{who}: operands could not be broadcast together with shapes "
                         f"{' '.join(str(tuple(s)) for s in shapes)}") from None


def broadcast_to(x, shape):
    """Broadcast ``x`` to ``shape`` with NumPy rules, via broadcast_in_dim (never a copy)."""
    xs = get_aval(x).shape
    if xs == tuple(shape):
        return x
    nd, xn = len(shape), len(xs)
    if xn > nd:
        raise ValueError(f"cannot broadcast an array of shape {xs} to {tuple(shape)}")
    for a, b in zip(xs[::-1], tuple(shape)[::-1]):
        if a != 1 and a != b:
            raise ValueError(f"cannot broadcast an array of shape {xs} to {tuple(shape)}")
    return lax.broadcast_in_dim(x, tuple(shape), tuple(range(nd - xn, nd)))


def promote(who: str, *args, dtype=None):
    """Promote to a common dtype (NumPy's, or ``dtype``) and broadcast to a common shape."""
    dt = result_type(*args) if dtype is None else dtype
    vals = [asarray_of(a, dt) for a in args]
    shape = broadcast_shapes(who, *[get_aval(v).shape for v in vals])
    return [broadcast_to(v, shape) for v in vals]


def canonical_axes(who: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"{who}: axis {a} is out of bounds for array of "
                                          f"dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{who}: duplicate value in 'axis'")
    return tuple(sorted(out))
