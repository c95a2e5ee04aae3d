"""Shape functions of ``funcad.numpy``: reshaping, permuting, joining, splitting, tiling,
rolling. Each is a few static-shape lax primitives (reshape, transpose, broadcast_in_dim,
slice, concatenate, rev, gather); all of them are linear, so their derivatives and batching
come from the primitives' rules."""
from __future__ import annotations

import math
import operator

import numpy as np

from funcad import lax
from funcad.core import ConcretizationError, Tracer, get_aval
from funcad.numpy._util import (asarray_of, broadcast_shapes as _bshapes,
                                broadcast_to as _broadcast_to, canonical_axes, canonical_axis,
                                eager, is_plain, result_type, to_value)
from funcad.numpy.indexing import take
from funcad.numpy.ufuncs import remainder

__all__ = ["reshape", "ravel", "transpose", "permute_dims", "swapaxes", "moveaxis",
           "expand_dims", "squeeze", "broadcast_to", "broadcast_arrays", "broadcast_shapes",
           "concatenate", "concat", "stack", "vstack", "hstack", "dstack", "column_stack",
           "split", "array_split", "hsplit", "vsplit", "tile", "repeat", "flip", "fliplr",
           "flipud", "roll", "atleast_1d", "atleast_2d", "atleast_3d", "shape", "ndim", "size"]


def _ndim(x) -> int:
    return get_aval(x).ndim


