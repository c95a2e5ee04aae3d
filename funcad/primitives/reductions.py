"""Reductions over static axes, arg-reductions and cumulative sums.

``reduce_sum`` is linear (its transpose broadcasts back). ``reduce_max``/``reduce_min`` pass
the tangent of the extreme element, splitting it evenly between ties as JAX does.
``reduce_prod`` differentiates exactly even with zeros in the input, via products of all
the other elements (exclusive prefix and suffix products).

The reductions lower as fused monoid reductions (``Reduce``); argmax/argmin and cumsum have
loop rules of their own, below their declarations.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.core import Primitive, ShapedArray, check_dtype, get_aval, int64, per_primitive
from funcad.lowering import Opaque, Reduce
from funcad.primitives._family import check_kind
from funcad.primitives.binary import add_p, div_p, eq_p, max_p, min_p, mul, mul_p
from funcad.primitives.elementwise import convert_element_type_p
from funcad.primitives.shape import (broadcast_in_dim, broadcast_in_dim_p, concatenate, pad,
                                     reshape, rev, slice_, transpose)
from funcad.rule_util import Zero, instantiate

__all__ = []
_add_reduce = np.add.reduce


def _export(fn):
    __all__.append(fn.__name__)
    return fn


def _check_axes(name, x, axes):
    nd = len(x.shape)
    for i, a in enumerate(axes):
        if not 0 <= a < nd or a in axes[:i]:
            raise TypeError(f"lax.{name}: axes {axes} are invalid for an array of rank "
                            f"{nd}")


def _reduce_abstract(name, kinds):
    def abstract_eval(x, *, axes):
        _check_axes(name, x, axes)
        if x.dtype.kind not in kinds:
            check_kind(name, x, kinds)
        shape = x.shape
        return ShapedArray(tuple([shape[i] for i in range(len(shape)) if i not in axes]),
                           x.dtype)
    return abstract_eval


def _reduce_batch(prim):
    def batch(vals, dims, *, axes):
        (x,), (d,) = vals, dims
        new_axes = tuple(a if a < d else a + 1 for a in axes)
        out_d = d - sum(1 for a in axes if a < d)
        return prim.bind(x, axes=new_axes), out_d
    return batch


def _kept_dims(ndim, axes):
    return tuple([i for i in range(ndim) if i not in axes])


def _expand_back(y, shape, axes):
    """Broadcast a reduced value back to the input shape (a tuple of ints)."""
    if not axes:
        return y
    return broadcast_in_dim_p.bind(y, shape=shape,
                                   broadcast_dimensions=_kept_dims(len(shape), axes))


# reduce_sum -----------------------------------------------------------------------------------

def _reduce_sum_transpose(ct, x, *, axes):
    return [_expand_back(instantiate(ct), x.aval.shape, axes)]


reduce_sum_p = Primitive("reduce_sum",
                         impl=lambda x, *, axes: _add_reduce(x, axes, x.dtype),
                         abstract_eval=_reduce_abstract("reduce_sum", "fic"),
                         transpose=_reduce_sum_transpose, linear=True,
                         batch=per_primitive(_reduce_batch),
                         lowering=Reduce("sum", add_p),
                         test_params=({"axes": (0,)}, {"axes": ()}, {"axes": (0, 1)},
                                      {"axes": (1,)}))


@_export
def reduce_sum(x, axes):
    axes = tuple(sorted(map(int, axes)))
    return reduce_sum_p.bind(x, axes=axes)


# reduce_max / reduce_min ----------------------------------------------------------------------

def _extremum_jvp(prim):
    def jvp(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        ans = prim.bind(x, axes=axes)
        a = get_aval(x)
        loc = convert_element_type_p.bind(eq_p.bind(x, _expand_back(ans, a.shape, axes)),
                                          new_dtype=a.dtype)
        # weights 1/count on the extreme elements, computed from primals (not staged): under
        # linearize only the product and the sum are linear equations
        w = div_p.bind(loc, _expand_back(reduce_sum_p.bind(loc, axes=axes), a.shape, axes))
        return ans, reduce_sum_p.bind(mul_p.bind(t, w), axes=axes)
    return jvp


def _np_reduce(ufunc):
    reduce = ufunc.reduce  # what np.max/np.min run, minus their Python wrappers

    def impl(x, *, axes):
        if x.size == 0 and axes:
            raise ValueError(f"zero-size array to reduction operation {ufunc.__name__} which "
                             f"has no identity")
        return reduce(x, axes)
    return impl


reduce_max_p = Primitive("reduce_max", impl=_np_reduce(np.maximum),
                         abstract_eval=_reduce_abstract("reduce_max", "fibc"),
                         jvp=per_primitive(_extremum_jvp), batch=per_primitive(_reduce_batch),
                         lowering=Reduce("max", max_p),
                         test_params=({"axes": (0,)}, {"axes": (0, 1)}))
reduce_min_p = Primitive("reduce_min", impl=_np_reduce(np.minimum),
                         abstract_eval=_reduce_abstract("reduce_min", "fibc"),
                         jvp=per_primitive(_extremum_jvp), batch=per_primitive(_reduce_batch),
                         lowering=Reduce("min", min_p),
                         test_params=({"axes": (1,)},))


@_export
def reduce_max(x, axes):
    return reduce_max_p.bind(x, axes=tuple(sorted(map(int, axes))))


@_export
def reduce_min(x, axes):
    return reduce_min_p.bind(x, axes=tuple(sorted(map(int, axes))))


# reduce_prod ----------------------------------------------------------------------------------

def _exclusive_cumprod_last(x):
    """Exclusive prefix products along the last axis, by doubling (log n steps)."""
    a = get_aval(x)
    n = a.shape[-1]
    nd = a.ndim
    one = np.asarray(1, a.dtype)
    # shift right by one: [1, x0, x1, ..., x_{n-2}]
    y = pad(slice_(x, (0,) * nd, a.shape[:-1] + (n - 1,)), one,
            ((0, 0, 0),) * (nd - 1) + ((1, 0, 0),))
    k = 1
    while k < n:
        shifted = pad(slice_(y, (0,) * nd, a.shape[:-1] + (n - k,)), one,
                      ((0, 0, 0),) * (nd - 1) + ((k, 0, 0),))
        y = mul(y, shifted)
        k *= 2
    return y


def _reduce_prod_jvp(primals, tangents, *, axes):
    (x,), (t,) = primals, tangents
    ans = reduce_prod(x, axes)
    a = get_aval(x)
    if not axes or a.size == 0:
        return ans, (t if not axes else reduce_sum(mul(t, x), axes))
    kept = _kept_dims(a.ndim, axes)
    perm = kept + tuple(axes)
    kept_shape = tuple(a.shape[i] for i in kept)
    n = math.prod([a.shape[i] for i in axes])
    flat = reshape(transpose(x, perm), kept_shape + (n,))
    tflat = reshape(transpose(t, perm), kept_shape + (n,))
    nd = len(kept_shape) + 1
    left = _exclusive_cumprod_last(flat)
    right = rev(_exclusive_cumprod_last(rev(flat, (nd - 1,))), (nd - 1,))
    others = mul(left, right)
    return ans, reduce_sum(mul(tflat, others), (nd - 1,))


reduce_prod_p = Primitive("reduce_prod",
                          impl=lambda x, *, axes: np.prod(x, axis=axes, dtype=x.dtype),
                          abstract_eval=_reduce_abstract("reduce_prod", "fic"),
                          jvp=_reduce_prod_jvp, batch=per_primitive(_reduce_batch),
                          lowering=Reduce("prod", mul_p), domain=((-1.5, 1.5),),
                          test_params=({"axes": (0,)}, {"axes": (0, 1)}))


@_export
def reduce_prod(x, axes):
    return reduce_prod_p.bind(x, axes=tuple(sorted(map(int, axes))))


# argmax / argmin -----------------------------------------------------------------------------

def _arg_abstract(name):
    def abstract_eval(x, *, axis, index_dtype):
        check_kind(name, x, "fib")  # complex has no order (JAX's rule)
        _check_axes(name, x, (axis,))
        if x.shape[axis] == 0:
            raise ValueError(f"lax.{name}: attempt to get {name} of an empty sequence")
        return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i != axis), index_dtype)
    return abstract_eval


def _arg_batch(prim):
    def batch(vals, dims, *, axis, index_dtype):
        (x,), (d,) = vals, dims
        new_axis = axis if axis < d else axis + 1
        return prim.bind(x, axis=new_axis, index_dtype=index_dtype), d if d < new_axis else d - 1
    return batch


def _arg_jvp(prim):
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        return out, Zero(get_aval(out))
    return jvp


def _arg_lowering(op):
    """The loop rule of argmax (``op`` ">") or argmin ("<")."""
    def lower_arg(ctx, eqn):
        (x,) = eqn.inputs
        out = eqn.outvars[0]
        axis = eqn.params["axis"]
        shape = x.aval.shape
        outer = [s for k, s in enumerate(shape) if k != axis]
        ctx.alloc(out)
        best, bi, v = ctx.fresh("best"), ctx.fresh("bi"), ctx.fresh("v")
        nan = x.aval.dtype.kind == "f"
        with ctx.loops(outer, parallel=True) as o:
            first = list(o)
            first.insert(axis, "0")
            ctx.em.line(f"{best} = {ctx.read(x, first)}")
            ctx.em.line(f"{bi} = 0")
            with ctx.loops([shape[axis]], first=len(o)) as (i,):
                idx = list(o)
                idx.insert(axis, i)
                ctx.em.line(f"{v} = {ctx.read(x, idx)}")
                cond = f"{v} {op} {best}"
                if nan:   # the first NaN wins, as in NumPy
                    cond += f" or ({v} != {v} and {best} == {best})"
                with ctx.em.block(f"if {cond}:"):
                    ctx.em.line(f"{best} = {v}")
                    ctx.em.line(f"{bi} = {i}")
            ctx.store(out, o, ctx.cast(bi, eqn.params["index_dtype"]))
    return Opaque(lower_arg, fresh=True)




argmax_p = Primitive("argmax", abstract_eval=_arg_abstract("argmax"),
                     impl=lambda x, *, axis, index_dtype: np.argmax(x, axis).astype(index_dtype),
                     jvp=per_primitive(_arg_jvp), batch=per_primitive(_arg_batch),
                     lowering=_arg_lowering(">"),
                     test_params=({"axis": 0, "index_dtype": np.dtype("int64")},
                                  {"axis": 1, "index_dtype": np.dtype("int32")}))
argmin_p = Primitive("argmin", abstract_eval=_arg_abstract("argmin"),
                     impl=lambda x, *, axis, index_dtype: np.argmin(x, axis).astype(index_dtype),
                     jvp=per_primitive(_arg_jvp), batch=per_primitive(_arg_batch),
                     lowering=_arg_lowering("<"),
                     test_params=({"axis": 0, "index_dtype": np.dtype("int64")},
                                  {"axis": 1, "index_dtype": np.dtype("int32")}))


@_export
def argmax(x, axis, index_dtype=int64):
    return argmax_p.bind(x, axis=int(axis), index_dtype=check_dtype(index_dtype))


@_export
def argmin(x, axis, index_dtype=int64):
    return argmin_p.bind(x, axis=int(axis), index_dtype=check_dtype(index_dtype))


# cumsum ---------------------------------------------------------------------------------------

def _cumsum_impl(x, *, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
    return np.cumsum(x, axis=axis, dtype=x.dtype)


def _cumsum_abstract(x, *, axis, reverse):
    _check_axes("cumsum", x, (axis,))
    check_kind("cumsum", x, "fic")
    return x


def _cumsum_batch(vals, dims, *, axis, reverse):
    (x,), (d,) = vals, dims
    return cumsum(x, axis if axis < d else axis + 1, reverse), d


def _cumsum_rule(ctx, eqn):
    (x,) = eqn.inputs
    out = eqn.outvars[0]
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    shape = x.aval.shape
    outer = [s for k, s in enumerate(shape) if k != axis]
    ctx.alloc(out)
    acc = ctx.fresh("acc")
    zero = -0.0 if out.aval.dtype.kind == "f" else 0   # -0.0 + x == x, as NumPy's cumsum
    with ctx.loops(outer, parallel=True) as o:
        ctx.em.line(f"{acc} = {ctx.lit(zero, out.aval.dtype)}")
        with ctx.loops([shape[axis]], first=len(o)) as (i,):
            j = f"{ctx.dim(shape[axis])} - 1 - {i}" if reverse else i
            idx = list(o)
            idx.insert(axis, j)
            ctx.em.line(f"{acc} += {ctx.read(x, idx)}")
            ctx.store(out, idx, acc)


def _cumsum_element(rw, eqn, ins):
    (x,) = ins
    axis, reverse = eqn.params["axis"], eqn.params["reverse"]
    dt = eqn.outvars[0].aval.dtype
    xm = np.moveaxis(x, axis, -1)
    res = np.empty(xm.shape, object)
    n = xm.shape[-1]
    for idx in np.ndindex(xm.shape[:-1]):
        acc = None
        for k in (range(n - 1, -1, -1) if reverse else range(n)):
            v = xm[idx + (k,)]
            acc = v if acc is None else rw.scalar(add_p, [acc, v], dt)
            res[idx + (k,)] = acc
    return [np.moveaxis(res, -1, axis)]


cumsum_p = Primitive("cumsum", impl=_cumsum_impl, abstract_eval=_cumsum_abstract,
                     transpose=lambda ct, x, *, axis, reverse: [
                         cumsum(instantiate(ct), axis, not reverse)],
                     batch=_cumsum_batch, linear=True,
                     lowering=Opaque(_cumsum_rule, fresh=True, element=_cumsum_element),
                     test_params=({"axis": 0, "reverse": False}, {"axis": 0, "reverse": True},
                                  {"axis": 1, "reverse": False}))


@_export
def cumsum(x, axis=0, reverse=False):
    return cumsum_p.bind(x, axis=int(axis), reverse=bool(reverse))


__all__ += ["reduce_sum_p", "reduce_max_p", "reduce_min_p", "reduce_prod_p", "argmax_p",
            "argmin_p", "cumsum_p"]
