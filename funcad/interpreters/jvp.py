"""Forward mode: values carry a tangent alongside their primal.

A :class:`JVPInterpreter` owns :class:`JVPTracer` pairs. For each bind it runs the primitive's
``jvp`` rule under the interpreter below it, so the primal and tangent computations are seen
by whatever encloses the jvp (another jvp gives higher order; partial evaluation gives
linearize). Tangents that are known to be zero are the symbol :class:`Zero`, never an array,
so rules skip work for them and integer or boolean results never carry a tangent.

Each interpreter only recognises its own tracers; a tracer of an enclosing jvp is a constant
here. That is what keeps nested derivatives apart (no perturbation confusion).
"""
from __future__ import annotations

import numpy as np

from funcad.core import (_AVALS, Interpreter, ShapedArray, Tracer, bind_with, memo_by_aval,
                         current_interpreter, get_aval, new_interpreter,
                         raise_leaked, run_rule)
from funcad.rule_util import Zero


# The (shared, immutable) Zero of an aval: interpreters make one per non-differentiated operand
# of every bind, so they reuse one object per aval instead of allocating.
zero = memo_by_aval(Zero, "jvp.zero: aval -> Zero")
_ZEROS = zero.table   # id(aval) -> Zero(aval), read inline by JVPInterpreter.interpret


_ndarray = np.ndarray


class JVPTracer(Tracer):
    # ``aval`` is a slot set when the tracer is made (from the primal, or by the caller who
    # knows it): nearly every tracer is asked for it, and a slot read is no call.
    __slots__ = ("primal", "tangent", "aval")

    def __init__(self, interp, primal, tangent, aval: ShapedArray | None = None):
        self._interp = interp
        self.primal = primal
        self.tangent = tangent
        self.aval = get_aval(primal) if aval is None else aval

    def concrete_value(self):
        p = self.primal
        return p.concrete_value() if isinstance(p, Tracer) else p


class JVPInterpreter(Interpreter):
    def __init__(self, prev: Interpreter, name: str = "jvp"):
        self.prev = prev
        self.name = name
        self.alive = True

    def lift(self, x):
        if type(x) is JVPTracer and x._interp is self:
            return x.primal, x.tangent
        if isinstance(x, Tracer) and not x._interp.alive:
            raise_leaked(x)
        return x, None

    def pure(self, primal, tangent):
        if tangent is None or type(tangent) is Zero:
            return primal
        a = get_aval(primal)
        if a.dtype.kind not in "fc":
            return primal
        return JVPTracer(self, primal, tangent, a)

    def interpret_plain(self, prim, args, params):
        """The rule: own tracers split into primal and tangent (:meth:`lift`); anything else
        is a constant here (checked for escaped tracers) whose tangent is the Zero of its
        aval; the jvp rule runs on the interpreter below; :meth:`pure` wraps the results.
        :meth:`interpret` is this with the helpers inlined (tests run both)."""
        lifted = [self.lift(x) for x in args]
        if all(t is None for _, t in lifted):
            return bind_with(self.prev, prim, *args, **params)
        primals = [p for p, _ in lifted]
        tangents = [zero(get_aval(p)) if t is None else t for p, t in lifted]
        if prim.jvp is None:
            self._no_rule(prim)
        primal_out, tangent_out = run_rule(self.prev, prim.jvp, primals, tangents, params)
        if prim.multiple_results:
            return [self.pure(p, t) for p, t in zip(primal_out, tangent_out)]
        return self.pure(primal_out, tangent_out)

    def interpret(self, prim, args, params):
        # Fast path of interpret_plain (just above): lift, get_aval's hit, zero's hit (the
        # _ZEROS table) and pure are inlined.
        for x in args:
            if type(x) is JVPTracer and x._interp is self:
                break
            if type(x) is not _ndarray and isinstance(x, Tracer) and not x._interp.alive:
                raise_leaked(x)
        else:
            return bind_with(self.prev, prim, *args, **params)
        primals, tangents = [], []
        for x in args:
            if type(x) is JVPTracer and x._interp is self:
                primals.append(x.primal)
                tangents.append(x.tangent)
                continue
            if type(x) is _ndarray:
                a = _AVALS.get((x.shape, x.dtype))
                if a is None:
                    a = get_aval(x)
            else:
                if isinstance(x, Tracer) and not x._interp.alive:
                    raise_leaked(x)
                a = get_aval(x)
            primals.append(x)
            z = _ZEROS.get(id(a))
            tangents.append(z if z is not None else zero(a))
        rule = prim.jvp
        if rule is None:
            self._no_rule(prim)
        primal_out, tangent_out = run_rule(self.prev, rule, primals, tangents, params)
        if prim.multiple_results:
            return [self.pure(p, t) for p, t in zip(primal_out, tangent_out)]
        # self.pure, inlined (with get_aval's hit for an array)
        if tangent_out is None or type(tangent_out) is Zero:
            return primal_out
        if type(primal_out) is _ndarray:
            dt = primal_out.dtype
            if dt.kind not in "fc":
                return primal_out
            a = _AVALS.get((primal_out.shape, dt))
            if a is None:
                a = get_aval(primal_out)
        else:
            a = get_aval(primal_out)
            if a.dtype.kind not in "fc":
                return primal_out
        return JVPTracer(self, primal_out, tangent_out, a)

    def _no_rule(self, prim):
        raise NotImplementedError(
            f"Differentiation rule for primitive '{prim.name}' is not implemented "
            f"(needed by {self.name}). Wrap the computation in lax.stop_gradient if its "
            f"derivative is not needed, or define it with custom_jvp.")


def jvp_flat(fun, primals, tangents, name: str = "jvp"):
    """Run ``fun`` (flat lists) in forward mode. ``tangents`` may hold Zero.
    Returns (primals_out, tangents_out) with Zero for outputs that do not depend on inputs."""
    interp = JVPInterpreter(current_interpreter(), name)
    ins = [p if type(t) is Zero else JVPTracer(interp, p, t)
           for p, t in zip(primals, tangents)]
    with new_interpreter(interp):
        outs = list(fun(*ins))
        primals_out, tangents_out = [], []
        for o in outs:
            p, t = interp.lift(o)
            primals_out.append(p)
            tangents_out.append(zero(get_aval(p)) if t is None else t)
    return primals_out, tangents_out
