"""Rewrites of a jaxpr before code generation: each keeps its meaning, in fewer operations.

* :func:`inline_calls`: a call equation (``jit`` inside ``jit``, ``custom_jvp_call``, ...)
  becomes the equations of the jaxpr it calls, so the whole computation is one function
  (and fuses across the call). Constants of the called jaxprs become inputs.
* :func:`cse_jaxpr`: equations applying the same primitive with the same params to the same
  inputs are computed once (derivative rules often recompute ``sin x``).
* :func:`fold_index_ops`: an index equation whose primitive declares a ``fold`` rewrites
  itself with the single-use equation producing its operand, e.g. ``transpose(dot_general(x,
  y))`` that swaps the free axes is ``dot_general(y, x)`` (reverse mode produces these).
"""
from __future__ import annotations

from funcad.ir import ClosedJaxpr, Eqn, Jaxpr, Lit, Var
from funcad.lowering import Call, Index


def call_of(prim):
    """The param holding the jaxpr a call primitive runs (None for other primitives)."""
    lw = prim.lowering
    return lw.param if type(lw) is Call else None


def inline_calls(jaxpr: Jaxpr) -> tuple[Jaxpr, list]:
    """``jaxpr`` with every call equation replaced by its body. Constants of the bodies become
    new trailing invars; returns ``(jaxpr, their values)``."""
    if not any(call_of(e.prim) for e in jaxpr.eqns):
        return jaxpr, []
    extra_vars: list = []
    extra_vals: list = []
    const_ids: dict = {}
    eqns: list = []
    subst: dict = {}

    def sub(a):
        return subst.get(a, a) if type(a) is Var else a

    def expand(eqn_list, env):
        for eqn in eqn_list:
            ins = [env(a) for a in eqn.inputs]
            param = call_of(eqn.prim)
            if param is None:
                eqns.append(Eqn(eqn.prim, ins, eqn.outvars, eqn.params))
                continue
            closed: ClosedJaxpr = eqn.params[param]
            skip = eqn.prim.lowering.skip
            if skip is not None:
                ins = ins[eqn.params[skip]:]
            inner = closed.jaxpr
            local: dict = {}
            for v, c in zip(inner.constvars, closed.consts):
                if id(c) not in const_ids:
                    nv = Var(v.aval)
                    const_ids[id(c)] = nv
                    extra_vars.append(nv)
                    extra_vals.append(c)
                local[v] = const_ids[id(c)]
            local.update(zip(inner.invars, ins))
            fresh: dict = {}

            def inner_env(a, local=local, fresh=fresh):
                if type(a) is not Var:
                    return a
                if a in local:
                    return local[a]
                return fresh.setdefault(a, Var(a.aval))

            renamed = [Eqn(e.prim, e.inputs, [inner_env(v) for v in e.outvars], e.params)
                       for e in inner.eqns]
            expand(renamed, inner_env)
            for o, r in zip(eqn.outvars, inner.outvars):
                subst[o] = inner_env(r)

    expand(jaxpr.eqns, sub)
    # outputs of inlined calls were recorded in subst after their consumers may have been
    # copied: resolve every input through subst now (chains resolve in definition order)
    for eqn in eqns:
        eqn.inputs = [_resolve(subst, a) for a in eqn.inputs]
    outvars = [_resolve(subst, a) for a in jaxpr.outvars]
    return Jaxpr([], list(jaxpr.invars) + extra_vars, eqns, outvars), extra_vals


def _resolve(subst, a):
    while type(a) is Var and a in subst:
        a = subst[a]
    return a


def _atom_key(a):
    if type(a) is Lit:
        return ("lit", a.val.item(), a.aval.dtype)
    return a


def fold_index_ops(jaxpr: Jaxpr) -> Jaxpr:
    """Each index equation whose lowering declares ``fold(eqn, producer)`` may replace itself
    and the single-use equation ``producer`` defining its first operand by one equation."""
    folds = [e for e in jaxpr.eqns
             if type(e.prim.lowering) is Index and e.prim.lowering.fold is not None]
    if not folds:
        return jaxpr
    uses: dict = {}
    for eqn in jaxpr.eqns:
        for a in eqn.inputs:
            if type(a) is Var:
                uses[a] = uses.get(a, 0) + 1
    outs = {a for a in jaxpr.outvars if type(a) is Var}
    producer = {v: eqn for eqn in jaxpr.eqns for v in eqn.outvars}
    replaced: dict = {}
    dropped: set = set()
    for eqn in folds:
        d = eqn.inputs[0] if eqn.inputs else None
        if type(d) is not Var or uses.get(d) != 1 or d in outs or d not in producer:
            continue
        src = producer[d]
        if src in dropped or src in replaced or len(src.outvars) != 1:
            continue
        new = eqn.prim.lowering.fold(eqn, src)
        if new is not None:
            replaced[eqn] = new
            dropped.add(src)
    if not replaced:
        return jaxpr
    eqns = [replaced.get(e, e) for e in jaxpr.eqns if e not in dropped]
    return Jaxpr(jaxpr.constvars, jaxpr.invars, eqns, jaxpr.outvars)


def cse_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    """Merge equations that apply the same primitive with the same params to the same inputs
    (derivative rules often recompute ``sin x`` and friends)."""
    seen: dict = {}
    subst: dict = {}
    eqns = []
    for eqn in jaxpr.eqns:
        ins = [_resolve(subst, a) for a in eqn.inputs]
        try:
            key = (eqn.prim, tuple(_atom_key(a) for a in ins),
                   tuple(sorted(eqn.params.items())))
            hash(key)
        except TypeError:
            key = None
        prev = seen.get(key) if key is not None else None
        if prev is not None:
            subst.update(zip(eqn.outvars, prev.outvars))
            continue
        new = Eqn(eqn.prim, ins, eqn.outvars, eqn.params)
        if key is not None:
            seen[key] = new
        eqns.append(new)
    if len(eqns) == len(jaxpr.eqns):
        return jaxpr
    return Jaxpr(jaxpr.constvars, jaxpr.invars, eqns,
                 [_resolve(subst, a) for a in jaxpr.outvars])
