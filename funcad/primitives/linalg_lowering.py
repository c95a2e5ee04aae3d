"""How jit writes the linear-algebra primitives (their ``lowering``, see :mod:`funcad.lowering`).

``dot_general`` calls BLAS through ``np.dot`` on matrices (after a transpose/reshape when the
contraction is not already a matrix product), with a loop around it for batch axes; integer
products are explicit loops; on small arrays in loops it is written out element by element.
The factorizations and solves call the ``np.linalg`` functions Numba supports, looping over
leading (stack) axes (:func:`stacked`); ``triangular_solve`` is substitution loops.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.core import ShapedArray
from funcad.ir import Lit
from funcad.lowering import Opaque
from funcad.primitives.binary import add_p, mul_p


def _prod(xs) -> int:
    return int(np.prod(xs, dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# dot_general


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _matrix_view(ctx, a, groups):
    """Source for ``a`` permuted to ``groups`` (lists of axes) and reshaped so that each
    non-empty group is one axis (empty groups are dropped)."""
    aval = a.aval
    perm = [ax for g in groups for ax in g]
    src = ctx.name(a)
    kept = [g for g in groups if g]
    if perm == list(range(aval.ndim)) and all(len(g) == 1 for g in kept):
        return src
    if aval.ndim == 2 and perm == [1, 0] and all(len(g) == 1 for g in kept):
        return f"{src}.T"
    if perm != list(range(aval.ndim)):
        src = f"np.transpose({src}, {tuple(perm)!r})"
    src = f"np.ascontiguousarray({src})"
    sizes = [_prod([aval.shape[i] for i in g]) for g in kept]
    return f"{src}.reshape({ctx.shape(sizes)})"


def _dot_general_rule(ctx, eqn):
    x, y = eqn.inputs
    out = eqn.outvars[0]
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    xa, ya = x.aval, y.aval
    lf, rf = _free(xa.ndim, lc, lb), _free(ya.ndim, rc, rb)
    # Numba's np.dot calls BLAS for complex too (zgemm, cgemm)
    blas = (xa.dtype.kind in "fc" and xa.ndim and ya.ndim and lc
            and out.aval.dtype == xa.dtype)
    if not blas:
        return _dot_loops(ctx, eqn, lf, rf)
    xm = _matrix_view(ctx, x, [list(lb), lf, list(lc)])
    ym = _matrix_view(ctx, y, [list(rb), list(rc), rf])
    o = ctx.out(out)
    m = _prod([xa.shape[i] for i in lf])
    n = _prod([ya.shape[i] for i in rf])
    core = [s for s, g in ((m, lf), (n, rf)) if g]
    if not lb:
        res = f"np.dot({xm}, {ym})"
        if len(core) == len(out.aval.shape) and out.aval.ndim:
            ctx.em.line(f"{o} = {res}")
        elif out.aval.ndim == 0:
            ctx.em.line(f"{o} = {res}")
        else:
            ctx.em.line(f"{o} = {res}.reshape({ctx.shape(out.aval.shape)})")
        ctx.fresh_arrays.add(out)
        return
    nb = _prod([xa.shape[i] for i in lb])
    xs, ys, acc = ctx.fresh("x"), ctx.fresh("y"), ctx.fresh("o")
    ctx.em.line(f"{xs} = {xm}")
    ctx.em.line(f"{ys} = {ym}")
    ctx.em.line(f"{acc} = np.empty({ctx.shape([nb] + core)}, {ctx.dtype(out.aval.dtype)})")
    with ctx.loops([nb], parallel=True) as (b,):
        if len(core) == 2:   # np.dot's `out` argument: no temporary, and fast to compile
            ctx.em.line(f"np.dot({xs}[{b}], {ys}[{b}], {acc}[{b}])")
        else:
            r = ctx.fresh("r")
            ctx.em.line(f"{r} = np.dot({xs}[{b}], {ys}[{b}])")
            if core:
                with ctx.loops(core, first=1) as (j,):
                    ctx.em.line(f"{acc}[{b}, {j}] = {r}[{j}]")
            else:
                ctx.em.line(f"{acc}[{b}] = {r}")
    ctx.em.line(f"{o} = {acc}.reshape({ctx.shape(out.aval.shape)})")
    ctx.fresh_arrays.add(out)


def _dot_loops(ctx, eqn, lf, rf):
    """Integer (or degenerate) contractions: explicit loops with an accumulator."""
    x, y = eqn.inputs
    out = eqn.outvars[0]
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    xa = x.aval
    ctx.alloc(out)
    nb, nf = len(lb), len(lf)
    k_shape = [xa.shape[i] for i in lc]
    acc = ctx.fresh("acc")
    with ctx.loops(out.aval.shape, parallel=True) as idx:
        ctx.em.line(f"{acc} = {ctx.lit(0, out.aval.dtype)}")
        with ctx.loops(k_shape, first=len(idx)) as kidx:
            xi = [None] * xa.ndim
            yi = [None] * y.aval.ndim
            for j, ax in enumerate(lb):
                xi[ax] = idx[j]
            for j, ax in enumerate(rb):
                yi[ax] = idx[j]
            for j, ax in enumerate(lf):
                xi[ax] = idx[nb + j]
            for j, ax in enumerate(rf):
                yi[ax] = idx[nb + nf + j]
            for j, (a1, a2) in enumerate(zip(lc, rc)):
                xi[a1] = kidx[j]
                yi[a2] = kidx[j]
            ctx.em.line(f"{acc} += {ctx.read(x, xi)} * {ctx.read(y, yi)}")
        ctx.store(out, idx, acc)


def _dot_accept(eqn):
    pet = eqn.params.get("preferred_element_type")
    x = eqn.inputs[0].aval
    return pet is None or np.dtype(pet) == x.dtype


def _dot_general_element(rw, eqn, ins):
    x, y = ins
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    out = eqn.outvars[0].aval
    lf, rf = _free(x.ndim, lc, lb), _free(y.ndim, rc, rb)
    nb = math.prod(x.shape[i] for i in lb)
    nk = math.prod(x.shape[i] for i in lc)
    xm = x.transpose(list(lb) + lf + list(lc)).reshape(nb, -1, nk)
    ym = y.transpose(list(rb) + list(rc) + rf).reshape(nb, nk, -1)
    res = np.empty((nb, xm.shape[1], ym.shape[2]), object)
    for b, m, n in np.ndindex(res.shape):
        acc = Lit(np.zeros((), out.dtype)[()], ShapedArray((), out.dtype))
        for k in range(nk):
            term = rw.scalar(mul_p, [xm[b, m, k], ym[b, k, n]], out.dtype)
            acc = term if k == 0 else rw.scalar(add_p, [acc, term], out.dtype)
        res[b, m, n] = acc
    return [res.reshape(out.shape)]


# ---------------------------------------------------------------------------------------------
# np.linalg in nopython mode, looping over stack axes


def stacked(call, n_lead_from=0):
    """A rule calling ``call(ctx, eqn, [matrix exprs]) -> expr`` for each matrix of a stack
    (inputs and outputs share the leading axes of input ``n_lead_from``)."""
    def lower_linalg(ctx, eqn):
        a = eqn.inputs[n_lead_from]
        lead = a.aval.shape[:-2]
        outs = eqn.outvars
        multi = eqn.prim.multiple_results
        if not lead:
            res = call(ctx, eqn, [ctx.name(x) for x in eqn.inputs])
            if multi:
                tmp = ctx.fresh("r")
                ctx.em.line(f"{tmp} = {res}")
                for k, o in enumerate(outs):
                    ctx.em.line(f"{ctx.out(o)} = {tmp}[{k}]")
                    ctx.fresh_arrays.add(o)
            else:
                ctx.em.line(f"{ctx.out(outs[0])} = {res}")
                ctx.fresh_arrays.add(outs[0])
            return
        for o in outs:
            ctx.alloc(o)
        with ctx.loops(lead) as b:
            args = [f"{ctx.name(x)}[{', '.join(b)}]" if x.aval.ndim else ctx.name(x)
                    for x in eqn.inputs]
            res = ctx.fresh("r")
            ctx.em.line(f"{res} = {call(ctx, eqn, args)}")
            parts = [f"{res}[{k}]" for k in range(len(outs))] if multi else [res]
            for o, part in zip(outs, parts):
                # element loops: assigning a whole sub-array is slow for Numba to compile
                trail = o.aval.shape[len(lead):]
                if not trail:
                    ctx.em.line(f"{ctx.read(o, b)} = {part}")
                    continue
                with ctx.loops(trail, first=len(b)) as t:
                    ctx.em.line(f"{ctx.read(o, b + t)} = {part}[{', '.join(t)}]")
    return lower_linalg


def _triangular_solve_rule(ctx, eqn):
    """Substitution loops (np.linalg has no triangular solver in Numba): forward when the
    effective matrix op(T) is lower triangular, backward when it is upper."""
    a, b = eqn.inputs
    out = eqn.outvars[0]
    lower, trans = eqn.params["lower"], eqn.params["transpose_a"]
    lead = a.aval.shape[:-2]
    n, k = b.aval.shape[-2:]
    forward = lower != trans
    ctx.alloc(out)
    nl = len(lead)
    acc = ctx.fresh("acc")
    with ctx.loops(lead, parallel=True) as bi:
        with ctx.loops([k, n], first=nl) as (c, ii):
            i = ii if forward else f"{ctx.dim(n)} - 1 - {ii}"
            ctx.em.line(f"{acc} = {ctx.read(b, bi + [i, c])}")
            jj = f"i{nl + 2}"
            with ctx.em.block(f"for {jj} in range({ii}):"):   # the solved entries
                j = jj if forward else f"{ctx.dim(n)} - 1 - {jj}"
                t = [j, i] if trans else [i, j]
                ctx.em.line(f"{acc} -= {ctx.read(a, bi + t)} * {ctx.read(out, bi + [j, c])}")
            ctx.em.line(f"{ctx.read(out, bi + [i, c])} = {acc} / {ctx.read(a, bi + [i, i])}")


def _eigh(ctx, eqn, args):
    (a,) = args
    if not eqn.params["lower"]:   # the upper triangle of a is the lower one of a.T
        a = f"np.ascontiguousarray({a}.T)"
    return f"np.linalg.eigh({a})"


def _linalg_call(fn: str):
    return stacked(lambda ctx, eqn, args: f"np.linalg.{fn}({', '.join(args)})")


DOT_GENERAL = Opaque(_dot_general_rule, fresh=True, element=_dot_general_element,
                     accept=_dot_accept)
TRIANGULAR_SOLVE = Opaque(_triangular_solve_rule, fresh=True)
SOLVE = Opaque(_linalg_call("solve"), fresh=True)
INV = Opaque(_linalg_call("inv"), fresh=True)
DET = Opaque(_linalg_call("det"), fresh=True)
SLOGDET = Opaque(_linalg_call("slogdet"), fresh=True)
CHOLESKY = Opaque(_linalg_call("cholesky"), fresh=True)
EIGH = Opaque(stacked(_eigh), fresh=True)
QR = Opaque(_linalg_call("qr"), fresh=True)
