"""``while_sweeps``: record a while loop, then sweep over the record -- reverse mode of reverse
mode through a loop whose trip count is known only at run time.

``while_transpose_p`` (funcad/primitives/control_while.py) is one forward recording and one
backward sweep. Differentiating it in reverse mode again needs more sweeps over the same
record: the linearized backward sweep, transposed, runs *forwards* (its carry is the
cotangent of the backward carry), and the forward recurrence, transposed, runs backwards
again, reading per-iteration cotangents the sweep before it produced. So the general shape is
kept as one primitive, closed under every transformation:

* a forward loop ``(s, y_0[k]) = fwd(s)`` while ``cond(s)``: ``n`` iterations, found at run
  time, each recording its outputs ``y_0[k]``;
* sweeps ``j = 1..m``, each over ``k = 0..n-1`` (or ``n-1..0`` if ``reverse[j]``):
  ``(c_j, y_j[k]) = sweep_j(consts_j, c_j, y_0[k], ..., y_{j-1}[k])``, recording ``y_j[k]``;
* outputs: the final ``s`` and every final ``c_j``. The records never leave the primitive,
  so every shape in the IR stays static.

Operands: ``(*cond_consts, *fwd_consts, *s_init, *consts_1, *c_1_init, ..., *consts_m,
*c_m_init)``; parameters ``cond_jaxpr``, ``fwd_jaxpr``, ``sweeps`` (a tuple of jaxprs),
``reverse`` (a bool per sweep), ``num_consts`` (cond, fwd, then each sweep's) and
``num_carry`` (``s``'s, then each sweep's).

Rules, each producing another ``while_sweeps``:

* jvp: every jaxpr over (primal, tangent); records hold both.
* vmap: batched jaxprs; if the predicate is batched (lanes stop at different iterations) the
  forward loop runs while any lane runs and records each lane's predicate, and every sweep
  skips, per lane, the iterations that lane never ran.
* partial evaluation: the known outputs are computed now by a ``while_sweeps`` over the
  known parts; the whole primitive is staged for the unknown ones (its known parts are
  recomputed inside it), as for ``while_p`` with an abstract trip count.
* transpose: split every jaxpr into its non-linear part and its linear part; run the
  non-linear forward loop and sweeps (in their directions) recording their *residuals*, then
  the transposed linear sweeps ``m..1`` each in the opposite direction, each recording the
  cotangents of the records it reads, and last the transposed forward recurrence, a backward
  sweep. Cost: one pass of every non-linear part and one of every linear part; memory
  ``trip_count * sizeof(residuals + cotangent records)``.

``while_transpose_p`` is the special case ``fwd' = (fwd(s), s)`` with one backward sweep; its
partial evaluation and transposition rewrite it into this form (:func:`wt_partial_eval`,
:func:`wt_transpose`), which is how ``grad(grad(f))`` works on a staged while loop.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, bind_with, get_aval
from funcad.interpreters.transpose import backward_pass
from funcad.primitives import binary as bi, control_lowering as _lw, elementwise as ew
from funcad.primitives.control_jaxpr import (any_lane, batch_jaxpr, example_jaxpr, fixpoint,
                                             insert_invars, jvp_jaxpr, materialize, pe_jaxpr,
                                             restrict, run, select_tree, split, trace_hoisted,
                                             zeros)
from funcad.primitives.control_while import (_COUNT, PREDICATE_FIX, _broadcast_flags,
                                             _check_avals, _check_cond_jaxpr, _to_front,
                                             _while_test_args, _wt_sizes)
from funcad.rule_util import UndefinedPrimal, Zero, add_tangents, is_undefined, needs_axis_size

_WHO = "while_sweeps"


def _sizes(params) -> list[int]:
    """Operand group sizes: cond consts, fwd consts, s, then (consts, carry) per sweep."""
    nk, nc = params["num_consts"], params["num_carry"]
    sizes = [nk[0], nk[1], nc[0]]
    for a, b in zip(nk[2:], nc[1:]):
        sizes += [a, b]
    return sizes


def _num_ys(params) -> list[int]:
    """How many values each iteration records: ``y_0`` (fwd), then each sweep's."""
    nc = params["num_carry"]
    jaxprs = (params["fwd_jaxpr"],) + tuple(params["sweeps"])
    return [len(j.out_avals) - c for j, c in zip(jaxprs, nc)]


