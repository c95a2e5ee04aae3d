"""Small arrays inside loops become scalar locals: a jaxpr-to-jaxpr rewrite before codegen.

In a loop body an array of a few elements (the ``(3,)`` state of an ODE, a 2x2 rotation) costs
far more to allocate and to loop over than to compute with: each iteration of ``s + dt *
stack([...])`` would call ``np.empty`` several times and run loops of length 1 and 3. So before
code generation :func:`scalarise_loops` rewrites every ``scan``, ``while`` and
``while_transpose`` (and the ``cond``\\ s and loops nested in their bodies):

* an array of at most :data:`SMALL` elements in a body becomes that many rank-0 values, one
  per element (C order), and each equation on it becomes one rank-0 equation per element.
  Index equations (``slice``, ``squeeze``, ``concatenate``, ``broadcast_in_dim``, ``pad``,
  ``reshape``, ...) become no equations at all: they only rename elements. Reductions, small
  ``dot_general``\\ s, ``cumsum``, and ``gather``/``dynamic_slice``/``dynamic_update_slice``
  with traced indices (a ``select_n`` over the few positions) are written out the same way;
* a small loop carry, constant or ``ys`` row crosses the loop boundary as its elements: read
  once before the loop, and packed back into an array after it (one fused loop of
  ``select_n`` over the element positions), only if something outside needs the array;
* anything else keeps working on arrays: an equation with a large operand, or one without an
  element rule, reads its small operands as packed arrays (the slow path, as before).

The result is an ordinary jaxpr of existing primitives (so tests can evaluate it against the
original), which :mod:`funcad.codegen.lower` turns into straight-line scalar code that LLVM
keeps in registers. What to do with each equation comes from its primitive's ``lowering``
(:mod:`funcad.lowering`): elementwise kinds and reductions are written out here, index and
opaque kinds by their declared ``element`` rule (``rule(rw, eqn, ins) -> [out]``, where ``ins``
holds each operand as an object array of rank-0 atoms and the rule returns the outputs the
same way, emitting rank-0 equations through :meth:`_Rewriter.scalar` or :meth:`_Rewriter.choose`),
control flow by its ``scalarise`` rule. Equations whose operands are all literals are folded by
the primitive's ``impl``, and an elementwise kind's ``simplify`` drops ``x * 1``, ``x + 0``
where that is exact.

The price: the element count of a small array in a loop is written into the text (one local
per element), so such a loop compiles again when that size changes. Everything outside loops
keeps the shape-free text.
"""
from __future__ import annotations

import numpy as np

from funcad.codegen.rewrite import inline_calls
from funcad.core import ShapedArray
from funcad.ir import ClosedJaxpr, Eqn, Jaxpr, Lit, Var
from funcad.lowering import Control, Elementwise, Index, Opaque, Reduce
# The rewriter builds its equations from these primitives (the code generator's passes sit
# above the primitive declarations in the layer order).
from funcad.primitives.binary import add_p, mul_p
from funcad.primitives.elementwise import select_n_p
from funcad.primitives.shape import broadcast_in_dim_p, iota_p, slice_p, squeeze_p

SMALL = 16                 # arrays of at most this many elements are scalarised in loops


def scalar_aval(dtype) -> ShapedArray:
    return ShapedArray((), dtype)


def is_small(aval) -> bool:
    """Does ``aval`` become scalars inside a loop (an array of 1..SMALL elements)?"""
    return aval.ndim > 0 and 0 < aval.size <= SMALL


def _obj(atom) -> np.ndarray:
    a = np.empty((), object)
    a[()] = atom
    return a


# ---------------------------------------------------------------------------------------------
# Entry point

def scalarise_loops(jaxpr: Jaxpr) -> Jaxpr:
    """``jaxpr`` with the small arrays of its loop bodies turned into scalars (see the module
    docstring); the same jaxpr object when there is nothing to do."""
    if not any(_has_small_loop(e, False) for e in jaxpr.eqns):
        return jaxpr
    rw = _Rewriter(in_loop=False)
    for v in list(jaxpr.constvars) + list(jaxpr.invars):
        rw.atoms[v] = v
    rw.run(jaxpr.eqns)
    outs = [rw.array(a) for a in jaxpr.outvars]
    return _dce(Jaxpr(jaxpr.constvars, list(jaxpr.invars), rw.eqns, outs))


