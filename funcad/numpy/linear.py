"""Products and contractions of ``funcad.numpy``: dot, matmul (the ``@`` operator), vdot, inner,
outer, tensordot, einsum, and the diagonal and trace they lean on.

Every product lowers to one ``dot_general``, whose output axes (batch, free axes of the first
operand, free axes of the second) already follow NumPy's order for dot, inner, outer and
tensordot. ``einsum`` parses its subscripts into one label per axis, takes diagonals for labels
repeated within an operand, sums labels no one else needs, then contracts the operands two at
a time, choosing pairs that share a label (smallest result first), so it never builds an outer
product while a contraction is available. Types follow NumPy: the operands' result dtype;
products of bools are computed in int64 and mean "any pair is True", as NumPy's are.
"""
from __future__ import annotations

import math
import operator

import numpy as np

from funcad import lax
from funcad.core import check_dtype, get_aval
from funcad.primitives.linalg import dot_general_p
from funcad.numpy._util import (asarray_of, broadcast_shapes, broadcast_to, eager, holds,
                                is_option, result_type, to_value)
from funcad.numpy.reductions import sum as _sum
from funcad.numpy.ufuncs import multiply

__all__ = ["dot", "matmul", "vdot", "inner", "outer", "tensordot", "einsum", "trace",
           "diagonal"]


def _prepare(*args, dtype=None):
    """Operands as funcad values of their common (NumPy) dtype, and that dtype."""
    vals = [to_value(a) for a in args]
    dt = result_type(*vals) if dtype is None else np.dtype(dtype)
    return [asarray_of(v, dt) for v in vals], dt


def _contract(x, y, contract, batch=((), ())):
    """dot_general with NumPy's meaning for bools (any pairwise True). ``contract`` and
    ``batch`` are pairs of tuples of ints, so the primitive is bound directly."""
    dims = (contract, batch)
    if get_aval(x).dtype.kind == "b":
        i64 = np.dtype("int64")
        out = lax.dot_general(lax.convert_element_type(x, i64),
                              lax.convert_element_type(y, i64), dims)
        return lax.ne(out, 0)
    return dot_general_p.bind(x, y, dimension_numbers=dims)


def _shape(x):
    return get_aval(x).shape


def _scale(x, y):
    return multiply(x, y)


@eager(np.dot)
def dot(a, b):
    """``np.dot``: products of scalars, inner product of vectors, matrix product, and for N-D
    operands a sum over the last axis of ``a`` and the second-to-last of ``b``."""
    (a, b), _ = _prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return _scale(a, b)
    ca, cb = len(sa) - 1, max(len(sb) - 2, 0)
    if sa[ca] != sb[cb]:
        raise ValueError(f"fnp.dot: shapes {sa} and {sb} not aligned: {sa[ca]} (dim {ca}) != "
                         f"{sb[cb]} (dim {cb})")
    return _contract(a, b, ((ca,), (cb,)))


@eager(np.matmul)
def matmul(a, b):
    """``np.matmul`` (``a @ b``): matrix products broadcast over leading axes; a 1-D operand is
    a vector whose added axis is removed from the result."""
    (a, b), _ = _prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    for i, s in enumerate((sa, sb)):
        if not s:
            raise ValueError(f"fnp.matmul: operand {i} is a scalar (shape ()); matmul needs "
                             f"at least one axis. Use * (fnp.multiply) to scale by a scalar")
    a2 = lax.reshape(a, (1,) + sa) if len(sa) == 1 else a
    b2 = lax.reshape(b, sb + (1,)) if len(sb) == 1 else b
    sa2, sb2 = _shape(a2), _shape(b2)
    if sa2[-1] != sb2[-2]:
        raise ValueError(f"fnp.matmul: shape mismatch: operand 0 has shape {sa} and operand 1 "
                         f"has shape {sb}; the last axis of operand 0 ({sa2[-1]}) must equal "
                         f"the {'only' if len(sb) == 1 else 'second-to-last'} axis of "
                         f"operand 1 ({sb2[-2]})")
    na, nb = len(sa2), len(sb2)
    batch = broadcast_shapes("fnp.matmul", sa2[:-2], sb2[:-2])
    if nb == 2:
        # (batch..., m, k) @ (k, n): b's free axis lands last, already NumPy's order.
        out = _contract(a2, b2, ((na - 1,), (0,)))
    elif na == 2:
        # (m, k) @ (batch..., k, n) gives (m, batch..., n): move m next to n.
        out = _contract(a2, b2, ((1,), (nb - 2,)))
        nd = len(batch) + 2
        out = lax.transpose(out, tuple(range(1, nd - 1)) + (0, nd - 1))
    else:
        a2 = broadcast_to(a2, batch + sa2[-2:])
        b2 = broadcast_to(b2, batch + sb2[-2:])
        bd = tuple(range(len(batch)))
        out = _contract(a2, b2, ((len(batch) + 1,), (len(batch),)), (bd, bd))
    shape = batch + (sa2[-2],) * (len(sa) > 1) + (sb2[-1],) * (len(sb) > 1)
    return lax.reshape(out, shape) if _shape(out) != shape else out