def _groups(args, params):
    """``(cond_consts, fwd_consts, s, [(consts_j, c_j) for each sweep])``."""
    g = split(args, _sizes(params))
    return g[0], g[1], g[2], [(g[3 + 2 * j], g[4 + 2 * j]) for j in range(len(params["sweeps"]))]


def _bind(cond, fwd, sweeps, reverse, cc, fc, s, per_sweep):
    """Bind while_sweeps from jaxprs and operand groups (``per_sweep``: (consts, carry))."""
    groups = [(fc, s)] + list(per_sweep)
    return while_sweeps_p.bind(*_operands(cc, groups),
                               **_params(cond, fwd, sweeps, reverse, cc, groups))


# ---------------------------------------------------------------------------------------------
# impl and abstract_eval

def _ws_impl(*args, **params):
    cc, fc, s, per_sweep = _groups(args, params)
    n_s = len(s)
    cond, fwd = params["cond_jaxpr"], params["fwd_jaxpr"]
    records = []   # records[k]: everything iteration k recorded so far (the memory cost)
    while bool(run(cond, *cc, *s)[0]):
        out = run(fwd, *fc, *s)
        s = out[:n_s]
        records.append(list(out[n_s:]))
    finals = [s]
    for sweep, rev, (k, c) in zip(params["sweeps"], params["reverse"], per_sweep):
        nc = len(c)
        for rec in (reversed(records) if rev else records):
            out = run(sweep, *k, *c, *rec)
            c = out[:nc]
            rec += out[nc:]
        finals.append(c)
    return [x for f in finals for x in f]


def _ws_abstract(*avals, **params):
    cc, fc, s, per_sweep = _groups(avals, params)
    _check_cond_jaxpr(_WHO, params["cond_jaxpr"])
    _check_avals(_WHO, "the predicate's input", params["cond_jaxpr"].in_avals, cc + s)
    fwd = params["fwd_jaxpr"]
    _check_avals(_WHO, "the forward step's input", fwd.in_avals, fc + s)
    _check_avals(_WHO, "the forward step's carry", fwd.out_avals[:len(s)], s)
    if len(params["reverse"]) != len(per_sweep):
        raise TypeError(f"{_WHO}: reverse must have one flag per sweep")
    recorded = list(fwd.out_avals[len(s):])
    out = list(s)
    for j, (sweep, (k, c)) in enumerate(zip(params["sweeps"], per_sweep)):
        _check_avals(_WHO, f"sweep {j + 1}'s input", sweep.in_avals, k + c + recorded)
        _check_avals(_WHO, f"sweep {j + 1}'s carry", sweep.out_avals[:len(c)], c)
        recorded += sweep.out_avals[len(c):]
        out += c
    return out


# ---------------------------------------------------------------------------------------------
# jvp