def _has_small_loop(eqn, in_loop: bool) -> bool:
    """Is there a small array in a loop body at or below ``eqn``?"""
    if in_loop and any(type(a) is Var and is_small(a.aval) for a in eqn.inputs):
        return True
    if in_loop and any(is_small(v.aval) for v in eqn.outvars):
        return True
    lw = eqn.prim.lowering
    if type(lw) is not Control or lw.scalarise is None:
        return False
    inner = in_loop or lw.loop
    return any(_has_small_loop(e, inner) for j in _bodies(eqn) for e in j.jaxpr.eqns)


def _bodies(eqn) -> list:
    """The jaxprs held in ``eqn``'s params."""
    out = []
    for v in eqn.params.values():
        for x in (v if isinstance(v, tuple) else (v,)):
            if isinstance(x, ClosedJaxpr):
                out.append(x)
    return out


def _dce(jaxpr: Jaxpr) -> Jaxpr:
    live = {a for a in jaxpr.outvars if type(a) is Var}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars):
            kept.append(eqn)
            live.update(a for a in eqn.inputs if type(a) is Var)
    kept.reverse()
    return Jaxpr(jaxpr.constvars, jaxpr.invars, kept, jaxpr.outvars)


# ---------------------------------------------------------------------------------------------
# The rewriter: each old variable is known as an array atom, as elements, or both

