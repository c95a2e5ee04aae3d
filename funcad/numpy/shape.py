"""Shape functions of ``funcad.numpy`` (reshape, transpose, stacking, ...), as NumPy's."""
from __future__ import annotations

import numpy as np

from funcad import lax
from funcad.core import get_aval
from funcad.numpy._util import (broadcast_shapes, broadcast_to as _broadcast_to, canonical_axes,
                                eager, promote, result_type, asarray_of, to_value)

__all__ = ["reshape", "ravel", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze",
           "broadcast_to", "broadcast_arrays", "concatenate", "stack", "shape", "ndim", "size"]


@eager(np.reshape)
def reshape(a, shape, order="C"):
    if order != "C":
        raise NotImplementedError("fnp.reshape: only order='C' is supported")
    a = to_value(a)
    av = get_aval(a)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError("fnp.reshape: can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or av.size % known:
            raise ValueError(f"cannot reshape array of size {av.size} into shape {shape}")
        shape = tuple(av.size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != av.size:
        raise ValueError(f"cannot reshape array of size {av.size} into shape {shape}")
    return lax.reshape(a, shape)


@eager(np.ravel)
def ravel(a, order="C"):
    return reshape(a, (-1,), order)


@eager(np.transpose)
def transpose(a, axes=None):
    a = to_value(a)
    nd = get_aval(a).ndim
    if axes is None:
        axes = tuple(range(nd))[::-1]
    axes = tuple(int(x) % nd if nd else 0 for x in axes)
    if sorted(axes) != list(range(nd)):
        raise ValueError(f"fnp.transpose: axes {axes} don't match array of rank {nd}")
    return lax.transpose(a, axes)


@eager(np.swapaxes)
def swapaxes(a, axis1, axis2):
    a = to_value(a)
    nd = get_aval(a).ndim
    perm = list(range(nd))
    i, j = canonical_axes("fnp.swapaxes", axis1, nd)[0], canonical_axes("fnp.swapaxes", axis2,
                                                                          nd)[0]
    perm[i], perm[j] = perm[j], perm[i]
    return lax.transpose(a, tuple(perm))


@eager(np.moveaxis)
def moveaxis(a, source, destination):
    a = to_value(a)
    nd = get_aval(a).ndim
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [s % nd for s in src]
    dst = [d % nd for d in dst]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return lax.transpose(a, tuple(order))


@eager(np.expand_dims)
def expand_dims(a, axis):
    a = to_value(a)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = get_aval(a).ndim + len(axes)
    return lax.expand_dims(a, canonical_axes("fnp.expand_dims", axes, nd))


@eager(np.squeeze)
def squeeze(a, axis=None):
    a = to_value(a)
    av = get_aval(a)
    if axis is None:
        axes = tuple(i for i, s in enumerate(av.shape) if s == 1)
    else:
        axes = canonical_axes("fnp.squeeze", axis, av.ndim)
        for ax in axes:
            if av.shape[ax] != 1:
                raise ValueError("cannot select an axis to squeeze out which has size not "
                                 "equal to one")
    return lax.squeeze(a, axes)


@eager(np.broadcast_to)
def broadcast_to(array, shape):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _broadcast_to(to_value(array), shape)


@eager(np.broadcast_arrays)
def broadcast_arrays(*args):
    vals = [to_value(a) for a in args]
    shape = broadcast_shapes("fnp.broadcast_arrays", *[get_aval(v).shape for v in vals])
    return tuple(_broadcast_to(v, shape) for v in vals)


def concatenate(arrays, axis=0, dtype=None):
    from funcad import core
    arrays = list(arrays)
    if core.is_eager() and all(not isinstance(a, core.Tracer) for a in arrays):
        return np.concatenate(arrays, axis=axis, dtype=dtype)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    dt = np.dtype(dtype) if dtype is not None else result_type(*[to_value(a) for a in arrays])
    vals = [asarray_of(to_value(a), dt) for a in arrays]
    if axis is None:
        vals = [lax.reshape(v, (get_aval(v).size,)) for v in vals]
        axis = 0
    nd = get_aval(vals[0]).ndim
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = canonical_axes("fnp.concatenate", axis, nd)[0]
    return lax.concatenate(vals, ax)


def stack(arrays, axis=0, dtype=None):
    from funcad import core
    arrays = list(arrays)
    if core.is_eager() and all(not isinstance(a, core.Tracer) for a in arrays):
        return np.stack(arrays, axis=axis, dtype=dtype)
    if not arrays:
        raise ValueError("need at least one array to stack")
    vals = [to_value(a) for a in arrays]
    shapes = {get_aval(v).shape for v in vals}
    if len(shapes) != 1:
        raise ValueError(f"all input arrays must have the same shape; got "
                         f"{sorted(shapes)}")
    nd = get_aval(vals[0]).ndim + 1
    ax = canonical_axes("fnp.stack", axis, nd)[0]
    return concatenate([lax.expand_dims(v, (ax,)) for v in vals], ax, dtype)


def shape(a):
    return get_aval(to_value(a)).shape


def ndim(a):
    return get_aval(to_value(a)).ndim


def size(a):
    return get_aval(to_value(a)).size
