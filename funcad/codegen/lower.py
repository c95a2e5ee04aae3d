"""Lowering: a Jaxpr becomes the text of ONE Python function with explicit loops.

:func:`lower_jaxpr` is a pure function from IR to source text (compiling is
:mod:`funcad.codegen.compile`'s job). The steps:

1. **Rewrite** (:mod:`funcad.codegen.rewrite`): inline called jaxprs (``jit`` inside ``jit``,
   ``custom_jvp_call``, ...; the constants they close over become extra arguments of the
   function, never globals, which Numba would freeze), merge repeated equations, fold
   transposes into matrix products; and in loop bodies, turn arrays of a few elements into
   scalar locals (:mod:`funcad.codegen.scalarise`).
2. **Fuse** (:mod:`funcad.codegen.fuse`): choose which values live in memory and group the
   equations into loop nests.
3. **Emit**: each loop nest (:mod:`funcad.codegen.nest`) becomes ``for i0 in range(__n0):
   for i1 ...`` with one scalar expression per stored value; values used once are inlined,
   values used twice in the same iteration become local scalars ``__t0``; reductions
   accumulate in a local (the compiler's ``reassoc`` flag lets LLVM vectorize it). Other
   equations (``dot_general``, ``gather``, control flow, ...) are written by the rule their
   primitive declares (``lowering=Opaque(rule)`` or ``Control(rule)``, see
   :mod:`funcad.lowering`). Inside a loop, arrays are allocated once in the loop's preamble
   (:class:`LoopScope`), and an operand used only by a ``concatenate`` (an ``Opaque`` with
   ``places``) is computed straight into its place in the result.

**No extents in the text.** Every array extent (and every slice offset, pad width, ...) is read
from the ``__dims`` argument (``__n0 = __dims[0]``), and literals that are not common constants
(often derived from shapes, like the ``1/n`` of a mean) from ``__lits``; comments name extents
the same way (``f64[__n0,__n1]``). So the same function at a new shape of the same ranks and
dtypes gives the same text, and the compiled code is reused. What a shape decides
structurally is written into the text, so equal text always means equal meaning: a broadcast
unit axis reads index 0, a reduction over an empty axis raises, and two extents that happen to
be equal share one ``__dims`` slot (a new shape reuses the compiled code when it keeps the
same equalities, e.g. a square matrix stays square).

The function takes the jaxpr's inputs (rank-0 ones as scalars), then the extra constants, then
``__dims`` and ``__lits`` (each only when not empty: ``Lowered.tail``), and returns a tuple of
its outputs (rank-0 ones as scalars).

An ``Opaque``/``Control`` rule ``rule(ctx, eqn)`` writes the equation with the
:class:`Lowerer` methods documented below (``name``, ``out``, ``dim``, ``shape``, ``alloc``,
``loops``, ``read``, ``store``, ``lit``, ``fresh``, ``reusable``, ``lower_inline``). This
package holds no per-primitive knowledge: everything it knows of a primitive is its
declared ``lowering``.
"""
from __future__ import annotations

import contextlib
import re
from typing import Iterator

import numpy as np

from funcad.codegen.emitter import Emitter, safe_name
from funcad.codegen.fuse import OPAQUE, Nest, plan_fusion
from funcad.codegen.nest import NestEmitter
from funcad.codegen.rewrite import cse_jaxpr, fold_index_ops, inline_calls
from funcad.codegen.scalar_rules import literal
from funcad.codegen.scalarise import scalarise_loops
from funcad.config import config
from funcad.ir import ClosedJaxpr, Jaxpr, Lit, Var, _var_name
from funcad.lowering import Control, Index, Opaque


class Lowered:
    """Generated source and what a caller must pass to it.

    Attributes: ``source`` (module text), ``fn_name``, ``dims`` (int64 array for ``__dims``),
    ``lits`` (float64 array for ``__lits``), ``extra_consts`` (arrays to pass after the
    jaxpr's inputs), ``tail`` (what to pass after those), ``jaxpr`` (after the rewrites).
    """

    def __init__(self, source, fn_name, dims, lits, extra_consts, jaxpr):
        self.source = source
        self.fn_name = fn_name
        self.dims = dims
        self.lits = lits
        # what to pass after the jaxpr's inputs and the extra constants
        self.tail = tuple(a for a in (dims, lits) if a.size)
        self.extra_consts = extra_consts
        self.jaxpr = jaxpr

    def __repr__(self):
        return f"Lowered({self.fn_name})"


