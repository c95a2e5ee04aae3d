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

from funcad.core import ShapedArray
from funcad.interpreters.jvp import Zero, add_tangents
from funcad.ir import Jaxpr, Lit, Var


class UndefinedPrimal:
    """Stands for a linear input of a primitive during transposition."""
    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"UndefinedPrimal({self.aval.str_short()})"


def is_undefined(x) -> bool:
    return type(x) is UndefinedPrimal


def backward_pass(jaxpr: Jaxpr, consts: Sequence, args: Sequence, cts_out: Sequence) -> list:
    """Cotangents for each input of ``jaxpr``; ``args`` holds UndefinedPrimal for the linear
    inputs and values for the others. Returns Zero for linear inputs that get no cotangent and
    None for non-linear inputs."""
    env: dict = {}
    linear: set = set()
    for v, c in zip(jaxpr.constvars, consts):
        env[v] = c
    for v, a in zip(jaxpr.invars, args):
        if is_undefined(a):
            linear.add(v)
        else:
            env[v] = a

    def read(a):
        return a.val if type(a) is Lit else env[a]

    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(type(a) is Var and a in linear for a in eqn.inputs):
            linear_eqns.append(eqn)
            linear.update(eqn.outvars)
        else:
            out = eqn.prim.bind(*[read(a) for a in eqn.inputs], **eqn.params)
            if eqn.prim.multiple_results:
                env.update(zip(eqn.outvars, out))
            else:
                env[eqn.outvars[0]] = out

    ct_env: dict = {}

    def write_ct(v, ct):
        if ct is None or type(ct) is Zero or type(v) is not Var or v not in linear:
            return
        ct_env[v] = add_tangents(ct_env[v], ct) if v in ct_env else ct

    for v, ct in zip(jaxpr.outvars, cts_out):
        write_ct(v, ct)

    for eqn in reversed(linear_eqns):
        cts = [ct_env.pop(v, None) for v in eqn.outvars]
        if all(c is None for c in cts):
            continue
        prim = eqn.prim
        if prim.transpose is None:
            raise NotImplementedError(
                f"Transpose rule (reverse-mode differentiation) for primitive '{prim.name}' "
                f"is not implemented. Use forward mode (jvp, jacfwd) for this function.")
        ins = [UndefinedPrimal(a.aval) if type(a) is Var and a in linear else read(a)
               for a in eqn.inputs]
        if prim.multiple_results:
            ct = [Zero(v.aval) if c is None else c for v, c in zip(eqn.outvars, cts)]
        else:
            ct = cts[0]
        cts_in = prim.transpose(ct, *ins, **eqn.params)
        for a, c in zip(eqn.inputs, cts_in):
            write_ct(a, c)

    result = []
    for v, a in zip(jaxpr.invars, args):
        if is_undefined(a):
            result.append(ct_env.get(v, Zero(v.aval)))
        else:
            result.append(None)
    return result
