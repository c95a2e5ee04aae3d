"""What every ``funcad.numpy`` function shares: the eager fast path, NumPy type promotion and
broadcasting onto strict lax primitives.

Two paths. When no argument is a tracer, a ``funcad.numpy`` function calls the NumPy function
of the same name directly, so results are NumPy's by construction and the cost is a type check
or two (this holds inside transformations too: values that do not depend on the traced inputs
are constants, and computing them with NumPy is constant folding). Otherwise the function is
built from lax primitives after promoting its operands to NumPy's dtypes and broadcasting them
to a common shape.

Promotion asks NumPy itself: for an elementwise function that mirrors a NumPy ufunc,
``ufunc.resolve_dtypes`` names the loop NumPy would run (NEP 50: Python ``int``/``float``/
``complex`` are weak, so ``float32_array + 1.0`` stays float32 and ``float32_array * 1j`` is
complex64). funcad holds only float64, float32, int64, int32, bool, complex128 and complex64,
so where NumPy would compute in float16 or int8 (some functions of booleans)
funcad uses the default float64 or int64: the fast path keeps NumPy's result only when
funcad holds its dtype, and otherwise defers to the traced path (run on the eval interpreter).
"""
from __future__ import annotations

import functools
import operator
from typing import Callable

import numpy as np

from funcad import core, lax
from funcad._memo import Memo
from funcad.core import Tracer, check_dtype, get_aval, scalar_array

SUPPORTED = _SUPPORTED = core._SUPPORTED
_ndarray = np.ndarray
_PY_WEAK = (int, float, complex)
# Scalar types whose dtype funcad supports, with the dtype each one stands for.
_SCALAR_DTYPES = {int: np.dtype("int64"), float: np.dtype("float64"), bool: np.dtype("bool"),
                  np.float64: np.dtype("float64"), np.float32: np.dtype("float32"),
                  np.int64: np.dtype("int64"), np.int32: np.dtype("int32"),
                  np.bool_: np.dtype("bool"), complex: np.dtype("complex128"),
                  np.complex128: np.dtype("complex128"), np.complex64: np.dtype("complex64")}
# What the eager path may hand to NumPy as is: arrays and scalars, never a tracer or a list.
EAGER_TYPES = frozenset([np.ndarray, *_SCALAR_DTYPES])
# NumPy computes some functions of booleans in float16 or int8; funcad uses its defaults.
_CANONICAL = {np.dtype("float16"): np.dtype("float64"), np.dtype("int8"): np.dtype("int64"),
              np.dtype("int16"): np.dtype("int64"), np.dtype("uint8"): np.dtype("int64")}


# ---------------------------------------------------------------------------------------------
# The eager fast path

def is_plain(x) -> bool:
    """True for a value NumPy can take directly: no tracer inside and a supported dtype."""
    t = type(x)
    if t in EAGER_TYPES:
        return t is not _ndarray or x.dtype in _SUPPORTED
    if x is None:
        return True
    if t is tuple or t is list:
        for y in x:
            if not is_plain(y):
                return False
        return True
    if isinstance(x, Tracer):
        return False
    if isinstance(x, (list, tuple)):
        return all(is_plain(y) for y in x)
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype in _SUPPORTED
    if isinstance(x, np.dtype) or (isinstance(x, type) and issubclass(x, (np.generic, int,
                                                                          float))):
        return np.dtype(x) in _SUPPORTED  # a dtype argument, e.g. sum(x, dtype=...)
    return not isinstance(x, str)


def is_option(x) -> bool:
    """True for a plain value (see :func:`is_plain`) or a string: einsum subscripts, a norm
    order, a QR mode, ``order="C"``, ``dtype="float32"``: static options. (:func:`eager`
    never takes a string for the array argument itself.)"""
    return isinstance(x, str) or is_plain(x)


def holds(out) -> bool:
    """True when funcad holds the dtype of every array in a NumPy result ``out`` (an array,
    a scalar, or a tuple or list of them)."""
    if isinstance(out, (_ndarray, np.generic)):
        return out.dtype in _SUPPORTED
    if isinstance(out, (tuple, list)):
        return all(holds(o) for o in out)
    return not isinstance(out, str)


