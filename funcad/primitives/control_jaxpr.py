"""Jaxpr-to-jaxpr transformations shared by the control-flow primitives.

A control-flow primitive (cond, while, scan) holds its bodies as ClosedJaxprs with *no*
constants: every value a body reads is an explicit operand of the equation, so the
interpreters around the primitive see it (a closure over a value being differentiated or
batched is an ordinary operand, never a hidden capture). Each rule that transforms a body does
it the same way: trace "run this interpreter over that jaxpr" with ``trace_to_jaxpr``, then
*hoist* the constants the trace produced into leading inputs (:func:`trace_hoisted`); the
caller passes those constants as the first operands.

The transformations here:
- :func:`jvp_jaxpr`: forward mode, with tangent inputs and outputs interleaved by group
  (``[consts, consts_dot, carry, carry_dot, ...]``), the layout the loop primitives want;
- :func:`batch_jaxpr`: vmap with every batched input and output at axis 0;
- :func:`pe_jaxpr`: the known/unknown split of partial evaluation, forcing chosen outputs to
  be unknown (a loop carry that is unknown on entry must be unknown on exit);
- :func:`deps`, :func:`restrict`: which outputs depend on which inputs, and the sub-jaxpr
  that computes only some outputs from some inputs;
- :func:`join_consts`: give several branches one shared operand list.
"""
from __future__ import annotations

from typing import Callable, Sequence

from funcad.core import ShapedArray, current_interpreter, is_float, new_interpreter
from funcad.interpreters.batching import BatchInterpreter, BatchTracer, bdim_to_front
from funcad.interpreters.jvp import Zero, instantiate, jvp_flat
from funcad.interpreters.partial_eval import PartialEvalInterpreter
from funcad.interpreters.stage import dce_jaxpr, trace_to_jaxpr
from funcad.ir import ClosedJaxpr, Jaxpr, Var, eval_jaxpr


# ---------------------------------------------------------------------------------------------
# Building and reshaping const-free jaxprs

def hoist(closed: ClosedJaxpr) -> tuple[ClosedJaxpr, list]:
    """``closed`` with its constvars turned into leading invars, and the constant values."""
    j = closed.jaxpr
    return ClosedJaxpr(Jaxpr([], j.constvars + j.invars, j.eqns, j.outvars), []), \
        list(closed.consts)


def trace_hoisted(fun: Callable, avals: Sequence[ShapedArray], name: str = "control_flow"
                  ) -> tuple[ClosedJaxpr, list]:
    """Trace ``fun`` (flat in, flat out) to a const-free jaxpr; its constants lead the inputs."""
    return hoist(trace_to_jaxpr(fun, list(avals), name))


def example_jaxpr(fun: Callable, avals: Sequence[tuple]) -> ClosedJaxpr:
    """A const-free jaxpr of ``fun`` over ``(shape, dtype)`` pairs: the bodies in the
    ``test_params`` the control-flow primitives declare for tests/test_primitives.py. (These
    are built while funcad.lax is still being imported, so ``fun`` uses the primitive modules
    directly.)"""
    closed, consts = trace_hoisted(fun, [ShapedArray(*a) for a in avals], "example")
    assert not consts
    return closed


def run(closed: ClosedJaxpr, *args) -> list:
    """Evaluate a body on the current interpreter."""
    return eval_jaxpr(closed.jaxpr, closed.consts, args)


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
# Forward mode

def jvp_jaxpr(closed: ClosedJaxpr, nonzeros: Sequence[bool], instantiate_out: Sequence[bool],
              in_groups: Sequence[int] | None = None, out_groups: Sequence[int] | None = None):
    """The jvp of a const-free jaxpr.

    Inputs are laid out group by group, each group's primals followed by the tangents of its
    members flagged in ``nonzeros``; outputs likewise, with a tangent for every float output
    whose tangent is nonzero or flagged in ``instantiate_out``. Returns ``(jaxpr, consts,
    out_nonzeros)``; the jaxpr's leading inputs take ``consts``.
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
        outs, t_outs = jvp_flat(lambda *a: run(closed, *a), primals, tangents,
                                "jvp (control flow)")
        nz = [is_float(a.dtype) and (type(t) is not Zero or inst)
              for a, t, inst in zip(out_avals, t_outs, instantiate_out)]
        store["nz"] = nz
        res, s = [], 0
        for g in out_groups:
            res += outs[s:s + g]
            res += [instantiate(t) for t, n in zip(t_outs[s:s + g], nz[s:s + g]) if n]
            s += g
        return res

    jaxpr, consts = trace_hoisted(fun, [avals[i] for _, i in layout], "jvp")
    return jaxpr, consts, store["nz"]


# ---------------------------------------------------------------------------------------------
# Batching

def batch_jaxpr(closed: ClosedJaxpr, axis_size: int, batched: Sequence[bool],
                force_out: Sequence[bool]):
    """vmap of a const-free jaxpr: inputs flagged in ``batched`` (and the outputs) carry the
    batch at axis 0. Outputs flagged in ``force_out`` are batched even if they do not depend
    on a batched input. Returns ``(jaxpr, consts, out_batched)``."""
    in_avals = [ShapedArray((axis_size,) + a.shape, a.dtype) if b else a
                for a, b in zip(closed.in_avals, batched)]
    store: dict = {}

    def fun(*args):
        interp = BatchInterpreter(current_interpreter(), axis_size, "vmap (control flow)")
        ins = [BatchTracer(interp, x, 0) if b else x for x, b in zip(args, batched)]
        with new_interpreter(interp):
            lifted = [interp.lift(o) for o in run(closed, *ins)]
        outs, flags = [], []
        for (v, d), f in zip(lifted, force_out):
            if d is None and not f:
                outs.append(v)
                flags.append(False)
            else:
                outs.append(bdim_to_front(v, d, axis_size))
                flags.append(True)
        store["out"] = flags
        return outs

    jaxpr, consts = trace_hoisted(fun, in_avals, "vmap")
    return jaxpr, consts, store["out"]


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
    from funcad import lax
    return lax.full(aval.shape, 0, aval.dtype)


def materialize(t, aval: ShapedArray):
    """An array for a tangent or cotangent that may be a symbolic Zero (or None)."""
    if t is None or type(t) is Zero:
        return zeros(aval)
    return instantiate(t)


def select_tree(pred, on_true: Sequence, on_false: Sequence) -> list:
    """Per leaf ``where(pred, t, f)``; ``pred`` is a (B,) bool array and every leaf has the
    batch at axis 0."""
    from funcad import lax
    from funcad.core import get_aval
    out = []
    for t, f in zip(on_true, on_false):
        shape = get_aval(f).shape
        p = pred if len(shape) == 1 else lax.broadcast_in_dim(pred, shape, (0,))
        out.append(lax.select_n(p, f, t))
    return out


def any_lane(pred):
    """True if any lane of a (B,) bool array is."""
    from funcad import lax
    return lax.reduce_max(pred, axes=(0,))


class AvalStr:
    """Prints as an aval's short form; used to show the type of a pytree in errors."""
    __slots__ = ("s",)

    def __init__(self, aval: ShapedArray):
        self.s = aval.str_short()

    def __repr__(self):
        return self.s


def type_str(treedef, avals: Sequence[ShapedArray]) -> str:
    """A pytree's type, e.g. ``(f64[3], {'n': i64[]})``."""
    from funcad.tree_util import tree_unflatten
    return repr(tree_unflatten(treedef, [AvalStr(a) for a in avals]))
