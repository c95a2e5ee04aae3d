"""Partial evaluation: run what is known now, stage what is not yet known as a jaxpr.

A :class:`PartialEvalInterpreter` owns *unknown* values (staged variables). A bind whose
inputs are all known goes straight to the interpreter below; a bind that touches an unknown
value is recorded as an equation, with the known inputs captured as constants (residuals).

``linearize`` is jvp under partial evaluation with the tangents unknown: the primal
computation runs now, and the tangent computation, which is linear in the tangents, becomes
a linear jaxpr whose constants are the residuals. Transposing that jaxpr gives the vjp.

Higher-order primitives (jit, control flow) have their own ``partial_eval`` rule that splits
their inner jaxpr into a known and an unknown part (see :func:`partial_eval_jaxpr`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from funcad.core import (ShapedArray, Tracer, bind_with, current_interpreter, eval_interpreter,
                         new_interpreter)
from funcad.interpreters.stage import StagingInterpreter, StagingTracer, trace_to_jaxpr
from funcad.ir import ClosedJaxpr, Jaxpr, eval_jaxpr

_ndarray = np.ndarray


class PartialEvalInterpreter(StagingInterpreter):
    def __init__(self, prev, name: str = "linearize"):
        super().__init__(name)
        self.prev = prev
        # Known work on plain arrays goes straight to ``impl`` when the eval interpreter is
        # below (the common case: linearize and grad outside any other transformation).
        self._eval_below = prev is eval_interpreter

    def is_unknown(self, x) -> bool:
        return type(x) is StagingTracer and x._interp is self

    def interpret_plain(self, prim, args, params):
        """The rule: a bind that touches an unknown value is staged (or split by the
        primitive's own ``partial_eval``); one on known values runs on the interpreter below.
        :meth:`interpret` is this with a shortcut for the eval interpreter (tests run both)."""
        if any(self.is_unknown(x) for x in args):
            if prim.partial_eval is not None:
                return prim.partial_eval(self, args, params)
            return self.stage(prim, args, params)
        return bind_with(self.prev, prim, *args, **params)

    def interpret(self, prim, args, params):
        # Fast path of interpret_plain (just above): known work on plain arrays calls the impl
        # of a first-order primitive when the eval interpreter is below, instead of binding.
        plain = True
        for x in args:
            t = type(x)
            if t is _ndarray:
                continue
            if t is StagingTracer and x._interp is self:
                if prim.partial_eval is not None:
                    return prim.partial_eval(self, args, params)
                return self.stage(prim, args, params)
            if plain and isinstance(x, Tracer):
                plain = False
        if (plain and self._eval_below and prim.impl is not None
                and not prim.multiple_results and not prim.higher_order):
            return prim.impl(*args, **params)  # a first-order impl never binds: skip eval
        return bind_with(self.prev, prim, *args, **params)


def partial_eval_jaxpr(closed: ClosedJaxpr, unknowns: Sequence[bool], name="partial_eval"):
    """Split ``closed`` given which inputs are unknown.

    Returns ``(known, unknown, out_unknowns, num_res)``: ``known`` takes the known inputs and
    returns the known outputs followed by residuals; ``unknown`` takes the residuals followed
    by the unknown inputs and returns the unknown outputs. Both are ClosedJaxprs.
    """
    in_avals = closed.in_avals
    known_avals = [a for a, u in zip(in_avals, unknowns) if not u]
    result = {}

    def known_fun(*known_args):
        pe = PartialEvalInterpreter(current_interpreter(), name)
        it = iter(known_args)
        args = [pe.new_arg(a) if u else next(it) for a, u in zip(in_avals, unknowns)]
        with new_interpreter(pe):
            outs = eval_jaxpr(closed.jaxpr, closed.consts, args)
        out_unknowns = [pe.is_unknown(o) for o in outs]
        unknown_in = [a for a, u in zip(args, unknowns) if u]
        # The unknown jaxpr closes over known values: those become residuals.
        unknown_closed = pe.finish(unknown_in, [o for o, u in zip(outs, out_unknowns) if u])
        result.update(out_unknowns=out_unknowns, unknown=unknown_closed)
        known_outs = [o for o, u in zip(outs, out_unknowns) if not u]
        return known_outs + list(unknown_closed.consts)

    known = trace_to_jaxpr(known_fun, known_avals, name)
    unknown_closed = result["unknown"]
    num_res = len(unknown_closed.consts)
    # Turn the residual constants of the unknown jaxpr into leading inputs.
    uj = unknown_closed.jaxpr
    unknown = ClosedJaxpr(Jaxpr([], uj.constvars + uj.invars, uj.eqns, uj.outvars), [])
    return known, unknown, result["out_unknowns"], num_res