@eager(np.reshape)
def reshape(a, shape, order="C"):
    """``numpy.reshape`` (C order; one ``-1`` is inferred)."""
    if order != "C":
        raise NotImplementedError("fnp.reshape: only order='C' is supported")
    a = to_value(a)
    av = get_aval(a)
    shape = (operator.index(shape),) if not isinstance(shape, (tuple, list)) else tuple(
        operator.index(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError("fnp.reshape: can only specify one unknown dimension (-1)")
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        if known == 0 or av.size % known:
            raise ValueError(f"fnp.reshape: cannot reshape an array of size {av.size} into "
                             f"shape {shape}")
        shape = tuple(av.size // known if s == -1 else s for s in shape)
    if math.prod(shape) != av.size or any(s < 0 for s in shape):
        raise ValueError(f"fnp.reshape: cannot reshape an array of size {av.size} into shape "
                         f"{shape}")
    return lax.reshape(a, shape)


@eager(np.ravel)
def ravel(a, order="C"):
    """``numpy.ravel``: the flat array (C order)."""
    return reshape(a, (-1,), order)


@eager(np.transpose)
def transpose(a, axes=None):
    """``numpy.transpose``: reverse the axes, or permute them by ``axes``."""
    a = to_value(a)
    nd = _ndim(a)
    if axes is None:
        return lax.transpose(a, tuple(range(nd))[::-1])
    perm = tuple(canonical_axis("fnp.transpose", x, nd) for x in axes)
    if sorted(perm) != list(range(nd)):
        raise ValueError(f"fnp.transpose: axes {tuple(axes)} are not a permutation of the "
                         f"axes of an array of rank {nd}")
    return lax.transpose(a, perm)


permute_dims = transpose


@eager(np.swapaxes)
def swapaxes(a, axis1, axis2):
    """``numpy.swapaxes``."""
    a = to_value(a)
    nd = _ndim(a)
    perm = list(range(nd))
    i, j = canonical_axis("fnp.swapaxes", axis1, nd), canonical_axis("fnp.swapaxes", axis2, nd)
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, tuple(perm))


@eager(np.moveaxis)
def moveaxis(a, source, destination):
    """``numpy.moveaxis``: move axes to new positions, keeping the others in order."""
    a = to_value(a)
    nd = _ndim(a)
    src = [source] if not isinstance(source, (tuple, list)) else list(source)
    dst = [destination] if not isinstance(destination, (tuple, list)) else list(destination)
    if len(src) != len(dst):
        raise ValueError("fnp.moveaxis: `source` and `destination` must have the same number "
                         "of elements")
    src = [canonical_axis("fnp.moveaxis", s, nd) for s in src]
    dst = [canonical_axis("fnp.moveaxis", d, nd) for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError("fnp.moveaxis: repeated axis")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, tuple(order))


@eager(np.expand_dims)
def expand_dims(a, axis):
    """``numpy.expand_dims``: insert size-1 axes at the positions ``axis`` in the result."""
    a = to_value(a)
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    return lax.expand_dims(a, canonical_axes("fnp.expand_dims", axes, _ndim(a) + len(axes)))


@eager(np.squeeze)
def squeeze(a, axis=None):
    """``numpy.squeeze``: remove size-1 axes (all of them, or those in ``axis``)."""
    a = to_value(a)
    av = get_aval(a)
    if axis is None:
        return lax.squeeze(a, tuple(i for i, s in enumerate(av.shape) if s == 1))
    axes = canonical_axes("fnp.squeeze", axis, av.ndim)
    bad = [ax for ax in axes if av.shape[ax] != 1]
    if bad:
        raise ValueError(f"fnp.squeeze: cannot squeeze axis {bad[0]} of an array of shape "
                         f"{av.shape}: its size is not one")
    return lax.squeeze(a, axes)


@eager(np.broadcast_to)
def broadcast_to(array, shape):
    """``numpy.broadcast_to`` (a broadcast, never a copy)."""
    shape = (shape,) if not isinstance(shape, (tuple, list)) else tuple(shape)
    return _broadcast_to(to_value(array), shape)


@eager(np.broadcast_arrays)
def broadcast_arrays(*args):
    """``numpy.broadcast_arrays``: the arrays broadcast to their common shape (a tuple)."""
    vals = [to_value(a) for a in args]
    shape = _bshapes("fnp.broadcast_arrays", *[get_aval(v).shape for v in vals])
    return tuple(_broadcast_to(v, shape) for v in vals)


def broadcast_shapes(*shapes):
    """``numpy.broadcast_shapes``."""
    return _bshapes("fnp.broadcast_shapes",
                    *[(operator.index(s),) if not isinstance(s, (tuple, list)) else
                      tuple(operator.index(d) for d in s) for s in shapes])


# ---------------------------------------------------------------------------------------------
# Joining

def _sequence(who, arrays) -> list:
    """The arrays to join as a list (an array stands for the list along its first axis)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{who}: need at least one array")
    return arrays


def concatenate(arrays, axis=0, dtype=None):
    """``numpy.concatenate`` (``axis=None`` flattens first)."""
    arrays = _sequence("fnp.concatenate", arrays)
    if is_plain(arrays):
        return np.concatenate(arrays, axis=axis, dtype=dtype)
    dt = np.dtype(dtype) if dtype is not None else result_type(*[to_value(a) for a in arrays])
    vals = [asarray_of(to_value(a), dt) for a in arrays]
    if axis is None:
        return lax.concatenate([lax.reshape(v, (get_aval(v).size,)) for v in vals], 0)
    nd = _ndim(vals[0])
    if nd == 0:
        raise ValueError("fnp.concatenate: zero-dimensional arrays cannot be concatenated")
    ax = canonical_axis("fnp.concatenate", axis, nd)
    shapes = [get_aval(v).shape for v in vals]
    for s in shapes:
        if len(s) != nd or s[:ax] + s[ax + 1:] != shapes[0][:ax] + shapes[0][ax + 1:]:
            raise ValueError(f"fnp.concatenate: all the input arrays must match except along "
                             f"axis {ax}; got shapes {', '.join(map(str, shapes))}")
    return lax.concatenate(vals, ax)


concat = concatenate


def stack(arrays, axis=0, dtype=None):
    """``numpy.stack``: join arrays of one shape along a new axis."""
    arrays = _sequence("fnp.stack", arrays)
    if is_plain(arrays):
        return np.stack(arrays, axis=axis, dtype=dtype)
    vals = [to_value(a) for a in arrays]
    shapes = [get_aval(v).shape for v in vals]
    if len(set(shapes)) != 1:
        raise ValueError(f"fnp.stack: all input arrays must have the same shape; got "
                         f"{', '.join(map(str, shapes))}")
    ax = canonical_axis("fnp.stack", axis, len(shapes[0]) + 1)
    return concatenate([lax.expand_dims(v, (ax,)) for v in vals], ax, dtype)


def _joiner(name, np_fn, prep, axis_of):
    def fn(tup, *, dtype=None):
        tup = _sequence(f"fnp.{name}", tup)
        if is_plain(tup):
            return np_fn(tup) if dtype is None else np_fn(tup, dtype=dtype)
        vals = [prep(to_value(a)) for a in tup]
        return concatenate(vals, axis_of(vals), dtype)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``numpy.{name}``."
    return fn


vstack = _joiner("vstack", np.vstack, lambda v: atleast_2d(v), lambda vals: 0)
hstack = _joiner("hstack", np.hstack, lambda v: atleast_1d(v),
                 lambda vals: 0 if _ndim(vals[0]) == 1 else 1)
dstack = _joiner("dstack", np.dstack, lambda v: atleast_3d(v), lambda vals: 2)
column_stack = _joiner(
    "column_stack", np.column_stack,
    lambda v: lax.reshape(v, get_aval(v).shape + (1,)) if _ndim(v) < 2 else v,
    lambda vals: 1)


def _atleast(n, fn_name, expand):
    @eager(getattr(np, fn_name))
    def fn(*arys):
        outs = []
        for a in arys:
            a = to_value(a)
            outs.append(a if _ndim(a) >= n else lax.reshape(a, expand(get_aval(a).shape)))
        return outs[0] if len(outs) == 1 else tuple(outs)
    fn.__name__ = fn.__qualname__ = fn_name
    fn.__doc__ = f"``numpy.{fn_name}``: view inputs as arrays of at least {n} dimensions."
    return fn


atleast_1d = _atleast(1, "atleast_1d", lambda s: (1,))
atleast_2d = _atleast(2, "atleast_2d", lambda s: (1,) * (2 - len(s)) + s)
atleast_3d = _atleast(3, "atleast_3d", lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,),
                                                  2: s + (1,)}[len(s)])


# ---------------------------------------------------------------------------------------------
# Splitting

def _split(who, ary, indices_or_sections, axis, even):
    a = to_value(ary)
    av = get_aval(a)
    ax = canonical_axis(who, axis, av.ndim)
    n = av.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = operator.index(indices_or_sections)
        if k <= 0:
            raise ValueError(f"{who}: the number of sections must be larger than 0")
        if even and n % k:
            raise ValueError(f"{who}: array split does not result in an equal division: an "
                             f"axis of length {n} into {k} sections; use fnp.array_split")
        q, r = divmod(n, k)
        sizes = [q + 1] * r + [q] * (k - r)
        bounds = np.cumsum([0] + sizes).tolist()
    else:
        cuts = [operator.index(i) for i in indices_or_sections]
        bounds = [0] + [min(max(c + n if c < 0 else c, 0), n) for c in cuts] + [n]
    outs = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        hi = max(lo, hi)
        start = tuple(lo if d == ax else 0 for d in range(av.ndim))
        limit = tuple(hi if d == ax else s for d, s in enumerate(av.shape))
        outs.append(lax.slice(a, start, limit))
    return outs


@eager(np.split)
def split(ary, indices_or_sections, axis=0):
    """``numpy.split``: into ``k`` equal sections, or at the given indices (a list)."""
    return _split("fnp.split", ary, indices_or_sections, axis, True)


@eager(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    """``numpy.array_split``: like ``split``, and ``k`` sections need not be equal."""
    return _split("fnp.array_split", ary, indices_or_sections, axis, False)


@eager(np.hsplit)
def hsplit(ary, indices_or_sections):
    """``numpy.hsplit``: split along axis 1 (axis 0 for 1-D arrays)."""
    return split(ary, indices_or_sections, 1 if _ndim(to_value(ary)) > 1 else 0)


@eager(np.vsplit)
def vsplit(ary, indices_or_sections):
    """``numpy.vsplit``: split along axis 0 (arrays of rank 2 or more)."""
    if _ndim(to_value(ary)) < 2:
        raise ValueError("fnp.vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, 0)


# ---------------------------------------------------------------------------------------------
# Repeating, flipping, rolling

@eager(np.tile)
def tile(A, reps):
    """``numpy.tile``: ``A`` repeated ``reps`` times along each axis."""
    a = to_value(A)
    reps = (operator.index(reps),) if not isinstance(reps, (tuple, list)) else tuple(
        operator.index(r) for r in reps)
    nd = max(len(reps), _ndim(a))
    shape = (1,) * (nd - _ndim(a)) + get_aval(a).shape
    reps = (1,) * (nd - len(reps)) + reps
    # broadcast to (r0, d0, r1, d1, ...) and merge each pair
    big = tuple(x for r, s in zip(reps, shape) for x in (r, s))
    b = lax.broadcast_in_dim(lax.reshape(a, shape), big, tuple(range(1, 2 * nd, 2)))
    return lax.reshape(b, tuple(r * s for r, s in zip(reps, shape)))


def _concrete_int_array(who, x, what):
    if isinstance(x, Tracer):
        v = x.concrete_value()
        if v is None:
            raise ConcretizationError(
                f"{who}: {what} must be concrete while tracing (the result's shape depends on "
                f"them). Pass a NumPy array or Python ints, or mark it static.")
        x = v
    return np.asarray(x)


@eager(np.repeat)
def repeat(a, repeats, axis=None):
    """``numpy.repeat``: each element ``repeats`` times (an int, or one concrete count per
    element along ``axis``)."""
    a = to_value(a)
    if axis is None:
        a, axis = lax.reshape(a, (get_aval(a).size,)), 0
    av = get_aval(a)
    ax = canonical_axis("fnp.repeat", axis, av.ndim)
    n = av.shape[ax]
    reps = _concrete_int_array("fnp.repeat", repeats, "the repeat counts")
    if reps.dtype.kind not in "iu" or np.any(reps < 0):
        raise ValueError("fnp.repeat: repeats must be non-negative integers")
    if reps.ndim == 0 or reps.size == 1:
        r = int(reps.reshape(()))
        # insert a new axis after `ax`, broadcast it to r, merge the two
        shape = av.shape[:ax + 1] + (r,) + av.shape[ax + 1:]
        dims = tuple(range(ax + 1)) + tuple(range(ax + 2, av.ndim + 1))
        b = lax.broadcast_in_dim(a, shape, dims)
        return lax.reshape(b, av.shape[:ax] + (n * r,) + av.shape[ax + 1:])
    if reps.shape != (n,):
        raise ValueError(f"fnp.repeat: {reps.size} repeat counts for an axis of length {n}")
    return take(a, np.repeat(np.arange(n), reps), axis=ax)


@eager(np.flip)
def flip(m, axis=None):
    """``numpy.flip``: reverse the order of elements along ``axis`` (all axes if None)."""
    m = to_value(m)
    return lax.rev(m, canonical_axes("fnp.flip", axis, _ndim(m)))


@eager(np.fliplr)
def fliplr(m):
    """``numpy.fliplr``: flip axis 1."""
    return flip(m, 1)


@eager(np.flipud)
def flipud(m):
    """``numpy.flipud``: flip axis 0."""
    return flip(m, 0)


def _roll_axis(a, shift, ax):
    n = get_aval(a).shape[ax]
    if n == 0:
        return a
    nd = _ndim(a)
    if not isinstance(shift, Tracer) or shift.concrete_value() is not None:
        s = operator.index(np.asarray(shift if not isinstance(shift, Tracer)
                                      else shift.concrete_value()).item()) % n
        if s == 0:
            return a
        shape = get_aval(a).shape
        head = lax.slice(a, (0,) * nd, tuple(n - s if d == ax else k for d, k in
                                             enumerate(shape)))
        tail = lax.slice(a, tuple(n - s if d == ax else 0 for d in range(nd)), shape)
        return lax.concatenate([tail, head], ax)
    # a traced shift: a dynamic slice of two copies, starting at (n - shift) mod n
    start = remainder(lax.sub(np.asarray(n, np.int64), asarray_of(shift, np.int64)), n)
    zero = np.asarray(0, np.int64)
    two = lax.concatenate([a, a], ax)
    return lax.dynamic_slice(two, [start if d == ax else zero for d in range(nd)],
                             get_aval(a).shape)


@eager(np.roll)
def roll(a, shift, axis=None):
    """``numpy.roll``: elements shifted along ``axis`` (the flat array if None), wrapping
    around. ``shift`` may be traced (one dynamic slice)."""
    a = to_value(a)
    av = get_aval(a)
    if axis is None:
        return lax.reshape(roll(lax.reshape(a, (av.size,)), shift, 0), av.shape)
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    shifts = (shift,) if not isinstance(shift, (tuple, list)) else tuple(shift)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    elif len(axes) == 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError("fnp.roll: 'shift' and 'axis' should be scalars or 1D sequences of "
                         "the same length")
    for s, ax in zip(shifts, axes):
        a = _roll_axis(a, s, canonical_axis("fnp.roll", ax, av.ndim))
    return a


def shape(a):
    """``numpy.shape``."""
    return get_aval(to_value(a)).shape


def ndim(a):
    """``numpy.ndim``."""
    return get_aval(to_value(a)).ndim


def size(a, axis=None):
    """``numpy.size``."""
    s = shape(a)
    return math.prod(s) if axis is None else s[axis]
