"""How jit writes control flow (the ``lowering`` of the control primitives, see
:mod:`funcad.lowering`): ``cond`` becomes ``if``/``elif``, ``while`` a ``while`` loop, ``scan`` a
``for`` loop, each with its inner jaxprs written in place (by
:meth:`funcad.codegen.lower.Lowerer.lower_inline`) in the same function.

Loop-carried values are ordinary local variables, reassigned at the end of each iteration;
inner jaxprs never write to their inputs, so a carried array can be shared without copies.
The stacked outputs of a scan are allocated once and filled row by row. The arrays a body
computes are allocated once, in the loop's preamble (:class:`funcad.codegen.lower.LoopScope`):
a value that lives into the next iteration (a new carry) alternates between two buffers, the
others reuse one. Small arrays in loops never get that far: each primitive's ``scalarise``
rule (the second half of this module) passes the small operands of its bodies as elements, so
that :mod:`funcad.codegen.scalarise` turns them into scalar locals first.
"""
from __future__ import annotations

from funcad.ir import Eqn
from funcad.lowering import Control


def _passthrough_safe(ctx, exprs, ins):
    """Outputs of a branch/body that are one of its inputs, as C-contiguous arrays, so every
    path gives Numba the same array type to unify."""
    out = []
    for e, v in exprs:
        if v.aval.ndim and e in ins:
            e = f"np.ascontiguousarray({e})"
        out.append(e)
    return out


def _assign(ctx, name: str, value: str, aval) -> None:
    """``name = value``; a rank-0 value keeps its dtype (float32/int32 stay so in loops)."""
    ctx.em.line(f"{name} = {ctx.cast(value, aval.dtype) if not aval.ndim else value}")


def _cond_rule(ctx, eqn):
    index, *ops = eqn.inputs
    branches = eqn.params["branches"]
    outs = eqn.outvars
    ins = [ctx.name(a) for a in ops]
    idx = ctx.name(index)
    n = len(branches)
    for k, br in enumerate(branches):
        if n == 1:
            header = None
        elif k == 0:
            header = f"if {idx} <= 0:"
        elif k < n - 1:
            header = f"elif {idx} <= {k}:"
        else:
            header = "else:"   # the index is clamped, as lax.switch does
        esc = [o in ctx.escaping for o in outs]
        if header is None:
            res = ctx.lower_inline(br, ins, escaping=esc)
            for o, r in zip(outs, res):
                ctx.em.line(f"{ctx.out(o)} = {r}")
            continue
        with ctx.em.block(header):
            res = _passthrough_safe(ctx, zip(ctx.lower_inline(br, ins, escaping=esc), outs),
                                    ins)
            for o, r in zip(outs, res):
                _assign(ctx, ctx.out(o), r, o.aval)


def _while_rule(ctx, eqn):
    p = eqn.params
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    args = [ctx.name(a) for a in eqn.inputs]
    cc, bc, init = args[:nc], args[nc:nc + nb], args[nc + nb:]
    carry = [ctx.out(o) for o in eqn.outvars]
    for c, v, o in zip(carry, init, eqn.outvars):
        _assign(ctx, c, v, o.aval)
    scope = ctx.loop_scope(eqn)
    with ctx.em.block("while True:"):
        ctx.flip(scope)
        (pred,) = ctx.lower_inline(p["cond_jaxpr"], cc + carry, scope, [False])
        ctx.em.line(f"if not {pred}:")
        with ctx.em.indent():
            ctx.em.line("break")
        new = ctx.lower_inline(p["body_jaxpr"], bc + carry, scope)
        new = _passthrough_safe(ctx, zip(new, eqn.outvars), bc)
        tmp = [ctx.fresh("new") for _ in new]
        for t, v in zip(tmp, new):   # all new values first: they may read the old carry
            ctx.em.line(f"{t} = {v}")
        for c, t, o in zip(carry, tmp, eqn.outvars):
            _assign(ctx, c, t, o.aval)


