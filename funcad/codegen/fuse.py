"""Fusion: decide which values live in memory and group equations into loop nests.

Every equation is one of four kinds, read from its primitive's ``lowering``
(:mod:`funcad.lowering`):

* **elementwise** (:class:`~funcad.lowering.Elementwise`: ``sin``, ``add``, ``select_n``, ...):
  a scalar expression of its operands at the same index (rank-0 operands are read at ``()``);
* **index** (:class:`~funcad.lowering.Index`: ``broadcast_in_dim``, ``transpose``, ``slice``,
  ``iota``, reshapes that only add or drop unit axes, ...): the element at an output index is
  an operand element at *another* index (the primitive's ``index_map``), so the op is index
  arithmetic and is never materialized unless it must be;
* **reduce** (:class:`~funcad.lowering.Reduce`): consumes an expression over its operand's
  shape;
* **opaque** (everything else: ``dot_general``, ``gather``, ``cumsum``, control flow, ...): a
  rule of its own that reads and writes whole arrays.

A value is *materialized* (an array, or a local scalar for rank 0) when it is an output, when
an opaque equation reads it, when it is the result of a reduction, or when inlining it would
compute it more than once: it is read by more than one loop nest, at two different indices,
or through a broadcast that repeats it (for instance a rank-0 ``sin`` used inside a loop).
Other values are inlined into the expressions of their consumers.

Each materialized elementwise/index value and each reduction is a *root*. Roots are grouped
into :class:`Nest` objects, one loop nest each: a root joins the latest nest with the same
iteration space (and the same reduction axes) whose position still follows everything it
reads. So a run of elementwise equations and the reduction that consumes it, or the value and
the gradient of a function, become one pass over memory. This module is purely structural; it
works on index *terms* (small tuples) that :mod:`funcad.codegen.lower` renders as text.
"""
from __future__ import annotations

from funcad.ir import Jaxpr, Lit, Var
from funcad.lowering import Elementwise, Index, Reduce

ELEMENTWISE, INDEX, REDUCE, OPAQUE = "elementwise", "index", "reduce", "opaque"

# Index terms: ("i", k) loop index k; ("0",) zero; ("rev", n, t) = n - 1 - t;
# ("lin", start, stride, t) = start + t * stride.
ZERO = ("0",)


def loop_index(k: int) -> tuple:
    return ("i", k)


def identity(rank: int) -> tuple:
    return tuple(("i", k) for k in range(rank))


def classify(eqn) -> str:
    prim = eqn.prim
    if prim.multiple_results:
        return OPAQUE
    lw = prim.lowering
    kind = type(lw)
    if kind is Elementwise:
        return ELEMENTWISE
    if kind is Reduce:
        return INDEX if not eqn.params["axes"] else REDUCE
    if kind is Index:
        return INDEX if lw.fusible is None or lw.fusible(eqn) else OPAQUE
    return OPAQUE


def cheap(eqn) -> bool:
    """An elementwise op that costs nothing worth saving: inlining it twice is free."""
    lw = eqn.prim.lowering
    return type(lw) is Elementwise and lw.cheap


def index_map(eqn, kind: str, idx: tuple) -> list:
    """The index at which each input of ``eqn`` is read to produce its output at ``idx``,
    and whether that read repeats input elements (an expanding broadcast)."""
    if kind == ELEMENTWISE:
        out_rank = eqn.outvars[0].aval.ndim
        return [(idx if a.aval.ndim else (), a.aval.ndim == 0 and out_rank > 0)
                for a in eqn.inputs]
    lw = eqn.prim.lowering
    if type(lw) is Reduce:  # axes == (): the identity
        return [(idx, False)]
    return [(tuple(flat_term(t) for t in i), e) for i, e in lw.index_map(eqn, idx)]


