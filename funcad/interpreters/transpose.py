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


_UNDEFINED: dict = {}  # id(aval) -> UndefinedPrimal(aval), which keeps the aval alive


def undefined(aval: ShapedArray) -> UndefinedPrimal:
    """The shared UndefinedPrimal of ``aval`` (it is immutable; the backward pass marks every
    linear variable with one, so it reuses one object per aval, found by identity)."""
    u = _UNDEFINED.get(id(aval))
    if u is None:
        if len(_UNDEFINED) > 4096:
            _UNDEFINED.clear()
        u = _UNDEFINED[id(aval)] = UndefinedPrimal(aval)
    return u


def backward_pass(jaxpr: Jaxpr, consts: Sequence, args: Sequence, cts_out: Sequence) -> list:
    """Cotangents for each input of ``jaxpr``; ``args`` holds UndefinedPrimal for the linear
    inputs and values for the others. Returns Zero for linear inputs that get no cotangent and
    None for non-linear inputs."""
    # ``env`` maps each variable to its value, or to an UndefinedPrimal when it depends on a
    # linear input: that is also the argument its transpose rule receives, so the loop below
    # reads every operand the same way.
    env: dict = dict(zip(jaxpr.constvars, consts))
    undef = _UNDEFINED
    for v, a in zip(jaxpr.invars, args):
        env[v] = undefined(v.aval) if type(a) is UndefinedPrimal else a

    linear_eqns = []
    add_linear = linear_eqns.append
    for eqn in jaxpr.eqns:
        ins = [a.val if type(a) is Lit else env[a] for a in eqn.inputs]
        if UndefinedPrimal in map(type, ins):
            add_linear((eqn.prim, eqn.inputs, ins, eqn.outvars, eqn.params))
            for v in eqn.outvars:
                u = undef.get(id(v.aval))
                env[v] = u if u is not None else undefined(v.aval)
        else:
            out = eqn.prim.bind(*ins, **eqn.params)
            if eqn.prim.multiple_results:
                env.update(zip(eqn.outvars, out))
            else:
                env[eqn.outvars[0]] = out

    ct_env: dict = {}
    get, pop = ct_env.get, ct_env.pop
    for v, ct in zip(jaxpr.outvars, cts_out):
        if ct is not None and type(ct) is not Zero and type(v) is Var and \
                type(env.get(v)) is UndefinedPrimal:
            old = get(v)
            ct_env[v] = ct if old is None else add_tangents(old, ct)

    for prim, inputs, ins, outvars, params in reversed(linear_eqns):
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
        cts_in = rule(ct, *ins, **params)
        for a, x, c in zip(inputs, ins, cts_in):
            if c is not None and type(x) is UndefinedPrimal and type(c) is not Zero:
                old = get(a)
                ct_env[a] = c if old is None else add_tangents(old, c)

    result = []
    for v, a in zip(jaxpr.invars, args):
        if type(a) is UndefinedPrimal:
            result.append(ct_env.get(v, Zero(v.aval)))
        else:
            result.append(None)
    return result
