"""Jaxpr-to-jaxpr transformations shared by the higher-order primitives (jit, cond, scan, ...).

A higher-order primitive holds its inner jaxprs *without* constants: every value an inner
jaxpr reads is an explicit operand of the equation, so the interpreters around the primitive
see it (a closure over a value being differentiated or batched is an ordinary operand, never a
hidden capture). A rule that transforms an inner jaxpr therefore does it the same way every
time: trace "run this interpreter over that jaxpr" with ``trace_to_jaxpr``, then *hoist* the
constants the trace produced into leading inputs (:func:`trace_hoisted`); the caller passes
those constants as the first operands. This module holds the pieces every such rule shares:

- :func:`hoist`, :func:`trace_hoisted`, :func:`run`: const-free jaxprs;
- :func:`jvp_jaxpr`: forward mode of a jaxpr, tangent inputs and outputs laid out by group;
- :func:`batch_jaxpr_dims`: vmap of a jaxpr, inputs batched at any axis, outputs at axis 0;
- :func:`transpose_jaxpr`: the backward pass of a jaxpr linear in some inputs, as a jaxpr.

``funcad.interpreters.jit``, ``funcad.primitives.remat`` and
``funcad.primitives.control_jaxpr`` (which adds what only control flow needs: partial
evaluation with forced unknowns, dependence analysis) use them.
"""
from __future__ import annotations

from typing import Callable, Sequence

from funcad.core import ShapedArray, current_interpreter, is_float, new_interpreter
from funcad.interpreters.batching import BatchInterpreter, BatchTracer
from funcad.interpreters.jvp import jvp_flat
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.interpreters.transpose import backward_pass
from funcad.ir import ClosedJaxpr, Jaxpr, eval_jaxpr
from funcad.rule_util import UndefinedPrimal, Zero, bdim_to_front, instantiate

__all__ = ["hoist", "trace_hoisted", "run", "jvp_jaxpr", "batch_jaxpr_dims", "transpose_jaxpr"]


def hoist(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list]:
    """``closed`` with its constvars turned into leading invars, and the constant values.

    A jaxpr without constvars is returned as it is (the same object: rule caches are keyed
    by the identity of the jaxpr)."""
    j = closed.jaxpr
    if not j.constvars:
        return closed, []
    return (ClosedJaxpr(Jaxpr([], list(j.constvars) + list(j.invars), j.eqns, j.outvars), []),
            list(closed.consts))


def trace_hoisted(fun: Callable, avals: Sequence[ShapedArray], name: str = "control_flow"
                  ) -> tuple[ClosedJaxpr, list]:
    """Trace ``fun`` (flat in, flat out) to a const-free jaxpr; its constants lead the inputs."""
    return hoist(trace_to_jaxpr(fun, list(avals), name))


def run(closed: ClosedJaxpr, *args) -> list:
    """Evaluate a jaxpr on the current interpreter."""
    return eval_jaxpr(closed.jaxpr, closed.consts, args)


def jvp_jaxpr(closed: ClosedJaxpr, nonzeros: Sequence[bool], instantiate_out: Sequence[bool],
              in_groups: Sequence[int] | None = None, out_groups: Sequence[int] | None = None,
              name: str = "jvp (control flow)"):
    """The jvp of a const-free jaxpr.

    Inputs are laid out group by group, each group's primals followed by the tangents of its
    members flagged in ``nonzeros``; outputs likewise, with a tangent for every float output
    whose tangent is nonzero or flagged in ``instantiate_out``. (One group each, the default:
    all primals, then the tangents.) Returns ``(jaxpr, consts, out_nonzeros)``; the jaxpr's
    leading inputs take ``consts``. ``name`` names the transformation in error messages.
    """
    avals = closed.in_avals
    out_avals = closed.out_avals
    in_groups = [len(avals)] if in_groups is None else list(in_groups)
    out_groups = [len(out_avals)] if out_groups is None else list(out_groups)
    layout, start = [], 0
    for g in in_groups:
        layout += [(False, i) for i in range(start, start + g)]
        layout += [(True, i) for i in range(start, start + g) if nonzeros[i]]
        start += g
    store: dict = {}

    def fun(*args):
        primals = [None] * len(avals)
        tangents = [Zero(a) for a in avals]
        for (is_t, i), x in zip(layout, args):
            if is_t:
                tangents[i] = x
            else:
                primals[i] = x
        outs, t_outs = jvp_flat(lambda *a: run(closed, *a), primals, tangents, name)
        nz = [is_float(a.dtype) and (type(t) is not Zero or inst)
              for a, t, inst in zip(out_avals, t_outs, instantiate_out)]
        store["nz"] = nz
        res, s = [], 0
        for g in out_groups:
            res += outs[s:s + g]
            res += [instantiate(t) for t, n in zip(t_outs[s:s + g], nz[s:s + g]) if n]
            s += g
        return res

    jaxpr, consts = trace_hoisted(fun, [avals[i] for _, i in layout], name)
    return jaxpr, consts, store["nz"]