def flat_term(term: tuple) -> tuple:
    """``term`` with a ``rev``/``lin`` of a ``rev``/``lin`` composed into one affine term, so
    that index terms stay one level deep however many index ops are chained (``x[::-1]`` in a
    loop of 1000 steps is ``i0`` or one ``rev``, never a 1000-deep term)."""
    tag = term[0]
    if tag not in ("rev", "lin"):
        return term
    inner = term[-1]
    if inner[0] not in ("rev", "lin"):
        return term
    # both are affine maps start + stride * t: compose them
    start, stride = (term[1] - 1, -1) if tag == "rev" else (term[1], term[2])
    s2, k2 = (inner[1] - 1, -1) if inner[0] == "rev" else (inner[1], inner[2])
    start, stride, t = start + stride * s2, stride * k2, inner[-1]
    if start == 0 and stride == 1:   # (a rev of a rev)
        return t
    return ("lin", start, stride, t)


class Nest:
    """One loop nest over ``shape``; ``axes`` are the reduction axes of its reductions."""

    def __init__(self, shape: tuple, axes):
        self.shape = shape
        self.axes = axes
        self.roots: list = []     # equations, in jaxpr order

    def __repr__(self):
        return f"Nest({self.shape}, axes={self.axes}, {[e.prim.name for e in self.roots]})"


class Single:
    """An opaque equation, lowered by its own rule."""

    def __init__(self, eqn):
        self.eqn = eqn

    def __repr__(self):
        return f"Single({self.eqn.prim.name})"


