"""Batching (vmap): values carry an extra axis, and each primitive knows how to act on it.

A :class:`BatchTracer` is a value ``val`` of the interpreter below with a batch dimension
``bdim`` (an int), or ``None`` for values that are the same for every batch member. For each
bind the primitive's ``batch`` rule receives the values and their ``bdim`` and returns the
batched result and where its batch axis is. Unbatched operands stay unbatched: rules move or
broadcast only what they must.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Interpreter, Tracer, bind_with, get_aval, raise_leaked, run_rule

not_mapped = None
_ndarray = np.ndarray


class BatchTracer(Tracer):
    __slots__ = ("val", "bdim", "_aval")

    def __init__(self, interp, val, bdim):
        self._interp = interp
        self.val = val
        self.bdim = bdim
        self._aval = None

    @property
    def aval(self):
        a = self._aval
        if a is None:
            a = get_aval(self.val)
            if self.bdim is not None:
                a = a.update(shape=a.shape[:self.bdim] + a.shape[self.bdim + 1:])
            self._aval = a
        return a


class BatchInterpreter(Interpreter):
    def __init__(self, prev: Interpreter, axis_size: int, name: str = "vmap"):
        self.prev = prev
        self.axis_size = axis_size
        self.name = name
        self.alive = True

    def lift(self, x):
        if type(x) is BatchTracer and x._interp is self:
            return x.val, x.bdim
        if isinstance(x, Tracer) and not x._interp.alive:
            raise_leaked(x)
        return x, None

    def pure(self, val, bdim):
        return val if bdim is None else BatchTracer(self, val, bdim)

    def interpret_plain(self, prim, args, params):
        """The rule: :meth:`lift` every argument; with no batched one, bind on the interpreter
        below; else the primitive's batch rule runs there and :meth:`pure` wraps the results.
        :meth:`interpret` is this with lift inlined and the lists made only when needed
        (tests run both)."""
        vals, dims = [], []
        for x in args:
            v, d = self.lift(x)
            vals.append(v)
            dims.append(d)
        if all(d is None for d in dims):
            return bind_with(self.prev, prim, *vals, **params)
        return self._batch(prim, vals, dims, params)

    def interpret(self, prim, args, params):
        # Fast path of interpret_plain (just above): lift inlined, and no lists for a bind
        # without batched operands.
        vals = dims = None
        i = 0
        for x in args:
            if type(x) is BatchTracer and x._interp is self:
                if vals is None:
                    vals = list(args)
                    dims = [None] * len(args)
                vals[i] = x.val
                dims[i] = x.bdim
            elif type(x) is not _ndarray and isinstance(x, Tracer) and not x._interp.alive:
                raise_leaked(x)
            i += 1
        if vals is None or all(d is None for d in dims):
            return bind_with(self.prev, prim, *(args if vals is None else vals), **params)
        return self._batch(prim, vals, dims, params)

    def _batch(self, prim, vals, dims, params):
        rule = prim.batch
        if rule is None:
            raise NotImplementedError(f"Batching rule for primitive '{prim.name}' is not "
                                      f"implemented (needed by {self.name}).")
        if getattr(rule, "needs_size", False):
            params = dict(params, axis_size=self.axis_size)
        out, out_dim = run_rule(self.prev, rule, vals, dims, params)
        if prim.multiple_results:
            return [self.pure(v, d) for v, d in zip(out, out_dim)]
        return self.pure(out, out_dim)