def _scan_rule(ctx, eqn):
    p = eqn.params
    n_consts, n_carry, length = p["num_consts"], p["num_carry"], p["length"]
    args = [ctx.name(a) for a in eqn.inputs]
    consts, init = args[:n_consts], args[n_consts:n_consts + n_carry]
    xs = eqn.inputs[n_consts + n_carry:]
    outs = eqn.outvars
    carry = [ctx.out(o) for o in outs[:n_carry]]
    ys = outs[n_carry:]
    for c, v, o in zip(carry, init, outs):
        _assign(ctx, c, v, o.aval)
    for y in ys:
        ctx.alloc(y)
    step = ctx.fresh("s")
    scope = ctx.loop_scope(eqn)
    with ctx.em.block(f"for {step} in range({ctx.dim(length)}):"):
        ctx.flip(scope)
        i = f"{ctx.dim(length)} - 1 - {step}" if p["reverse"] else step
        if p["reverse"]:
            i_name = ctx.fresh("s")
            ctx.em.line(f"{i_name} = {i}")
            i = i_name
        x_names = []
        for x in xs:
            xn = ctx.fresh("x")
            ctx.em.line(f"{xn} = {ctx.name(x)}[{i}]")
            x_names.append(xn)
        res = ctx.lower_inline(p["jaxpr"], consts + carry + x_names, scope,
                               [True] * n_carry + [False] * len(ys))
        new = _passthrough_safe(ctx, zip(res[:n_carry], outs[:n_carry]), consts + x_names)
        # ys first: a y may be a carry of this iteration, which the assignments below replace
        for y, r in zip(ys, res[n_carry:]):
            trail = y.aval.shape[1:]
            if not trail:
                ctx.em.line(f"{ctx.out(y)}[{i}] = {r}")
                continue
            with ctx.loops(trail, first=0) as t:   # element loops: fast to compile
                ctx.em.line(f"{ctx.out(y)}[{i}, {', '.join(t)}] = {r}[{', '.join(t)}]")
        tmp = [ctx.fresh("new") for _ in new]
        for t, v in zip(tmp, new):
            ctx.em.line(f"{t} = {v}")
        for c, t, o in zip(carry, tmp, outs):
            _assign(ctx, c, t, o.aval)


def _while_transpose_rule(ctx, eqn):
    """Reverse mode of a while loop: run forward keeping every state in a list, then the
    backward step over the states in reverse order (the memory cost of reverse mode)."""
    p = eqn.params
    nc, nf, nb = p["cond_nconsts"], p["fwd_nconsts"], p["bwd_nconsts"]
    n_s = len(p["fwd_jaxpr"].out_avals)
    args = [ctx.name(a) for a in eqn.inputs]
    cc, fc, bc = args[:nc], args[nc:nc + nf], args[nc + nf:nc + nf + nb]
    s_init = args[nc + nf + nb:nc + nf + nb + n_s]
    s_vars = eqn.inputs[nc + nf + nb:nc + nf + nb + n_s]
    b_init = args[nc + nf + nb + n_s:]
    states = [ctx.fresh("state") for _ in s_init]
    for st, v, a in zip(states, s_init, s_vars):
        _assign(ctx, st, v, a.aval)
    stack = ctx.fresh("stack")
    ctx.em.line(f"{stack} = []")
    scope = ctx.loop_scope(eqn, double=False)   # every state is kept: fresh arrays for them
    with ctx.em.block("while True:"):
        (pred,) = ctx.lower_inline(p["cond_jaxpr"], cc + states, scope, [False])
        ctx.em.line(f"if not {pred}:")
        with ctx.em.indent():
            ctx.em.line("break")
        ctx.em.line(f"{stack}.append(({', '.join(states)},))")
        new = ctx.lower_inline(p["fwd_jaxpr"], fc + states, scope)
        new = _passthrough_safe(ctx, zip(new, s_vars), fc)
        tmp = [ctx.fresh("new") for _ in new]
        for t, v in zip(tmp, new):
            ctx.em.line(f"{t} = {v}")
        for st, t, a in zip(states, tmp, s_vars):
            _assign(ctx, st, t, a.aval)
    outs = [ctx.out(o) for o in eqn.outvars]
    for o, v, a in zip(outs, b_init, eqn.outvars):
        _assign(ctx, o, v, a.aval)
    k = ctx.fresh("s")
    scope = ctx.loop_scope(eqn)
    with ctx.em.block(f"for {k} in range(len({stack}) - 1, -1, -1):"):
        ctx.flip(scope)
        saved = [ctx.fresh("saved") for _ in states]
        ctx.em.line(f"{', '.join(saved)}, = {stack}[{k}]")
        new = ctx.lower_inline(p["bwd_jaxpr"], bc + saved + outs, scope)
        new = _passthrough_safe(ctx, zip(new, eqn.outvars), bc + saved)
        tmp = [ctx.fresh("new") for _ in new]
        for t, v in zip(tmp, new):
            ctx.em.line(f"{t} = {v}")
        for o, t, a in zip(outs, tmp, eqn.outvars):
            _assign(ctx, o, t, a.aval)


