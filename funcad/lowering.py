"""How the code generator lowers a primitive: a closed description, part of its declaration.

A :class:`~funcad.core.Primitive` says how ``jit`` writes it with ``lowering=`` one of the kinds
below. The code generator (``funcad/codegen/``) is machinery that reads these descriptions: it
has no table keyed by primitive name, so a primitive without a ``lowering`` has no lowering,
and the registry tests say so.

* :class:`Elementwise`: a scalar expression of the operands at the same index; fused into
  loop nests and inlined into its consumers.
* :class:`Index`: the output element at an index is an operand element at another index
  (broadcast, transpose, slice, ...): index arithmetic, never materialized unless it must be.
* :class:`Reduce`: a monoid reduction over some axes (sum, prod, max, min); fused with the
  elementwise expression it consumes.
* :class:`Opaque`: a rule of its own that reads and writes whole arrays (``dot_general``,
  ``gather``, ``cumsum``, the linear-algebra calls).
* :class:`Control`: a higher-order primitive whose inner jaxprs are written in place
  (``cond`` as ``if``, ``while``/``scan`` as loops).
* :class:`Call`: a call of a jaxpr held in a param; the code generator inlines the body.

The rule signatures are those of the machinery that calls them: ``sc`` is the scalar-expression
builder (:class:`funcad.codegen.nest.NestEmitter`), ``ctx`` the lowerer
(:class:`funcad.codegen.lower.Lowerer`), ``rw`` the small-array rewriter
(:mod:`funcad.codegen.scalarise`). This module imports nothing from funcad, so every layer
may name these kinds.
"""
from __future__ import annotations

from typing import Any, Callable

MONOIDS = ("sum", "prod", "max", "min")


class Lowering:
    """Base of the lowering kinds. Each kind has a fixed set of fields (``FIELDS``) and
    rejects unknown keywords, like the primitive declaration it is part of."""
    FIELDS: tuple = ()
    __slots__ = ()

    def __init__(self, **fields):
        unknown = set(fields) - set(self.FIELDS)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {sorted(unknown)}; "
                            f"the fields are {list(self.FIELDS)}")
        for f in self.FIELDS:
            object.__setattr__(self, f, fields.get(f, self._default(f)))

    def _default(self, field: str):
        return False if field in self._FLAGS else None

    _FLAGS: frozenset = frozenset()

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self):
        set_ = [f"{f}={getattr(self, f)!r}" for f in self.FIELDS
                if getattr(self, f) not in (None, False)]
        return f"{type(self).__name__}({', '.join(set_)})"


class Elementwise(Lowering):
    """``scalar(sc, args, avals, out, params) -> str``: the expression for one element from the
    operand expressions ``args`` (strings), the operand avals, the output aval and the params.

    cheap       Inlining the result twice costs nothing worth saving (``neg``, conversions).
    trig        The expression calls ``sc.trig("fsin"|"fcos", x)``: loop nests holding it are
                written in blocks that use the cheap bounded kernels.
    simplify    ``simplify(rw, atoms, dtype) -> atom | None``: an exact peephole on rank-0
                operands when small arrays are scalarised (``x * 1`` is ``x``).
    never_negzero  ``never_negzero(rw, atoms) -> bool``: the rank-0 result is known not to be
                -0.0 (lets ``simplify`` drop ``+ 0.0`` later in a chain).
    """
    FIELDS = ("scalar", "cheap", "trig", "simplify", "never_negzero")
    _FLAGS = frozenset({"cheap", "trig"})
    __slots__ = FIELDS

    def __init__(self, scalar: Callable, *, cheap: bool = False, trig: bool = False,
                 simplify: Callable | None = None, never_negzero: Callable | None = None):
        super().__init__(scalar=scalar, cheap=cheap, trig=trig, simplify=simplify,
                         never_negzero=never_negzero)