@eager(np.vdot)
def vdot(a, b):
    """``np.vdot``: the dot product of the flattened operands, the first one conjugated
    (``sum(conj(a) * b)``)."""
    (a, b), _ = _prepare(a, b)
    if a.dtype.kind == "c":
        a = lax.conj(a)
    sa, sb = _shape(a), _shape(b)
    na, nb = math.prod(sa), math.prod(sb)
    if na != nb:
        raise ValueError(f"fnp.vdot: operands have {na} and {nb} elements (shapes {sa} and "
                         f"{sb}); they must have the same size")
    return _contract(lax.reshape(a, (na,)), lax.reshape(b, (nb,)), ((0,), (0,)))


@eager(np.inner)
def inner(a, b):
    """``np.inner``: sum over the last axes of both operands."""
    (a, b), _ = _prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if not sa or not sb:
        return _scale(a, b)
    if sa[-1] != sb[-1]:
        raise ValueError(f"fnp.inner: shapes {sa} and {sb} do not match in their last axis "
                         f"({sa[-1]} != {sb[-1]})")
    return _contract(a, b, ((len(sa) - 1,), (len(sb) - 1,)))


@eager(np.outer)
def outer(a, b):
    """``np.outer``: ``out[i, j] = a.ravel()[i] * b.ravel()[j]``."""
    (a, b), _ = _prepare(a, b)
    a = lax.reshape(a, (math.prod(_shape(a)),))
    b = lax.reshape(b, (math.prod(_shape(b)),))
    return _contract(a, b, ((), ()))


def _axes_list(who, axes, nd):
    axes = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
    out = []
    for ax in axes:
        ax = operator.index(ax)
        if not -nd <= ax < nd:
            raise np.exceptions.AxisError(f"{who}: axis {ax} is out of bounds for an array "
                                          f"of dimension {nd}")
        out.append(ax % nd)
    return tuple(out)


@eager(np.tensordot)
def tensordot(a, b, axes=2):
    """``np.tensordot``: ``axes=N`` sums the last N axes of ``a`` with the first N of ``b``;
    ``axes=(axes_a, axes_b)`` pairs the listed axes."""
    (a, b), _ = _prepare(a, b)
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > min(len(sa), len(sb)):
            raise ValueError(f"fnp.tensordot: axes={n} is invalid for shapes {sa} and {sb}")
        ax_a, ax_b = tuple(range(len(sa) - n, len(sa))), tuple(range(n))
    else:
        try:
            axes_a, axes_b = axes
        except (TypeError, ValueError):
            raise ValueError(f"fnp.tensordot: axes must be an int or a pair of axis lists, "
                             f"got {axes!r}") from None
        ax_a = _axes_list("fnp.tensordot", axes_a, len(sa))
        ax_b = _axes_list("fnp.tensordot", axes_b, len(sb))
    if len(ax_a) != len(ax_b) or any(sa[i] != sb[j] for i, j in zip(ax_a, ax_b)):
        raise ValueError(f"fnp.tensordot: shape-mismatch for sum: axes {ax_a} of shape {sa} "
                         f"and axes {ax_b} of shape {sb}")
    return _contract(a, b, (ax_a, ax_b))


# ---------------------------------------------------------------------------------------------
# diagonal and trace