def _ws_jvp(primals, tangents, **params):
    cc, fc, s, per_sweep = _groups(primals, params)
    _, fc_t, s_t, per_sweep_t = _groups(tangents, params)
    nz = lambda ts: [type(t) is not Zero for t in ts]  # noqa: E731
    only_nz = lambda ts: [t for t in ts if type(t) is not Zero]  # noqa: E731
    n_y = _num_ys(params)
    fwd0, sweeps0 = params["fwd_jaxpr"], params["sweeps"]
    fc_nz = nz(fc_t)
    s_nz = fixpoint(nz(s_t), lambda sn: jvp_jaxpr(fwd0, fc_nz + sn, sn + [False] * n_y[0]
                                                  )[2][:len(s)])
    fwd, kf, out_nz = jvp_jaxpr(fwd0, fc_nz + s_nz, s_nz + [False] * n_y[0], [len(fc), len(s)],
                                [len(s), n_y[0]])
    y_nz, y_groups = list(out_nz[len(s):]), [n_y[0]]
    new_sweeps, new_groups, c_nzs = [], [], []
    for sweep, ny, (k, c), (k_t, c_t) in zip(sweeps0, n_y[1:], per_sweep, per_sweep_t):
        k_nz = nz(k_t)
        c_nz = fixpoint(nz(c_t), lambda cn: jvp_jaxpr(sweep, k_nz + cn + y_nz,  # noqa: B023
                                                      cn + [False] * ny)[2][:len(c)])
        new, ks, o_nz = jvp_jaxpr(sweep, k_nz + c_nz + y_nz, c_nz + [False] * ny,
                                  [len(k), len(c)] + y_groups, [len(c), ny])
        avals = sweep.out_avals[:len(c)]
        new_sweeps.append(new)
        new_groups.append((ks + k + only_nz(k_t),
                           c + [materialize(t, a) for t, a, z in zip(c_t, avals, c_nz) if z]))
        c_nzs.append(c_nz)
        y_nz += o_nz[len(c):]
        y_groups.append(ny)
    s_avals = fwd0.out_avals[:len(s)]
    cond = insert_invars(params["cond_jaxpr"], len(params["cond_jaxpr"].in_avals),
                         [a for a, z in zip(s_avals, s_nz) if z])
    new_s = s + [materialize(t, a) for t, a, z in zip(s_t, s_avals, s_nz) if z]
    outs = _bind(cond, fwd, new_sweeps, params["reverse"], cc, kf + fc + only_nz(fc_t), new_s,
                 new_groups)
    # outputs come group by group: primals then the nonzero tangents
    res, res_t, pos = [], [], 0
    for avals, flags in [(s_avals, s_nz)] + [(sw.out_avals[:len(c)], f) for sw, (_, c), f
                                              in zip(sweeps0, per_sweep, c_nzs)]:
        n = len(avals)
        res += outs[pos:pos + n]
        it = iter(outs[pos + n:pos + n + sum(flags)])
        res_t += [next(it) if f else Zero(a) for f, a in zip(flags, avals)]
        pos += n + sum(flags)
    return res, res_t


# ---------------------------------------------------------------------------------------------
# vmap

@needs_axis_size
def _ws_batch(vals, dims, *, axis_size, **params):
    size = axis_size
    cc, fc, s, per_sweep = _groups(_to_front(vals, dims), params)
    cc_b, fc_b, s_in_b, per_sweep_b = _groups([d is not None for d in dims], params)
    n_y, n_s = _num_ys(params), len(s)
    fwd0, cond0 = params["fwd_jaxpr"], params["cond_jaxpr"]
    s_b = fixpoint(s_in_b, lambda sb: batch_jaxpr(fwd0, size, fc_b + sb,
                                                  sb + [False] * n_y[0])[2][:n_s])
    pred_b = batch_jaxpr(cond0, size, cc_b + s_b, [False])[2][0]
    if pred_b:   # lanes stop at different iterations: everything carries the batch
        s_b = [True] * n_s
    cond, ck, _ = batch_jaxpr(cond0, size, cc_b + s_b, [pred_b])
    fwd, fk, out_b = batch_jaxpr(fwd0, size, fc_b + s_b, s_b + [pred_b] * n_y[0])
    y_b = list(out_b[n_s:])
    sweeps, groups, c_bs = [], [], []
    for sweep, ny, (k, c), (k_b, c_in_b) in zip(params["sweeps"], n_y[1:], per_sweep,
                                                per_sweep_b):
        nc = len(c)
        c_b = [True] * nc if pred_b else fixpoint(
            c_in_b, lambda cb: batch_jaxpr(sweep, size, k_b + cb + y_b,  # noqa: B023
                                           cb + [False] * ny)[2][:nc])
        new, sk, o_b = batch_jaxpr(sweep, size, k_b + c_b + y_b, c_b + [pred_b] * ny)
        sweeps.append(new)
        groups.append((sk + k, _broadcast_flags(c, c_in_b, c_b, size)))
        c_bs.append(c_b)
        y_b += o_b[nc:]
    s = _broadcast_flags(s, s_in_b, s_b, size)
    out_dims = [0 if b else None for b in s_b + [x for cb in c_bs for x in cb]]
    cc, fc = ck + cc, fk + fc
    if not pred_b:
        return _bind(cond, fwd, sweeps, params["reverse"], cc, fc, s, groups), out_dims
    # The forward loop runs while any lane does; a finished lane keeps its state, and each
    # iteration also records which lanes ran it. Every sweep then skips, per lane, the
    # iterations that lane never ran.
    a_cc, a_fc, a_s = ([get_aval(x) for x in g] for g in (cc, fc, s))

    def any_cond(*a):
        return [any_lane(run(cond, *a)[0])]

    def masked_fwd(*a):
        c_, f_, s_ = split(a, [len(cc), len(fc), n_s])
        active = run(cond, *c_, *s_)[0]
        out = run(fwd, *f_, *s_)
        return select_tree(active, out[:n_s], s_) + out[n_s:] + [active]

    new_cond, k1 = trace_hoisted(any_cond, a_cc + a_s, "vmap")
    new_fwd, k2 = trace_hoisted(masked_fwd, a_cc + a_fc + a_s, "vmap")
    rec_avals = list(new_fwd.out_avals[n_s:])
    new_sweeps, new_groups = [], []
    for sweep, ny, (k, c) in zip(sweeps, n_y[1:], groups):
        nk, nc = len(k), len(c)

        def masked(*a, sweep=sweep, nk=nk, nc=nc):
            k_, c_, r = split(a, [nk, nc, len(a) - nk - nc])
            active = r[n_y[0]]
            out = run(sweep, *k_, *c_, *(r[:n_y[0]] + r[n_y[0] + 1:]))
            return select_tree(active, out[:nc], c_) + out[nc:]

        new, km = trace_hoisted(masked, [get_aval(x) for x in k + c] + rec_avals, "vmap")
        rec_avals += new.out_avals[nc:]
        new_sweeps.append(new)
        new_groups.append((km + k, c))
    outs = _bind(new_cond, new_fwd, new_sweeps, params["reverse"], k1 + cc, k2 + cc + fc, s,
                 new_groups)
    return outs, out_dims


