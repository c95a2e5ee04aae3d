"""Shape primitives: broadcasting, reshaping, permuting, slicing, padding, joining, iota.

All of them but iota are linear in their array operands, so each declares ``linear=True``
and a ``transpose``; the jvp is derived (the primitive applied to the tangents). Batching
rules keep the batch axis where it is cheap to keep and say where it ends up.

Their parameters are static: indexing with traced indices (dynamic_slice, gather, scatter)
lives in ``indexing.py``.
"""
from __future__ import annotations

import math
from functools import partial

import numpy as np

from funcad.core import Primitive, ShapedArray, check_dtype, get_aval
from funcad.primitives._shape_family import aval_of as _aval, declare_linear
from funcad.primitives._shape_family import one_arg as _one_arg, rand as _rand, undef as _undef
from funcad.primitives import binary as bi, elementwise as ew, shape_lowering as _lw
from funcad.rule_util import Zero, bdim_to_front, instantiate, moveaxis, needs_axis_size

__all__ = []
_declare = partial(declare_linear, exports=__all__)


def _export(fn):
    __all__.append(fn.__name__)
    return fn


# ---------------------------------------------------------------------------------------------
# broadcast_in_dim

def _bid_abstract(x, *, shape, broadcast_dimensions):
    bd = broadcast_dimensions
    if len(bd) != x.ndim:
        raise TypeError(f"lax.broadcast_in_dim: broadcast_dimensions {bd} must name one output "
                        f"axis for each of the operand's {x.ndim} axes")
    for i, d in enumerate(bd):
        if not 0 <= d < len(shape) or x.shape[i] not in (1, shape[d]):
            raise TypeError(f"lax.broadcast_in_dim: cannot broadcast operand of shape "
                            f"{x.shape} to {shape} with broadcast_dimensions {bd}")
    if list(bd) != sorted(bd):
        raise TypeError(f"lax.broadcast_in_dim: broadcast_dimensions {bd} must be increasing")
    return ShapedArray(shape, x.dtype)


_BID_COPY_LIMIT = 2048  # elements; see _bid_impl


def _bid_impl(x, *, shape, broadcast_dimensions):
    if type(x) is not np.ndarray:
        x = np.asarray(x)
    nd = x.ndim
    # broadcast_dimensions increase: they are the trailing axes (NumPy's own alignment, no
    # reshape needed) exactly when the first one is
    if nd and broadcast_dimensions[0] != len(shape) - nd:
        expanded = [1] * len(shape)
        for i, d in enumerate(broadcast_dimensions):
            expanded[d] = x.shape[i]
        x = x.reshape(expanded)
    if math.prod(shape) <= _BID_COPY_LIMIT:
        # Small results are filled into a fresh array: several times cheaper than building
        # np.broadcast_to's read-only view, and as safe (nothing aliases).
        out = np.empty(shape, x.dtype)
        out[...] = x
        return out
    return np.broadcast_to(x, shape)


def _bid_transpose(ct, x, *, shape, broadcast_dimensions):
    # Sum over the new axes and over the operand's size-1 axes that were stretched (one
    # reduction), then put those size-1 axes back.
    xs = x.aval.shape
    bd = broadcast_dimensions
    axes = [d for d in range(len(shape)) if d not in bd]
    stretched = False
    for i, d in enumerate(bd):
        if xs[i] == 1 and shape[d] != 1:
            axes.append(d)
            stretched = True
    out = reduce_sum_(ct, tuple(sorted(axes))) if axes else ct
    return [reshape_p.bind(out, new_sizes=xs) if stretched else out]


def _bid_batch(vals, dims, *, shape, broadcast_dimensions):
    (x,), (d,) = vals, dims
    x = moveaxis(x, d, 0)
    size = get_aval(x).shape[0]
    return broadcast_in_dim(x, (size,) + tuple(shape),
                            (0,) + tuple(b + 1 for b in broadcast_dimensions)), 0


def _bid_test_args(rng, dtype, params):
    # every other operand axis has size 1, so both kinds of broadcasting are exercised
    bd, shape = params["broadcast_dimensions"], params["shape"]
    return [_rand(rng, tuple(shape[d] if i % 2 == 0 else 1 for i, d in enumerate(bd)), dtype)]


