"""Rewrites of a jaxpr before code generation: each keeps its meaning, in fewer operations.

* :func:`inline_calls`: a call equation (``jit`` inside ``jit``, ``custom_jvp_call``, ...)
  becomes the equations of the jaxpr it calls, so the whole computation is one function
  (and fuses across the call). Constants of the called jaxprs become inputs.
* :func:`cse_jaxpr`: equations applying the same primitive with the same params to the same
  inputs are computed once (derivative rules often recompute ``sin x``).
* :func:`fold_transposed_dots`: ``transpose(dot_general(x, y))`` that swaps the free axes is
  ``dot_general(y, x)`` (reverse mode produces these).
"""
from __future__ import annotations

from funcad.ir import ClosedJaxpr, Eqn, Jaxpr, Lit, Var


def call_of(prim):
    """The param holding the jaxpr a call primitive runs (None for other primitives)."""
    if prim.name == "jit":
        return "jaxpr"
    if getattr(prim, "inline_call_jaxpr", False):
        return "call_jaxpr"
    return None


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
            if getattr(eqn.prim, "call_jaxpr_args", None) == "primals_and_tangents":
                ins = ins[eqn.params["num_res"]:]
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


def fold_transposed_dots(jaxpr: Jaxpr) -> Jaxpr:
    """``transpose(dot_general(x, y))`` that swaps the free axes of x and y is
    ``dot_general(y, x)``: one BLAS call, no strided copy (reverse mode makes these)."""
    uses: dict = {}
    for eqn in jaxpr.eqns:
        for a in eqn.inputs:
            if type(a) is Var:
                uses[a] = uses.get(a, 0) + 1
    outs = {a for a in jaxpr.outvars if type(a) is Var}
    producer = {eqn.outvars[0]: eqn for eqn in jaxpr.eqns if eqn.prim.name == "dot_general"}
    replaced: dict = {}
    dropped: set = set()
    for eqn in jaxpr.eqns:
        if eqn.prim.name != "transpose" or type(eqn.inputs[0]) is not Var:
            continue
        d = eqn.inputs[0]
        dot = producer.get(d)
        if dot is None or uses.get(d) != 1 or d in outs:
            continue
        x, y = dot.inputs
        (lc, rc), (lb, rb) = dot.params["dimension_numbers"]
        nb = len(lb)
        nx = x.aval.ndim - len(lc) - nb
        ny = y.aval.ndim - len(rc) - nb
        want = (tuple(range(nb)) + tuple(range(nb + nx, nb + nx + ny))
                + tuple(range(nb, nb + nx)))
        if eqn.params["permutation"] != want:
            continue
        params = dict(dot.params, dimension_numbers=((rc, lc), (rb, lb)))
        replaced[eqn] = Eqn(dot.prim, [y, x], eqn.outvars, params)
        dropped.add(dot)
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