# ---------------------------------------------------------------------------------------------
# Splitting into known (non-linear) and unknown (linear) parts

def _split(params, flags):
    """Partially evaluate every jaxpr given which operands are unknown (or linear), carries
    grown to fixpoints. Returns None if the predicate depends on an unknown, else
    ``(cond, cond_consts, parts, carry_uk, y_uk)``: the predicate over known values (leading
    with its hoisted ``cond_consts``, then the cond consts and known states); per part (fwd,
    then each sweep) the ``pe_jaxpr`` result ``(known, known_consts, unknown, out_uk,
    num_res)``; per part the unknown-carry flags and the unknown-record flags."""
    cc_uk, fc_uk, s_uk, per_sweep_uk = _groups(flags, params)
    n_y = _num_ys(params)
    fwd, n_s = params["fwd_jaxpr"], len(s_uk)
    s_uk = fixpoint(s_uk, lambda su: pe_jaxpr(fwd, fc_uk + su, su + [False] * n_y[0])[3][:n_s])
    ck, ckc, _, c_out, c_res = pe_jaxpr(params["cond_jaxpr"], cc_uk + s_uk, [False])
    if c_out[0]:
        return None
    cond = restrict(ck, [True] * len(ck.in_avals), [True] + [False] * c_res)
    parts = [pe_jaxpr(fwd, fc_uk + s_uk, s_uk + [False] * n_y[0])]
    carry_uk, y_uk = [s_uk], [list(parts[0][3][n_s:])]
    for sweep, ny, (k_uk, c_uk) in zip(params["sweeps"], n_y[1:], per_sweep_uk):
        nc, prior = len(c_uk), [f for g in y_uk for f in g]
        c_uk = fixpoint(c_uk, lambda cu: pe_jaxpr(sweep, k_uk + cu + prior,  # noqa: B023
                                                  cu + [False] * ny)[3][:nc])
        parts.append(pe_jaxpr(sweep, k_uk + c_uk + prior, c_uk + [False] * ny))
        carry_uk.append(c_uk)
        y_uk.append(list(parts[-1][3][nc:]))
    return cond, ckc, parts, carry_uk, y_uk


def _known(xs, flags):
    return [x for x, f in zip(xs, flags) if not f]