def has_lowering(prim) -> bool:
    """Whether the code generator can lower ``prim`` (or inlines it)."""
    return prim.lowering is not None



def _fmt_param(v) -> str:
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    if isinstance(v, (ClosedJaxpr, Jaxpr)):
        return "{...}"
    if isinstance(v, tuple) and any(isinstance(x, (ClosedJaxpr, Jaxpr)) for x in v):
        return "(" + ", ".join(_fmt_param(x) for x in v) + ")"
    if callable(v):
        return getattr(v, "__name__", "fn")
    return repr(v)


# params holding extents or offsets (shown by their __dims names, like the code uses them)
_SHAPE_PARAMS = frozenset({"shape", "new_sizes", "start_indices", "limit_indices", "strides",
                           "slice_sizes", "padding_config", "length"})


def _nested_ints(v, dim) -> str:
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_nested_ints(x, dim) for x in v)
        return f"({inner}{',' if len(v) == 1 else ''})"
    return dim(v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else repr(v)


_PLAIN_F = frozenset({0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5})   # -0.0 == 0.0 here
_PLAIN_I = frozenset({0, 1, -1, 2})


class _Function:
    """What every (sub-)jaxpr lowered into one generated function shares: the emitter, the
    dims and literal tables, imports, variable names and constants passed as arguments."""

    def __init__(self):
        self.em = Emitter()
        self.dims: dict = {}
        self.lits: dict = {}
        self.imports: set = set()
        self.modules: set = set()      # modules a rule imports (``ctx.import_module``)
        self.n_names = 0
        self.extra_args: list = []     # (name, value): constants of inner jaxprs
        self.uses_prange = False
        self.kernel_sites = 0          # inlined fastmath calls written (see nest.KERNEL_BUDGET)

    def new_name(self) -> str:
        name = safe_name(_var_name(self.n_names))
        self.n_names += 1
        return name


class LoopScope:
    """Where the arrays a loop body allocates live: ``slot``, the loop's preamble (so each is
    allocated once, not once per iteration), and ``parity``, a local the loop flips every
    iteration. A body value that outlives its iteration (a new carry, or an array viewing one)
    gets two buffers, used in alternate iterations (``double``); with ``double=False`` (the
    forward sweep of ``while_transpose``, which keeps every state; ``while_sweeps`` keeps its
    records in lists of fresh arrays instead) it is allocated in place.
    In nested loops the preamble is the outermost loop's (``slot``); the two buffers of a
    carry go there too (``carry_slot``) unless the inner loop's result outlives an iteration
    of the outer one."""

    def __init__(self, slot, parity: str, double: bool = True, carry_slot=None,
                 parity_slots=()):
        self.slot = slot
        self.parity = parity
        self.double = double
        self.carry_slot = slot if carry_slot is None else carry_slot
        self.parity_slots = list(parity_slots)   # (slot, line): written once parity is used

    def use_parity(self) -> str:
        for slot, line in self.parity_slots:
            slot.line(line)
        self.parity_slots = []
        return self.parity


def _escaping(jaxpr: Jaxpr, plan, outs) -> set:
    """``outs`` and every variable whose buffer one of them may share. An opaque rule declared
    ``fresh`` writes new arrays, so an escaping output does not make its inputs escape;
    everything else (reshape views, scatter reusing its operand, control flow passing operands
    through) is assumed to alias its inputs."""
    esc = {v for v in outs if type(v) is Var}
    for eqn in reversed(jaxpr.eqns):
        if not any(o in esc for o in eqn.outvars):
            continue
        lw = eqn.prim.lowering
        if plan.kind[eqn] != OPAQUE or (type(lw) is Opaque and lw.fresh):
            continue
        esc.update(a for a in eqn.inputs if type(a) is Var)
    return esc


class Lowerer:
    """Lowers one (inlined) jaxpr; also the ``ctx`` handed to array rules.

    A control-flow rule lowers its inner jaxprs with :meth:`lower_inline`, which writes them
    at the current position of the same function (inside an ``if`` or a loop). Inside a loop
    (``loop``, a :class:`LoopScope`), :meth:`alloc` hoists allocations into the loop's
    preamble; ``escaping`` flags the outputs that outlive an iteration."""

    def __init__(self, jaxpr: Jaxpr, fn_name: str, parallel: bool, fast: bool,
                 fn: _Function | None = None, in_exprs: list | None = None,
                 loop: LoopScope | None = None, escaping=None):
        self.jaxpr = jaxpr
        self.fn_name = fn_name
        self.parallel = parallel
        self.fast = fast
        self.fn = fn = fn or _Function()
        self.em = fn.em
        self.dims = fn.dims
        self.lits = fn.lits
        self.imports = fn.imports
        self.names: dict = {}
        if in_exprs is not None:
            self.names.update(zip(jaxpr.invars, in_exprs))
        for v in list(jaxpr.invars) + [o for e in jaxpr.eqns for o in e.outvars]:
            if v not in self.names:
                self.names[v] = fn.new_name()
        self.plan = plan_fusion(jaxpr)
        self.inputs = set(jaxpr.invars)
        self.outputs = {v for v in jaxpr.outvars if type(v) is Var}
        self.uses: dict = {}
        for eqn in jaxpr.eqns:
            for a in eqn.inputs:
                if type(a) is Var:
                    self.uses[a] = self.uses.get(a, 0) + 1
        self.fresh_arrays: set = set()  # arrays we allocated that nothing else views
        # a rule that copies its operands into places of its output (concatenate) writes
        # nothing for an operand used only by it: the operand is computed straight into its
        # place (a view), which is allocated when the first operand is
        self.concat_dest: dict = {}
        for eqn in jaxpr.eqns:
            lw = eqn.prim.lowering
            if type(lw) is not Opaque or lw.places is None:
                continue
            for x, (off, d) in zip(eqn.inputs, lw.places(eqn)):
                if (type(x) is Var and self.uses.get(x) == 1 and x not in self.outputs
                        and x not in self.inputs):
                    self.concat_dest[x] = (eqn.outvars[0], off, d)
        self.allocated: set = set()
        self.views: set = set()    # operands of a concatenate living in its output
        self.loop = loop
        flags = escaping if escaping is not None else [True] * len(jaxpr.outvars)
        self.escaping = (_escaping(jaxpr, self.plan, [v for v, f in zip(jaxpr.outvars, flags)
                                                      if f]) if loop is not None else set())

    @property
    def uses_prange(self) -> bool:
        return self.fn.uses_prange

    @uses_prange.setter
    def uses_prange(self, value: bool) -> None:
        self.fn.uses_prange = value

    # -- the ctx API for rules ---------------------------------------------------------------
    def import_module(self, module: str) -> None:
        """Import ``module`` at the top of the generated file (``import numba`` for an
        object-mode block)."""
        self.fn.modules.add(module)

    def fresh(self, prefix: str) -> str:
        return self.em.fresh(prefix)

    def dim(self, n: int) -> str:
        """Source for the integer ``n`` (an extent, offset, ...), read from ``__dims``."""
        n = int(n)
        k = self.dims.setdefault(n, len(self.dims))
        return f"__n{k}"

    def literal_atom(self, a) -> str:
        """A literal of the jaxpr. Common constants are written into the text; others (often
        derived from shapes, like the 1/n of a mean) are read from ``__dims`` (integers) or
        ``__lits`` (floats), so that they do not change the text either."""
        dt, v = a.aval.dtype, a.val
        if dt.kind == "c":
            return literal(v, dt)
        if dt == np.bool_ or (dt.kind == "f" and (not np.isfinite(v) or float(v) in _PLAIN_F)) \
                or (dt.kind != "f" and int(v) in _PLAIN_I):
            return literal(v, dt)
        if dt.kind != "f":
            return self.cast(self.dim(int(v)), dt)
        k = self.lits.setdefault((dt, float(v)), len(self.lits))
        return f"__lit{k}"

    def shape(self, shape) -> str:
        parts = [self.dim(s) for s in shape]
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"

    @staticmethod
    def dtype(dt) -> str:
        return f"np.{np.dtype(dt).name}"

    @staticmethod
    def lit(value, dt) -> str:
        return literal(value, dt)

    def name(self, a) -> str:
        """A materialized atom: an array name, a scalar name or a literal."""
        if type(a) is Lit:
            return self.literal_atom(a)
        return self.names[a]

    def out(self, v) -> str:
        return self.names[v]

    def read(self, a, idx) -> str:
        """Element ``idx`` (strings) of a materialized atom."""
        if type(a) is Lit or a.aval.ndim == 0:
            return self.name(a)
        return f"{self.name(a)}[{', '.join(idx)}]"

    def store(self, v, idx, expr: str) -> None:
        """Write ``expr`` to element ``idx`` of ``v`` (rank 0: assign the scalar)."""
        if v.aval.ndim == 0:
            self.em.line(f"{self.names[v]} = {self.cast(expr, v.aval.dtype)}")
        else:
            self.em.line(f"{self.names[v]}[{', '.join(idx)}] = {expr}")

    @staticmethod
    def cast(expr: str, dt) -> str:
        dt = np.dtype(dt)
        if dt in (np.float32, np.int32, np.complex64) and not expr.startswith(f"np.{dt.name}("):
            return f"np.{dt.name}({expr})"
        return expr

    def alloc(self, v, fill=None) -> None:
        """Allocate the array of ``v`` (nothing for rank 0 unless ``fill``). In a loop body
        the allocation goes to the loop's preamble (see :class:`LoopScope`)."""
        a = v.aval
        if a.ndim == 0:
            if fill is not None:
                self.em.line(f"{self.names[v]} = {fill}")
            return
        self.allocated.add(v)
        dest = self.concat_dest.get(v)
        if dest is not None and fill is None:
            out, off, d = dest
            if out not in self.allocated:
                self.alloc(out)
            rng = f"{self.dim(off)}:{self.dim(off + a.shape[d])}" if off else \
                f":{self.dim(a.shape[d])}"
            self.em.line(f"{self.names[v]} = {self.names[out]}[{':, ' * d}{rng}]")
            self.views.add(v)
            return
        loop = self.loop
        if loop is not None and (v not in self.escaping or loop.double):
            name = self.names[v]
            new = f"np.empty({self.shape(a.shape)}, {self.dtype(a.dtype)})"
            if v in self.escaping:   # two buffers, alternating with the loop's parity
                b0, b1 = self.fresh("buf"), self.fresh("buf")
                loop.carry_slot.line(f"{b0} = {new}")
                loop.carry_slot.line(f"{b1} = {new}")
                self.em.line(f"{name} = {b0} if {loop.use_parity()} else {b1}")
            else:
                loop.slot.line(f"{name} = {new}")
            if fill is not None:
                self.em.line(f"{name}.fill({fill})")
            self.fresh_arrays.add(v)
            return
        if fill is None:
            self.em.line(f"{self.names[v]} = np.empty({self.shape(a.shape)}, "
                         f"{self.dtype(a.dtype)})")
        else:
            self.em.line(f"{self.names[v]} = np.full({self.shape(a.shape)}, {fill}, "
                         f"{self.dtype(a.dtype)})")
        self.fresh_arrays.add(v)

    def reusable(self, a, eqn) -> bool:
        """May ``eqn`` overwrite the buffer of its input ``a`` (its only use, not an input or
        output of the function, not viewed by anything else)?"""
        return (type(a) is Var and a in self.fresh_arrays and self.uses.get(a) == 1
                and a not in self.outputs and a not in self.inputs
                and sum(1 for x in eqn.inputs if x is a) == 1)

    def is_input(self, a) -> bool:
        return a in self.inputs

    @contextlib.contextmanager
    def loops(self, shape, first: int = 0, parallel: bool = False) -> Iterator[list]:
        """Nested ``for`` loops over ``shape``; yields the index names. With ``parallel``
        (and ``jit(..., parallel=True)``) the outermost loop is a ``prange``."""
        names = [f"i{first + k}" for k in range(len(shape))]
        with contextlib.ExitStack() as stack:
            for k, (n, s) in enumerate(zip(names, shape)):
                rng = "range"
                if k == 0 and parallel and self.parallel:
                    rng = "prange"
                    self.uses_prange = True
                stack.enter_context(self.em.block(f"for {n} in {rng}({self.dim(s)}):"))
            yield names

    def index(self, term) -> str:
        tag = term[0]
        if tag == "i":
            return f"i{term[1]}"
        if tag == "0":
            return "0"
        if tag == "rev":
            return f"({self.dim(term[1])} - 1 - {self.index(term[2])})"
        _, start, stride, t = term
        s = self.index(t)
        if s == "0":   # element `start` (a unit slice)
            return self.dim(start) if start else "0"
        if stride != 1:
            s = f"{s} * {self.dim(stride)}"
        return f"({self.dim(start)} + {s})" if start else s

    def comment(self, eqn) -> None:
        """``# c:f64[__n0] = sin b``: the equation as the jaxpr printer shows it, with
        extents and shape-derived constants by the names the code uses (so the comment, like
        the code, does not change with the shape)."""
        outs = " ".join(f"{self.names[v]}:{self.aval_text(v.aval)}" for v in eqn.outvars)
        params = ""
        if eqn.params:
            params = "[" + " ".join(f"{k}={self.param_text(k, v)}"
                                    for k, v in eqn.params.items()) + "]"
        args = " ".join(self.name(a) if type(a) is Var else
                        f"{self.literal_atom(a)}:{self.aval_text(a.aval)}" for a in eqn.inputs)
        self.em.comment(f"{outs} = {eqn.prim.name}{params} {args}".rstrip())

    def aval_text(self, aval) -> str:
        short = aval.str_short()
        return short[:short.index("[")] + "[" + ",".join(self.dim(d) for d in aval.shape) + "]"

    def param_text(self, k, v) -> str:
        if k in _SHAPE_PARAMS:
            return _nested_ints(v, self.dim)
        return _fmt_param(v)

    # -- driver ----------------------------------------------------------------------------
    def run_body(self) -> list:
        """Emit every group; return the source of the outputs."""
        for group in self.plan.groups:
            if isinstance(group, Nest):
                NestEmitter(self, group).emit()
            else:
                self.emit_single(group.eqn)
        return [self.name(a) for a in self.jaxpr.outvars]

    def run(self) -> str:
        outs = self.run_body()
        self.em.line(f"return ({', '.join(outs)}{',' if len(outs) == 1 else ''})")
        return self.assemble()

    def lower_inline(self, closed: ClosedJaxpr, in_exprs: list, loop: LoopScope | None = None,
                     escaping=None) -> list:
        """Write ``closed`` here, reading its inputs from ``in_exprs`` (names or literals);
        returns the source of its outputs. Its constants become arguments of the function.

        ``loop``: ``closed`` is the body of a new loop (default: it runs in this jaxpr's loop,
        if any, like a branch); ``escaping``: which of its outputs outlive a loop iteration
        (default: all of them)."""
        jaxpr, extra = inline_calls(closed.jaxpr)
        consts = list(closed.consts) + list(extra)
        jaxpr = Jaxpr([], list(jaxpr.constvars) + list(jaxpr.invars), jaxpr.eqns,
                      jaxpr.outvars)
        names = []
        for c in consts:
            name = f"__const{len(self.fn.extra_args)}"
            self.fn.extra_args.append((name, c))
            names.append(name)
        n_const = len(jaxpr.invars) - len(in_exprs) - len(extra)
        names = names[:n_const] + list(in_exprs) + names[n_const:]
        jaxpr = fold_index_ops(cse_jaxpr(jaxpr))
        child = Lowerer(jaxpr, self.fn_name, False, self.fast, self.fn, names,
                        loop=loop if loop is not None else self.loop, escaping=escaping)
        return child.run_body()

    def loop_scope(self, eqn, double: bool = True) -> LoopScope:
        """A :class:`LoopScope` for the loop of ``eqn`` about to be written here: call it
        right before the loop's header, and flip the parity first thing in the body
        (``flip``)."""
        parity = self.fresh("par")
        here = self.em.slot()
        init = [(here, f"{parity} = 0")]
        outer = self.loop
        if outer is None:
            return LoopScope(here, parity, double, parity_slots=init)
        kept = any(o in self.escaping for o in eqn.outvars)
        return LoopScope(outer.slot, parity, double, here if kept else outer.slot, init)

    def flip(self, scope: LoopScope) -> None:
        """Where the loop body starts: the parity flips here (if a buffer uses it)."""
        scope.parity_slots.append((self.em.slot(), f"{scope.parity} = 1 - {scope.parity}"))

    def emit_single(self, eqn) -> None:
        self.comment(eqn)
        prim = eqn.prim
        lw = prim.lowering
        if type(lw) in (Opaque, Control):
            lw.rule(self, eqn)
        elif type(lw) is Index and lw.opaque is not None:   # not fusible here
            lw.opaque(self, eqn)
        else:
            raise NotImplementedError(
                f"jit: the code generator has no rule for primitive '{prim.name}'. Call this "
                f"function without jit (or set funcad.config.update('disable_jit', True)), or "
                f"declare the primitive's `lowering` (see funcad/lowering.py).")

    def assemble(self) -> str:
        head = Emitter()
        head.line('"""Generated by funcad.codegen from a jaxpr; see the comments for the IR."""')
        head.line("import math")
        if any("cmath." in line for line in self.em.flat_lines()):
            head.line("import cmath")  # complex functions (math's take only reals)
        head.line("import numpy as np")
        for m in sorted(self.fn.modules):
            head.line(f"import {m}")
        if self.uses_prange:
            head.line("from numba import prange")
        if self.imports:
            head.line(f"from funcad.codegen.fastmath import {', '.join(sorted(self.imports))}")
        head.line()
        head.line()
        params = ([self.names[v] for v in self.jaxpr.invars]
                  + [n for n, _ in self.fn.extra_args] + (["__dims"] if self.dims else [])
                  + (["__lits"] if self.lits else []))
        with head.block(f"def {self.fn_name}({', '.join(params)}):"):
            for n, k in self.dims.items():
                head.line(f"__n{k} = __dims[{k}]")
            for (dt, v), k in self.lits.items():
                head.line(f"__lit{k} = {self.cast(f'__lits[{k}]', dt)}")
            for line in self.em.flat_lines():
                head.lines.append(head.depth * "    " + line if line else "")
        return head.source()


def _ascii_name(name: str) -> str:
    """``name`` as an ASCII identifier for the generated ``def``: a function may be called
    ``f²``, ``ﬁ`` (which Python reads as ``fi``) or ``<lambda>``, or be a partial whose
    ``__name__`` is its class's."""
    return re.sub(r"[^0-9A-Za-z_]", "_", name.strip("<>"))


def lower_jaxpr(jaxpr: Jaxpr, *, name: str = "fn", parallel: bool = False,
                exact_math: bool | None = None) -> Lowered:
    """Generate the source of one function computing ``jaxpr`` (which must have no
    constvars: pass constants as leading inputs)."""
    if jaxpr.constvars:
        raise ValueError("lower_jaxpr: move the constvars of the jaxpr to its invars first")
    if exact_math is None:
        exact_math = bool(config.exact_math)
    jaxpr, extra = inline_calls(jaxpr)
    jaxpr = fold_index_ops(cse_jaxpr(scalarise_loops(cse_jaxpr(jaxpr))))
    fn_name = "jit_" + (_ascii_name(name) if name else "fn")
    low = Lowerer(jaxpr, fn_name, parallel, fast=not exact_math)
    source = low.run()
    extra = list(extra) + [c for _, c in low.fn.extra_args]
    dims = np.array(list(low.dims), dtype=np.int64)
    lits = np.array([v for _, v in low.lits], dtype=np.float64)
    lowered = Lowered(source, fn_name, dims, lits, extra, jaxpr)
    lowered.parallel = low.uses_prange   # compile with parallel=True only if it helps
    return lowered