def _while_sweeps_rule(ctx, eqn):
    """Reverse mode of reverse mode through a while loop: the forward loop appends what each
    iteration records to a list, then each sweep runs over the iterations (forwards, or
    backwards for ``reverse``), reading the lists before it and appending to its own. Every
    loop allocates fresh arrays each iteration (``double=False``): the lists keep them."""
    p = eqn.params
    nk, ncar = p["num_consts"], p["num_carry"]
    args = [ctx.name(a) for a in eqn.inputs]
    sizes = [nk[0], nk[1], ncar[0]] + [n for pair in zip(nk[2:], ncar[1:]) for n in pair]
    groups, pos = [], 0
    for n in sizes:
        groups.append(args[pos:pos + n])
        pos += n
    out_groups, pos = [], 0
    for n in ncar:
        out_groups.append(eqn.outvars[pos:pos + n])
        pos += n
    count = ctx.fresh("trips")
    ctx.em.line(f"{count} = 0")
    records = []    # per loop: (list name or None, stored in reverse order)
    bodies = [(p["fwd_jaxpr"], None)] + list(zip(p["sweeps"], p["reverse"]))
    for j, (body, rev) in enumerate(bodies):
        consts, init = groups[1 + 2 * j], groups[2 + 2 * j]
        outs = out_groups[j]
        carry = [ctx.out(o) for o in outs]
        for c, v, o in zip(carry, init, outs):
            _assign(ctx, c, v, o.aval)
        rec = ctx.fresh("rec") if len(body.out_avals) > len(outs) else None
        if rec is not None:
            ctx.em.line(f"{rec} = []")
        scope = ctx.loop_scope(eqn, double=False)
        if rev is None:
            header, read = "while True:", []
        else:
            step = ctx.fresh("k")
            header = (f"for {step} in range({count} - 1, -1, -1):" if rev else
                      f"for {step} in range({count}):")
        with ctx.em.block(header):
            if rev is None:
                (pred,) = ctx.lower_inline(p["cond_jaxpr"], groups[0] + carry, scope, [False])
                ctx.em.line(f"if not {pred}:")
                with ctx.em.indent():
                    ctx.em.line("break")
            else:
                read = []
                for (lst, n, stored_rev) in records:
                    if lst is None:
                        continue
                    names = [ctx.fresh("r") for _ in range(n)]
                    idx = f"{count} - 1 - {step}" if stored_rev else step
                    ctx.em.line(f"{', '.join(names)}, = {lst}[{idx}]")
                    read += names
            new = ctx.lower_inline(body, consts + carry + read, scope)
            ys = new[len(outs):]
            if rec is not None:
                ctx.em.line(f"{rec}.append(({', '.join(ys)},))")
            new = _passthrough_safe(ctx, zip(new[:len(outs)], outs), consts + read)
            tmp = [ctx.fresh("new") for _ in new]
            for t, v in zip(tmp, new):
                ctx.em.line(f"{t} = {v}")
            for c, t, o in zip(carry, tmp, outs):
                _assign(ctx, c, t, o.aval)
            if rev is None:
                ctx.em.line(f"{count} += 1")
        records.append((rec, len(body.out_avals) - len(outs), bool(rev)))


# ---------------------------------------------------------------------------------------------
# scalarise rules: (rw, eqn, split) -> bool; split(avals) flags the operands passed as elements


def _cond_scalarise(rw, eqn, split):
    p, ins = eqn.params, eqn.inputs
    index, ops = ins[0], ins[1:]
    s_in = split([a.aval for a in ops])
    s_out = split([v.aval for v in eqn.outvars])
    branches = [rw.body(b, s_in, s_out, rw.in_loop) for b in p["branches"]]
    if any(b is None for b in branches):
        return False
    new_ins = [rw.array(index)] + rw.flat_in(ops, s_in)
    outs = rw.outs(eqn.outvars, s_out)
    rw.eqns.append(Eqn(eqn.prim, new_ins, outs, dict(p, branches=tuple(branches))))
    return True


