"""``cond``: run one of several branches, chosen by an integer index.

``cond_p`` has operands ``(index, *operands)`` and one parameter, ``branches``: a tuple of
const-free ClosedJaxprs that all take the operands and return outputs of one type. The
index is clamped into range. ``lax.cond`` (a boolean predicate, branches ``(false, true)``)
and ``lax.switch`` are the user-facing wrappers (funcad/primitives/control.py).

Rules:
- jvp: the jvp of every branch, with a tangent output wherever any branch has one;
- vmap: an unbatched index stays a cond over batched branches; a batched index evaluates
  every branch on every lane and selects per lane (so each branch must be safe to run on
  every lane's operands, as in JAX);
- partial evaluation: the known part of every branch runs in a known cond that also returns
  the residuals the unknown part needs. Branches need different residuals, so the residual
  list is the concatenation of all branches' residuals; a branch returns zeros in the slots
  of the others;
- transpose: a cond of the transposed branches (the index is never linear).
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, bind_with, get_aval
from funcad.interpreters.transpose import backward_pass
from funcad.primitives import binary as bi, control_lowering as _lw, elementwise as ew
from funcad.primitives import shape as sh
from funcad.primitives.control_jaxpr import (batch_jaxpr, example_jaxpr, insert_invars,
                                             join_consts, jvp_jaxpr, materialize, pe_jaxpr,
                                             run, trace_hoisted, zeros)
from funcad.rule_util import (UndefinedPrimal, Zero, bdim_to_front, is_undefined, moveaxis,
                              needs_axis_size)


def _clamp_index(index, n: int) -> int:
    return int(np.clip(index, 0, n - 1))


def _cond_impl(index, *ops, branches):
    return run(branches[_clamp_index(index, len(branches))], *ops)


def _cond_abstract(index, *ops, branches):
    if index.shape != () or index.dtype.kind not in "iu":
        raise TypeError(f"cond: the branch index must be an integer scalar, got "
                        f"{index.str_short()}")
    for k, br in enumerate(branches):
        if br.in_avals != list(ops):
            raise TypeError(f"cond: branch {k} takes "
                            f"{[a.str_short() for a in br.in_avals]} but the operands are "
                            f"{[a.str_short() for a in ops]}")
        if br.out_avals != branches[0].out_avals:
            raise TypeError(f"cond: branch {k} returns "
                            f"{[a.str_short() for a in br.out_avals]} but branch 0 returns "
                            f"{[a.str_short() for a in branches[0].out_avals]}")
    return list(branches[0].out_avals)


def _cond_jvp(primals, tangents, *, branches):
    index, ops = primals[0], primals[1:]
    op_ts = tangents[1:]
    nz = [type(t) is not Zero for t in op_ts]
    n_out = len(branches[0].out_avals)
    firsts = [jvp_jaxpr(br, nz, [False] * n_out) for br in branches]
    out_nz = [any(f[2][i] for f in firsts) for i in range(n_out)]
    parts = [(j, c) if onz == out_nz else jvp_jaxpr(br, nz, out_nz)[:2]
             for br, (j, c, onz) in zip(branches, firsts)]
    new_branches, consts = join_consts(parts)
    outs = cond_p.bind(index, *consts, *ops, *[t for t in op_ts if type(t) is not Zero],
                       branches=new_branches)
    it = iter(outs[n_out:])
    return outs[:n_out], [next(it) if n else Zero(a)
                          for n, a in zip(out_nz, branches[0].out_avals)]


@needs_axis_size
def _cond_batch(vals, dims, *, branches, axis_size):
    index, ops = vals[0], vals[1:]
    op_b = [d is not None for d in dims[1:]]
    ops = [moveaxis(x, d, 0) if d is not None else x for x, d in zip(ops, dims[1:])]
    n_out = len(branches[0].out_avals)
    if dims[0] is None:
        firsts = [batch_jaxpr(br, axis_size, op_b, [False] * n_out) for br in branches]
        out_b = [any(f[2][i] for f in firsts) for i in range(n_out)]
        parts = [(j, c) if ob == out_b else batch_jaxpr(br, axis_size, op_b, out_b)[:2]
                 for br, (j, c, ob) in zip(branches, firsts)]
        new_branches, consts = join_consts(parts)
        outs = cond_p.bind(index, *consts, *ops, branches=new_branches)
        return outs, [0 if b else None for b in out_b]
    # A batched index: every branch runs on every lane, then each lane picks its result.
    results = []
    for br in branches:
        j, consts, _ = batch_jaxpr(br, axis_size, op_b, [True] * n_out)
        results.append(run(j, *consts, *ops))
    idx = bdim_to_front(index, dims[0], axis_size)
    idx = bi.max(bi.min(ew.convert_element_type(idx, np.int32), len(branches) - 1), 0)
    outs = []
    for k in range(n_out):
        shape = get_aval(results[0][k]).shape
        p = idx if len(shape) == 1 else sh.broadcast_in_dim(idx, shape, (0,))
        outs.append(ew.select_n(p, *[r[k] for r in results]))
    return outs, [0] * n_out


def _cond_partial_eval(pe, args, params):
    branches = params["branches"]
    index, ops = args[0], args[1:]
    if pe.is_unknown(index):
        return pe.stage(cond_p, args, params)
    uk = [pe.is_unknown(x) for x in ops]
    n_out = len(branches[0].out_avals)
    firsts = [pe_jaxpr(br, uk, [False] * n_out) for br in branches]
    out_uk = [any(f[3][i] for f in firsts) for i in range(n_out)]
    splits = [f if f[3] == out_uk else pe_jaxpr(br, uk, out_uk)
              for br, f in zip(branches, firsts)]
    n_known = out_uk.count(False)
    res_avals = [s[2].in_avals[:s[4]] for s in splits]
    known_op_avals = [get_aval(x) for x, u in zip(ops, uk) if not u]

    known_parts = []
    for k, (known, kconsts, _, _, _) in enumerate(splits):
        def known_branch(*a, known=known, k=k):
            outs = run(known, *a)
            res = []
            for m, avals in enumerate(res_avals):
                res += outs[n_known:] if m == k else [zeros(r) for r in avals]
            return outs[:n_known] + res
        j, c = trace_hoisted(known_branch, [get_aval(x) for x in kconsts] + known_op_avals)
        known_parts.append((j, c + list(kconsts)))
    known_branches, kconsts_all = join_consts(known_parts)

    unknown_branches = []
    for k, s in enumerate(splits):
        before = [a for avals in res_avals[:k] for a in avals]
        after = [a for avals in res_avals[k + 1:] for a in avals]
        unknown_branches.append(insert_invars(insert_invars(s[2], s[4], after), 0, before))

    known_ops = [x for x, u in zip(ops, uk) if not u]
    outs = bind_with(pe.prev, cond_p, index, *kconsts_all, *known_ops,
                     branches=known_branches)
    known_outs, residuals = outs[:n_known], outs[n_known:]
    uk_outs = pe.stage(cond_p, [index] + list(residuals) + [x for x, u in zip(ops, uk) if u],
                       {"branches": tuple(unknown_branches)})
    k_it, u_it = iter(known_outs), iter(uk_outs)
    return [next(u_it) if u else next(k_it) for u in out_uk]


def _cond_transpose(cts, index, *ops, branches):
    if is_undefined(index):
        raise TypeError("cond: the branch index cannot be linear")
    lin = [is_undefined(x) for x in ops]
    res = [x for x, li in zip(ops, lin) if not li]
    out_avals = branches[0].out_avals
    ct_flags = [type(c) is not Zero and c is not None for c in cts]
    cts = [c for c, f in zip(cts, ct_flags) if f]
    res_avals = [get_aval(x) for x in res]
    lin_avals = [x.aval for x in ops if is_undefined(x)]

    parts = []
    for br in branches:
        def transposed(*a, br=br):
            r_it, c_it = iter(a[:len(res)]), iter(a[len(res):])
            args = [UndefinedPrimal(x.aval) if li else next(r_it) for x, li in zip(ops, lin)]
            ct_out = [next(c_it) if f else Zero(av) for f, av in zip(ct_flags, out_avals)]
            got = backward_pass(br.jaxpr, [], args, ct_out)
            return [materialize(g, x.aval) for g, x, li in zip(got, ops, lin) if li]
        parts.append(trace_hoisted(transposed, res_avals + [get_aval(c) for c in cts],
                                   "transpose"))
    new_branches, consts = join_consts(parts)
    outs = cond_p.bind(index, *consts, *res, *cts, branches=new_branches)
    assert len(outs) == len(lin_avals)
    it = iter(outs)
    return [None] + [next(it) if li else None for li in lin]


_V3 = ((3,), np.float64)
_COND_EXAMPLE = ({"branches": (
    example_jaxpr(lambda x, y: [bi.mul(x, y), bi.add(ew.sin(x), y)], [_V3, _V3]),
    example_jaxpr(lambda x, y: [bi.mul(ew.cos(x), y), bi.mul(x, x)], [_V3, _V3]))},)


def _cond_test_args(rng):
    return [np.asarray(rng.integers(-1, 3), np.int64), rng.uniform(-1, 1, 3),
            rng.uniform(-1, 1, 3)]


cond_p = Primitive("cond", impl=_cond_impl, abstract_eval=_cond_abstract, jvp=_cond_jvp,
                   batch=_cond_batch, partial_eval=_cond_partial_eval,
                   transpose=_cond_transpose, multiple_results=True, higher_order=True,
                   lowering=_lw.COND, test_params=_COND_EXAMPLE, test_args=_cond_test_args)
