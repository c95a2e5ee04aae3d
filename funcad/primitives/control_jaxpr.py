"""Jaxpr-to-jaxpr transformations of the control-flow primitives.

A control-flow primitive (cond, while, scan) holds its bodies as ClosedJaxprs with *no*
constants; the tracing helpers every higher-order primitive shares (:func:`hoist`,
:func:`trace_hoisted`, :func:`run`, :func:`jvp_jaxpr`, the general vmap of a jaxpr) live in
:mod:`funcad.interpreters.jaxpr_util` and are re-exported here. This module adds what control
flow needs on top:
- :func:`batch_jaxpr`: vmap with every batched input and output at axis 0;
- :func:`pe_jaxpr`: the known/unknown split of partial evaluation, forcing chosen outputs to
  be unknown (a loop carry that is unknown on entry must be unknown on exit);
- :func:`deps`, :func:`restrict`: which outputs depend on which inputs, and the sub-jaxpr
  that computes only some outputs from some inputs;
- :func:`join_consts`: give several branches one shared operand list.

:func:`jvp_jaxpr` lays tangent inputs and outputs out by group (``[consts, consts_dot, carry,
carry_dot, ...]``), the layout the loop primitives want.
"""
from __future__ import annotations

from typing import Callable, Sequence

from funcad.core import ShapedArray, current_interpreter, get_aval, new_interpreter
from funcad.interpreters.jaxpr_util import (batch_jaxpr_dims, hoist, jvp_jaxpr,  # noqa: F401
                                            run, trace_hoisted)
from funcad.interpreters.partial_eval import PartialEvalInterpreter
from funcad.interpreters.stage import dce_jaxpr
from funcad.ir import ClosedJaxpr, Jaxpr, Var
from funcad.primitives import elementwise as ew, reductions as red, shape as sh
from funcad.rule_util import Zero, instantiate
from funcad.tree_util import tree_unflatten


# ---------------------------------------------------------------------------------------------
# Building and reshaping const-free jaxprs

def example_jaxpr(fun: Callable, avals: Sequence[tuple]) -> ClosedJaxpr:
    """A const-free jaxpr of ``fun`` over ``(shape, dtype)`` pairs: the bodies in the
    ``test_params`` the control-flow primitives declare for tests/test_primitives.py. (These
    are built while funcad.lax is still being imported, so ``fun`` uses the primitive modules
    directly.)"""
    closed, consts = trace_hoisted(fun, [ShapedArray(*a) for a in avals], "example")
    assert not consts
    return closed


def insert_invars(closed: ClosedJaxpr, pos: int, avals: Sequence[ShapedArray]) -> ClosedJaxpr:
    """``closed`` taking extra, unused inputs of types ``avals`` at position ``pos``."""
    j = closed.jaxpr
    new = [Var(a) for a in avals]
    invars = j.invars[:pos] + new + j.invars[pos:]
    return ClosedJaxpr(Jaxpr(j.constvars, invars, j.eqns, j.outvars), closed.consts)


def permute_invars(closed: ClosedJaxpr, order: Sequence[int]) -> ClosedJaxpr:
    """``closed`` whose k-th input is the old input ``order[k]``."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr(j.constvars, [j.invars[i] for i in order], j.eqns, j.outvars),
                       closed.consts)


def join_consts(parts: Sequence[tuple[ClosedJaxpr, list]]) -> tuple[tuple, list]:
    """Branches that each lead with their own constants -> branches that all take every
    branch's constants (in order) before their shared inputs, and that constant list."""
    sizes = [len(c) for _, c in parts]
    all_avals = [[j.in_avals[i] for i in range(n)] for (j, _), n in zip(parts, sizes)]
    out = []
    for k, ((closed, _), n) in enumerate(zip(parts, sizes)):
        before = [a for avs in all_avals[:k] for a in avs]
        after = [a for avs in all_avals[k + 1:] for a in avs]
        closed = insert_invars(closed, n, after)
        out.append(insert_invars(closed, 0, before))
    return tuple(out), [c for _, cs in parts for c in cs]


def split(xs: Sequence, sizes: Sequence[int]) -> list[list]:
    """Cut ``xs`` into consecutive pieces of the given sizes."""
    out, i = [], 0
    for n in sizes:
        out.append(list(xs[i:i + n]))
        i += n
    assert i == len(xs), (i, len(xs))
    return out


def fixpoint(flags: Sequence[bool], step: Callable[[list], Sequence[bool]]) -> list[bool]:
    """Grow ``flags`` by ``flags |= step(flags)`` until nothing changes (loop-carry analyses:
    a carry that becomes batched / nonzero / unknown in the body is so on entry too)."""
    flags = list(flags)
    while True:
        new = [a or b for a, b in zip(flags, step(flags))]
        if new == flags:
            return flags
        flags = new


# ---------------------------------------------------------------------------------------------
# Dependence analysis

