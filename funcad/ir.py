"""The typed IR: variables, literals, equations and jaxprs, with a checker and a printer.

A :class:`Jaxpr` is a straight-line program: ``constvars`` and ``invars`` come in, each
:class:`Eqn` applies one primitive to atoms (a :class:`Var` or a scalar :class:`Lit`) and
defines new variables, and ``outvars`` go out. A :class:`ClosedJaxpr` pairs a jaxpr with the
values of its constvars. Interpreting a jaxpr is one loop (:func:`eval_jaxpr`) that binds each
equation's primitive on whatever interpreter is current, which is how every transformation
can run over a jaxpr as well as over Python code. Everything here is iterative, so jaxprs of
any length are fine.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from funcad.core import Primitive, ShapedArray, bind_with, current_interpreter, get_aval


class Var:
    """A variable of the IR; compared by identity. ``hint`` is an optional name for codegen."""
    __slots__ = ("aval", "hint")

    def __init__(self, aval: ShapedArray, hint: str | None = None):
        self.aval = aval
        self.hint = hint

    def __repr__(self):
        return f"Var({self.aval.str_short()})"


class Lit:
    """A scalar literal with its abstract value."""
    __slots__ = ("val", "aval")

    def __init__(self, val, aval: ShapedArray | None = None):
        # fast path of the two lines below for the common case: a rank-0 array
        if aval is None and type(val) is np.ndarray:
            self.aval = get_aval(val)
            self.val = val[()]
            return
        self.aval = get_aval(val) if aval is None else aval
        self.val = np.asarray(val, self.aval.dtype)[()]

    def __repr__(self):
        return f"Lit({self.val!r})"


Atom = Var | Lit


class Eqn:
    """``outvars = prim[params] inputs``."""
    __slots__ = ("prim", "inputs", "outvars", "params")

    def __init__(self, prim: Primitive, inputs: list, outvars: list, params: dict):
        self.prim = prim
        self.inputs = inputs
        self.outvars = outvars
        self.params = params

    def __repr__(self):
        return f"Eqn({self.prim.name}, {len(self.inputs)} in, {len(self.outvars)} out)"


class Jaxpr:
    __slots__ = ("constvars", "invars", "eqns", "outvars")

    def __init__(self, constvars: list, invars: list, eqns: list, outvars: list):
        self.constvars = constvars
        self.invars = invars
        self.eqns = eqns
        self.outvars = outvars

    @property
    def in_avals(self):
        return [v.aval for v in self.invars]

    @property
    def out_avals(self):
        return [v.aval for v in self.outvars]

    def __str__(self):
        return pp_jaxpr(self)

    __repr__ = __str__


class ClosedJaxpr:
    """A jaxpr with the values of its constvars."""
    __slots__ = ("jaxpr", "consts")

    def __init__(self, jaxpr: Jaxpr, consts: Sequence[Any]):
        self.jaxpr = jaxpr
        self.consts = list(consts)

    in_avals = property(lambda self: self.jaxpr.in_avals)
    out_avals = property(lambda self: self.jaxpr.out_avals)
    eqns = property(lambda self: self.jaxpr.eqns)

    def __call__(self, *args):
        return eval_jaxpr(self.jaxpr, self.consts, args)

    def __str__(self):
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__


# ---------------------------------------------------------------------------------------------
# Evaluation

def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence[Any], args: Sequence[Any]) -> list:
    """Run ``jaxpr`` by binding each equation on the current interpreter."""
    env: dict = {}
    if len(args) != len(jaxpr.invars) or len(consts) != len(jaxpr.constvars):
        raise TypeError(f"eval_jaxpr: expected {len(jaxpr.constvars)} consts and "
                        f"{len(jaxpr.invars)} args, got {len(consts)} and {len(args)}")
    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x

    def read(a):
        return a.val if type(a) is Lit else env[a]

    for eqn in jaxpr.eqns:
        out = eqn.prim.bind(*[read(a) for a in eqn.inputs], **eqn.params)
        if eqn.prim.multiple_results:
            for v, x in zip(eqn.outvars, out):
                env[v] = x
        else:
            env[eqn.outvars[0]] = out
    return [read(a) for a in jaxpr.outvars]


# ---------------------------------------------------------------------------------------------
# Type checking

class JaxprTypeError(TypeError):
    pass


def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Check that every variable is defined once before use and every equation's output types
    equal its primitive's ``abstract_eval``."""
    defined: set = set()

    def define(v):
        if not isinstance(v, Var):
            raise JaxprTypeError(f"expected a Var to define, got {v!r}")
        if v in defined:
            raise JaxprTypeError(f"variable {v!r} defined twice")
        defined.add(v)

    def use(a):
        if isinstance(a, Lit):
            return a.aval
        if a not in defined:
            raise JaxprTypeError(f"variable {a!r} used before it is defined")
        return a.aval

    for v in jaxpr.constvars + jaxpr.invars:
        define(v)
    for eqn in jaxpr.eqns:
        in_avals = [use(a) for a in eqn.inputs]
        out = eqn.prim.abstract_eval(*in_avals, **eqn.params)
        outs = list(out) if eqn.prim.multiple_results else [out]
        got = [v.aval for v in eqn.outvars]
        if outs != got:
            raise JaxprTypeError(f"{eqn.prim.name}: abstract_eval gives "
                                 f"{[a.str_short() for a in outs]} but the equation declares "
                                 f"{[a.str_short() for a in got]}")
        for v in eqn.outvars:
            define(v)
    for a in jaxpr.outvars:
        use(a)


