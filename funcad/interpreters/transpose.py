"""Transposition: run a linear jaxpr backwards, from output cotangents to input cotangents.

Inputs that the jaxpr is linear in are marked :class:`UndefinedPrimal`; everything computed
from constants alone is evaluated first, forwards. Then the linear equations are visited in
reverse; each primitive's ``transpose`` rule maps the cotangent of its output to cotangents of
its linear inputs, and cotangents reaching the same variable are added. The rules bind funcad
primitives, so the backward pass is itself traceable and differentiable (grad of grad).
The loop is iterative: jaxprs of any length transpose without recursion.
"""
from __future__ import annotations

from typing import Sequence

from funcad.core import memo_by_aval
from funcad.ir import Jaxpr, Lit
from funcad.rule_util import UndefinedPrimal, Zero, add_tangents


# The shared UndefinedPrimal of an aval (it is immutable; the backward pass marks every linear
# variable with one, so it reuses one object per aval).
undefined = memo_by_aval(UndefinedPrimal,
                         "transpose.undefined: aval -> UndefinedPrimal")
_UNDEFINED = undefined.table   # id(aval) -> UndefinedPrimal(aval), read inline below


def backward_pass(jaxpr: Jaxpr, consts: Sequence, args: Sequence, cts_out: Sequence) -> list:
    """Cotangents for each input of ``jaxpr``; ``args`` holds UndefinedPrimal for the linear
    inputs and values for the others. Returns Zero for linear inputs that get no cotangent and
    None for non-linear inputs."""
    # ``linear`` holds the variables that depend on a linear input; ``env`` the values of the
    # others. An equation is linear when one of its inputs is in ``linear``: one set test
    # (C code, identity hashes) per equation, so the forward walk costs little when, as for
    # every jaxpr that linearize makes, all equations are linear. Their operands are read in
    # the backward walk, only for the equations that receive a cotangent.
    env: dict = dict(zip(jaxpr.constvars, consts))
    linear: set = set()
    for v, a in zip(jaxpr.invars, args):
        if type(a) is UndefinedPrimal:
            linear.add(v)
        else:
            env[v] = a

    linear_eqns = []
    add_linear = linear_eqns.append
    unrelated = linear.isdisjoint
    mark = linear.update
    for eqn in jaxpr.eqns:
        if unrelated(eqn.inputs):
            out = eqn.prim.bind(*[a.val if type(a) is Lit else env[a] for a in eqn.inputs],
                                **eqn.params)
            if eqn.prim.multiple_results:
                env.update(zip(eqn.outvars, out))
            else:
                env[eqn.outvars[0]] = out
        else:
            add_linear(eqn)
            mark(eqn.outvars)

    ct_env: dict = {}
    get, pop = ct_env.get, ct_env.pop
    for v, ct in zip(jaxpr.outvars, cts_out):
        if ct is not None and type(ct) is not Zero and v in linear:
            old = get(v)
            ct_env[v] = ct if old is None else add_tangents(old, ct)

    undef = _UNDEFINED
    for eqn in reversed(linear_eqns):
        prim, outvars = eqn.prim, eqn.outvars
        if prim.multiple_results:
            cts = [pop(v, None) for v in outvars]
            if all(c is None for c in cts):
                continue
            ct = [Zero(v.aval) if c is None else c for v, c in zip(outvars, cts)]
        else:
            ct = pop(outvars[0], None)
            if ct is None:
                continue
        rule = prim.transpose
        if rule is None:
            raise NotImplementedError(
                f"Transpose rule (reverse-mode differentiation) for primitive '{prim.name}' "
                f"is not implemented. Use forward mode (jvp, jacfwd) for this function.")
        inputs = eqn.inputs
        ins = []
        for a in inputs:
            if a in linear:
                u = undef.get(id(a.aval))   # undefined()'s hit, inlined; undefined() on a miss
                ins.append(u if u is not None else undefined(a.aval))
            else:
                ins.append(a.val if type(a) is Lit else env[a])
        i = 0
        for c in rule(ct, *ins, **eqn.params):
            if c is not None and type(c) is not Zero and type(ins[i]) is UndefinedPrimal:
                a = inputs[i]
                old = get(a)
                ct_env[a] = c if old is None else add_tangents(old, c)
            i += 1

    result = []
    for v, a in zip(jaxpr.invars, args):
        if type(a) is UndefinedPrimal:
            ct = get(v)
            result.append(Zero(v.aval) if ct is None else ct)
        else:
            result.append(None)
    return result
