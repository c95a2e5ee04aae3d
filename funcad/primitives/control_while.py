"""``while``: a loop with a data-dependent trip count, and its reverse-mode companion.

``while_p`` has operands ``(*cond_consts, *body_consts, *init)`` and parameters
``cond_jaxpr`` (cond consts + carry -> bool scalar), ``body_jaxpr`` (body consts + carry ->
carry), ``cond_nconsts`` and ``body_nconsts``.

Reverse mode, which JAX does not offer for while loops, works like this:

1. jvp turns the loop into one over (carry, carry tangent).
2. Partial evaluation (linearize) runs the primal part now, as a while over the known carries
   only, and counts its iterations.
3. If the count is concrete -- a top-level loop under ``grad``/``vjp`` without ``jit`` --
   the loop *is* a scan of that length: scan's partial evaluation re-runs the primal body,
   stacking the residuals of each iteration, and stages a linear scan; transposing it is a
   reverse scan. Scans are closed under every transformation, so ``grad(grad(f))`` works.
   Cost: two primal passes and one backward pass; memory ``trip_count * sizeof(residuals)``.
4. Otherwise (under ``jit``/``make_jaxpr``, inside a scan or cond body, or with a count that
   differs across ``vmap`` lanes) the count is abstract, so no static shape can hold the
   per-iteration values. The *whole* jvp loop is staged as the linear part (the primal carries
   inside it are recomputed from their known initial values) and its transposition binds
   ``while_transpose_p``: it runs the primal carries forward again, recording each
   iteration's state in a Python list (the trip count is found here), then runs the
   transposed body backwards over the record, recomputing each step's residuals from its
   state. Cost: three primal passes and one backward pass; memory ``trip_count *
   sizeof(primal carry)``. The recording lives inside one primitive, so every shape in the IR
   stays static and this works with a trip count known only at run time.

``while_transpose_p`` has operands ``(*cond_consts, *fwd_consts, *bwd_consts, *init_s,
*init_b)``: with ``s_0 = init_s``, ``s_{k+1} = fwd(s_k)`` while ``cond(s_k)`` (``n``
iterations), then ``b = init_b`` and ``b = bwd(s_k, b)`` for ``k = n-1, ..., 0``; it returns
``b``. It is closed under jvp and vmap (the jvp records (s, s_dot); vmap masks finished lanes
in both sweeps), so forward-over-reverse (``hessian``, ``jacfwd(grad(f))``) and
``vmap(grad(f))`` work on this path too. Reverse mode *of* ``while_transpose_p``
(``grad(grad(f))``, ``jacrev(grad(f))`` on the staged path) needs more sweeps over the same
record: its partial evaluation and transpose rewrite it as ``while_sweeps_p``, the general
"record once, then sweep forwards and backwards" primitive, closed under every
transformation (funcad/primitives/control_while_transpose.py, which builds on this module;
hence the function-local imports in the two rules below).
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, ShapedArray, Tracer, bind_with, get_aval
from funcad.interpreters.transpose import backward_pass
from funcad.primitives import binary as bi, control_lowering as _lw, elementwise as ew
from funcad.primitives.control_jaxpr import (any_lane, batch_jaxpr, example_jaxpr, fixpoint,
                                             insert_invars, jvp_jaxpr, materialize, pe_jaxpr,
                                             restrict, run, select_tree, split, trace_hoisted,
                                             zeros)
from funcad.primitives.control_scan import scan_p
from funcad.rule_util import (UndefinedPrimal, Zero, add_tangents, bdim_to_front, is_undefined,
                              moveaxis, needs_axis_size)


PREDICATE_FIX = ("; the trip count would then depend on the value being differentiated. "
                 "Make the predicate read only values that are not differentiated (apply "
                 "lax.stop_gradient to its inputs), or use lax.fori_loop with fixed bounds.")


def _check_cond_jaxpr(who, cond_jaxpr):
    out = cond_jaxpr.out_avals
    if len(out) != 1 or out[0].shape != () or out[0].dtype.kind != "b":
        raise TypeError(f"{who}: the loop predicate must be a boolean scalar, got "
                        f"{[a.str_short() for a in out]}")


def _check_avals(who, what, got, want):
    if list(got) != list(want):
        raise TypeError(f"{who}: {what} has types {[a.str_short() for a in got]} but "
                        f"{[a.str_short() for a in want]} were expected")


def _to_front(vals, dims):
    return [moveaxis(x, d, 0) if d is not None else x for x, d in zip(vals, dims)]


def _any_lane_cond(cond, avals):
    """The predicate of a loop over batched lanes: is any lane still running?"""
    return trace_hoisted(lambda *a: [any_lane(run(cond, *a)[0])], avals, "vmap")


def _masked(cond, step, sizes, avals):
    """A loop step for batched lanes that may have finished, traced over ``avals``:
    ``(cond consts, step consts, s, b) -> where(cond(s), step(consts, s, b), old)`` per lane,
    where ``old`` is ``b`` (the backward sweep of while_transpose) or, without ``b``, ``s``."""
    def fun(*a):
        c, k, s, b = split(a, sizes)
        return select_tree(run(cond, *c, *s)[0], run(step, *k, *s, *b), b if b else s)
    return trace_hoisted(fun, avals, "vmap")


def _broadcast_flags(vals, had, want, size):
    """Give values flagged in ``want`` but not in ``had`` a batch axis at 0."""
    return [bdim_to_front(x, None, size) if w and not h else x
            for x, h, w in zip(vals, had, want)]


# ---------------------------------------------------------------------------------------------
# while_p

def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = split(args, [cond_nconsts, body_nconsts, len(args) - cond_nconsts -
                                 body_nconsts])
    while bool(run(cond_jaxpr, *cc, *carry)[0]):
        carry = run(body_jaxpr, *bc, *carry)
    return carry


def _while_abstract(*avals, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = split(avals, [cond_nconsts, body_nconsts, len(avals) - cond_nconsts -
                                  body_nconsts])
    _check_cond_jaxpr("while_loop", cond_jaxpr)
    _check_avals("while_loop", "the predicate's input", cond_jaxpr.in_avals, cc + carry)
    _check_avals("while_loop", "the body's input", body_jaxpr.in_avals, bc + carry)
    _check_avals("while_loop", "the body's output", body_jaxpr.out_avals, carry)
    return list(carry)


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    nc, nb = cond_nconsts, body_nconsts
    cc, bc, init = split(primals, [nc, nb, len(primals) - nc - nb])
    _, bc_t, init_t = split(tangents, [nc, nb, len(primals) - nc - nb])
    bc_nz = [type(t) is not Zero for t in bc_t]
    carry_nz = fixpoint([type(t) is not Zero for t in init_t],
                        lambda cnz: jvp_jaxpr(body_jaxpr, bc_nz + cnz, cnz)[2])
    body, k = jvp_jaxpr(body_jaxpr, bc_nz + carry_nz, carry_nz, [nb, len(init)],
                        [len(init)])[:2]
    carry_avals = body_jaxpr.out_avals
    t_avals = [a for a, n in zip(carry_avals, carry_nz) if n]
    cond = insert_invars(cond_jaxpr, len(cond_jaxpr.in_avals), t_avals)
    new_bc = k + bc + [t for t in bc_t if type(t) is not Zero]
    new_init = init + [materialize(t, a) for t, a, n in zip(init_t, carry_avals, carry_nz) if n]
    outs = while_p.bind(*cc, *new_bc, *new_init, cond_jaxpr=cond, body_jaxpr=body,
                        cond_nconsts=nc, body_nconsts=len(new_bc))
    n = len(init)
    it = iter(outs[n:])
    return outs[:n], [next(it) if z else Zero(a) for z, a in zip(carry_nz, carry_avals)]


@needs_axis_size
def _while_batch(vals, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts,
                 axis_size):
    nc, nb = cond_nconsts, body_nconsts
    n = len(vals) - nc - nb
    cc, bc, init = split(_to_front(vals, dims), [nc, nb, n])
    cc_b, bc_b, init_b = split([d is not None for d in dims], [nc, nb, n])
    carry_b = fixpoint(init_b, lambda cb: batch_jaxpr(body_jaxpr, axis_size, bc_b + cb,
                                                      cb)[2])
    pred_b = batch_jaxpr(cond_jaxpr, axis_size, cc_b + carry_b, [False])[2][0]
    if pred_b:
        carry_b = [True] * n
    cond, ck, _ = batch_jaxpr(cond_jaxpr, axis_size, cc_b + carry_b, [pred_b])
    body, bk, _ = batch_jaxpr(body_jaxpr, axis_size, bc_b + carry_b, carry_b)
    init = _broadcast_flags(init, init_b, carry_b, axis_size)
    if not pred_b:
        outs = while_p.bind(*ck, *cc, *bk, *bc, *init, cond_jaxpr=cond, body_jaxpr=body,
                            cond_nconsts=len(ck) + nc, body_nconsts=len(bk) + nb)
        return outs, [0 if b else None for b in carry_b]
    # A batched predicate: loop while any lane is running; finished lanes keep their carry.
    cc, bc = ck + cc, bk + bc
    avals = [get_aval(x) for x in cc + bc] + list(body.out_avals)
    new_cond, k1 = _any_lane_cond(cond, avals[:len(cc)] + avals[len(cc) + len(bc):])
    new_body, k2 = _masked(cond, body, [len(cc), len(bc), n, 0], avals)
    outs = while_p.bind(*k1, *cc, *k2, *cc, *bc, *init, cond_jaxpr=new_cond,
                        body_jaxpr=new_body, cond_nconsts=len(k1) + len(cc),
                        body_nconsts=len(k2) + len(cc) + len(bc))
    return outs, [0] * n


def _split_loop(cond_jaxpr, body_jaxpr, nc, consts_flags, carry_flags):
    """Split a loop into its known and unknown parts, ``flags`` marking unknown (or linear)
    inputs. Partial evaluation, not a plain dependence analysis, decides: a nested loop or
    branch mixing known and unknown values splits too, keeping its known outputs known.

    Returns ``(carry_uk, pred_uk, known_cond, known_body, unknown_body, num_res)``: the carry
    flags grown to a fixpoint; whether the predicate depends on an unknown; the predicate
    and the body over known values only (``known_body`` returns the known carries then the
    residuals; both lead with their hoisted constants, given as ``.consts``); the unknown
    body (residuals, unknown consts, unknown carries -> unknown carries).
    """
    carry_uk = fixpoint(carry_flags, lambda cu: pe_jaxpr(body_jaxpr, consts_flags + cu, cu)[3])
    ck, ckc, _, c_out_uk, c_res = pe_jaxpr(cond_jaxpr, [False] * nc + carry_uk, [False])
    pred_uk = c_out_uk[0]
    known, kconsts, unknown, _, n_res = pe_jaxpr(body_jaxpr, consts_flags + carry_uk, carry_uk)
    known_cond = None if pred_uk else restrict(ck, [True] * len(ck.in_avals),
                                               [True] + [False] * c_res)
    return (carry_uk, pred_uk, (known_cond, ckc), (known, kconsts), unknown, n_res)


def _concrete_int(x):
    """The value of an integer scalar if it is known now (not abstract), else None."""
    v = x.concrete_value() if isinstance(x, Tracer) else x
    return None if v is None else int(v)


def _while_partial_eval(pe, args, params):
    """Run the known carries now, counting the iterations. With a concrete count the loop is
    a scan of that length, partially evaluated as scans are (residuals stacked per
    iteration). Otherwise (under jit/make_jaxpr, or a count that differs across vmap lanes)
    stage the whole loop for the unknown carries, recomputing the known ones inside it; its
    transpose is while_transpose_p."""
    cond_jaxpr, body_jaxpr = params["cond_jaxpr"], params["body_jaxpr"]
    nc, nb = params["cond_nconsts"], params["body_nconsts"]
    n = len(args) - nc - nb
    cc, bc, init = split(args, [nc, nb, n])
    cc_uk, bc_uk, init_uk = split([pe.is_unknown(x) for x in args], [nc, nb, n])
    if any(cc_uk):
        return pe.stage(while_p, args, params)
    carry_uk, pred_uk, (cond, ckc), (known, kconsts), _, n_res = _split_loop(
        cond_jaxpr, body_jaxpr, nc, bc_uk, init_uk)
    if pred_uk or all(carry_uk):
        return pe.stage(while_p, args, params)
    n_known = carry_uk.count(False)
    body = restrict(known, [True] * len(known.in_avals), [True] * n_known + [False] * n_res)
    known_bc = list(kconsts) + [x for x, u in zip(bc, bc_uk) if not u]
    known_init = [x for x, u in zip(init, carry_uk) if not u]
    if not any(carry_uk):
        return bind_with(pe.prev, while_p, *ckc, *cc, *known_bc, *known_init, cond_jaxpr=cond,
                         body_jaxpr=body, cond_nconsts=len(ckc) + nc,
                         body_nconsts=len(known_bc))
    i64 = ShapedArray((), np.int64)
    counted, k = trace_hoisted(lambda *a: run(body, *a[:-1]) + [bi.add(a[-1], np.int64(1))],
                               body.in_avals + [i64], "partial_eval")
    outs = bind_with(pe.prev, while_p, *ckc, *cc, *k, *known_bc, *known_init, np.int64(0),
                     cond_jaxpr=insert_invars(cond, len(cond.in_avals), [i64]),
                     body_jaxpr=counted, cond_nconsts=len(ckc) + nc,
                     body_nconsts=len(k) + len(known_bc))
    known_outs, trips = outs[:-1], _concrete_int(outs[-1])
    if trips is not None:
        return scan_p.partial_eval(pe, list(bc) + list(init), {
            "jaxpr": body_jaxpr, "num_consts": nb, "num_carry": n, "length": trips,
            "reverse": False})
    staged = pe.stage(while_p, args, params)
    k_it = iter(known_outs)
    return [s if u else next(k_it) for s, u in zip(staged, carry_uk)]


def _while_transpose(cts, *args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    nc, nb = cond_nconsts, body_nconsts
    n = len(args) - nc - nb
    cc, bc, init = split(args, [nc, nb, n])
    if any(is_undefined(x) for x in cc):
        raise TypeError("while_loop: cannot transpose a loop whose predicate reads a linear "
                        "value" + PREDICATE_FIX)
    bc_lin = [is_undefined(x) for x in bc]
    carry_lin, pred_lin, (cond, ckc), (known, kconsts), unknown, n_res = _split_loop(
        cond_jaxpr, body_jaxpr, nc, bc_lin, [is_undefined(x) for x in init])
    if pred_lin:
        raise TypeError("while_loop: cannot transpose a loop whose predicate depends on a "
                        "linear carry" + PREDICATE_FIX)
    nl = [not x for x in carry_lin]
    n_nl = nl.count(True)
    carry_avals = body_jaxpr.out_avals
    bc_nl = list(kconsts) + [x for x, li in zip(bc, bc_lin) if not li]
    s0 = [x for x, li in zip(init, carry_lin) if not li]
    lin_carry_avals = [a for a, li in zip(carry_avals, carry_lin) if li]
    lin_bc_avals = [x.aval for x in bc if is_undefined(x)]
    # forward: the non-linear carries alone; backward: recompute the step's residuals from
    # the recorded state, then transpose the linear part of the body
    fwd = restrict(known, [True] * len(known.in_avals), [True] * n_nl + [False] * n_res)
    n_bcn, n_ct, n_lbc = len(bc_nl), len(lin_carry_avals), len(lin_bc_avals)

    def bwd_step(*a):
        bcn, s, ct, acc = split(a, [n_bcn, n_nl, n_ct, n_lbc])
        res = run(known, *bcn, *s)[n_nl:]
        lin = [UndefinedPrimal(av) for av in lin_bc_avals + lin_carry_avals]
        got = backward_pass(unknown.jaxpr, [], list(res) + lin, list(ct))[n_res:]
        g_bc, g_carry = got[:n_lbc], got[n_lbc:]
        new_ct = [materialize(g, av) for g, av in zip(g_carry, lin_carry_avals)]
        new_acc = [materialize(add_tangents(x, g) if g is not None else x, av)
                   for x, g, av in zip(acc, g_bc, lin_bc_avals)]
        return new_ct + new_acc

    bwd, kb = trace_hoisted(bwd_step, [get_aval(x) for x in bc_nl + s0] + lin_carry_avals +
                            lin_bc_avals, "transpose")
    ct_c = [materialize(c, av) for c, av, li in zip(cts, carry_avals, carry_lin) if li]
    acc0 = [zeros(a) for a in lin_bc_avals]
    outs = while_transpose_p.bind(*ckc, *cc, *bc_nl, *kb, *bc_nl, *s0, *ct_c, *acc0,
                                  cond_jaxpr=cond, fwd_jaxpr=fwd, bwd_jaxpr=bwd,
                                  cond_nconsts=len(ckc) + nc, fwd_nconsts=n_bcn,
                                  bwd_nconsts=len(kb) + n_bcn)
    ct_init, ct_bc = outs[:n_ct], outs[n_ct:]
    ci, bi = iter(ct_init), iter(ct_bc)
    res = [None] * nc + [next(bi) if li else None for li in bc_lin]
    for x, li in zip(init, carry_lin):
        g = next(ci) if li else None
        res.append(g if is_undefined(x) else None)
    return res


_V3, _I = ((3,), np.float64), ((), np.int64)
_COUNT = example_jaxpr(lambda n, i, v: [bi.lt(i, n)], [_I, _I, _V3])
_STEP = example_jaxpr(lambda w, i, v: [bi.add(i, 1), bi.add(bi.mul(ew.sin(v), w), v)],
                      [_V3, _I, _V3])


def _while_test_args(rng):
    """(bound, w, i0, v0): the trip count varies with the draw (a batched predicate)."""
    return [np.asarray(rng.integers(1, 4), np.int64), rng.uniform(-1, 1, 3),
            np.asarray(rng.integers(0, 2), np.int64), rng.uniform(-1, 1, 3)]


while_p = Primitive("while", impl=_while_impl, abstract_eval=_while_abstract, jvp=_while_jvp,
                    batch=_while_batch, partial_eval=_while_partial_eval,
                    transpose=_while_transpose, multiple_results=True, higher_order=True,
                    lowering=_lw.WHILE, test_params=({"cond_jaxpr": _COUNT, "body_jaxpr": _STEP,
                                  "cond_nconsts": 1, "body_nconsts": 1},),
                    test_args=_while_test_args)


# ---------------------------------------------------------------------------------------------
# while_transpose_p: record the forward states, then sweep backwards

def _wt_sizes(args_len, cond_nconsts, fwd_nconsts, bwd_nconsts, fwd_jaxpr):
    n_s = len(fwd_jaxpr.out_avals)
    return [cond_nconsts, fwd_nconsts, bwd_nconsts, n_s,
            args_len - cond_nconsts - fwd_nconsts - bwd_nconsts - n_s]


def _wt_impl(*args, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, cond_nconsts, fwd_nconsts,
             bwd_nconsts):
    cc, fc, bc, s, b = split(args, _wt_sizes(len(args), cond_nconsts, fwd_nconsts,
                                             bwd_nconsts, fwd_jaxpr))
    states = []  # one entry per iteration: the memory cost of reverse mode
    while bool(run(cond_jaxpr, *cc, *s)[0]):
        states.append(s)
        s = run(fwd_jaxpr, *fc, *s)
    for s in reversed(states):
        b = run(bwd_jaxpr, *bc, *s, *b)
    return b


def _wt_abstract(*avals, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, cond_nconsts, fwd_nconsts,
                 bwd_nconsts):
    cc, fc, bc, s, b = split(avals, _wt_sizes(len(avals), cond_nconsts, fwd_nconsts,
                                              bwd_nconsts, fwd_jaxpr))
    who = "while_transpose"
    _check_cond_jaxpr(who, cond_jaxpr)
    _check_avals(who, "the predicate's input", cond_jaxpr.in_avals, cc + s)
    _check_avals(who, "the forward step's input", fwd_jaxpr.in_avals, fc + s)
    _check_avals(who, "the forward step's output", fwd_jaxpr.out_avals, s)
    _check_avals(who, "the backward step's input", bwd_jaxpr.in_avals, bc + s + b)
    _check_avals(who, "the backward step's output", bwd_jaxpr.out_avals, b)
    return list(b)


def _wt_jvp(primals, tangents, *, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, cond_nconsts,
            fwd_nconsts, bwd_nconsts):
    sizes = _wt_sizes(len(primals), cond_nconsts, fwd_nconsts, bwd_nconsts, fwd_jaxpr)
    cc, fc, bc, s, b = split(primals, sizes)
    _, fc_t, bc_t, s_t, b_t = split(tangents, sizes)
    nzf = lambda ts: [type(t) is not Zero for t in ts]  # noqa: E731
    fc_nz, bc_nz = nzf(fc_t), nzf(bc_t)
    s_nz = fixpoint(nzf(s_t), lambda sn: jvp_jaxpr(fwd_jaxpr, fc_nz + sn, sn)[2])
    b_nz = fixpoint(nzf(b_t), lambda bn: jvp_jaxpr(bwd_jaxpr, bc_nz + s_nz + bn, bn)[2])
    fwd, kf = jvp_jaxpr(fwd_jaxpr, fc_nz + s_nz, s_nz, [len(fc), len(s)], [len(s)])[:2]
    bwd, kb = jvp_jaxpr(bwd_jaxpr, bc_nz + s_nz + b_nz, b_nz, [len(bc), len(s), len(b)],
                        [len(b)])[:2]
    s_avals, b_avals = fwd_jaxpr.out_avals, bwd_jaxpr.out_avals
    cond = insert_invars(cond_jaxpr, len(cond_jaxpr.in_avals),
                         [a for a, z in zip(s_avals, s_nz) if z])
    nz_only = lambda ts: [t for t in ts if type(t) is not Zero]  # noqa: E731
    new_fc = kf + fc + nz_only(fc_t)
    new_bc = kb + bc + nz_only(bc_t)
    new_s = s + [materialize(t, a) for t, a, z in zip(s_t, s_avals, s_nz) if z]
    new_b = b + [materialize(t, a) for t, a, z in zip(b_t, b_avals, b_nz) if z]
    outs = while_transpose_p.bind(*cc, *new_fc, *new_bc, *new_s, *new_b, cond_jaxpr=cond,
                                  fwd_jaxpr=fwd, bwd_jaxpr=bwd, cond_nconsts=cond_nconsts,
                                  fwd_nconsts=len(new_fc), bwd_nconsts=len(new_bc))
    it = iter(outs[len(b):])
    return outs[:len(b)], [next(it) if z else Zero(a) for z, a in zip(b_nz, b_avals)]


@needs_axis_size
def _wt_batch(vals, dims, *, cond_jaxpr, fwd_jaxpr, bwd_jaxpr, cond_nconsts, fwd_nconsts,
              bwd_nconsts, axis_size):
    sizes = _wt_sizes(len(vals), cond_nconsts, fwd_nconsts, bwd_nconsts, fwd_jaxpr)
    cc, fc, bc, s, b = split(_to_front(vals, dims), sizes)
    cc_b, fc_b, bc_b, s_in_b, b_in_b = split([d is not None for d in dims], sizes)
    size = axis_size
    s_b = fixpoint(s_in_b, lambda sb: batch_jaxpr(fwd_jaxpr, size, fc_b + sb, sb)[2])
    pred_b = batch_jaxpr(cond_jaxpr, size, cc_b + s_b, [False])[2][0]
    if pred_b:
        s_b = [True] * len(s)
        b_b = [True] * len(b)
    else:
        b_b = fixpoint(b_in_b, lambda bb: batch_jaxpr(bwd_jaxpr, size, bc_b + s_b + bb,
                                                      bb)[2])
    cond, ck, _ = batch_jaxpr(cond_jaxpr, size, cc_b + s_b, [pred_b])
    fwd, fk, _ = batch_jaxpr(fwd_jaxpr, size, fc_b + s_b, s_b)
    bwd, bk, _ = batch_jaxpr(bwd_jaxpr, size, bc_b + s_b + b_b, b_b)
    s = _broadcast_flags(s, s_in_b, s_b, size)
    b = _broadcast_flags(b, b_in_b, b_b, size)
    cc, fc, bc = ck + cc, fk + fc, bk + bc
    if not pred_b:
        outs = while_transpose_p.bind(*cc, *fc, *bc, *s, *b, cond_jaxpr=cond, fwd_jaxpr=fwd,
                                      bwd_jaxpr=bwd, cond_nconsts=len(cc),
                                      fwd_nconsts=len(fc), bwd_nconsts=len(bc))
        return outs, [0 if x else None for x in b_b]
    # Lanes finish at different iterations: forward, a finished lane keeps its state (so its
    # recorded states repeat); backward, the step is skipped where the predicate is false,
    # which is exactly at the iterations that lane never ran.
    ac, af, ab, as_, a_b = ([get_aval(x) for x in g] for g in (cc, fc, bc, s, b))
    new_cond, k1 = _any_lane_cond(cond, ac + as_)
    new_fwd, k2 = _masked(cond, fwd, [len(cc), len(fc), len(s), 0], ac + af + as_)
    new_bwd, k3 = _masked(cond, bwd, [len(cc), len(bc), len(s), len(b)], ac + ab + as_ + a_b)
    outs = while_transpose_p.bind(*k1, *cc, *k2, *cc, *fc, *k3, *cc, *bc, *s, *b,
                                  cond_jaxpr=new_cond, fwd_jaxpr=new_fwd, bwd_jaxpr=new_bwd,
                                  cond_nconsts=len(k1) + len(cc),
                                  fwd_nconsts=len(k2) + len(cc) + len(fc),
                                  bwd_nconsts=len(k3) + len(cc) + len(bc))
    return outs, [0] * len(b)


def _wt_partial_eval(pe, args, params):
    # reverse mode of reverse mode, through while_sweeps_p
    # cycle: funcad.primitives.control_while_transpose (while_sweeps_p) builds on this module
    from funcad.primitives.control_while_transpose import wt_partial_eval
    return wt_partial_eval(pe, args, params)


def _wt_transpose(cts, *args, **params):
    from funcad.primitives.control_while_transpose import wt_transpose  # cycle: as above
    return wt_transpose(cts, *args, **params)


_BACK = example_jaxpr(lambda w, i, v, b: [bi.mul(bi.mul(b, ew.cos(v)), w)],
                      [_V3, _I, _V3, _V3])


def _wt_test_args(rng):
    n, w, i0, v0 = _while_test_args(rng)
    return [n, w, rng.uniform(-1, 1, 3), i0, v0, rng.uniform(-1, 1, 3)]


while_transpose_p = Primitive(
    "while_transpose", impl=_wt_impl, abstract_eval=_wt_abstract, jvp=_wt_jvp, batch=_wt_batch,
    partial_eval=_wt_partial_eval, transpose=_wt_transpose, multiple_results=True,
    higher_order=True, lowering=_lw.WHILE_TRANSPOSE,
    test_params=({"cond_jaxpr": _COUNT, "fwd_jaxpr": _STEP, "bwd_jaxpr": _BACK,
                  "cond_nconsts": 1, "fwd_nconsts": 1, "bwd_nconsts": 1},),
    test_args=_wt_test_args)