@eager(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    """``np.diagonal``: the diagonal of axes ``axis1, axis2`` (with ``offset``) becomes the
    last axis. Taken as a strided slice of the flattened pair of axes, so it is linear and
    costs O(diagonal length)."""
    a = to_value(a)
    shape = _shape(a)
    nd = len(shape)
    if nd < 2:
        raise ValueError(f"fnp.diagonal: needs an array of at least two dimensions, got shape "
                         f"{shape}")
    ax1, ax2 = _axes_list("fnp.diagonal", (axis1, axis2), nd)
    if ax1 == ax2:
        raise ValueError(f"fnp.diagonal: axis1 and axis2 cannot be the same (both {ax1})")
    return _diagonal(a, int(offset), ax1, ax2)


def _diagonal(a, offset, ax1, ax2):
    shape = _shape(a)
    rest = tuple(i for i in range(len(shape)) if i not in (ax1, ax2))
    a = lax.transpose(a, rest + (ax1, ax2))
    m, n = shape[ax1], shape[ax2]
    lead = tuple(shape[i] for i in rest)
    if offset >= 0:
        length, start = max(0, min(m, n - offset)), offset
    else:
        length, start = max(0, min(m + offset, n)), -offset * n
    flat = lax.reshape(a, lead + (m * n,))
    z = (0,) * len(lead)
    if length == 0:
        return lax.slice(flat, z + (0,), lead + (0,))
    limit = start + (length - 1) * (n + 1) + 1
    return lax.slice(flat, z + (start,), lead + (limit,), (1,) * len(lead) + (n + 1,))


@eager(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None):
    """``np.trace``: the sum of ``diagonal(a, offset, axis1, axis2)``, summed as ``np.sum``
    sums (small ints become int64)."""
    if dtype is not None:  # before fnp.sum, whose eager path hands any dtype to np.sum
        dtype = check_dtype(dtype, "fnp.trace")
    d = diagonal(a, offset, axis1, axis2)
    return _sum(d, axis=-1, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# einsum

_ELL = "..."
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _ell_label(j):
    return f".{j}"  # two characters: never clashes with a one-letter subscript


def _split_spec(who, spec):
    """A list of one-letter labels, or ``(before, after)`` lists around a ``...``."""
    if spec.count(_ELL) > 1 or (spec.replace(_ELL, "").count(".")):
        raise ValueError(f"{who}: invalid subscripts {spec!r} (at most one '...' per operand)")
    for ch in spec.replace(_ELL, ""):
        if ch not in _LETTERS:
            raise ValueError(f"{who}: invalid subscript {ch!r} in {spec!r}; use letters a-z, "
                             f"A-Z and '...'")
    if _ELL not in spec:
        return list(spec)
    pre, post = spec.split(_ELL)
    return list(pre), list(post)


def _parse(who, subscripts, shapes):
    s = subscripts.replace(" ", "")
    if "->" in s:
        ins, out = s.split("->", 1)
        if "->" in out:
            raise ValueError(f"{who}: subscripts {subscripts!r} contain '->' more than once")
    else:
        ins, out = s, None
    specs = ins.split(",")
    if len(specs) != len(shapes):
        raise ValueError(f"{who}: subscripts {subscripts!r} name {len(specs)} operands but "
                         f"{len(shapes)} were given")
    parts, n_ell = [], []
    for i, (spec, shape) in enumerate(zip(specs, shapes)):
        p = _split_spec(who, spec)
        named = len(p) if isinstance(p, list) else len(p[0]) + len(p[1])
        e = len(shape) - named if isinstance(p, tuple) else 0
        if e < 0 or (isinstance(p, list) and named != len(shape)):
            raise ValueError(f"{who}: operand {i} has shape {shape} ({len(shape)} axes) but "
                             f"its subscripts {spec!r} name {named}")
        parts.append(p)
        n_ell.append(e)
    E = max(n_ell, default=0)
    labels = []
    for p, e in zip(parts, n_ell):
        if isinstance(p, list):
            labels.append(p)
        else:
            labels.append(p[0] + [_ell_label(j) for j in range(E - e, E)] + p[1])
    ell = [_ell_label(j) for j in range(E)]
    counts: dict = {}
    for ls in labels:
        for lab in ls:
            counts[lab] = counts.get(lab, 0) + 1
    if out is None:
        output = ell + sorted(lab for lab, c in counts.items() if c == 1 and len(lab) == 1)
    else:
        p = _split_spec(who, out)
        if isinstance(p, tuple):
            output = p[0] + ell + p[1]
        else:
            output = p
            if any(n_ell):
                raise ValueError(f"{who}: the operands have '...' axes but the output "
                                 f"{out!r} has no '...' to put them in")
        for lab in output:
            if lab not in counts and len(lab) == 1:
                raise ValueError(f"{who}: output subscript {lab!r} does not appear in the "
                                 f"operands' subscripts")
        if len(set(output)) != len(output):
            raise ValueError(f"{who}: output subscripts {out!r} repeat a label")
    output = [lab for lab in output if lab in counts]
    return labels, output


def _interleaved(args):
    """``einsum(op0, sublist0, op1, sublist1, ..., [sublist_out])`` as a subscripts string."""
    ops, subs = list(args[0::2]), list(args[1::2])
    out = ops.pop() if len(args) % 2 == 1 else None

    def conv(sub):
        return "".join(_ELL if s is Ellipsis else _LETTERS[operator.index(s)] for s in sub)

    spec = ",".join(conv(s) for s in subs)
    if out is not None:
        spec += "->" + conv(out)
    return spec, ops


def einsum(*operands, out=None, dtype=None, optimize=False, **kwargs):
    """``np.einsum``: Einstein summation over subscripts such as ``"ij,jk->ik"``, with
    ``...`` broadcasting, implicit output (labels seen once, sorted) and repeated labels
    (diagonals), or the interleaved ``einsum(a, [0, 1], b, [1, 2])`` form. ``optimize`` is
    accepted and ignored: pairs are chosen greedily, always contracting when they can."""
    if out is not None:
        raise NotImplementedError("fnp.einsum: out= is not supported (arrays are immutable); "
                                  "use the returned value")
    if not operands:
        raise TypeError("fnp.einsum: missing subscripts and operands")
    if all(map(is_option, operands)) and is_option(dtype):
        res = np.einsum(*operands, dtype=dtype, optimize=optimize, **kwargs)
        if holds(res):  # else dtype names one funcad does not hold: the traced path says so
            return res
    if kwargs:
        raise TypeError(f"fnp.einsum: unsupported keyword arguments {sorted(kwargs)}")
    if isinstance(operands[0], str):
        subscripts, ops = operands[0], list(operands[1:])
    else:
        subscripts, ops = _interleaved(operands)
    ops, dt = _prepare(*ops, dtype=dtype)
    who = "fnp.einsum"
    labels, output = _parse(who, subscripts, [_shape(o) for o in ops])
    if dt == np.bool_:
        ops = [lax.convert_element_type(o, np.dtype("int64")) for o in ops]
    res = _einsum(who, list(zip(ops, labels)), output)
    return lax.ne(res, 0) if dt == np.bool_ else res


def _einsum(who, terms, output):
    sizes: dict = {}
    for x, ls in terms:
        for lab, n in zip(ls, _shape(x)):
            prev = sizes.get(lab)
            if prev is None or prev == 1:
                sizes[lab] = n
            elif n not in (1, prev):
                name = "..." if lab.startswith(".") else repr(lab)
                raise ValueError(f"{who}: label {name} stands for axes of sizes {prev} and "
                                 f"{n}, which do not broadcast")
    out_set = set(output)
    prepared = []
    for x, ls in terms:
        x, ls = _take_diagonals(who, x, list(ls))
        # axes of size 1 that broadcast against a larger size elsewhere carry nothing
        drop = [i for i, lab in enumerate(ls) if _shape(x)[i] == 1 and sizes[lab] > 1]
        if drop:
            x = lax.reshape(x, tuple(n for i, n in enumerate(_shape(x)) if i not in drop))
            ls = [lab for i, lab in enumerate(ls) if i not in drop]
        prepared.append((x, ls))
    terms = prepared
    for k, (x, ls) in enumerate(terms):
        others = set(out_set)
        for j, (_, lj) in enumerate(terms):
            if j != k:
                others.update(lj)
        alone = [i for i, lab in enumerate(ls) if lab not in others]
        if alone:
            terms[k] = (lax.reduce_sum(x, tuple(alone)),
                        [lab for i, lab in enumerate(ls) if i not in alone])
    while len(terms) > 1:
        i, j = _pick_pair(terms, out_set, sizes)
        (x, lx), (y, ly) = terms[i], terms[j]
        keep = set(out_set)
        for k, (_, lk) in enumerate(terms):
            if k not in (i, j):
                keep.update(lk)
        shared = [lab for lab in lx if lab in ly]
        batch = [lab for lab in shared if lab in keep]
        contract = [lab for lab in shared if lab not in keep]
        dims = ((tuple(lx.index(lab) for lab in contract),
                 tuple(ly.index(lab) for lab in contract)),
                (tuple(lx.index(lab) for lab in batch), tuple(ly.index(lab) for lab in batch)))
        z = lax.dot_general(x, y, dims)
        lz = batch + [lab for lab in lx if lab not in ly] + [lab for lab in ly if lab not in lx]
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [(z, lz)]
    x, ls = terms[0]
    perm = tuple(ls.index(lab) for lab in output)
    return lax.transpose(x, perm) if perm != tuple(range(len(perm))) else x


def _take_diagonals(who, x, ls):
    """Replace each label repeated within one operand by its diagonal (appended last)."""
    while True:
        dup = next((lab for lab in ls if ls.count(lab) > 1), None)
        if dup is None:
            return x, ls
        p = ls.index(dup)
        q = ls.index(dup, p + 1)
        if _shape(x)[p] != _shape(x)[q]:
            raise ValueError(f"{who}: label {dup!r} is repeated within an operand on axes of "
                             f"different sizes {_shape(x)[p]} and {_shape(x)[q]}")
        x = _diagonal(x, 0, p, q)
        ls = [lab for i, lab in enumerate(ls) if i not in (p, q)] + [dup]


def _pick_pair(terms, out_set, sizes):
    """The pair to contract next: one sharing a label, with the smallest result."""
    best, best_key = (0, 1), None
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            li, lj = set(terms[i][1]), set(terms[j][1])
            keep = set(out_set)
            for k, (_, lk) in enumerate(terms):
                if k not in (i, j):
                    keep.update(lk)
            result = (li | lj) - ((li & lj) - keep)
            size = math.prod([sizes[lab] for lab in result])
            key = (not (li & lj), size)
            if best_key is None or key < best_key:
                best, best_key = (i, j), key
    return best