class Index(Lowering):
    """Pure index arithmetic.

    index_map   ``index_map(eqn, idx) -> [(src_idx, expanding), ...]``: for each operand, the
                index (a tuple of index terms, see :mod:`funcad.codegen.fuse`) it is read at to
                give the output at ``idx``, and whether the read repeats operand elements.
    element     ``element(rw, eqn, ins) -> [out]``: the same on object arrays of rank-0 atoms
                (small arrays in loops); it only rearranges atoms.
    fusible     ``fusible(eqn) -> bool``: False makes this equation opaque (``opaque`` lowers
                it), e.g. a reshape that does more than add or drop unit axes.
    opaque      ``opaque(ctx, eqn)``: the array rule used when ``fusible`` says no.
    value       ``value(low, eqn, idx) -> str``: the element itself, for a primitive with no
                operands (``iota``).
    fold        ``fold(eqn, producer) -> Eqn | None``: an exact rewrite of this equation with
                the single-use equation ``producer`` that defines its first operand (which is
                then dropped), e.g. a transposed matrix product becomes a product.
    """
    FIELDS = ("index_map", "element", "fusible", "opaque", "value", "fold")
    __slots__ = FIELDS

    def __init__(self, index_map: Callable, element: Callable, *, fusible=None, opaque=None,
                 value=None, fold=None):
        super().__init__(index_map=index_map, element=element, fusible=fusible,
                         opaque=opaque, value=value, fold=fold)


class Reduce(Lowering):
    """A reduction over ``params["axes"]`` with one of the monoids in :data:`MONOIDS` (their
    identities and accumulations are the code generator's); ``combiner`` is the binary
    primitive that combines two elements, used to write a small reduction out element by
    element. With ``axes == ()`` the reduction is the identity map."""
    FIELDS = ("monoid", "combiner")
    __slots__ = FIELDS

    def __init__(self, monoid: str, combiner: Any):
        if monoid not in MONOIDS:
            raise ValueError(f"Reduce: monoid must be one of {MONOIDS}, got {monoid!r}")
        super().__init__(monoid=monoid, combiner=combiner)


class Opaque(Lowering):
    """A rule that reads and writes whole arrays: ``rule(ctx, eqn)``. Every input is
    materialized (an array, or a scalar name for rank 0).

    fresh       The outputs are new arrays, never views of an input (an escaping output then
                does not make its inputs escape a loop iteration).
    element     ``element(rw, eqn, ins) -> [out]``: the equation on small arrays written out
                element by element (see :class:`Index`), or None to keep it on arrays.
    accept      ``accept(eqn) -> bool``: may decline ``element`` for one equation.
    places      ``places(eqn) -> [(offset, axis), ...]``: the operands are copied into
                disjoint places of the output (``concatenate``), so an operand used only here
                may be computed straight into its place.
    """
    FIELDS = ("rule", "fresh", "element", "accept", "places")
    _FLAGS = frozenset({"fresh"})
    __slots__ = FIELDS

    def __init__(self, rule: Callable, *, fresh: bool = False, element=None, accept=None,
                 places=None):
        super().__init__(rule=rule, fresh=fresh, element=element, accept=accept,
                         places=places)


class Control(Lowering):
    """A higher-order primitive written in place: ``rule(ctx, eqn)`` lowers the inner jaxprs
    with ``ctx.lower_inline``.

    loop        Its bodies run repeatedly (small arrays in them become scalars).
    scalarise   ``scalarise(rw, eqn, split) -> bool``: rewrite the equation with its bodies'
                small operands passed as elements (``split(avals)`` says which); False keeps it
                as it is.
    """
    FIELDS = ("rule", "loop", "scalarise")
    _FLAGS = frozenset({"loop"})
    __slots__ = FIELDS

    def __init__(self, rule: Callable, *, loop: bool = False, scalarise=None):
        super().__init__(rule=rule, loop=loop, scalarise=scalarise)


class Call(Lowering):
    """A call of the jaxpr in ``params[param]``: the code generator inlines its equations.
    ``skip`` names the param counting leading operands that the body does not take (the
    residuals of ``custom_lin``)."""
    FIELDS = ("param", "skip")
    __slots__ = FIELDS

    def __init__(self, param: str, *, skip: str | None = None):
        super().__init__(param=param, skip=skip)


KINDS = (Elementwise, Index, Reduce, Opaque, Control, Call)