broadcast_in_dim_p = _declare(
    "broadcast_in_dim", _bid_impl, _bid_abstract, _bid_transpose, _bid_batch,
    lowering=_lw.BROADCAST_IN_DIM, test_args=_bid_test_args,
    test_params=({"shape": (3, 4), "broadcast_dimensions": (0, 1)},
                 {"shape": (2, 3, 4), "broadcast_dimensions": (1, 2)},
                 {"shape": (3, 5, 1), "broadcast_dimensions": (0, 2)},
                 {"shape": (2, 3), "broadcast_dimensions": ()}))


@_export
def broadcast_in_dim(x, shape, broadcast_dimensions):
    """Broadcast ``x`` to ``shape``; operand axis i becomes output axis
    ``broadcast_dimensions[i]``."""
    shape = tuple(map(int, shape))
    bd = tuple(map(int, broadcast_dimensions))
    if isinstance(x, (int, float, bool)):
        x = np.asarray(x)
    if get_aval(x).shape == shape and bd == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=bd)


@_export
def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value`` (a scalar broadcast, never a copy)."""
    dt = np.dtype(dtype) if dtype is not None else get_aval(fill_value).dtype
    if isinstance(fill_value, (int, float, bool, np.generic, np.ndarray)):
        fill_value = np.asarray(fill_value, dt)
    else:
        fill_value = ew.convert_element_type(fill_value, dt)
    return broadcast_in_dim(fill_value, tuple(shape), ())


# ---------------------------------------------------------------------------------------------
# reshape

def _reshape_abstract(x, *, new_sizes):
    if math.prod(new_sizes) != x.size:
        raise TypeError(f"lax.reshape: cannot reshape an array of shape {x.shape} "
                        f"({x.size} elements) into shape {new_sizes}")
    return ShapedArray(new_sizes, x.dtype)


def _reshape_batch(vals, dims, *, new_sizes):
    (x,), (d,) = vals, dims
    x = moveaxis(x, d, 0)
    return reshape(x, (get_aval(x).shape[0],) + tuple(new_sizes)), 0


def _reshape_impl(x, *, new_sizes):
    return x.reshape(new_sizes) if type(x) is np.ndarray else np.reshape(x, new_sizes)


reshape_p = _declare("reshape", _reshape_impl,
                     _reshape_abstract,
                     lambda ct, x, *, new_sizes: [reshape_p.bind(ct, new_sizes=x.aval.shape)],
                     _reshape_batch, lowering=_lw.RESHAPE,
                     test_args=_one_arg((3, 4)),
                     test_params=({"new_sizes": (12,)}, {"new_sizes": (4, 3)},
                                  {"new_sizes": (2, 3, 2)}, {"new_sizes": (2, 1, 6)}))


@_export
def reshape(x, new_sizes):
    new_sizes = tuple(map(int, new_sizes))
    if get_aval(x).shape == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


# ---------------------------------------------------------------------------------------------
# transpose

def _transpose_abstract(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise TypeError(f"lax.transpose: permutation {permutation} is not a permutation of "
                        f"the axes of an array of rank {x.ndim}")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


def _transpose_transpose(ct, x, *, permutation):
    return [transpose(ct, tuple(np.argsort(permutation).tolist()))]


def _transpose_batch(vals, dims, *, permutation):
    (x,), (d,) = vals, dims
    perm = (d,) + tuple(p if p < d else p + 1 for p in permutation)
    return transpose(x, perm), 0


transpose_p = _declare("transpose", lambda x, *, permutation: np.transpose(x, permutation),
                       _transpose_abstract, _transpose_transpose, _transpose_batch,
                       lowering=_lw.TRANSPOSE, test_args=_one_arg((2, 3, 4)),
                       test_params=({"permutation": (1, 0, 2)}, {"permutation": (2, 0, 1)}))


@_export
def transpose(x, permutation):
    permutation = tuple(map(int, permutation))
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


# ---------------------------------------------------------------------------------------------
# squeeze and expand_dims

def _squeeze_abstract(x, *, dimensions):
    for d in dimensions:
        if not 0 <= d < x.ndim or x.shape[d] != 1:
            raise TypeError(f"lax.squeeze: cannot squeeze axis {d} of an array of shape "
                            f"{x.shape}: it must exist and have size 1")
    return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i not in dimensions),
                       x.dtype)


def _squeeze_batch(vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    x = moveaxis(x, d, 0)
    return squeeze(x, tuple(a + 1 for a in dimensions)), 0


squeeze_p = _declare("squeeze", lambda x, *, dimensions: np.squeeze(x, dimensions),
                     _squeeze_abstract,
                     lambda ct, x, *, dimensions: [reshape(ct, x.aval.shape)], _squeeze_batch,
                     lowering=_lw.SQUEEZE, test_args=_one_arg((3, 1, 4, 1)),
                     test_params=({"dimensions": (1,)}, {"dimensions": (1, 3)}))


@_export
def squeeze(x, dimensions):
    dimensions = tuple(sorted(int(d) for d in dimensions))
    if not dimensions:
        return x
    return squeeze_p.bind(x, dimensions=dimensions)


def _expand_dims_abstract(x, *, dimensions):
    nd = x.ndim + len(dimensions)
    if any(not 0 <= d < nd for d in dimensions) or len(set(dimensions)) != len(dimensions):
        raise TypeError(f"lax.expand_dims: invalid dimensions {dimensions} for rank {x.ndim}")
    shape, it = [], iter(x.shape)
    for i in range(nd):
        shape.append(1 if i in dimensions else next(it))
    return ShapedArray(shape, x.dtype)


def _expand_dims_batch(vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    x = moveaxis(x, d, 0)
    return expand_dims(x, tuple(a + 1 for a in dimensions)), 0


expand_dims_p = _declare("expand_dims",
                         lambda x, *, dimensions: np.expand_dims(x, dimensions),
                         _expand_dims_abstract,
                         lambda ct, x, *, dimensions: [squeeze(ct, dimensions)],
                         _expand_dims_batch, lowering=_lw.EXPAND_DIMS,
                         test_args=_one_arg((3, 4)),
                         test_params=({"dimensions": (0,)}, {"dimensions": (1, 3)}))


@_export
def expand_dims(x, dimensions):
    dimensions = tuple(sorted(int(d) for d in dimensions))
    if not dimensions:
        return x
    return expand_dims_p.bind(x, dimensions=dimensions)


# ---------------------------------------------------------------------------------------------
# rev

def _rev_batch(vals, dims, *, dimensions):
    (x,), (d,) = vals, dims
    return rev(x, tuple(a if a < d else a + 1 for a in dimensions)), d


def _rev_abstract(x, *, dimensions):
    if any(not 0 <= a < x.ndim for a in dimensions):
        raise TypeError(f"lax.rev: dimensions {dimensions} out of range for rank {x.ndim}")
    return x


rev_p = _declare("rev", lambda x, *, dimensions: np.flip(x, dimensions), _rev_abstract,
                 lambda ct, x, *, dimensions: [rev(ct, dimensions)], _rev_batch,
                 lowering=_lw.REV, test_args=_one_arg((3, 4)),
                 test_params=({"dimensions": (0,)}, {"dimensions": (0, 1)}))


@_export
def rev(x, dimensions):
    dimensions = tuple(sorted(int(d) for d in dimensions))
    if not dimensions:
        return x
    return rev_p.bind(x, dimensions=dimensions)


# ---------------------------------------------------------------------------------------------
# slice (static, strided)

def _slice_sizes(start, limit, strides):
    return tuple(max(0, -(-(l - s) // k)) for s, l, k in zip(start, limit, strides))


def _slice_abstract(x, *, start_indices, limit_indices, strides):
    if not (len(start_indices) == len(limit_indices) == len(strides) == x.ndim):
        raise TypeError(f"lax.slice: start/limit/strides must have one entry per axis "
                        f"(rank {x.ndim})")
    for s, l, k, n in zip(start_indices, limit_indices, strides, x.shape):
        if not (0 <= s <= l <= n) or k < 1:
            raise TypeError(f"lax.slice: invalid slice start={start_indices} "
                            f"limit={limit_indices} strides={strides} for shape {x.shape}")
    return ShapedArray(_slice_sizes(start_indices, limit_indices, strides), x.dtype)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    return x[tuple(slice(s, l, k) for s, l, k in zip(start_indices, limit_indices, strides))]


def _slice_transpose(ct, x, *, start_indices, limit_indices, strides):
    shape = x.aval.shape
    out_shape = _slice_sizes(start_indices, limit_indices, strides)
    cfg = []
    for s, k, m, n in zip(start_indices, strides, out_shape, shape):
        if m == 0:
            cfg.append((0, n, 0))
        else:
            cfg.append((s, n - (s + (m - 1) * k + 1), k - 1))
    ct = instantiate(ct)
    return [pad(ct, np.asarray(0, x.aval.dtype), tuple(cfg))]


def _slice_batch(vals, dims, *, start_indices, limit_indices, strides):
    (x,), (d,) = vals, dims
    n = get_aval(x).shape[d]
    ins = lambda seq, v: tuple(seq[:d]) + (v,) + tuple(seq[d:])
    return slice_(x, ins(start_indices, 0), ins(limit_indices, n), ins(strides, 1)), d


slice_p = _declare(
    "slice", _slice_impl, _slice_abstract, _slice_transpose, _slice_batch,
    lowering=_lw.SLICE, test_args=_one_arg((5, 6)),
    test_params=({"start_indices": (1, 0), "limit_indices": (4, 6), "strides": (1, 2)},
                 {"start_indices": (0, 2), "limit_indices": (5, 5), "strides": (2, 1)},
                 {"start_indices": (1, 1), "limit_indices": (3, 4), "strides": (1, 1)}))


@_export
def slice_(x, start_indices, limit_indices, strides=None):
    """Static slice ``x[start:limit:stride]`` along every axis."""
    start = tuple(int(s) for s in start_indices)
    limit = tuple(int(s) for s in limit_indices)
    strides = (1,) * len(start) if strides is None else tuple(int(s) for s in strides)
    if start == (0,) * len(start) and limit == get_aval(x).shape and set(strides) <= {1}:
        return x
    return slice_p.bind(x, start_indices=start, limit_indices=limit, strides=strides)


# ---------------------------------------------------------------------------------------------
# pad: lo, hi and interior padding (non-negative)

def _pad_abstract(x, padval, *, padding_config):
    if padval.shape != () or padval.dtype != x.dtype:
        raise TypeError(f"lax.pad: the padding value must be a scalar of dtype {x.dtype}, "
                        f"got {padval.str_short()}")
    if len(padding_config) != x.ndim:
        raise TypeError(f"lax.pad: padding_config needs one (lo, hi, interior) per axis")
    shape = []
    for n, (lo, hi, it) in zip(x.shape, padding_config):
        if lo < 0 or hi < 0 or it < 0:
            raise TypeError("lax.pad: negative padding is not supported; use lax.slice")
        shape.append(lo + hi + n + max(n - 1, 0) * it)
    return ShapedArray(shape, x.dtype)


def _pad_impl(x, padval, *, padding_config):
    shape = _pad_abstract(get_aval(x), get_aval(padval), padding_config=padding_config).shape
    out = np.full(shape, padval, dtype=x.dtype)
    idx = tuple(slice(lo, lo + (n - 1) * (it + 1) + 1 if n else lo, it + 1)
                for n, (lo, hi, it) in zip(x.shape, padding_config))
    out[idx] = x
    return out


def _pad_transpose(ct, x, padval, *, padding_config):
    ct = instantiate(ct)
    shape = _aval(x).shape
    start = tuple(lo for lo, hi, it in padding_config)
    limit = tuple(lo + (n - 1) * (it + 1) + 1 if n else lo
                  for n, (lo, hi, it) in zip(shape, padding_config))
    strides = tuple(it + 1 for lo, hi, it in padding_config)
    ct_x = slice_(ct, start, limit, strides)
    ct_x = reshape(ct_x, shape) if get_aval(ct_x).shape != shape else ct_x
    ct_pad = None
    if _undef(padval):
        axes = tuple(range(len(shape)))
        ct_pad = bi.sub(reduce_sum_(ct, axes), reduce_sum_(ct_x, axes))
    return [ct_x if _undef(x) else None, ct_pad]


def _pad_batch(vals, dims, *, padding_config):
    (x, pv), (dx, dp) = vals, dims
    if dp is not None:
        # a batched padding value: pad with zeros, then select the padded positions
        size = get_aval(pv).shape[dp]
        x = bdim_to_front(x, dx, size)
        mask = pad(full(get_aval(x).shape[1:], True, np.bool_),
                   np.asarray(False), padding_config)
        zero = np.asarray(0, get_aval(x).dtype)
        padded = pad(x, zero, ((0, 0, 0),) + tuple(padding_config))
        shape = get_aval(padded).shape
        pvb = broadcast_in_dim(moveaxis(pv, dp, 0), shape, (0,))
        maskb = broadcast_in_dim(mask, shape, tuple(range(1, len(shape))))
        return ew.select_n(maskb, pvb, padded), 0
    cfg = tuple(padding_config[:dx]) + ((0, 0, 0),) + tuple(padding_config[dx:])
    return pad(x, pv, cfg), dx


pad_p = _declare("pad", _pad_impl, _pad_abstract, _pad_transpose, _pad_batch,
                 lowering=_lw.PAD,
                 test_args=lambda rng, dtype: [_rand(rng, (3, 4), dtype), _rand(rng, (), dtype)],
                 test_params=({"padding_config": ((1, 2, 0), (0, 1, 1))},
                              {"padding_config": ((0, 0, 2), (2, 0, 0))}))


@_export
def pad(x, padding_value, padding_config):
    """Pad ``x`` with ``padding_value``: ``padding_config`` is one (lo, hi, interior) per axis."""
    cfg = tuple((int(a), int(b), int(c)) for a, b, c in padding_config)
    if isinstance(padding_value, (int, float, bool)):
        padding_value = np.asarray(padding_value, get_aval(x).dtype)
    return pad_p.bind(x, padding_value, padding_config=cfg)


# ---------------------------------------------------------------------------------------------
# concatenate

def _concat_abstract(*xs, dimension):
    x0 = xs[0]
    if not 0 <= dimension < x0.ndim:
        raise TypeError(f"lax.concatenate: dimension {dimension} out of range for rank "
                        f"{x0.ndim}")
    for x in xs:
        if (x.ndim != x0.ndim or x.dtype != x0.dtype or
                any(a != b for i, (a, b) in enumerate(zip(x.shape, x0.shape))
                    if i != dimension)):
            raise TypeError(f"lax.concatenate: operands must agree in dtype and in every axis "
                            f"but {dimension}; got {', '.join(y.str_short() for y in xs)}")
    shape = list(x0.shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(shape, x0.dtype)


def _concat_transpose(ct, *xs, dimension):
    ct = instantiate(ct)
    shape = get_aval(ct).shape
    out, start = [], 0
    for x in xs:
        n = _aval(x).shape[dimension]
        if _undef(x):
            lo = [0] * len(shape)
            hi = list(shape)
            lo[dimension], hi[dimension] = start, start + n
            out.append(slice_(ct, lo, hi))
        else:
            out.append(None)
        start += n
    return out


@needs_axis_size
def _concat_batch(vals, dims, *, dimension, axis_size):
    vals = [bdim_to_front(v, d, axis_size) for v, d in zip(vals, dims)]
    return concatenate(vals, dimension + 1), 0


def _concat_test_args(rng, dtype, params):
    sizes = (2, 1, 4)
    return [_rand(rng, (n, 3) if params["dimension"] == 0 else (3, n), dtype) for n in sizes]


concatenate_p = _declare("concatenate",
                         lambda *xs, dimension: np.concatenate(xs, axis=dimension),
                         _concat_abstract, _concat_transpose, _concat_batch,
                         lowering=_lw.CONCATENATE, test_args=_concat_test_args,
                         test_params=({"dimension": 0}, {"dimension": 1}))


@_export
def concatenate(operands, dimension):
    operands = list(operands)
    if len(operands) == 1:
        return operands[0]
    return concatenate_p.bind(*operands, dimension=int(dimension))


# ---------------------------------------------------------------------------------------------
# iota

def _iota_abstract(*, dtype, shape, dimension):
    return ShapedArray(shape, dtype)


def _iota_impl(*, dtype, shape, dimension):
    r = np.arange(shape[dimension], dtype=dtype)
    return np.broadcast_to(r.reshape([-1 if i == dimension else 1 for i in range(len(shape))]),
                           shape)


iota_p = Primitive("iota", impl=_iota_impl, abstract_eval=_iota_abstract,
                   jvp=lambda p, t, **kw: (iota_p.bind(**kw), Zero(_iota_abstract(**kw))),
                   lowering=_lw.IOTA,
                   test_args=lambda rng: [],
                   test_params=({"dtype": np.dtype("int64"), "shape": (3, 4), "dimension": 1},
                                {"dtype": np.dtype("float64"), "shape": (2, 3), "dimension": 0},
                                {"dtype": np.dtype("int32"), "shape": (5,), "dimension": 0}))
__all__.append("iota_p")


@_export
def iota(dtype, size):
    """``arange(size)`` as a primitive."""
    return iota_p.bind(dtype=check_dtype(dtype), shape=(int(size),), dimension=0)


@_export
def broadcasted_iota(dtype, shape, dimension):
    return iota_p.bind(dtype=check_dtype(dtype), shape=tuple(int(s) for s in shape),
                       dimension=int(dimension))


def reduce_sum_(x, axes):
    """``reduce_sum`` over sorted int ``axes``."""
    from funcad.primitives.reductions import reduce_sum  # cycle: reductions builds on shape
    return reduce_sum(x, axes)