def _ws_partial_eval(pe, args, params):
    """The known outputs now, from a while_sweeps over the known parts; the whole primitive
    staged for the unknown ones (recomputing its known parts from their known inputs)."""
    sp = _split(params, [pe.is_unknown(x) for x in args])
    if sp is None:
        return pe.stage(while_sweeps_p, args, params)
    cond, ckc, parts, carry_uk, _ = sp
    out_uk = [f for c in carry_uk for f in c]
    if all(out_uk):
        return pe.stage(while_sweeps_p, args, params)
    cc, fc, s, per_sweep = _groups(args, params)
    _, fc_uk, _, per_sweep_uk = _groups([pe.is_unknown(x) for x in args], params)
    jaxprs, groups = [], []
    for (known, kconsts, _, o_uk, n_res), c_uk, k, k_uk, c in zip(
            parts, carry_uk, [fc] + [g[0] for g in per_sweep], [fc_uk] + [g[0] for g in
                                                                     per_sweep_uk],
            [s] + [g[1] for g in per_sweep]):
        n_out = o_uk.count(False)
        jaxprs.append(restrict(known, [True] * len(known.in_avals),
                               [True] * n_out + [False] * n_res))
        groups.append((list(kconsts) + _known(k, k_uk), _known(c, c_uk)))
    known_outs = bind_with(pe.prev, while_sweeps_p, *_operands(ckc + cc, groups),
                           **_params(cond, jaxprs[0], jaxprs[1:], params["reverse"], ckc + cc,
                                     groups))
    staged = pe.stage(while_sweeps_p, args, params)
    it = iter(known_outs)
    return [x if u else next(it) for x, u in zip(staged, out_uk)]


def _operands(cc, groups) -> list:
    """Operands from the cond consts and (consts, carry) of the forward loop and sweeps."""
    return list(cc) + [x for k, c in groups for x in list(k) + list(c)]


def _params(cond, fwd, sweeps, reverse, cc, groups) -> dict:
    return dict(cond_jaxpr=cond, fwd_jaxpr=fwd, sweeps=tuple(sweeps), reverse=tuple(reverse),
                num_consts=(len(cc),) + tuple(len(k) for k, _ in groups),
                num_carry=tuple(len(c) for _, c in groups))


# ---------------------------------------------------------------------------------------------
# transpose

def _select_inputs(closed, avals, picks):
    """A jaxpr over ``avals`` running ``closed`` on the inputs at positions ``picks``."""
    return trace_hoisted(lambda *a: run(closed, *[a[i] for i in picks]), avals, "transpose")


def _sum_cts(cts, aval):
    out = None
    for c in cts:
        out = c if out is None else add_tangents(out, c)
    return Zero(aval) if out is None else out


