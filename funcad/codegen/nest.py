"""One loop nest of the generated code: loops, scalar expressions and reductions.

A :class:`~funcad.codegen.fuse.Nest` is emitted as nested ``for`` loops over its iteration
space. Each root (a stored value or a reduction) is built as one scalar expression from the
expressions of the inlined equations it reads (:meth:`NestEmitter.value`); an expression read
twice at the same index is bound to a local ``__t`` first. Reductions accumulate in a local
scalar when the reduced axes are the innermost ones (a sum is ``acc += v``, which the
``reassoc`` flag lets LLVM vectorize), or straight into the output array when a kept axis is
inner to a reduced one (``out[i1] += v``, vectorized over ``i1``). With ``parallel=True`` the
outermost loop is a ``prange`` when that is race-free: it is a kept axis, or the nest is a
full sum/product (Numba turns the scalar ``+=`` into a parallel reduction).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from funcad.codegen.fuse import INDEX, REDUCE, Nest, identity, index_map
from funcad.codegen.scalar_rules import emit_elementwise, fast_kernels, literal
from funcad.ir import Lit
from funcad.lowering import Elementwise

if TYPE_CHECKING:
    from funcad.codegen.lower import Lowerer

def _identity_value(op: str, dtype: np.dtype, empty: bool):
    if op == "sum":   # -0.0 + x == x for every float x, -0.0 included (as NumPy's sum);
        # but an empty sum is +0.0
        return -0.0 if dtype.kind == "f" and not empty else 0
    if op == "prod":
        return 1
    if dtype == np.bool_:
        return op == "min"
    if dtype.kind == "f":
        return -np.inf if op == "max" else np.inf
    if dtype.kind == "c":   # the least and greatest in NumPy's lexicographic order
        return complex(-np.inf, -np.inf) if op == "max" else complex(np.inf, np.inf)
    info = np.iinfo(dtype)
    return info.min if op == "max" else info.max


# The deepest expression written as one statement, in equations (each adds a few
# parentheses; Python's parser allows 200 levels, and its compiler and Numba's bytecode
# analysis want moderate depths too). A deeper inlined expression is bound to a local
# ``__t`` of the same loop body at this depth, and the expression goes on from there.
MAX_EXPR_DEPTH = 32
# Each call site of an inlined fastmath kernel costs LLVM 0.05-0.3 s of compile time (measured:
# a chain of 512 fast tanh compiled in 40 s, the same with libm's in 3 s; a sin site costs
# most). So a generated function inlines at most this many: later call sites use libm
# (``math.tanh``, as with ``exact_math``), exact and cheap to compile, slower to run.
KERNEL_BUDGET = 32
# The small kernels that stay cheap however many times they are called (or are not inlined).
_NOT_INLINED = frozenset({"trig_out_of_range", "fmaximum", "fminimum", "fsin_far", "fcos_far"})
# A blocked loop writes its body four times (two passes, for the blocks and for the tail):
# worth it for a small body, not for a nest of more equations than this.
BLOCKED_MAX_EQNS = 128
_BLOCK = 1024   # elements per block of a loop using the bounded sin/cos kernels
_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\(?-?[0-9.e+-]+\)?|True|False")


class NestEmitter:
    """Writes one loop nest: the scalar-expression builder (``sc`` for scalar rules)."""

    def __init__(self, low: Lowerer, nest: Nest):
        self.low = low
        self.nest = nest
        self.plan = low.plan
        self.cache: dict = {}   # (var, idx) -> its expression in the current pass
        self.depth: dict = {}   # (var, idx) -> how many equations deep that expression is
        self.counts: dict = {}
        self.trig_args = None   # a dict while writing the cheap pass of a blocked loop
        self.trig_mode = None   # "far" while writing the redo pass of a blocked loop

    # -- the sc API for scalar rules -----------------------------------------------------
    @property
    def fast(self) -> bool:
        """May a rule call the inlined fastmath kernels here? (fast math is on and the
        function has not used up :data:`KERNEL_BUDGET`)."""
        return self.low.fast and self.low.fn.kernel_sites < KERNEL_BUDGET

    def hoist(self, expr: str) -> str:
        if _SIMPLE.fullmatch(expr):
            return expr
        name = self.low.fresh("t")
        self.low.em.line(f"{name} = {expr}")
        return name

    def lit(self, value, dt) -> str:
        return literal(value, dt)

    def use(self, fn: str) -> None:
        self.low.imports.add(fn)
        if fn not in _NOT_INLINED:
            self.low.fn.kernel_sites += 1

    # -- expressions ---------------------------------------------------------------------
    def value(self, a, idx) -> str:
        """The expression for atom ``a`` at index ``idx``: a literal, a read of a stored
        value, or the inlined expression of its equation."""
        known = self._known(a, idx)
        if known is not None:
            return known
        return self._build(self.plan.producer[a], idx, (a, idx))

    def expr_of(self, eqn, idx) -> str:
        """The expression for ``eqn``'s output at index ``idx`` (its inputs by value())."""
        return self._build(eqn, idx, None)

    def _known(self, a, idx):
        """The expression for ``a`` at ``idx`` if it needs no building (a literal, a read, or
        built before in this pass), else None."""
        if type(a) is Lit:
            return self.low.literal_atom(a)
        key = (a, idx)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        if not self.plan.inlined(a):
            low = self.low
            return low.read(a, [low.index(t) for t in idx])
        return None

    def _build(self, eqn, idx, key) -> str:
        """Build the expression of ``eqn`` at ``idx`` (cached under ``key``, the (var, idx)
        it defines, unless None) bottom-up with an explicit stack: operands first, in order,
        exactly as a recursive descent would, but a chain of thousands of inlined equations
        needs no Python recursion. An expression read twice is bound to a local first
        (``counts``), and so is one :data:`MAX_EXPR_DEPTH` equations deep: deeper
        expressions become several statements of the same loop body."""
        plan = self.plan
        frames = [[eqn, idx, key, self._pairs(eqn, idx), 0]]
        while True:
            frame = frames[-1]
            e, i, k, pairs, pos = frame
            while pos < len(pairs) and self._known(*pairs[pos]) is not None:
                pos += 1
            frame[4] = pos
            if pos < len(pairs):
                x, xi = pairs[pos]
                frames.append([plan.producer[x], xi, (x, xi), self._pairs(plan.producer[x], xi),
                               0])
                continue
            frames.pop()
            expr, depth = self._compose(e, i, pairs)
            if k is not None:
                if self.counts.get(k, 0) > 1 or depth >= MAX_EXPR_DEPTH:
                    expr, depth = self.hoist(expr), 0
                self.cache[k] = expr
                self.depth[k] = depth
            if not frames:
                return expr

    def _pairs(self, eqn, idx) -> list:
        """The (operand, index) pairs the expression of ``eqn`` at ``idx`` reads."""
        if self.plan.kind[eqn] == INDEX and not eqn.inputs:   # a generator (iota)
            return []
        return [(x, i) for x, (i, _) in zip(eqn.inputs,
                                            index_map(eqn, self.plan.kind[eqn], idx))]

    def _compose(self, eqn, idx, pairs) -> tuple:
        """``eqn``'s expression at ``idx`` from its operands' (all built), and its depth in
        equations."""
        kind = self.plan.kind[eqn]
        if kind == INDEX and not eqn.inputs:   # a generator (iota)
            return eqn.prim.lowering.value(self.low, eqn, idx), 0
        args = [self._known(x, i) for x, i in pairs]
        depth = max((self.depth.get((x, i), 0) for x, i in pairs if type(x) is not Lit),
                    default=0)
        if kind == INDEX:
            return args[0], depth
        return emit_elementwise(self, eqn, args), depth + 1

    # -- the nest ------------------------------------------------------------------------
    def emit(self) -> None:
        low, nest, plan = self.low, self.nest, self.plan
        r = len(nest.shape)
        ident = identity(r)
        # count reads (for CSE) and collect the equations this nest computes (for comments)
        covered: set = set(nest.roots)
        self.reads_all: dict = {}
        for root in nest.roots:
            reads: dict = {}
            deps: list = []
            plan.walk(root, ident, reads, deps, set())
            for v, rs in reads.items():
                covered.add(plan.producer[v])
                for i, _ in rs:
                    self.counts[(v, i)] = self.counts.get((v, i), 0) + 1
            for d, i in deps:
                self.reads_all[(d, i)] = self.reads_all.get((d, i), 0) + 1
        for eqn in low.jaxpr.eqns:
            if eqn in covered:
                low.comment(eqn)
        reds = [e for e in nest.roots if plan.kind[e] == REDUCE]
        axes = set(nest.axes or ())
        t = r   # loops t..r-1 are the trailing reduced axes: they accumulate in locals
        while t > 0 and (t - 1) in axes:
            t -= 1
        direct = any(a < t for a in axes)   # some reduced axis is outside a kept one
        self.ops = {}
        for eqn in nest.roots:
            out = eqn.outvars[0]
            if plan.kind[eqn] != REDUCE:
                low.alloc(out)
                continue
            op = eqn.prim.lowering.monoid
            x = eqn.inputs[0].aval
            empty = any(x.shape[a] == 0 for a in eqn.params["axes"])
            ident_v = literal(_identity_value(op, out.aval.dtype, empty), out.aval.dtype)
            if direct:
                low.alloc(out, fill=ident_v)
            elif out.aval.ndim:
                low.alloc(out)
            self._check_empty(eqn, op)
            self.ops[eqn] = (op, ident_v)
        if t == 0 and reds and not direct:   # full reductions: the output is the accumulator
            for eqn in reds:
                low.em.line(f"{low.out(eqn.outvars[0])} = {self.ops[eqn][1]}")
        par = bool(r) and (0 not in axes or (t == 0 and bool(reds) and not direct and all(
            self.ops[e][0] in ("sum", "prod") for e in reds)))
        n_trig = sum(1 for e in covered   # complex sin/cos call cmath, never the kernels
                     if type(e.prim.lowering) is Elementwise and e.prim.lowering.trig
                     and e.outvars[0].aval.dtype.kind != "c")
        blocked = (r > 0 and self.fast and (not reds or t < r)
                   and "fsin_bounded" in fast_kernels() and 0 < n_trig
                   and low.fn.kernel_sites + 2 * n_trig <= KERNEL_BUDGET
                   and len(covered) <= BLOCKED_MAX_EQNS)
        em = low.em
        depth0 = em.depth
        names = [f"i{k}" for k in range(r)]
        acc_names: dict = {}
        for k in range(r):
            if k == t:
                for eqn in reds:
                    if t > 0:
                        acc_names[eqn] = low.fresh("acc")
                        em.line(f"{acc_names[eqn]} = {self.ops[eqn][1]}")
                    else:
                        acc_names[eqn] = low.out(eqn.outvars[0])
            rng = "prange" if k == 0 and par and low.parallel else "range"
            if k == r - 1 and blocked:
                self._blocked_loop(names, axes, t, acc_names, nest.shape[k], rng)
                break
            low.uses_prange |= rng == "prange"
            em.line(f"for {names[k]} in {rng}({low.dim(nest.shape[k])}):")
            em.depth += 1
        else:
            self._body(names, axes, t, acc_names)
        # after closing loop t, combine the trailing accumulators into the outputs
        if 0 < t < r:
            em.depth = depth0 + t
            kept = [names[j] for j in range(t) if j not in axes]
            for eqn in reds:
                out = eqn.outvars[0]
                if direct:
                    self._accumulate(self._cell(out, kept), acc_names[eqn], self.ops[eqn][0],
                                     out.aval.dtype)
                else:
                    low.store(out, kept, acc_names[eqn])
        em.depth = depth0

    def _body(self, names, axes, t, acc_names) -> None:
        """The innermost statements: store each root, accumulate each reduction."""
        low, r = self.low, len(names)
        ident = identity(r)
        self.cache = {}
        self.depth = {}
        for eqn in self.nest.roots:
            out = eqn.outvars[0]
            if self.plan.kind[eqn] == REDUCE:
                v = self.value(eqn.inputs[0], ident)
                op, dt = self.ops[eqn][0], out.aval.dtype
                if eqn in acc_names:
                    self._accumulate(acc_names[eqn], v, op, dt)
                else:   # the innermost axis is kept: accumulate in the output array
                    kept = [names[k] for k in range(r) if k not in axes]
                    self._accumulate(self._cell(out, kept), v, op, dt)
                continue
            key = (out, ident)
            expr = self.expr_of(eqn, ident)
            if self.reads_all.get(key, 0) and not _SIMPLE.fullmatch(expr):
                expr = self.hoist(expr)
            self.cache[key] = expr
            low.store(out, names, expr)

    def _blocked_loop(self, names, axes, t, acc_names, extent, rng) -> None:
        """The innermost loop in blocks of _BLOCK, with the cheap sin/cos kernels (exact for
        |x| <= 2**30); a block with a larger argument is redone with the full-range ones
        (called out of line: that path is rare, and inlining the large kernel at every call
        site of every redo pass costs more compile time than it saves). The tail (fewer than
        _BLOCK elements: all of a small array) is one more such block. Reductions of a block go
        to block-local accumulators first, so a redo does not count twice. (funcad.codegen.
        fastmath's recommended loop shape.)"""
        low, em = self.low, self.low.em
        i = names[-1]
        n = low.dim(extent)
        nb, blk, lo = low.fresh("nblk"), low.fresh("blk"), low.fresh("lo")
        em.line(f"{nb} = {n} // {_BLOCK}")
        low.uses_prange |= rng == "prange"
        with em.block(f"for {blk} in {rng}({nb}):"):
            if rng == "prange":
                # max(.., 0) proves the index non-negative to LLVM inside Numba's parallel
                # body; without it the block loop keeps its wraparound check and is not
                # vectorized (2x slower than serial on a fused sin/cos sum)
                em.line(f"{lo} = max({blk} * {_BLOCK}, 0)")
            else:
                em.line(f"{lo} = {blk} * {_BLOCK}")
            self._checked_block(names, axes, t, acc_names, f"range({lo}, {lo} + {_BLOCK})")
        self._checked_block(names, axes, t, acc_names, f"range({nb} * {_BLOCK}, {n})")

    def _checked_block(self, names, axes, t, acc_names, loop_range: str) -> None:
        """One block: the cheap pass recording whether an argument was out of range, and the
        redo with the full-range kernels if one was."""
        low, em = self.low, self.low.em
        i = names[-1]
        far = low.fresh("far")
        block_acc = {e: low.fresh("bacc") for e in acc_names}
        for e, b in block_acc.items():
            em.line(f"{b} = {self.ops[e][1]}")
        em.line(f"{far} = 0")
        with em.block(f"for {i} in {loop_range}:"):
            self.trig_args = {}   # argument text -> its local name
            self._body(names, axes, t, block_acc)
            for a in self.trig_args.values():
                em.line(f"{far} |= trig_out_of_range({a})")
            self.use("trig_out_of_range")
            self.trig_args = None
        with em.block(f"if {far}:"):
            for e, b in block_acc.items():
                em.line(f"{b} = {self.ops[e][1]}")
            with em.block(f"for {i} in {loop_range}:"):
                self.trig_mode = "far"
                self._body(names, axes, t, block_acc)
                self.trig_mode = None
        for e, b in block_acc.items():
            self._accumulate(acc_names[e], b, self.ops[e][0], e.outvars[0].aval.dtype)

    def trig(self, fast: str, x: str) -> str:
        """The fastmath kernel to call for ``fast`` (``fsin``...) on ``x``: the bounded
        sin/cos inside the first pass of a blocked loop (recording ``x`` for the range
        check), the out-of-line full-range ones in its redo pass, the inlined full-range
        kernels elsewhere."""
        if fast in ("fsin", "fcos"):
            if self.trig_args is not None:
                if x not in self.trig_args:
                    self.trig_args[x] = self.hoist(x)
                x = self.trig_args[x]
                fast = fast + "_bounded"
            elif self.trig_mode == "far":
                fast = fast + "_far"
        self.use(fast)
        return f"{fast}({x})"

    def _cell(self, out, kept) -> str:
        name = self.low.out(out)
        return f"{name}[{', '.join(kept)}]" if kept else name

    def _check_empty(self, eqn, op):
        x = eqn.inputs[0].aval
        if op in ("max", "min") and any(x.shape[a] == 0 for a in eqn.params["axes"]):
            self.low.em.line(f'raise ValueError("zero-size array to reduction operation '
                             f'{op}imum which has no identity")')

    def _accumulate(self, target: str, v: str, op: str, dt) -> None:
        em = self.low.em
        dt = np.dtype(dt)
        if op == "sum":
            em.line(f"{target} += {v}")
        elif op == "prod":
            em.line(f"{target} *= {v}")
        elif dt == np.bool_:
            em.line(f"{target} = {target} {'|' if op == 'max' else '&'} {v}")
        elif dt.kind == "c":   # NumPy's lexicographic order; NaN wins
            v = self.hoist(v)
            c = ">" if op == "max" else "<"
            em.line(f"{target} = {v} if {v}.real {c} {target}.real or ({v}.real == "
                    f"{target}.real and {v}.imag {c} {target}.imag) or {v} != {v} else {target}")
        elif dt == np.float64 and f"f{op}imum" in fast_kernels():
            # llvm.maximum/minimum: NaN-propagating like np.max, and vectorizable
            self.use(f"f{op}imum")
            em.line(f"{target} = f{op}imum({target}, {v})")
        else:
            v = self.hoist(v)
            cmp = ">" if op == "max" else "<"
            nan = f" or {v} != {v}" if dt.kind == "f" else ""
            em.line(f"{target} = {v} if {v} {cmp} {target}{nan} else {target}")