def eager(np_fn: Callable):
    """Decorator: call ``np_fn`` instead of the decorated (traceable) function when every
    argument is plain (see :func:`is_plain`) or, after the first (the array), a string option
    (see :func:`is_option`). A string may name a dtype (``dtype="float16"``) that the
    dtype check of :func:`is_plain` never saw, so with one NumPy's result stands only when
    funcad holds its dtype; otherwise the traced path runs and says what is unsupported.
    For functions off the hot path; elementwise functions and ``sum`` inline a cheaper check
    (see ``ufuncs.py``)."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if args and isinstance(args[0], Tracer):
                # fast path of the checks below for the common traced call: skip the scan
                return fn(*args, **kwargs)
            if is_plain(args) and (not kwargs or is_plain(list(kwargs.values()))):
                return np_fn(*args, **kwargs)
            if (args and is_plain(args[0]) and all(map(is_option, args[1:]))
                    and all(map(is_option, kwargs.values()))):
                out = np_fn(*args, **kwargs)
                if holds(out):
                    return out
            return fn(*args, **kwargs)
        wrapper.__wrapped_numpy__ = np_fn
        return wrapper
    return deco


def has_tracer(x) -> bool:
    if isinstance(x, Tracer):
        return True
    if isinstance(x, (list, tuple)):
        return any(has_tracer(y) for y in x)
    return False


# ---------------------------------------------------------------------------------------------
# Dtypes

def is_weak(x) -> bool:
    """Python ints, floats and complex numbers are weakly typed (NEP 50): they take the other operand's dtype."""
    return type(x) in _PY_WEAK


def canonical_dtype(dt) -> np.dtype:
    """The dtype funcad computes in where NumPy would use ``dt`` (float16 -> float64, ...)."""
    dt = np.dtype(dt)
    return _CANONICAL.get(dt, dt) if dt not in _SUPPORTED else dt


def _dtype_arg(x):
    """What NumPy's promotion sees: the type of a weak scalar, else the dtype."""
    t = type(x)
    if t is _ndarray and x.dtype in _SUPPORTED:
        return x.dtype
    if t in _PY_WEAK:
        return t
    if isinstance(x, Tracer):
        return x.aval.dtype
    if t is bool:
        return np.dtype("bool")
    if isinstance(x, (list, tuple)):
        return to_value(x).dtype
    return get_aval(x).dtype


_result_types_memo = Memo("numpy: result_type by operand dtypes", 4096)
_result_types: dict = _result_types_memo.table   # read inline below


def result_type(*args) -> np.dtype:
    """NumPy's result dtype for these operands (Python int and float are weak)."""
    key = tuple([_dtype_arg(a) for a in args])
    dt = _result_types.get(key)
    if dt is None:
        try:
            # Python scalars go in as values: NumPy treats those as weak (NEP 50), not as
            # the types int/float, which would mean int64/float64.
            dt = np.result_type(*[a if type(a) in _PY_WEAK else k for a, k in zip(args, key)])
        except TypeError as e:
            raise TypeError(f"funcad.numpy: no common dtype for "
                            f"{', '.join(str(k) for k in key)}: {e}") from None
        dt = _result_types_memo.put(key, check_dtype(canonical_dtype(dt), "funcad.numpy"))
    return dt


def float_dtype(*args) -> np.dtype:
    """The dtype of a float-valued function: float32 and complex stay, everything else is
    float64."""
    dt = result_type(*args)
    return dt if dt.kind in "fc" else np.dtype("float64")


_loops_memo = Memo("numpy: ufunc loops by (ufunc, operand dtypes)", 4096)
_loops: dict = _loops_memo.table   # read inline below


def ufunc_loop(who: str, ufunc: np.ufunc, args) -> tuple:
    """The (input..., output) dtypes NumPy's ``ufunc`` would compute ``args`` in, mapped to
    dtypes funcad holds. TypeError, naming ``who``, where NumPy has no loop."""
    key = (ufunc, tuple(_dtype_arg(a) for a in args))
    loop = _loops.get(key)
    if loop is None:
        try:
            raw = ufunc.resolve_dtypes(key[1] + (None,) * ufunc.nout)
        except TypeError as e:
            kinds = ", ".join(getattr(d, "name", getattr(d, "__name__", str(d))) for d in key[1])
            raise TypeError(f"{who}: not supported for inputs of type ({kinds}): {e}"
                            ) from None
        loop = _loops_memo.put(key, tuple(check_dtype(canonical_dtype(d), who) for d in raw))
    return loop


# ---------------------------------------------------------------------------------------------
# Values, broadcasting and promotion for the traced path

def to_value(x):
    """A tracer stays; anything else becomes a NumPy array of a supported dtype."""
    if isinstance(x, Tracer):
        return x
    if isinstance(x, np.ndarray):
        check_dtype(x.dtype, "funcad.numpy")
        return x
    if isinstance(x, (list, tuple)):
        # cycle: funcad.numpy.creation builds on this module
        from funcad.numpy.creation import array
        return array(x)
    return np.asarray(x, get_aval(x).dtype)