def _ws_transpose(cts, *args, **params):
    """One ``while_sweeps`` running the non-linear parts (recording residuals), then the
    transposed linear parts in reverse order and opposite directions (see the module
    docstring); returns the cotangents of the linear operands."""
    who = "while_loop (reverse mode, while_sweeps)"
    lin = [is_undefined(x) for x in args]
    cc, fc, s, per_sweep = _groups(args, params)
    if any(is_undefined(x) for x in cc):
        raise TypeError(f"{who}: cannot transpose a loop whose predicate reads a linear value"
                        + PREDICATE_FIX)
    sp = _split(params, lin)
    if sp is None:
        raise TypeError(f"{who}: cannot transpose a loop whose predicate depends on a linear "
                        f"carry" + PREDICATE_FIX)
    cond, ckc, parts, carry_lin, y_lin = sp
    _, fc_lin, _, per_sweep_lin = _groups(lin, params)
    consts = [fc] + [k for k, _ in per_sweep]
    consts_lin = [fc_lin] + [k for k, _ in per_sweep_lin]
    carries = [s] + [c for _, c in per_sweep]
    jaxprs = (params["fwd_jaxpr"],) + tuple(params["sweeps"])
    m = len(params["sweeps"])
    carry_avals = [j.out_avals[:len(c)] for j, c in zip(jaxprs, carries)]
    y_avals = [j.out_avals[len(c):] for j, c in zip(jaxprs, carries)]
    lin_avals = lambda avals, flags: [a for a, f in zip(avals, flags) if f]  # noqa: E731

    # 1. The non-linear parts in their own directions, recording known ys and residuals.
    rec: list[list] = []          # the new primitive's record groups (avals)
    new_sweeps, reverse, groups = [], [], []
    for j, (known, kconsts, _, _, _) in enumerate(parts):
        n_k = len(kconsts) + consts_lin[j].count(False)
        n_c = carry_lin[j].count(False)
        head = list(known.in_avals[:n_k + n_c])
        picks = list(range(n_k + n_c))
        pos = n_k + n_c
        for i in range(j):   # the known ys of each earlier part; its residuals are skipped
            picks += range(pos, pos + y_lin[i].count(False))
            pos += len(rec[i])
        step, extra = (known, []) if j == 0 else _select_inputs(
            known, head + [a for g in rec[:j] for a in g], picks)
        if j:
            new_sweeps.append(step)
            reverse.append(params["reverse"][j - 1])
        else:
            fwd = step
        groups.append((extra + list(kconsts) + _known(consts[j], consts_lin[j]),
                       _known(carries[j], carry_lin[j])))
        rec.append(list(known.out_avals[n_c:]))

    # 2. The linear parts transposed, last sweep first, each in the opposite direction; the
    #    transposed sweep j records the cotangents of the linear records it read.
    ct_rec_of = {}                # part j -> index of its cotangent record group in ``rec``
    for j in range(m, -1, -1):
        _, _, unknown, _, n_res = parts[j]
        k_avals = [x.aval for x in consts[j] if is_undefined(x)]
        c_avals = lin_avals(carry_avals[j], carry_lin[j])
        prior_lin = [f for g in y_lin[:j] for f in g]
        prior_avals = lin_avals([a for g in y_avals[:j] for a in g], prior_lin)
        my_y = lin_avals(y_avals[j], y_lin[j])
        off = sum(y_lin[i].count(True) for i in range(j))   # y_j's slice in a ct record
        offsets = [sum(len(g) for g in rec[:i]) for i in range(len(rec))]
        n_kl, n_cl = len(k_avals), len(c_avals)

        def step(*a, j=j, unknown=unknown, n_res=n_res, k_avals=k_avals, c_avals=c_avals,
                 prior_avals=prior_avals, my_y=my_y, off=off, offsets=offsets,
                 n_kl=n_kl, n_cl=n_cl, groups_now=dict(ct_rec_of)):
            ct_c, acc, r = split(a, [n_cl, n_kl, len(a) - n_cl - n_kl])
            start = offsets[j] + y_lin[j].count(False)
            res = r[start:start + n_res]
            ct_y = [_sum_cts([r[offsets[g] + off + q] for g in groups_now.values()], av)
                    for q, av in enumerate(my_y)]
            undef = [UndefinedPrimal(av) for av in k_avals + c_avals + prior_avals]
            got = backward_pass(unknown.jaxpr, [], list(res) + undef, list(ct_c) + ct_y)[n_res:]
            g_k, g_c, g_y = split(got, [n_kl, n_cl, len(prior_avals)])
            return ([materialize(g, av) for g, av in zip(g_c, c_avals)] +
                    [materialize(add_tangents(x, g) if type(g) is not Zero else x, av)
                     for x, g, av in zip(acc, g_k, k_avals)] +
                    [materialize(g, av) for g, av in zip(g_y, prior_avals)])

        body, extra = trace_hoisted(step, c_avals + k_avals + [x for g in rec for x in g],
                                    "transpose")
        new_sweeps.append(body)
        reverse.append(not params["reverse"][j - 1] if j else True)
        ct_out = cts[sum(len(c) for c in carries[:j]):][:len(carries[j])]
        ct_init = [materialize(c, av) for c, av, f in zip(ct_out, carry_avals[j],
                                                          carry_lin[j]) if f]
        groups.append((extra, ct_init + [zeros(av) for av in k_avals]))
        if j:
            ct_rec_of[j] = len(rec)
            rec.append(prior_avals)

    outs = while_sweeps_p.bind(*_operands(ckc + cc, groups),
                               **_params(cond, fwd, new_sweeps, reverse, ckc + cc, groups))
    # outputs: the non-linear carries, then (carry cts, const cts) of parts m, ..., 0
    pos = sum(len(c) for _, c in groups[:m + 1])
    ct_consts, ct_carries = [None] * (m + 1), [None] * (m + 1)
    for j in range(m, -1, -1):
        n_cl = carry_lin[j].count(True)
        n_kl = consts_lin[j].count(True)
        ct_carries[j], ct_consts[j] = outs[pos:pos + n_cl], outs[pos + n_cl:pos + n_cl + n_kl]
        pos += n_cl + n_kl
    result = [None] * len(cc)
    for j in range(m + 1):
        ki, ci = iter(ct_consts[j]), iter(ct_carries[j])
        result += [next(ki) if f else None for f in consts_lin[j]]
        for x, f in zip(carries[j], carry_lin[j]):
            g = next(ci) if f else None
            result.append(g if is_undefined(x) else None)
    return result