def _scan_scalarise(rw, eqn, split):
    p, ins = eqn.params, eqn.inputs
    nc, nk, length = p["num_consts"], p["num_carry"], p["length"]
    body = p["jaxpr"]
    n_x = len(ins) - nc - nk
    s_c = split([a.aval for a in ins[:nc]])
    s_k = split([a.aval for a in ins[nc:nc + nk]])
    s_y = split(body.out_avals[nk:])
    new = rw.body(body, s_c + s_k + [False] * n_x, s_k + s_y)
    if new is None:
        return False
    consts = rw.flat_in(ins[:nc], s_c)
    carry = rw.flat_in(ins[nc:nc + nk], s_k)
    xs = [rw.array(a) for a in ins[nc + nk:]]
    outs = rw.outs(eqn.outvars[:nk], s_k) + rw.outs(eqn.outvars[nk:], s_y, (length,))
    rw.eqns.append(Eqn(eqn.prim, consts + carry + xs, outs,
                       dict(p, jaxpr=new, num_consts=len(consts), num_carry=len(carry))))
    return True


def _while_scalarise(rw, eqn, split):
    p, ins = eqn.params, eqn.inputs
    nc, nb = p["cond_nconsts"], p["body_nconsts"]
    s_cc = split([a.aval for a in ins[:nc]])
    s_bc = split([a.aval for a in ins[nc:nc + nb]])
    s_k = split([a.aval for a in ins[nc + nb:]])
    cond = rw.body(p["cond_jaxpr"], s_cc + s_k, [False])
    body = rw.body(p["body_jaxpr"], s_bc + s_k, s_k)
    if cond is None or body is None:
        return False
    cc = rw.flat_in(ins[:nc], s_cc)
    bc = rw.flat_in(ins[nc:nc + nb], s_bc)
    carry = rw.flat_in(ins[nc + nb:], s_k)
    outs = rw.outs(eqn.outvars, s_k)
    rw.eqns.append(Eqn(eqn.prim, cc + bc + carry, outs,
                       dict(p, cond_jaxpr=cond, body_jaxpr=body, cond_nconsts=len(cc),
                            body_nconsts=len(bc))))
    return True


def _while_transpose_scalarise(rw, eqn, split):
    p, ins = eqn.params, eqn.inputs
    # while_transpose: operands cond consts, fwd consts, bwd consts, states, backward carries
    nc, nf, nb = p["cond_nconsts"], p["fwd_nconsts"], p["bwd_nconsts"]
    n_s = len(p["fwd_jaxpr"].out_avals)
    groups, start = [], 0
    for n in (nc, nf, nb, n_s, len(ins) - nc - nf - nb - n_s):
        groups.append(ins[start:start + n])
        start += n
    s_cc, s_fc, s_bc, s_s, s_b = (split([a.aval for a in g]) for g in groups)
    cond = rw.body(p["cond_jaxpr"], s_cc + s_s, [False])
    fwd = rw.body(p["fwd_jaxpr"], s_fc + s_s, s_s)
    bwd = rw.body(p["bwd_jaxpr"], s_bc + s_s + s_b, s_b)
    if cond is None or fwd is None or bwd is None:
        return False
    flat = [rw.flat_in(g, s) for g, s in zip(groups, (s_cc, s_fc, s_bc, s_s, s_b))]
    outs = rw.outs(eqn.outvars, s_b)
    rw.eqns.append(Eqn(eqn.prim, [a for g in flat for a in g], outs,
                       dict(p, cond_jaxpr=cond, fwd_jaxpr=fwd, bwd_jaxpr=bwd,
                            cond_nconsts=len(flat[0]), fwd_nconsts=len(flat[1]),
                            bwd_nconsts=len(flat[2]))))
    return True


COND = Control(_cond_rule, scalarise=_cond_scalarise)
WHILE = Control(_while_rule, loop=True, scalarise=_while_scalarise)
SCAN = Control(_scan_rule, loop=True, scalarise=_scan_scalarise)
WHILE_TRANSPOSE = Control(_while_transpose_rule, loop=True,
                          scalarise=_while_transpose_scalarise)
WHILE_SWEEPS = Control(_while_sweeps_rule, loop=True)
