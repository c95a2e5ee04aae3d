"""Control flow in generated code: ``cond`` becomes ``if``/``elif``, ``while`` a ``while``
loop, ``scan`` a ``for`` loop, each with its inner jaxprs written in place (by
:meth:`funcad.codegen.lower.Lowerer.lower_inline`) in the same function.

Loop-carried values are ordinary local variables, reassigned at the end of each iteration;
inner jaxprs never write to their inputs, so a carried array can be shared without copies.
The stacked outputs of a scan are allocated once and filled row by row. The arrays a body
computes are allocated once, in the loop's preamble (:class:`funcad.codegen.lower.LoopScope`):
a value that lives into the next iteration (a new carry) alternates between two buffers, the
others reuse one. Small arrays in loops never get that far: funcad.codegen.scalarise turns
them into scalar locals first.
"""
from __future__ import annotations

from funcad.codegen.array_rules import rule


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


@rule("cond")
def _cond(ctx, eqn):
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


@rule("while")
def _while(ctx, eqn):
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


@rule("scan")
def _scan(ctx, eqn):
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


@rule("while_transpose")
def _while_transpose(ctx, eqn):
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


@rule("while_sweeps")
def _while_sweeps(ctx, eqn):
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
