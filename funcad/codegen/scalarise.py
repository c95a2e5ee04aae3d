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
keeps in registers. The per-primitive element rules live in :mod:`funcad.codegen.
element_rules`. Equations whose operands are all literals are folded by the primitive's
``impl``, and ``x * 1``, ``x + 0`` are dropped where that is exact (see ``identity``).

The price: the element count of a small array in a loop is written into the text (one local
per element), so such a loop compiles again when that size changes. Everything outside loops
keeps the shape-free text.
"""
from __future__ import annotations

import numpy as np

from funcad.codegen.element_rules import ACCEPT, RULES, elementwise, prims, scalar_aval
from funcad.codegen.fuse import ELEMENTWISE, classify
from funcad.codegen.rewrite import inline_calls
from funcad.codegen.scalar_rules import SCALAR_RULES
from funcad.core import ShapedArray
from funcad.ir import ClosedJaxpr, Eqn, Jaxpr, Lit, Var

SMALL = 16                 # arrays of at most this many elements are scalarised in loops
_LOOPS = frozenset({"scan", "while", "while_transpose"})
_CONTROL = _LOOPS | {"cond"}
_IDENTITY_OPS = frozenset({"add", "sub", "mul"})


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
    name = eqn.prim.name
    if in_loop and any(type(a) is Var and is_small(a.aval) for a in eqn.inputs):
        return True
    if in_loop and any(is_small(v.aval) for v in eqn.outvars):
        return True
    if name not in _CONTROL:
        return False
    inner = in_loop or name in _LOOPS
    return any(_has_small_loop(e, inner) for j in _bodies(eqn) for e in j.jaxpr.eqns)


def _bodies(eqn) -> list:
    p = eqn.params
    name = eqn.prim.name
    if name == "scan":
        return [p["jaxpr"]]
    if name == "while":
        return [p["cond_jaxpr"], p["body_jaxpr"]]
    if name == "while_transpose":
        return [p["cond_jaxpr"], p["fwd_jaxpr"], p["bwd_jaxpr"]]
    return list(p["branches"])


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
            name = eqn.prim.name
            if name in _CONTROL and _rewrite_control(self, eqn):
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
            _, sh = prims()
            e = np.empty(aval.shape, object)
            ones = (1,) * aval.ndim
            for idx in np.ndindex(aval.shape):
                (s,) = self.emit(sh.slice_p, [arr], [aval.update(shape=ones)],
                                 dict(start_indices=idx,
                                      limit_indices=tuple(i + 1 for i in idx),
                                      strides=ones))
                (e[idx],) = self.emit(sh.squeeze_p, [s], [scalar_aval(aval.dtype)],
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
        ew, sh = prims()
        shape = tuple(lead) + parts.shape
        bd = tuple(range(len(lead)))
        cache: dict = {}

        def spread(atom):
            key = id(atom)
            if key not in cache:
                (cache[key],) = self.emit(sh.broadcast_in_dim_p, [atom],
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
            (i,) = self.emit(sh.iota_p, [], [idx_aval],
                             dict(dtype=np.dtype(np.int64), shape=shape,
                                  dimension=len(lead) + d))
            if stride != 1:
                (i,) = self.emit(ew.mul_p, [i, Lit(np.int64(stride))], [idx_aval], {})
            if index is not None:
                (i,) = self.emit(ew.add_p, [i, index], [idx_aval], {})
            index = i
            stride *= parts.shape[d]
        cases = [spread(x) for x in flat]
        (out,) = self.emit(ew.select_n_p, [index] + cases, [ShapedArray(shape, dtype)], {})
        return out

    # -- scalar equations --------------------------------------------------------------------
    def scalar(self, prim, atoms: list, dtype, params=None):
        """One rank-0 equation (folded when every operand is a literal)."""
        params = params or {}
        if all(type(a) is Lit for a in atoms):
            with np.errstate(all="ignore"):
                val = prim.impl(*[np.asarray(a.val) for a in atoms], **params)
            return Lit(np.asarray(val, dtype)[()], scalar_aval(dtype))
        name = prim.name
        if name in _IDENTITY_OPS:
            same = self.identity(name, atoms, np.dtype(dtype))
            if same is not None:
                return same
        if prim.name == "select_n" and type(atoms[0]) is Lit:
            k = int(atoms[0].val)
            cases = atoms[1:]
            if atoms[0].aval.dtype == np.bool_:
                return cases[1] if k else cases[0]
            return cases[min(max(k, 0), len(cases) - 1)]
        (v,) = self.emit(prim, atoms, [scalar_aval(dtype)], params)
        if np.dtype(dtype).kind == "f" and (
                (name == "add" and any(map(self.never_negzero, atoms)))
                or (name == "sub" and self.never_negzero(atoms[0]))):
            self.no_negzero.add(v)
        return v

    # Exact peepholes. Transposed slices and pads add literal zeros (``ct + 0.0``), and one
    # long chain of them is the critical path of a reverse loop. ``x + 0.0`` is ``x`` except
    # for ``x == -0.0`` (it gives +0.0), so it is dropped only where ``x`` cannot be -0.0: a
    # sum with an operand that is not -0.0 is never -0.0 (round to nearest), so in
    # ``((x + 0.0) + 0.0) + y`` only the first zero stays.
    def never_negzero(self, a) -> bool:
        if type(a) is Lit:
            v = a.val
            return not (v == 0 and np.signbit(v)) if a.aval.dtype.kind == "f" else True
        return a in self.no_negzero

    def identity(self, name, atoms, dt):
        """The operand that ``x + 0``, ``x - 0`` or ``x * 1`` equals exactly, or None."""
        a, b = atoms
        if name == "mul":
            for x, y in ((a, b), (b, a)):
                if type(y) is Lit and y.val == 1 and dt.kind in "fiu":
                    return x
            return None
        float_ = dt.kind == "f"
        for x, y in ((a, b), (b, a)) if name == "add" else ((a, b),):
            if type(y) is not Lit or y.val != 0 or dt.kind not in "fiu":
                continue
            neg = float_ and bool(np.signbit(y.val))
            # x + (-0.0) == x; x - (+0.0) == x; x + (+0.0), x - (-0.0) need x != -0.0
            if not float_ or neg == (name == "add") or self.never_negzero(x):
                return x
        return None

    def choose(self, index, options: list, dtype):
        """``options[clip(index)]`` for a rank-0 integer atom (select_n clips, as gather and
        dynamic_slice clamp)."""
        if all(o is options[0] for o in options):
            return options[0]
        ew, _ = prims()
        return self.scalar(ew.select_n_p, [index] + list(options), dtype)


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
    name = eqn.prim.name
    rule = RULES.get(name)
    if rule is None:
        if eqn.prim.multiple_results or classify(eqn, SCALAR_RULES) != ELEMENTWISE:
            return False
        rule = elementwise
    accept = ACCEPT.get(name)
    if accept is not None and not accept(eqn):
        return False
    outs = rule(rw, eqn, [rw.elements(a) for a in eqn.inputs])
    for v, e in zip(eqn.outvars, outs):
        assert e.shape == v.aval.shape, (name, e.shape, v.aval.shape)
        rw.elems[v] = e
    return True


# ---------------------------------------------------------------------------------------------
# Control flow: bodies are rewritten with small operands passed as elements

def _flat_in(rw, atoms: list, split: list) -> list:
    out = []
    for a, s in zip(atoms, split):
        out.extend(rw.elements(a).flat if s else [rw.array(a)])
    return out


def _outs(rw, outvars: list, split: list, lead: tuple = ()) -> list:
    """New output vars for ``outvars`` (elements of split ones) registered in ``rw``."""
    new = []
    for v, s in zip(outvars, split):
        if not s:
            nv = Var(v.aval)
            rw.atoms[v] = nv
            new.append(nv)
            continue
        shape = v.aval.shape[len(lead):]
        e = np.empty(shape, object)
        for idx in np.ndindex(*shape):
            e[idx] = Var(ShapedArray(lead, v.aval.dtype))
            new.append(e[idx])
        if lead:
            rw.stacked[v] = (e, lead)
        else:
            rw.elems[v] = e
    return new


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
    """Rewrite a control-flow equation (and its bodies); False to treat it as any other."""
    name = eqn.prim.name
    if name == "cond" and not rw.in_loop:
        split = lambda avals: [False] * len(avals)  # noqa: E731 - top level: keep arrays
    else:
        split = lambda avals: [is_small(a) for a in avals]  # noqa: E731
    if not _has_small_loop(eqn, rw.in_loop):
        return False
    p = eqn.params
    ins = eqn.inputs
    if name == "cond":
        index, ops = ins[0], ins[1:]
        s_in = split([a.aval for a in ops])
        s_out = split([v.aval for v in eqn.outvars])
        branches = [rewrite_body(b, s_in, s_out, rw.in_loop) for b in p["branches"]]
        if any(b is None for b in branches):
            return False
        new_ins = [rw.array(index)] + _flat_in(rw, ops, s_in)
        outs = _outs(rw, eqn.outvars, s_out)
        rw.eqns.append(Eqn(eqn.prim, new_ins, outs, dict(p, branches=tuple(branches))))
        return True
    if name == "scan":
        nc, nk, length = p["num_consts"], p["num_carry"], p["length"]
        body = p["jaxpr"]
        n_x = len(ins) - nc - nk
        s_c = split([a.aval for a in ins[:nc]])
        s_k = split([a.aval for a in ins[nc:nc + nk]])
        s_y = split(body.out_avals[nk:])
        new = rewrite_body(body, s_c + s_k + [False] * n_x, s_k + s_y)
        if new is None:
            return False
        consts = _flat_in(rw, ins[:nc], s_c)
        carry = _flat_in(rw, ins[nc:nc + nk], s_k)
        xs = [rw.array(a) for a in ins[nc + nk:]]
        outs = _outs(rw, eqn.outvars[:nk], s_k) + _outs(rw, eqn.outvars[nk:], s_y, (length,))
        rw.eqns.append(Eqn(eqn.prim, consts + carry + xs, outs,
                           dict(p, jaxpr=new, num_consts=len(consts), num_carry=len(carry))))
        return True
    if name == "while":
        nc, nb = p["cond_nconsts"], p["body_nconsts"]
        s_cc = split([a.aval for a in ins[:nc]])
        s_bc = split([a.aval for a in ins[nc:nc + nb]])
        s_k = split([a.aval for a in ins[nc + nb:]])
        cond = rewrite_body(p["cond_jaxpr"], s_cc + s_k, [False])
        body = rewrite_body(p["body_jaxpr"], s_bc + s_k, s_k)
        if cond is None or body is None:
            return False
        cc = _flat_in(rw, ins[:nc], s_cc)
        bc = _flat_in(rw, ins[nc:nc + nb], s_bc)
        carry = _flat_in(rw, ins[nc + nb:], s_k)
        outs = _outs(rw, eqn.outvars, s_k)
        rw.eqns.append(Eqn(eqn.prim, cc + bc + carry, outs,
                           dict(p, cond_jaxpr=cond, body_jaxpr=body, cond_nconsts=len(cc),
                                body_nconsts=len(bc))))
        return True
    # while_transpose: operands cond consts, fwd consts, bwd consts, states, backward carries
    nc, nf, nb = p["cond_nconsts"], p["fwd_nconsts"], p["bwd_nconsts"]
    n_s = len(p["fwd_jaxpr"].out_avals)
    groups, start = [], 0
    for n in (nc, nf, nb, n_s, len(ins) - nc - nf - nb - n_s):
        groups.append(ins[start:start + n])
        start += n
    s_cc, s_fc, s_bc, s_s, s_b = (split([a.aval for a in g]) for g in groups)
    cond = rewrite_body(p["cond_jaxpr"], s_cc + s_s, [False])
    fwd = rewrite_body(p["fwd_jaxpr"], s_fc + s_s, s_s)
    bwd = rewrite_body(p["bwd_jaxpr"], s_bc + s_s + s_b, s_b)
    if cond is None or fwd is None or bwd is None:
        return False
    flat = [_flat_in(rw, g, s) for g, s in zip(groups, (s_cc, s_fc, s_bc, s_s, s_b))]
    outs = _outs(rw, eqn.outvars, s_b)
    rw.eqns.append(Eqn(eqn.prim, [a for g in flat for a in g], outs,
                       dict(p, cond_jaxpr=cond, fwd_jaxpr=fwd, bwd_jaxpr=bwd,
                            cond_nconsts=len(flat[0]), fwd_nconsts=len(flat[1]),
                            bwd_nconsts=len(flat[2]))))
    return True