class Plan:
    """The result of fusion: the groups in emission order and what lives in memory."""

    def __init__(self, jaxpr: Jaxpr):
        self.jaxpr = jaxpr
        self.kind = {eqn: classify(eqn) for eqn in jaxpr.eqns}
        self.producer = {v: eqn for eqn in jaxpr.eqns for v in eqn.outvars}
        self.materialized: set = set()
        self.groups: list = []
        self._trivial: dict = {}
        self._places: dict = {}   # inlined var -> the (group, idx) reading it, last round

    # -- helpers ---------------------------------------------------------------------------
    def fusible(self, v) -> bool:
        """Defined by an elementwise or index equation (so it may be inlined)."""
        eqn = self.producer.get(v)
        return eqn is not None and self.kind[eqn] in (ELEMENTWISE, INDEX)

    def inlined(self, v) -> bool:
        return type(v) is Var and v not in self.materialized and self.fusible(v)

    def trivial(self, v) -> bool:
        """Inlining ``v`` twice costs nothing: reads, literals and index/cheap ops of them."""
        if type(v) is Lit or not self.inlined(v):
            return True
        memo = self._trivial
        r = memo.get(v)
        if r is not None:
            return r
        # iterative post-order over the inlined vars below ``v`` (a chain of thousands of
        # equations must not recurse): a var is decided once all its operands are
        stack = [v]
        while stack:
            u = stack[-1]
            if u in memo:
                stack.pop()
                continue
            eqn = self.producer[u]
            if not (self.kind[eqn] == INDEX or cheap(eqn)):
                memo[u] = False
                stack.pop()
                continue
            todo = [a for a in eqn.inputs
                    if type(a) is Var and self.inlined(a) and a not in memo]
            if todo:
                stack.extend(todo)
                continue
            memo[u] = all(type(a) is Lit or not self.inlined(a) or memo[a]
                          for a in eqn.inputs)
            stack.pop()
        return memo[v]

    def walk(self, eqn, idx, reads: dict, deps: list, seen: set):
        """Visit the expression tree of ``eqn``'s output at ``idx``: ``deps`` gets the
        materialized (var, idx) pairs read, ``reads[v]`` the (idx, expanding) pairs of each
        inlined var. Depth first and in operand order, with an explicit stack (no recursion:
        the tree of a long chain is thousands of equations deep)."""
        stack = [self._operands(eqn, idx)]
        while stack:
            step = next(stack[-1], None)
            if step is None:
                stack.pop()
                continue
            a, (i, expanding) = step
            if type(a) is Lit:
                continue
            if not self.inlined(a):
                deps.append((a, i))
                continue
            reads.setdefault(a, []).append((i, expanding))
            if (a, i) not in seen:
                seen.add((a, i))
                stack.append(self._operands(self.producer[a], i))

    def _operands(self, eqn, idx):
        """(operand, (index it is read at, expanding)) for ``eqn``'s output at ``idx``."""
        kind = self.kind[eqn]
        pairs = [(idx, False)] if kind == REDUCE else index_map(eqn, kind, idx)
        return zip(eqn.inputs, pairs)

    # -- the fixed point -------------------------------------------------------------------
    def run(self) -> "Plan":
        jaxpr = self.jaxpr
        m = self.materialized
        m.update(v for v in jaxpr.outvars if type(v) is Var)
        for eqn in jaxpr.eqns:
            k = self.kind[eqn]
            if k in (OPAQUE, REDUCE):
                m.update(eqn.outvars)
            if k == OPAQUE:
                m.update(a for a in eqn.inputs if type(a) is Var)
        while True:
            self._trivial = {}
            extra = self._group()
            if not extra:
                return self
            # Materialize real work before cheap ops (a ``neg`` or broadcast of a stored value
            # is free to repeat), and the extras nearest to their consumers first: once
            # ``exp(x - m)`` is stored, ``x - m`` below it is read once and stays inlined.
            costly = {v for v in extra if self.kind[self.producer[v]] == ELEMENTWISE
                      and not cheap(self.producer[v])}
            pick = costly or extra
            below: set = set()
            for u in pick:
                self._inlined_below(u, below, pick)
            m.update(v for v in pick if v not in below)

    def _inlined_below(self, v, acc: set, pick: set):
        """Add to ``acc`` the picked vars below ``v`` that are read only where ``v`` is (so
        storing ``v`` may leave them read once). The walk goes through the inlined vars
        ``v``'s expression reads but stops at a pick read elsewhere too: that one is stored
        in this round anyway, and a chain of 1,000 reductions then takes one round, not
        one per reduction (each round is a pass over the whole program)."""
        places = self._places
        mine = places.get(v, set())
        stack = [a for a in self.producer[v].inputs if type(a) is Var]
        seen: set = set()
        while stack:
            a = stack.pop()
            if a in seen or not self.inlined(a):
                continue
            seen.add(a)
            if a in pick:
                if not places.get(a, set()) <= mine:
                    continue
                acc.add(a)
            stack.extend(x for x in self.producer[a].inputs if type(x) is Var)

    def _group(self) -> set:
        """Group the roots into nests; return the inlined vars that must be materialized."""
        self.groups = groups = []
        where: dict = {}          # materialized var -> index of the group producing it
        in_nest: dict = {}        # inlined var -> set of (group index, idx) reading it
        extra: set = set()
        for eqn in self.jaxpr.eqns:
            kind = self.kind[eqn]
            if kind == OPAQUE:
                groups.append(Single(eqn))
                for v in eqn.outvars:
                    where[v] = len(groups) - 1
                continue
            out = eqn.outvars[0]
            if kind != REDUCE and out not in self.materialized:
                continue
            if kind == REDUCE:
                shape, axes = eqn.inputs[0].aval.shape, eqn.params["axes"]
            else:
                shape, axes = out.aval.shape, None
            ident = identity(len(shape))
            reads: dict = {}
            deps: list = []
            self.walk(eqn, ident, reads, deps, set())
            target = None
            for g in range(len(groups) - 1, -1, -1):
                grp = groups[g]
                if isinstance(grp, Nest) and grp.shape == shape and (
                        axes is None or grp.axes is None or grp.axes == axes):
                    if all(where.get(d) != g or (self.kind[self.producer[d]] != REDUCE
                                                 and i == ident) for d, i in deps):
                        target = g
                        break
                if any(where.get(d) == g for d, _ in deps):
                    break
            if target is None:
                groups.append(Nest(shape, axes))
                target = len(groups) - 1
            nest = groups[target]
            if axes is not None:
                nest.axes = axes
            nest.roots.append(eqn)
            where[out] = target
            for v, rs in reads.items():
                for i, expanding in rs:
                    in_nest.setdefault(v, set()).add((target, i))
                    if expanding and not self.trivial(v):
                        extra.add(v)
        for v, places in in_nest.items():
            if len(places) > 1 and not self.trivial(v):
                extra.add(v)
        self._places = in_nest
        return extra


def plan_fusion(jaxpr: Jaxpr) -> Plan:
    """Classify, choose what to materialize, and group ``jaxpr``'s equations."""
    return Plan(jaxpr).run()