def batch_jaxpr_dims(closed: ClosedJaxpr, axis_size: int, in_dims: Sequence[int | None],
                     force_out: Sequence[bool] | None = None, name: str = "vmap"):
    """vmap of a const-free jaxpr: input k carries the batch at axis ``in_dims[k]`` (None: not
    batched); every batched output carries it at axis 0, and so does every output flagged in
    ``force_out`` (broadcast if it does not depend on a batched input). Returns ``(jaxpr,
    consts, out_dims)`` with out_dims 0 or None."""
    in_avals = []
    for a, d in zip(closed.in_avals, in_dims):
        in_avals.append(a if d is None else
                        ShapedArray(a.shape[:d] + (axis_size,) + a.shape[d:], a.dtype))
    force = [False] * len(closed.out_avals) if force_out is None else list(force_out)
    store: dict = {}

    def fun(*args):
        interp = BatchInterpreter(current_interpreter(), axis_size, name)
        ins = [x if d is None else BatchTracer(interp, x, d) for x, d in zip(args, in_dims)]
        with new_interpreter(interp):
            lifted = [interp.lift(o) for o in run(closed, *ins)]
        outs, dims = [], []
        for (v, d), f in zip(lifted, force):
            if d is None and not f:
                outs.append(v)
                dims.append(None)
            else:
                outs.append(bdim_to_front(v, d, axis_size))
                dims.append(0)
        store["dims"] = dims
        return outs

    jaxpr, consts = trace_hoisted(fun, in_avals, name)
    return jaxpr, consts, store["dims"]


def transpose_jaxpr(closed: ClosedJaxpr, undef: Sequence[bool], ct_nz: Sequence[bool],
                    name: str):
    """The transpose of ``closed`` (linear in the inputs flagged ``undef``) as a const-free
    jaxpr: it takes the other inputs, then the output cotangents flagged ``ct_nz`` (the rest
    are zero), and returns the nonzero cotangents of the linear inputs. Returns ``(jaxpr,
    consts, nz)``: the leading inputs take ``consts``; ``nz`` flags which linear inputs got
    a cotangent."""
    in_avals, out_avals = closed.in_avals, closed.out_avals
    n_def = sum(1 for u in undef if not u)
    store: dict = {}

    def fun(*xs):
        it_d, it_c = iter(xs[:n_def]), iter(xs[n_def:])
        bargs = [UndefinedPrimal(a) if u else next(it_d) for a, u in zip(in_avals, undef)]
        bcts = [next(it_c) if z else Zero(a) for a, z in zip(out_avals, ct_nz)]
        res = backward_pass(closed.jaxpr, closed.consts, bargs, bcts)
        lin = [r for r, u in zip(res, undef) if u]
        store["nz"] = tuple(type(r) is not Zero for r in lin)
        return [r for r in lin if type(r) is not Zero]

    avals = ([a for a, u in zip(in_avals, undef) if not u]
             + [a for a, z in zip(out_avals, ct_nz) if z])
    jaxpr, consts = trace_hoisted(fun, avals, f"transpose({name})")
    return jaxpr, consts, store["nz"]