# ---------------------------------------------------------------------------------------------
# Printing, in JAX's syntax: { lambda c:f64[3] ; a:f64[3]. let b:f64[3] = sin a in (b,) }

def _var_name(n: int) -> str:
    s = ""
    while True:
        s = chr(ord("a") + n % 26) + s
        n = n // 26
        if n == 0:
            return s
        n -= 1


class _Names:
    def __init__(self):
        self.names: dict = {}

    def __call__(self, a) -> str:
        if isinstance(a, Lit):
            v = a.val
            if a.aval.dtype == np.bool_:
                return str(bool(v))
            if a.aval.dtype.kind == "f":
                return f"{float(v)!r}:{a.aval.str_short()}"
            if a.aval.dtype.kind == "c":
                return f"{complex(v)!r}:{a.aval.str_short()}"
            return f"{int(v)}:{a.aval.str_short()}"
        if a not in self.names:
            self.names[a] = _var_name(len(self.names))
        return self.names[a]

    def decl(self, v) -> str:
        return f"{self(v)}:{v.aval.str_short()}"


def _pp_param(v, names: _Names, indent: int) -> str:
    from_closed = isinstance(v, ClosedJaxpr)
    if isinstance(v, Jaxpr) or from_closed:
        inner = v.jaxpr if from_closed else v
        return "\n" + _pp(inner, names, indent + 4)
    if isinstance(v, tuple) and v and all(isinstance(x, (Jaxpr, ClosedJaxpr)) for x in v):
        return "(" + ",".join(_pp_param(x, names, indent) for x in v) + "\n" + " " * indent + ")"
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    if callable(v) and hasattr(v, "__name__"):
        return v.__name__
    return repr(v)


def _pp(jaxpr: Jaxpr, names: _Names, indent: int) -> str:
    pad = " " * indent
    consts = " ".join(names.decl(v) for v in jaxpr.constvars)
    ins = " ".join(names.decl(v) for v in jaxpr.invars)
    lines = [f"{pad}{{ lambda {consts}{' ' if consts else ''}; {ins}. let"]
    for eqn in jaxpr.eqns:
        outs = " ".join(names.decl(v) for v in eqn.outvars)
        params = ""
        if eqn.params:
            params = "[" + " ".join(f"{k}={_pp_param(v, names, indent + 4)}"
                                   for k, v in eqn.params.items()) + "]"
        args = " ".join(names(a) for a in eqn.inputs)
        lines.append(f"{pad}    {outs} = {eqn.prim.name}{params} {args}".rstrip())
    outs = ", ".join(names(a) for a in jaxpr.outvars)
    comma = "," if len(jaxpr.outvars) == 1 else ""
    lines.append(f"{pad}  in ({outs}{comma}) }}")
    return "\n".join(lines)


def pp_jaxpr(jaxpr: Jaxpr) -> str:
    return _pp(jaxpr, _Names(), 0)
