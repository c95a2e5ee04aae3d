"""Loop-nest rules for the primitives that are not fused: each writes whole arrays.

A rule is ``rule(ctx, eqn)``; ``ctx`` is the :class:`funcad.codegen.lower.Lowerer` (see its
methods: ``name``, ``out``, ``dim``, ``shape``, ``alloc``, ``loops``, ``read``, ``store``,
``lit``, ``fresh``, ``reusable``). Every input is materialized (an array, or a scalar name for
rank 0). The rules follow the primitives' NumPy ``impl`` exactly: gather clamps indices,
scatter drops out-of-bounds updates, dynamic slices clamp their starts, argmax returns the
first maximum (the first NaN if any).

``dot_general`` calls BLAS through ``np.dot`` on matrices (after a transpose/reshape when the
contraction is not already a matrix product), with a loop around it for batch axes; integer
products are explicit loops. Linear-algebra primitives call the ``np.linalg`` functions Numba
supports, looping over leading (stack) axes.
"""
from __future__ import annotations

import numpy as np

ARRAY_RULES: dict = {}


def rule(name):
    def deco(fn):
        ARRAY_RULES[name] = fn
        return fn
    return deco


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


@rule("dot_general")
def _dot_general(ctx, eqn):
    x, y = eqn.inputs
    out = eqn.outvars[0]
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    xa, ya = x.aval, y.aval
    lf, rf = _free(xa.ndim, lc, lb), _free(ya.ndim, rc, rb)
    blas = (xa.dtype.kind == "f" and xa.ndim and ya.ndim and lc
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


# ---------------------------------------------------------------------------------------------
# gather / scatter (indices (..., k) index the leading k axes)

@rule("gather")
def _gather(ctx, eqn):
    x, ind = eqn.inputs
    out = eqn.outvars[0]
    k = ind.aval.shape[-1]
    batch = ind.aval.shape[:-1]
    trail = x.aval.shape[k:]
    ctx.alloc(out)
    with ctx.loops(batch, parallel=True) as b:
        js = []
        for c in range(k):
            j = ctx.fresh("j")
            hi = ctx.dim(max(x.aval.shape[c] - 1, 0))
            ctx.em.line(f"{j} = min(max({ctx.read(ind, b + [str(c)])}, 0), {hi})")
            js.append(j)
        with ctx.loops(trail, first=len(b)) as t:
            ctx.store(out, b + t, ctx.read(x, js + t))


@rule("scatter")
def _scatter(ctx, eqn):
    x, ind, upd = eqn.inputs
    out = eqn.outvars[0]
    mode = eqn.params["mode"]
    k = ind.aval.shape[-1]
    batch = ind.aval.shape[:-1]
    trail = x.aval.shape[k:]
    _copy_or_reuse(ctx, eqn, x, out)
    with ctx.loops(batch) as b:   # sequential: indices may repeat
        js = []
        for c in range(k):
            j = ctx.fresh("j")
            ctx.em.line(f"{j} = {ctx.read(ind, b + [str(c)])}")
            js.append(j)
        cond = " and ".join(f"0 <= {j} < {ctx.dim(x.aval.shape[c])}"
                            for c, j in enumerate(js)) or "True"
        with ctx.em.block(f"if {cond}:"):
            with ctx.loops(trail, first=len(b)) as t:
                cell = ctx.read(out, js + t)
                u = ctx.read(upd, b + t)
                ctx.em.line(f"{cell} = {_combine(ctx, mode, cell, u, out.aval.dtype)}")


def _combine(ctx, mode, cell, u, dt):
    if mode == "set":
        return u
    if mode == "add":
        return f"{cell} + {u}"
    if mode == "mul":
        return f"{cell} * {u}"
    cmp = ">=" if mode == "max" else "<="
    if np.dtype(dt) == np.bool_:
        return f"{cell} {'|' if mode == 'max' else '&'} {u}"
    v = ctx.fresh("u")
    ctx.em.line(f"{v} = {u}")
    if np.dtype(dt).kind == "f":   # np.maximum.at: NaN wins
        return f"{cell} if {cell} {cmp} {v} or {cell} != {cell} else {v}"
    return f"{cell} if {cell} {cmp} {v} else {v}"


def _copy_or_reuse(ctx, eqn, x, out):
    """``out`` starts as a copy of ``x``, or takes over ``x``'s buffer when nothing else
    reads it."""
    o = ctx.out(out)
    if ctx.reusable(x, eqn):
        ctx.em.line(f"{o} = {ctx.name(x)}")
    elif x.aval.ndim == 0:
        ctx.em.line(f"{o} = {ctx.name(x)}")
        return
    else:
        ctx.em.line(f"{o} = {ctx.name(x)}.copy()")
    ctx.fresh_arrays.add(out)


# ---------------------------------------------------------------------------------------------
# dynamic slices

def _clamped_starts(ctx, idx, shape, sizes):
    starts = []
    for i, n, s in zip(idx, shape, sizes):
        v = ctx.fresh("s")
        ctx.em.line(f"{v} = min(max({ctx.name(i)}, 0), {ctx.dim(n - s)})")
        starts.append(v)
    return starts


@rule("dynamic_slice")
def _dynamic_slice(ctx, eqn):
    x, *idx = eqn.inputs
    out = eqn.outvars[0]
    starts = _clamped_starts(ctx, idx, x.aval.shape, eqn.params["slice_sizes"])
    ctx.alloc(out)
    with ctx.loops(out.aval.shape, parallel=True) as t:
        ctx.store(out, t, ctx.read(x, [f"{s} + {i}" for s, i in zip(starts, t)]))


@rule("dynamic_update_slice")
def _dynamic_update_slice(ctx, eqn):
    x, upd, *idx = eqn.inputs
    out = eqn.outvars[0]
    starts = _clamped_starts(ctx, idx, x.aval.shape, upd.aval.shape)
    _copy_or_reuse(ctx, eqn, x, out)
    with ctx.loops(upd.aval.shape, parallel=True) as t:
        if out.aval.ndim == 0:
            ctx.store(out, [], ctx.read(upd, t))
        else:
            ctx.em.line(f"{ctx.read(out, [f'{s} + {i}' for s, i in zip(starts, t)])} = "
                        f"{ctx.read(upd, t)}")


# ---------------------------------------------------------------------------------------------
# pad, concatenate, reshape

@rule("pad")
def _pad(ctx, eqn):
    x, pv = eqn.inputs
    out = eqn.outvars[0]
    cfg = eqn.params["padding_config"]
    if out.aval.ndim == 0:
        ctx.store(out, [], ctx.name(x))
        return
    ctx.alloc(out, fill=ctx.name(pv))
    with ctx.loops(x.aval.shape, parallel=True) as t:
        dst = []
        for i, (lo, _, it) in zip(t, cfg):
            e = i if it == 0 else f"{i} * {ctx.dim(it + 1)}"
            dst.append(f"{ctx.dim(lo)} + {e}" if lo else e)
        ctx.em.line(f"{ctx.read(out, dst)} = {ctx.read(x, t)}")


@rule("concatenate")
def _concatenate(ctx, eqn):
    out = eqn.outvars[0]
    d = eqn.params["dimension"]
    if out not in ctx.allocated:
        ctx.alloc(out)
    offset = 0
    for x in eqn.inputs:
        if x in ctx.views:   # computed in place already
            offset += x.aval.shape[d]
            continue
        with ctx.loops(x.aval.shape, parallel=True) as t:
            dst = list(t)
            if offset:
                dst[d] = f"{ctx.dim(offset)} + {t[d]}"
            ctx.em.line(f"{ctx.read(out, dst)} = {ctx.read(x, t)}")
        offset += x.aval.shape[d]


@rule("reshape")
def _reshape(ctx, eqn):
    (x,) = eqn.inputs
    out = eqn.outvars[0]
    o = ctx.out(out)
    if x.aval.ndim == 0:
        ctx.alloc(out, fill=ctx.name(x))
    elif out.aval.ndim == 0:
        ctx.em.line(f"{o} = {ctx.read(x, ['0'] * x.aval.ndim)}")
    else:
        src = ctx.name(x)
        if ctx.is_input(x) or x not in ctx.fresh_arrays:
            src = f"np.ascontiguousarray({src})"
        ctx.em.line(f"{o} = {src}.reshape({ctx.shape(out.aval.shape)})")
        ctx.fresh_arrays.discard(x)   # now viewed by out: never overwrite it in place


# ---------------------------------------------------------------------------------------------
# cumsum, argmax, argmin

@rule("cumsum")
def _cumsum(ctx, eqn):
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


def _arg_extremum(op):
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
    return lower_arg


ARRAY_RULES["argmax"] = _arg_extremum(">")
ARRAY_RULES["argmin"] = _arg_extremum("<")


# ---------------------------------------------------------------------------------------------
# linear algebra: np.linalg in nopython mode, looping over stack axes

def _stacked(call, n_lead_from=0):
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


@rule("triangular_solve")
def _triangular_solve(ctx, eqn):
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


ARRAY_RULES.update({
    "solve": _stacked(lambda ctx, e, a: f"np.linalg.solve({a[0]}, {a[1]})"),
    "inv": _stacked(lambda ctx, e, a: f"np.linalg.inv({a[0]})"),
    "det": _stacked(lambda ctx, e, a: f"np.linalg.det({a[0]})"),
    "slogdet": _stacked(lambda ctx, e, a: f"np.linalg.slogdet({a[0]})"),
    "cholesky": _stacked(lambda ctx, e, a: f"np.linalg.cholesky({a[0]})"),
    "eigh": _stacked(_eigh),
    "qr": _stacked(lambda ctx, e, a: f"np.linalg.qr({a[0]})"),
})
