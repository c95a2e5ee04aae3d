"""Linear algebra primitives: ``dot_general`` (contractions with batch dimensions).

``dot_general(x, y, dimension_numbers=((lc, rc), (lb, rb)))`` contracts axes ``lc`` of x with
``rc`` of y, pairs batch axes ``lb`` with ``rb``, and returns axes ordered as
``batch + free axes of x + free axes of y``. It is bilinear: its jvp is two contractions and
its transpose with respect to either operand is another dot_general and a permutation.
"""
from __future__ import annotations

import numpy as np

from funcad import lax
from funcad.core import Primitive, ShapedArray, get_aval
from funcad.interpreters.batching import bdim_to_front, moveaxis
from funcad.interpreters.transpose import UndefinedPrimal
from funcad.interpreters.jvp import Zero, add_tangents, instantiate

__all__ = ["dot_general", "dot_general_p"]


def _undef(x):
    return type(x) is UndefinedPrimal


def _aval(x):
    return x.aval if _undef(x) else get_aval(x)


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot_abstract(x, y, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    if x.dtype != y.dtype:
        raise TypeError(f"lax.dot_general requires operands of one dtype, got {x.dtype} and "
                        f"{y.dtype}; use fnp.dot/fnp.matmul for type promotion")
    if x.dtype.kind == "b":
        raise TypeError("lax.dot_general does not accept bool operands")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise TypeError(f"lax.dot_general: dimension_numbers {dimension_numbers} pair "
                        f"different numbers of axes")
    for a, b in list(zip(lc, rc)) + list(zip(lb, rb)):
        if not (0 <= a < x.ndim and 0 <= b < y.ndim) or x.shape[a] != y.shape[b]:
            raise TypeError(f"lax.dot_general: shapes {x.shape} and {y.shape} do not match "
                            f"for dimension_numbers {dimension_numbers}")
    shape = ([x.shape[i] for i in lb] + [x.shape[i] for i in _free(x.ndim, lc, lb)]
             + [y.shape[i] for i in _free(y.ndim, rc, rb)])
    return ShapedArray(shape, preferred_element_type or x.dtype)


def _dot_impl(x, y, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    lf, rf = _free(x.ndim, lc, lb), _free(y.ndim, rc, rb)
    bshape = [x.shape[i] for i in lb]
    lfs, rfs = [x.shape[i] for i in lf], [y.shape[i] for i in rf]
    nb, nc = int(np.prod(bshape)), int(np.prod([x.shape[i] for i in lc]))
    xm = np.transpose(x, list(lb) + lf + list(lc)).reshape(nb, int(np.prod(lfs)), nc)
    ym = np.transpose(y, list(rb) + list(rc) + rf).reshape(nb, nc, int(np.prod(rfs)))
    out = np.matmul(xm, ym).reshape(bshape + lfs + rfs)
    return out.astype(preferred_element_type or x.dtype, copy=False)


def _ranges_like(*seqs):
    start = 0
    for s in seqs:
        yield list(range(start, start + len(s)))
        start += len(s)


def _transpose_lhs(ct, x_aval, y, dimension_numbers, swap_ans=False):
    (lc, rc), (lb, rb) = dimension_numbers
    x_kept = _free(x_aval.ndim, lc, lb)
    y_kept = _free(get_aval(y).ndim, rc, rb)
    if swap_ans:
        ans_batch, ans_y, _ = _ranges_like(lb, y_kept, x_kept)
    else:
        ans_batch, _, ans_y = _ranges_like(lb, x_kept, y_kept)
    dims = ((tuple(ans_y), tuple(y_kept)), (tuple(ans_batch), tuple(rb)))
    x_contract_sorted_by_y = [lc[i] for i in np.argsort(rc)]
    out_axes = np.argsort(list(lb) + x_kept + x_contract_sorted_by_y)
    out = dot_general(ct, y, dims)
    return lax.transpose(out, tuple(int(a) for a in out_axes))


def _transpose_rhs(ct, x, y_aval, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    swapped = ((rc, lc), (rb, lb))
    return _transpose_lhs(ct, y_aval, x, swapped, swap_ans=True)


def _dot_transpose(ct, x, y, *, dimension_numbers, preferred_element_type=None):
    if _undef(x) and _undef(y):
        raise TypeError("lax.dot_general: cannot transpose a product of two linear values")
    ct = instantiate(ct)
    if _undef(x):
        return [_transpose_lhs(ct, x.aval, y, dimension_numbers), None]
    return [None, _transpose_rhs(ct, x, y.aval, dimension_numbers)]


def _dot_jvp(primals, tangents, *, dimension_numbers, preferred_element_type=None):
    x, y = primals
    tx, ty = tangents
    kw = dict(dimension_numbers=dimension_numbers)
    out = dot_general(x, y, **kw)
    t = Zero(get_aval(out))
    if type(tx) is not Zero:
        t = add_tangents(t, dot_general(tx, y, **kw))
    if type(ty) is not Zero:
        t = add_tangents(t, dot_general(x, ty, **kw))
    return out, t


def _shift(dims, at):
    return tuple(d + 1 if d >= at else d for d in dims)


def _dot_batch(vals, dims, *, dimension_numbers, preferred_element_type=None):
    (x, y), (dx, dy) = vals, dims
    (lc, rc), (lb, rb) = dimension_numbers
    if dx is not None and dy is not None:
        x, y = moveaxis(x, dx, 0), moveaxis(y, dy, 0)
        dn = ((_shift(lc, 0), _shift(rc, 0)), ((0,) + _shift(lb, 0), (0,) + _shift(rb, 0)))
        return dot_general(x, y, dn), 0
    if dx is not None:
        # the batch axis is a free axis of x: find where it lands in the output
        dn = ((_shift(lc, dx), rc), (_shift(lb, dx), rb))
        xf = _free(get_aval(x).ndim, dn[0][0], dn[1][0])
        return dot_general(x, y, dn), len(lb) + xf.index(dx)
    dn = ((lc, _shift(rc, dy)), (lb, _shift(rb, dy)))
    yf = _free(get_aval(y).ndim, dn[0][1], dn[1][1])
    xa = get_aval(x)
    return dot_general(x, y, dn), len(lb) + len(_free(xa.ndim, lc, lb)) + yf.index(dy)


dot_general_p = Primitive("dot_general", impl=_dot_impl, abstract_eval=_dot_abstract,
                          jvp=_dot_jvp, transpose=_dot_transpose, batch=_dot_batch,
                          test_params=({"dimension_numbers": (((1,), (0,)), ((), ()))},))


def dot_general(x, y, dimension_numbers, preferred_element_type=None):
    """General contraction; see the module docstring."""
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(int(a) for a in lc), tuple(int(a) for a in rc)),
          (tuple(int(a) for a in lb), tuple(int(a) for a in rb)))
    return dot_general_p.bind(x, y, dimension_numbers=dn)