# ---------------------------------------------------------------------------------------------
# while_transpose_p in this form: its partial evaluation and transpose

def _from_while_transpose(args, params):
    """``while_transpose`` operands and params as ``while_sweeps`` ones: the forward step also
    records the state it starts from, and the backward step is the one reverse sweep."""
    cond, fwd, bwd = params["cond_jaxpr"], params["fwd_jaxpr"], params["bwd_jaxpr"]
    cc, fc, bc, s, b = split(args, _wt_sizes(len(args), params["cond_nconsts"],
                                             params["fwd_nconsts"], params["bwd_nconsts"], fwd))
    nf, nbc, nb = len(fc), len(bc), len(b)
    fwd2, k1 = trace_hoisted(lambda *a: run(fwd, *a) + list(a[nf:]), fwd.in_avals,
                             "while_transpose")
    b_avals = bwd.out_avals
    s_avals = fwd.out_avals
    bwd2, k2 = trace_hoisted(
        lambda *a: run(bwd, *a[:nbc], *a[nbc + nb:], *a[nbc:nbc + nb]),
        list(bwd.in_avals[:nbc]) + list(b_avals) + list(s_avals), "while_transpose")
    groups = [(k1 + list(fc), list(s)), (k2 + list(bc), list(b))]
    return (_operands(cc, groups), _params(cond, fwd2, [bwd2], [True], cc, groups),
            [len(cc), len(k1), nf, len(s), len(k2), nbc, nb])


def wt_partial_eval(pe, args, params):
    """Partial evaluation of ``while_transpose_p`` (linearizing reverse mode, for reverse
    mode of it): through ``while_sweeps``."""
    args2, params2, sizes = _from_while_transpose(args, params)
    return _ws_partial_eval(pe, args2, params2)[sizes[3]:]


def wt_transpose(cts, *args, **params):
    args2, params2, sizes = _from_while_transpose(args, params)
    s_cts = [Zero(a) for a in params["fwd_jaxpr"].out_avals]
    cc, _, fc, s, _, bc, b = split(_ws_transpose(s_cts + list(cts), *args2, **params2), sizes)
    return cc + fc + bc + s + b


# ---------------------------------------------------------------------------------------------
# The primitive, and the example the generic tests run: the while_transpose example with a
# second, forward sweep reading both earlier records

_V3, _I = ((3,), np.float64), ((), np.int64)
_FWD = example_jaxpr(lambda w, i, v: [bi.add(i, 1), bi.add(bi.mul(ew.sin(v), w), v), v],
                     [_V3, _I, _V3])
_BWD = example_jaxpr(lambda w, b, v: [bi.add(bi.mul(bi.mul(b, ew.cos(v)), w), v),
                                      bi.mul(b, v)], [_V3, _V3, _V3])
_AGAIN = example_jaxpr(lambda c, v, y: [bi.add(c, bi.mul(ew.sin(y), v))], [_V3, _V3, _V3])


def _ws_test_args(rng):
    """(bound, w, i0, v0, w2, b0, c0): the trip count varies with the draw."""
    n, w, i0, v0 = _while_test_args(rng)
    return [n, w, i0, v0] + [rng.uniform(-1, 1, 3) for _ in range(3)]


while_sweeps_p = Primitive(
    "while_sweeps", impl=_ws_impl, abstract_eval=_ws_abstract, jvp=_ws_jvp, batch=_ws_batch,
    partial_eval=_ws_partial_eval, transpose=_ws_transpose, multiple_results=True,
    higher_order=True, lowering=_lw.WHILE_SWEEPS,
    test_params=({"cond_jaxpr": _COUNT, "fwd_jaxpr": _FWD, "sweeps": (_BWD, _AGAIN),
                  "reverse": (True, False), "num_consts": (1, 1, 1, 0),
                  "num_carry": (2, 1, 1)},),
    test_args=_ws_test_args)