def asarray_of(x, dtype):
    """``x`` as a funcad value of ``dtype`` (a NumPy array or a tracer)."""
    if isinstance(x, Tracer):
        return x if x.aval.dtype == dtype else lax.convert_element_type(x, dtype)
    if type(x) is np.ndarray and x.dtype == dtype:
        return x
    if isinstance(x, np.ndarray):
        get_aval(x)   # refuses a masked array, whose mask np.asarray would drop
    if isinstance(x, (list, tuple)):
        return asarray_of(to_value(x), dtype)
    if type(x) in _PY_WEAK:
        return scalar_array(x, dtype)  # OverflowError for ints out of range, as NumPy
    a = np.asarray(x)
    check_dtype(a.dtype, "funcad.numpy")
    return a.astype(dtype, copy=False)


def shape_of(x) -> tuple:
    return get_aval(x).shape if not isinstance(x, (list, tuple)) else np.shape(x)


def broadcast_shapes(who: str, *shapes) -> tuple:
    """NumPy's broadcast of ``shapes`` (tuples of ints); ValueError naming ``who``."""
    # fast path of the general loops below for the common case (a binary operation)
    if len(shapes) == 2:
        a, b = shapes
        if a == b:
            return tuple(a)
        short, out = (a, list(b)) if len(a) < len(b) else (b, list(a))
        for i, d in enumerate(short, len(out) - len(short)):
            o = out[i]
            if d != o:
                if o == 1:
                    out[i] = d
                elif d != 1:
                    _raise_broadcast(who, shapes)
        return tuple(out)
    if not shapes:
        return ()
    first = shapes[0]
    if all(s == first for s in shapes):
        return tuple(first)
    out = [1] * max([len(s) for s in shapes])
    for s in shapes:
        off = len(out) - len(s)
        for i, d in enumerate(s):
            o = out[off + i]
            if d != o:
                if o == 1:
                    out[off + i] = d
                elif d != 1:
                    _raise_broadcast(who, shapes)
    return tuple(out)


def _raise_broadcast(who, shapes):
    raise ValueError(f"{who}: operands could not be broadcast together with "
                     f"shapes {' '.join(str(tuple(s)) for s in shapes)}")


def broadcast_to(x, shape, who: str = "fnp.broadcast_to"):
    """Broadcast ``x`` to ``shape`` with NumPy rules, via broadcast_in_dim (never a copy)."""
    xs = get_aval(x).shape
    shape = tuple(shape)
    if xs == shape:
        return x
    nd, xn = len(shape), len(xs)
    if xn > nd or any(a != 1 and a != b for a, b in zip(xs[::-1], shape[::-1])):
        raise ValueError(f"{who}: cannot broadcast an array of shape {xs} to shape {shape}")
    return lax.broadcast_in_dim(x, shape, tuple(range(nd - xn, nd)))


def promote(who: str, *args, dtype=None):
    """Promote to a common dtype (NumPy's, or ``dtype``) and broadcast to a common shape."""
    dt = result_type(*args) if dtype is None else dtype
    vals = [asarray_of(a, dt) for a in args]
    shape = broadcast_shapes(who, *[get_aval(v).shape for v in vals])
    return [broadcast_to(v, shape, who) for v in vals]


def promote_to(who: str, args, dtypes, keep_scalars: bool = False):
    """Convert ``args[i]`` to ``dtypes[i]`` and broadcast all to a common shape (with
    ``keep_scalars``, rank-0 operands are left for the primitive to broadcast)."""
    vals = [asarray_of(a, d) for a, d in zip(args, dtypes)]
    if len(vals) == 1:
        return vals
    shapes = [get_aval(v).shape for v in vals]
    shape = broadcast_shapes(who, *shapes)
    return [v if (keep_scalars and not s) or s == shape else broadcast_to(v, shape, who)
            for v, s in zip(vals, shapes)]


def scalar_like(c, x):
    """A Python scalar as an array of ``x``'s dtype and shape (a broadcast, not a copy)."""
    a = get_aval(x)
    s = np.asarray(c, a.dtype)
    return s if a.ndim == 0 else lax.broadcast_in_dim(s, a.shape, ())


def canonical_axes(who: str, axis, ndim: int) -> tuple:
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:
        return (axis % ndim,)
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(f"{who}: axis {a} is out of bounds for an array "
                                          f"of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{who}: repeated axis in {axis}")
    return tuple(sorted(out))


def canonical_axis(who: str, axis, ndim: int) -> int:
    return canonical_axes(who, operator.index(axis), ndim)[0]
