"""Shared builders for primitive families, so that most primitives are one declaration.

A family derives the rules its members have in common (an elementwise primitive's shape rule
and batching rule) and leaves the member to state only what is its own: the NumPy
implementation, the derivative, how jit writes it (its ``lowering``) and the input domain for
the generated tests (drawn by :func:`rand_array`). The rules the unary (``elementwise.py``)
and binary (``binary.py``) families share are here, below both.
"""
from __future__ import annotations

import builtins
import math
from typing import Sequence

import numpy as np

from funcad.core import ShapedArray, get_aval, is_float
from funcad.rule_util import Zero, bdim_to

#: The input range of a primitive's generated tests when it declares no ``domain``.
DEFAULT_DOMAIN = (-3.0, 3.0)


def strict_same(name: str, avals, what="operands"):
    """Strict primitives want equal shapes and dtypes; say which differ."""
    a0 = avals[0]
    for a in avals[1:]:
        if a.shape != a0.shape or a.dtype != a0.dtype:
            raise TypeError(
                f"lax.{name} requires {what} of equal shape and dtype; got "
                f"{', '.join(x.str_short() for x in avals)}. Use funcad.numpy (fnp.{name}) "
                f"for broadcasting and type promotion.")
    return a0


def check_kind(name: str, aval: ShapedArray, kinds: str):
    if aval.dtype.kind not in kinds:
        want = {"f": "floating", "i": "integer", "b": "boolean", "c": "complex"}
        raise TypeError(f"lax.{name} does not accept dtype {aval.dtype}; it needs "
                        f"{' or '.join(want[k] for k in kinds)} inputs.")


def is_float_aval(a) -> bool:
    return is_float(a.dtype)


# ---------------------------------------------------------------------------------------------
# Rules of the elementwise families (unary and binary)

def align_batched(vals, dims):
    """Give every operand the batch axis at the same position (the first batched one's).

    Rank-0 operands may meet full-rank ones (scalar operands broadcast implicitly): an
    unbatched scalar stays as it is; a batched scalar is broadcast along the other axes."""
    d0 = next(d for d in dims if d is not None)
    size = get_aval(vals[dims.index(d0)]).shape[d0]
    ranks = [get_aval(v).ndim - (d is not None) for v, d in zip(vals, dims)]
    full = builtins.max(ranks)
    shape = None
    if full:
        j = ranks.index(full)
        d_full = dims[j]
        fs = get_aval(vals[j]).shape
        shape = fs if d_full is None else fs[:d_full] + fs[d_full + 1:]
    out = []
    for v, d, r in zip(vals, dims, ranks):
        if r == 0 and full:
            if d is None:
                out.append(v)
                continue
            # cycle: funcad.primitives.shape builds on the families
            from funcad.primitives.shape import broadcast_in_dim
            target = shape[:d0] + (size,) + shape[d0:]
            out.append(broadcast_in_dim(v, target, (d0,)))
            continue
        out.append(bdim_to(v, d, d0, size) if d != d0 else v)
    return out, d0


def elementwise_batch(prim):
    def batch(vals, dims, **params):
        vals, d = align_batched(vals, dims)
        return prim.bind(*vals, **params), d
    return batch


def unbroadcast(ct, aval):
    """Cotangent of a rank-0 operand that was broadcast implicitly: sum it."""
    if not aval.shape:
        nd = get_aval(ct).ndim
        if nd:
            # cycle: funcad.primitives.reductions builds on the families
            from funcad.primitives.reductions import reduce_sum
            return reduce_sum(ct, tuple(range(nd)))
    return ct


def binary_aval(name, x, y):
    if x.dtype != y.dtype or (x.shape != y.shape and x.shape and y.shape):
        raise TypeError(
            f"lax.{name} requires operands of equal shape (or one of rank 0) and equal dtype; "
            f"got {x.str_short()} and {y.str_short()}. Use funcad.numpy (fnp) for "
            f"broadcasting and type promotion.")
    return x if x.shape else y


def zero_jvp(prim):
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        return out, Zero(get_aval(out))
    return jvp


def scalar_like(c, x):
    """A Python scalar as an array of x's dtype and shape (a cheap broadcast)."""
    a = get_aval(x)
    s = np.asarray(c, a.dtype)
    if a.ndim == 0:
        return s
    from funcad.primitives.shape import broadcast_in_dim  # cycle: as in align_batched
    return broadcast_in_dim(s, a.shape, ())


def scalar_of(c, x):
    """A Python scalar as a rank-0 array of x's dtype (binary primitives broadcast it)."""
    dt = get_aval(x).dtype
    if type(c) is complex and dt.kind != "c":
        raise TypeError(f"lax: the Python complex {c!r} cannot take the dtype of a {dt.name} "
                        f"operand (lax does not promote); use funcad.numpy (fnp.multiply(x, "
                        f"{c!r}), x * {c!r}) or convert x with lax.convert_element_type first")
    return np.asarray(c, dt)


PY_SCALARS = (int, float, bool, complex)


def coerce2(x, y):
    if isinstance(x, PY_SCALARS) and not isinstance(y, PY_SCALARS):
        return scalar_of(x, y), y
    if isinstance(y, PY_SCALARS):
        return x, scalar_of(y, x)
    return x, y


# ---------------------------------------------------------------------------------------------
# Test inputs

def rand_array(rng: np.random.Generator, shape: Sequence[int], dtype="float64",
               lo: float = DEFAULT_DOMAIN[0], hi: float = DEFAULT_DOMAIN[1]) -> np.ndarray:
    """A random array with values in ``[lo, hi]``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The source of randomness.
    shape : sequence of int
        Shape of the result.
    dtype : dtype, optional
        Floats are uniform in ``[lo, hi)``; complex numbers have real and imaginary parts
        uniform in ``[lo, hi)`` (a square of the complex plane); integers uniform on the
        integers in ``[lo, hi]``;
        bools are fair coin flips.
    lo, hi : float, optional
        The range (the primitive's domain for one argument).

    Returns
    -------
    numpy.ndarray
    """
    dt = np.dtype(dtype)
    shape = tuple(shape)
    if dt.kind == "f":
        out = rng.uniform(lo, hi, shape)
    elif dt.kind == "c":
        out = rng.uniform(lo, hi, shape) + 1j * rng.uniform(lo, hi, shape)
    elif dt.kind in "iu":
        out = rng.integers(math.ceil(lo), math.floor(hi) + 1, shape)
    elif dt.kind == "b":
        out = rng.random(shape) < 0.5
    else:
        raise TypeError(f"rand_array: unsupported dtype {dt}")
    return np.asarray(out).astype(dt)
