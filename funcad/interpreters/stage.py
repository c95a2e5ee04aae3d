"""Staging: record the primitives a function binds as a jaxpr instead of running them.

The staging interpreter's tracers stand for :class:`~funcad.ir.Var` objects. Values it does
not own (NumPy arrays, tracers of enclosing transformations) become constvars of the jaxpr,
scalars become literals. :func:`trace_to_jaxpr` is the one entry point that every other
piece uses to turn a function into IR: ``make_jaxpr``, ``jit``, and the rules of higher-order
primitives that transform an inner jaxpr (they trace "run this interpreter over that jaxpr").
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from funcad._memo import Memo
from funcad.core import (Interpreter, ShapedArray, Tracer, get_aval, new_interpreter,
                         raise_leaked)
from funcad.ir import ClosedJaxpr, Eqn, Jaxpr, Lit, Var

_ndarray = np.ndarray


class StagingTracer(Tracer):
    __slots__ = ("ir_var",)

    def __init__(self, interp, var: Var):
        self._interp = interp
        self.ir_var = var

    @property
    def aval(self):
        return self.ir_var.aval


class JaxprBuilder:
    """Collects equations and constants while tracing."""

    def __init__(self):
        self.eqns: list[Eqn] = []
        self.constvars: list[Var] = []
        self.consts: list = []
        self._const_ids: dict[int, Var] = {}

    def const_var(self, val) -> Var:
        v = self._const_ids.get(id(val))
        if v is None:
            v = Var(get_aval(val))
            self._const_ids[id(val)] = v
            self.constvars.append(v)
            self.consts.append(val)
        return v

    def build(self, invars: list, outs: list, dce: bool = True) -> ClosedJaxpr:
        jaxpr = Jaxpr(list(self.constvars), list(invars), list(self.eqns), list(outs))
        closed = ClosedJaxpr(jaxpr, list(self.consts))
        return dce_closed(closed) if dce else closed


def _is_literal(x) -> bool:
    t = type(x)
    if t in (float, int, bool):
        return True
    if isinstance(x, np.generic):
        return True
    return isinstance(x, np.ndarray) and x.ndim == 0


class StagingInterpreter(Interpreter):
    """Stages every bind into ``self.builder``."""

    def __init__(self, name: str = "make_jaxpr"):
        self.name = name
        self.alive = True
        self.builder = JaxprBuilder()
        self._add_eqn = self.builder.eqns.append
        self._const_ids = self.builder._const_ids

    def new_arg(self, aval: ShapedArray) -> StagingTracer:
        return StagingTracer(self, Var(aval))

    def atom(self, x):
        t = type(x)
        if t is StagingTracer and x._interp is self:
            return x.ir_var
        if t is _ndarray:
            return Lit(x) if not x.shape else self.builder.const_var(x)
        if isinstance(x, Tracer):
            if not x._interp.alive:
                raise_leaked(x)
            return self.builder.const_var(x)
        if _is_literal(x):
            return Lit(x)
        return self.builder.const_var(x)

    def stage_plain(self, prim, args, params):
        """The rule: each argument becomes an atom (:meth:`atom`), ``abstract_eval`` gives the
        output avals, one equation records the bind. :meth:`stage` is this with atom's common
        cases inlined and abstract_eval memoized (tests run both)."""
        atoms = [self.atom(x) for x in args]
        out = prim.abstract_eval(*[a.aval for a in atoms], **params)
        outvars = [Var(a) for a in out] if prim.multiple_results else [Var(out)]
        self._add_eqn(Eqn(prim, atoms, outvars, params))
        tracers = [StagingTracer(self, v) for v in outvars]
        return tracers if prim.multiple_results else tracers[0]

    def stage(self, prim, args, params):
        # Fast path of stage_plain (just above): atom's own tracers and residual arrays
        # inlined, abstract_eval memoized by _cached_abstract_eval.
        atoms, avals = [], []
        for x in args:
            t = type(x)
            if t is StagingTracer and x._interp is self:
                v = x.ir_var
            elif t is _ndarray and x.shape:  # a residual: self.atom's constant, inlined
                v = self._const_ids.get(id(x))
                if v is None:
                    v = self.builder.const_var(x)
            else:
                v = self.atom(x)
            atoms.append(v)
            avals.append(v.aval)
        if prim.multiple_results:
            outvars = [Var(a) for a in prim.abstract_eval(*avals, **params)]
            self._add_eqn(Eqn(prim, atoms, outvars, params))
            return [StagingTracer(self, v) for v in outvars]
        v = Var(_cached_abstract_eval(prim, avals, params) if params
                else prim.abstract_eval(*avals))
        self._add_eqn(Eqn(prim, atoms, [v], params))
        return StagingTracer(self, v)

    interpret = stage

    def finish(self, in_tracers, outs, dce: bool = True) -> ClosedJaxpr:
        """The jaxpr of what was staged; ``dce=False`` keeps dead equations (a consumer that
        skips them anyway, like the backward pass of vjp, saves the walk)."""
        return self.builder.build([t.ir_var for t in in_tracers], [self.atom(x) for x in outs],
                                  dce)


_ABSTRACT_MEMO = Memo("stage: abstract_eval by (prim, input avals, params)", 4096)
_ABSTRACT: dict = _ABSTRACT_MEMO.table   # read inline below


def _cached_abstract_eval(prim, avals, params):
    """``prim.abstract_eval`` memoized on (prim, input avals, params): shape rules that check
    and compute shapes from static parameters (broadcast_in_dim, reductions, dot_general)
    cost more than a lookup, and tracing repeats the same few signatures. Parameters that
    are not hashable skip the cache."""
    # Avals are interned: keyed by identity (hashing one is a Python-level call); the memo
    # holds the avals with the entry (put's ``keep``), so their ids stay theirs while it lives.
    try:
        key = ((prim, id(avals[0]), *params.items()) if len(avals) == 1 else
               (prim, *map(id, avals), *params.items()))
        hit = _ABSTRACT.get(key)
    except TypeError:
        return prim.abstract_eval(*avals, **params)
    if hit is not None:
        return hit
    return _ABSTRACT_MEMO.put(key, prim.abstract_eval(*avals, **params), avals)


def trace_to_jaxpr(fun: Callable, in_avals: Sequence[ShapedArray], name: str = "make_jaxpr"
                   ) -> ClosedJaxpr:
    """Trace ``fun`` (flat list of inputs -> flat list of outputs) into a ClosedJaxpr."""
    interp = StagingInterpreter(name)
    tracers = [interp.new_arg(a) for a in in_avals]
    with new_interpreter(interp):
        outs = fun(*tracers)
        closed = interp.finish(tracers, list(outs))
    return closed


# ---------------------------------------------------------------------------------------------
# Dead-code elimination (funcad primitives have no side effects)

def dce_jaxpr(jaxpr: Jaxpr) -> Jaxpr:
    live = {a for a in jaxpr.outvars if isinstance(a, Var)}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars):
            kept.append(eqn)
            for a in eqn.inputs:
                if isinstance(a, Var):
                    live.add(a)
    kept.reverse()
    return Jaxpr(jaxpr.constvars, jaxpr.invars, kept, jaxpr.outvars), live


def dce_closed(closed: ClosedJaxpr) -> ClosedJaxpr:
    jaxpr, live = dce_jaxpr(closed.jaxpr)
    pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts) if v in live]
    jaxpr.constvars = [v for v, _ in pairs]
    return ClosedJaxpr(jaxpr, [c for _, c in pairs])