class _Rewriter:
    def __init__(self, in_loop: bool):
        self.in_loop = in_loop
        self.eqns: list = []
        self.atoms: dict = {}    # old var -> new atom holding the whole array
        self.elems: dict = {}    # old var -> object ndarray (its shape) of rank-0 atoms
        self.stacked: dict = {}  # old var -> (object ndarray of atoms of shape lead, lead)
        self.no_negzero: set = set()   # new float vars that cannot be -0.0

    def emit(self, prim, inputs, out_avals, params) -> list:
        outs = [Var(a) for a in out_avals]
        self.eqns.append(Eqn(prim, list(inputs), outs, dict(params)))
        return outs

    def run(self, eqns) -> None:
        for eqn in eqns:
            if type(eqn.prim.lowering) is Control and _rewrite_control(self, eqn):
                continue
            if self.in_loop and _scalarise_eqn(self, eqn):
                continue
            self.eqns.append(Eqn(eqn.prim, [self.array(a) for a in eqn.inputs], eqn.outvars,
                                 eqn.params))
            for v in eqn.outvars:
                self.atoms[v] = v

    # -- the two views of a variable ---------------------------------------------------------
    def elements(self, a) -> np.ndarray:
        """``a`` as an object array of rank-0 atoms (reading elements of an array if needed)."""
        if type(a) is Lit:
            return _obj(a)
        e = self.elems.get(a)
        if e is not None:
            return e
        arr = self.array(a)
        aval = a.aval
        if aval.ndim == 0:
            e = _obj(arr)
        else:
            e = np.empty(aval.shape, object)
            ones = (1,) * aval.ndim
            for idx in np.ndindex(aval.shape):
                (s,) = self.emit(slice_p, [arr], [aval.update(shape=ones)],
                                 dict(start_indices=idx,
                                      limit_indices=tuple(i + 1 for i in idx),
                                      strides=ones))
                (e[idx],) = self.emit(squeeze_p, [s], [scalar_aval(aval.dtype)],
                                      dict(dimensions=tuple(range(aval.ndim))))
        self.elems[a] = e
        return e

    def array(self, a):
        """``a`` as one atom (packing its elements into an array if needed)."""
        if type(a) is Lit:
            return a
        x = self.atoms.get(a)
        if x is not None:
            return x
        if a in self.stacked:
            parts, lead = self.stacked[a]
        else:
            parts, lead = self.elems[a], ()
        x = parts[()] if parts.ndim == 0 else self.pack(parts, lead, a.aval.dtype)
        self.atoms[a] = x
        return x

    def pack(self, parts: np.ndarray, lead: tuple, dtype):
        """An array of shape ``lead + parts.shape`` whose ``[..., idx]`` is ``parts[idx]`` (each
        an atom of shape ``lead``): ``select_n`` of the flat trailing index over broadcasts."""
        shape = tuple(lead) + parts.shape
        bd = tuple(range(len(lead)))
        cache: dict = {}

        def spread(atom):
            key = id(atom)
            if key not in cache:
                (cache[key],) = self.emit(broadcast_in_dim_p, [atom],
                                          [ShapedArray(shape, dtype)],
                                          dict(shape=shape, broadcast_dimensions=bd))
            return cache[key]

        flat = list(parts.flat)
        if all(x is flat[0] for x in flat):
            return spread(flat[0])
        idx_aval = ShapedArray(shape, np.int64)
        index = None
        stride = 1
        for d in range(parts.ndim - 1, -1, -1):
            (i,) = self.emit(iota_p, [], [idx_aval],
                             dict(dtype=np.dtype(np.int64), shape=shape,
                                  dimension=len(lead) + d))
            if stride != 1:
                (i,) = self.emit(mul_p, [i, Lit(np.int64(stride))], [idx_aval], {})
            if index is not None:
                (i,) = self.emit(add_p, [i, index], [idx_aval], {})
            index = i
            stride *= parts.shape[d]
        cases = [spread(x) for x in flat]
        (out,) = self.emit(select_n_p, [index] + cases, [ShapedArray(shape, dtype)], {})
        return out

    # -- scalar equations --------------------------------------------------------------------
    def scalar(self, prim, atoms: list, dtype, params=None):
        """One rank-0 equation (folded when every operand is a literal)."""
        params = params or {}
        if all(type(a) is Lit for a in atoms):
            with np.errstate(all="ignore"):
                val = prim.impl(*[np.asarray(a.val) for a in atoms], **params)
            return Lit(np.asarray(val, dtype)[()], scalar_aval(dtype))
        lw = prim.lowering
        ew = type(lw) is Elementwise
        if ew and lw.simplify is not None:
            same = lw.simplify(self, atoms, np.dtype(dtype))
            if same is not None:
                return same
        (v,) = self.emit(prim, atoms, [scalar_aval(dtype)], params)
        if (ew and lw.never_negzero is not None and np.dtype(dtype).kind == "f"
                and lw.never_negzero(self, atoms)):
            self.no_negzero.add(v)
        return v

    def never_negzero(self, a) -> bool:
        """Is the rank-0 atom ``a`` known not to be -0.0 (see the elementwise kinds'
        ``never_negzero``)?"""
        if type(a) is Lit:
            v = a.val
            return not (v == 0 and np.signbit(v)) if a.aval.dtype.kind == "f" else True
        return a in self.no_negzero

    def choose(self, index, options: list, dtype):
        """``options[clip(index)]`` for a rank-0 integer atom (select_n clips, as gather and
        dynamic_slice clamp)."""
        if all(o is options[0] for o in options):
            return options[0]
        return self.scalar(select_n_p, [index] + list(options), dtype)

    # -- for the scalarise rules of control flow -------------------------------------------
    def flat_in(self, atoms: list, split: list) -> list:
        """The operands ``atoms`` as new inputs: the elements of the ``split`` ones."""
        out = []
        for a, s in zip(atoms, split):
            out.extend(self.elements(a).flat if s else [self.array(a)])
        return out

    def outs(self, outvars: list, split: list, lead: tuple = ()) -> list:
        """New output vars for ``outvars`` (elements of the ``split`` ones, each of shape
        ``lead``: the rows of a scan's stacked outputs), registered here."""
        new = []
        for v, s in zip(outvars, split):
            if not s:
                nv = Var(v.aval)
                self.atoms[v] = nv
                new.append(nv)
                continue
            shape = v.aval.shape[len(lead):]
            e = np.empty(shape, object)
            for idx in np.ndindex(*shape):
                e[idx] = Var(ShapedArray(lead, v.aval.dtype))
                new.append(e[idx])
            if lead:
                self.stacked[v] = (e, lead)
            else:
                self.elems[v] = e
        return new

    def body(self, closed: ClosedJaxpr, split_in: list, split_out: list,
             in_loop: bool = True) -> ClosedJaxpr | None:
        """``closed`` with its ``split`` inputs/outputs passed as elements (see
        :func:`rewrite_body`)."""
        return rewrite_body(closed, split_in, split_out, in_loop)


# ---------------------------------------------------------------------------------------------
# Element rules: rule(rw, eqn, ins) -> list of object arrays (one per output)

