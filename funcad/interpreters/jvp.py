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

from funcad.core import (Interpreter, ShapedArray, Tracer, bind_with, get_aval, is_float,
                         primitives,
                         raise_leaked, run_with)


class Zero:
    """A tangent or cotangent that is known to be zero, with the aval it stands for."""
    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval.str_short()})"


def zeros_like_aval(aval: ShapedArray):
    from funcad import lax
    return lax.full(aval.shape, 0, aval.dtype)


def instantiate(t):
    """An array for a tangent, turning a symbolic Zero into real zeros."""
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(a, b):
    if type(a) is Zero:
        return b
    if type(b) is Zero:
        return a
    return primitives["add"].bind(a, b)


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent", "_aval")

    def __init__(self, interp, primal, tangent):
        self._interp = interp
        self.primal = primal
        self.tangent = tangent
        self._aval = None

    @property
    def aval(self):
        a = self._aval
        if a is None:
            a = self._aval = get_aval(self.primal)
        return a

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
        if tangent is None or type(tangent) is Zero or not is_float(get_aval(primal).dtype):
            return primal
        return JVPTracer(self, primal, tangent)

    def interpret(self, prim, args, params):
        primals, tangents = [], []
        nonzero = False
        for x in args:
            p, t = self.lift(x)
            primals.append(p)
            if t is None:
                tangents.append(None)
            else:
                tangents.append(t)
                nonzero = True
        if not nonzero:
            return bind_with(self.prev, prim, *primals, **params)
        tangents = [Zero(get_aval(p)) if t is None else t for p, t in zip(primals, tangents)]
        rule = prim.jvp
        if rule is None:
            raise NotImplementedError(
                f"Differentiation rule for primitive '{prim.name}' is not implemented "
                f"(needed by {self.name}). Wrap the computation in lax.stop_gradient if its "
                f"derivative is not needed, or define it with custom_jvp.")
        primal_out, tangent_out = run_with(self.prev, rule, primals, tangents, **params)
        if prim.multiple_results:
            return [self.pure(p, t) for p, t in zip(primal_out, tangent_out)]
        return self.pure(primal_out, tangent_out)


def jvp_flat(fun, primals, tangents, name: str = "jvp"):
    """Run ``fun`` (flat lists) in forward mode. ``tangents`` may hold Zero.
    Returns (primals_out, tangents_out) with Zero for outputs that do not depend on inputs."""
    from funcad.core import current_interpreter, new_interpreter
    interp = JVPInterpreter(current_interpreter(), name)
    ins = [p if type(t) is Zero else JVPTracer(interp, p, t)
           for p, t in zip(primals, tangents)]
    with new_interpreter(interp):
        outs = list(fun(*ins))
        primals_out, tangents_out = [], []
        for o in outs:
            p, t = interp.lift(o)
            primals_out.append(p)
            tangents_out.append(Zero(get_aval(p)) if t is None else t)
    return primals_out, tangents_out