def deps(closed: ClosedJaxpr, flags: Sequence[bool]) -> list[bool]:
    """For each output: does it depend on an input whose flag is set?"""
    j = closed.jaxpr
    dep = {v for v, f in zip(j.invars, flags) if f}
    for eqn in j.eqns:
        if any(type(a) is Var and a in dep for a in eqn.inputs):
            dep.update(eqn.outvars)
    return [type(o) is Var and o in dep for o in j.outvars]


def restrict(closed: ClosedJaxpr, keep_in: Sequence[bool], keep_out: Sequence[bool]
             ) -> ClosedJaxpr:
    """The sub-jaxpr computing the kept outputs from the kept inputs (the kept outputs must
    not depend on the dropped inputs)."""
    j = closed.jaxpr
    sub, live = dce_jaxpr(Jaxpr([], j.invars, j.eqns,
                                [o for o, k in zip(j.outvars, keep_out) if k]))
    for v, k in zip(j.invars, keep_in):
        if not k and v in live:
            raise AssertionError("restrict: a kept output depends on a dropped input")
    return ClosedJaxpr(Jaxpr([], [v for v, k in zip(j.invars, keep_in) if k], sub.eqns,
                             sub.outvars), [])


# ---------------------------------------------------------------------------------------------
# Batching

def batch_jaxpr(closed: ClosedJaxpr, axis_size: int, batched: Sequence[bool],
                force_out: Sequence[bool]):
    """vmap of a const-free jaxpr: inputs flagged in ``batched`` (and the outputs) carry the
    batch at axis 0. Outputs flagged in ``force_out`` are batched even if they do not depend
    on a batched input. Returns ``(jaxpr, consts, out_batched)``."""
    jaxpr, consts, dims = batch_jaxpr_dims(closed, axis_size, [0 if b else None for b in batched],
                                           force_out, "vmap (control flow)")
    return jaxpr, consts, [d is not None for d in dims]


# ---------------------------------------------------------------------------------------------
# Partial evaluation

def pe_jaxpr(closed: ClosedJaxpr, unknowns: Sequence[bool], instantiate_out: Sequence[bool]):
    """Split a const-free jaxpr into a known and an unknown part.

    Returns ``(known, known_consts, unknown, out_unknowns, num_res)``: ``known`` takes
    ``known_consts`` then the known inputs and returns the known outputs then ``num_res``
    residuals; ``unknown`` (const-free) takes the residuals then the unknown inputs and
    returns the unknown outputs. Outputs flagged in ``instantiate_out`` are always unknown.
    """
    in_avals = closed.in_avals
    store: dict = {}

    def known_fun(*known_args):
        pe = PartialEvalInterpreter(current_interpreter(), "partial_eval (control flow)")
        it = iter(known_args)
        args = [pe.new_arg(a) if u else next(it) for a, u in zip(in_avals, unknowns)]
        with new_interpreter(pe):
            outs = run(closed, *args)
        out_uk = [pe.is_unknown(o) or bool(i) for o, i in zip(outs, instantiate_out)]
        unknown = pe.finish([a for a, u in zip(args, unknowns) if u],
                            [o for o, u in zip(outs, out_uk) if u])
        store.update(out_uk=out_uk, unknown=unknown)
        return [o for o, u in zip(outs, out_uk) if not u] + list(unknown.consts)

    known, kconsts = trace_hoisted(known_fun, [a for a, u in zip(in_avals, unknowns) if not u],
                                   "partial_eval")
    unknown, res = hoist(store["unknown"])
    return known, kconsts, unknown, store["out_uk"], len(res)


# ---------------------------------------------------------------------------------------------
# Small helpers for the rules

def zeros(aval: ShapedArray):
    return sh.full(aval.shape, 0, aval.dtype)


def materialize(t, aval: ShapedArray):
    """An array for a tangent or cotangent that may be a symbolic Zero (or None)."""
    if t is None or type(t) is Zero:
        return zeros(aval)
    return instantiate(t)


def select_tree(pred, on_true: Sequence, on_false: Sequence) -> list:
    """Per leaf ``where(pred, t, f)``; ``pred`` is a (B,) bool array and every leaf has the
    batch at axis 0."""
    out = []
    for t, f in zip(on_true, on_false):
        shape = get_aval(f).shape
        p = pred if len(shape) == 1 else sh.broadcast_in_dim(pred, shape, (0,))
        out.append(ew.select_n(p, f, t))
    return out


def any_lane(pred):
    """True if any lane of a (B,) bool array is."""
    return red.reduce_max(pred, axes=(0,))


class AvalStr:
    """Prints as an aval's short form; used to show the type of a pytree in errors."""
    __slots__ = ("s",)

    def __init__(self, aval: ShapedArray):
        self.s = aval.str_short()

    def __repr__(self):
        return self.s


def type_str(treedef, avals: Sequence[ShapedArray]) -> str:
    """A pytree's type, e.g. ``(f64[3], {'n': i64[]})``."""
    return repr(tree_unflatten(treedef, [AvalStr(a) for a in avals]))