def _scalarise_eqn(rw: _Rewriter, eqn) -> bool:
    """Write ``eqn`` element by element if every operand is small (or rank 0) and there is a
    rule; False to keep it on arrays."""
    avals = [a.aval for a in eqn.inputs if type(a) is Var] + [v.aval for v in eqn.outvars]
    if not all(a.ndim == 0 or is_small(a) for a in avals):
        return False
    if all(a.ndim == 0 for a in avals) and not all(type(rw.array(a)) is Lit
                                                    for a in eqn.inputs):
        return False    # already scalar (and not foldable): keep the equation as it is
    prim = eqn.prim
    lw = prim.lowering
    kind = type(lw)
    if kind is Elementwise and not prim.multiple_results:
        rule = _elementwise
    elif kind is Reduce:
        rule = _reduce
    elif kind in (Index, Opaque) and lw.element is not None:
        if kind is Opaque and lw.accept is not None and not lw.accept(eqn):
            return False
        rule = lw.element
    else:
        return False
    outs = rule(rw, eqn, [rw.elements(a) for a in eqn.inputs])
    for v, e in zip(eqn.outvars, outs):
        assert e.shape == v.aval.shape, (prim.name, e.shape, v.aval.shape)
        rw.elems[v] = e
    return True


# ---------------------------------------------------------------------------------------------
# Control flow: bodies are rewritten with small operands passed as elements

def rewrite_body(closed: ClosedJaxpr, split_in: list, split_out: list,
                 in_loop: bool = True) -> ClosedJaxpr | None:
    """``closed`` whose inputs/outputs flagged ``split_*`` are passed as their elements (C
    order), with its own small arrays scalarised when ``in_loop``; None if it has constants."""
    if closed.consts:
        return None
    jaxpr, extra = inline_calls(closed.jaxpr)
    if extra:
        jaxpr = closed.jaxpr
    rw = _Rewriter(in_loop)
    invars = []
    for v, s in zip(jaxpr.invars, split_in):
        if not s:
            rw.atoms[v] = v
            invars.append(v)
            continue
        e = np.empty(v.aval.shape, object)
        for idx in np.ndindex(*v.aval.shape):
            e[idx] = Var(scalar_aval(v.aval.dtype))
            invars.append(e[idx])
        rw.elems[v] = e
    rw.run(jaxpr.eqns)
    outs = []
    for o, s in zip(jaxpr.outvars, split_out):
        outs.extend(rw.elements(o).flat if s else [rw.array(o)])
    return ClosedJaxpr(_dce(Jaxpr([], invars, rw.eqns, outs)), [])


def _rewrite_control(rw: _Rewriter, eqn) -> bool:
    """Rewrite a control-flow equation (and its bodies) by its primitive's ``scalarise`` rule;
    False to treat it as any other."""
    lw = eqn.prim.lowering
    if lw.scalarise is None or not _has_small_loop(eqn, rw.in_loop):
        return False
    if not lw.loop and not rw.in_loop:
        split = lambda avals: [False] * len(avals)  # noqa: E731 - top level: keep arrays
    else:
        split = lambda avals: [is_small(a) for a in avals]  # noqa: E731
    return lw.scalarise(rw, eqn, split)


# ---------------------------------------------------------------------------------------------
# The element rules the kinds share

def _elementwise(rw, eqn, ins):
    out = eqn.outvars[0].aval
    ins = np.broadcast_arrays(*ins) if len(ins) > 1 else ins
    res = np.empty(out.shape, object)
    for idx in np.ndindex(out.shape):
        res[idx] = rw.scalar(eqn.prim, [x[idx] for x in ins], out.dtype, eqn.params)
    return [res]


def _reduce(rw, eqn, ins):
    """A reduction written as a chain of its declared ``combiner``."""
    prim = eqn.prim.lowering.combiner
    (x,) = ins
    axes = eqn.params["axes"]
    out = eqn.outvars[0].aval
    kept = [d for d in range(x.ndim) if d not in axes]
    xt = x.transpose(kept + list(axes)).reshape(out.shape + (-1,))
    res = np.empty(out.shape, object)
    for idx in np.ndindex(out.shape):
        vals = xt[idx]
        acc = vals[0]
        for v in vals[1:]:
            acc = rw.scalar(prim, [acc, v], out.dtype)
        res[idx] = acc
    return [res]
