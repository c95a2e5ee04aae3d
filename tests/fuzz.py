"""Differential fuzzing: random funcad programs, checked transformation against transformation.

A program is straight-line Python source over ``fnp`` (``funcad.numpy``), ``lax`` and
``funcad.nn``: a few float64 inputs of small, broadcast-compatible shapes, then statements
``v<k> = <expression>`` drawn from :data:`OPS` (elementwise unary and binary with
broadcasting, reductions over axes, reshape/transpose/broadcast, slicing, integer indexing,
gathers, ``.at[]`` scatters, ``where``, ``matmul``/``dot``, ``cumsum``, ``lax.cond``,
``lax.scan``, ``lax.while_loop`` and ``lax.fori_loop``), and a return of one or two of them.
Operations that have a restricted domain are wrapped by construction (``log(1 + x**2)``,
``a / (1 + b**2)``), so every program is defined and differentiable almost everywhere.

:func:`check_program` runs, per program: eager evaluation (the reference; programs whose
values, intermediates included, are not finite or exceed ``1e8`` are skipped), ``vmap``
against a Python loop over random ``in_axes`` (:func:`funcad.testing.check_vmap`), ``jvp``
against central differences (see :func:`check_jvp_fd` for how kinks are told apart from
bugs), and the identity ``<vjp(u), v> == <u, jvp(v)>``. ``jit`` is checked per batch
(:func:`check_jit_batch`): one jitted function returns the outputs of a whole batch of
programs, so one Numba compile serves many programs; a batch that fails is re-run program by
program to name the culprit.

Run ``python -m tests.fuzz --programs 10000 --seed 0`` from the repository root; it prints the
counts per check and, for each check that disagreed, the smallest failing program (found by
:func:`shrink`) as Python source. ``tests/test_fuzz.py`` runs a small budget under pytest.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import random
import sys
import time
import traceback
from typing import Callable

import numpy as np
from hypothesis import strategies as st

import funcad
import funcad.lax as lax
import funcad.numpy as fnp
from funcad import testing

#: The range input values are drawn from (uniformly).
VALUE_RANGE = (-2.0, 2.0)
#: Programs whose eager values leave this bound are skipped (finite differences lose meaning).
MAX_ABS = 1e8
CHECKS = ("eager", "jit", "vmap", "jvp", "vjp")


# ---------------------------------------------------------------------------------------------
# Programs

@dataclasses.dataclass(frozen=True)
class Stmt:
    """``name = src``; ``deps`` are the variables ``src`` reads, ``shape`` its result's."""
    name: str
    src: str
    shape: tuple
    deps: tuple


@dataclasses.dataclass(frozen=True)
class Program:
    """Inputs ``x0, x1, ...`` of ``in_shapes``, statements, outputs, and the seed of the
    input values."""
    in_shapes: tuple
    stmts: tuple
    outs: tuple
    seed: int

    def source(self, name: str = "f") -> str:
        """The program as a Python function definition."""
        params = ", ".join(f"x{i}" for i in range(len(self.in_shapes)))
        lines = [f"def {name}({params}):"]
        lines += [f"    {s.name} = {s.src}" for s in self.stmts]
        ret = self.outs[0] if len(self.outs) == 1 else "(" + ", ".join(self.outs) + ")"
        lines.append(f"    return {ret}")
        return "\n".join(lines)

    def fn(self) -> Callable:
        """The program as a Python function (compiled from :meth:`source`)."""
        ns = {"fnp": fnp, "lax": lax, "np": np, "funcad": funcad}
        exec(compile(self.source(), "<fuzz program>", "exec"), ns)
        return ns["f"]

    def inputs(self, batch: int | None = None, axes=None) -> list:
        """The input arrays; with ``batch``, each input ``i`` gets a batch axis at ``axes[i]``
        (None: unbatched)."""
        rng = np.random.default_rng(self.seed)
        out = []
        for i, s in enumerate(self.in_shapes):
            a = None if axes is None else axes[i]
            shape = s if a is None else s[:a] + (batch,) + s[a:]
            out.append(rng.uniform(*VALUE_RANGE, size=shape))
        return out

    def n_ops(self) -> int:
        return len(self.stmts)

    def returning(self, outs: tuple) -> "Program":
        """The program returning ``outs``, without the statements they do not depend on."""
        need = set(outs)
        keep = []
        for s in reversed(self.stmts):
            if s.name in need:
                keep.append(s)
                need.update(s.deps)
        return dataclasses.replace(self, stmts=tuple(reversed(keep)), outs=tuple(outs))


# ---------------------------------------------------------------------------------------------
# Operations. Each builder takes (r, env), r a random.Random and env a list of (name, shape),
# and returns (src, shape, deps) or None when it does not apply to env.

def _pick(r, env, pred=lambda s: True):
    """A variable of ``env`` whose shape satisfies ``pred`` (None if none does): the most
    recent one half of the time, so that programs are chains more than forests."""
    cands = [(n, s) for n, s in env if pred(s)]
    if not cands:
        return None
    if r.random() < 0.5:
        return cands[-1]
    return r.choice(cands)


def _bcast(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


UNARY = {
    "sin": "fnp.sin({})", "cos": "fnp.cos({})", "tanh": "fnp.tanh({})",
    "arctan": "fnp.arctan({})", "square": "fnp.square({})", "negative": "-{}",
    "abs": "fnp.abs({})", "exp": "fnp.exp({})", "log": "fnp.log(1.0 + fnp.square({}))",
    "sqrt": "fnp.sqrt(0.5 + fnp.square({}))", "log1p": "fnp.log1p(fnp.square({}))",
    "expm1": "fnp.expm1({})", "sinh": "fnp.sinh({})", "cosh": "fnp.cosh({})",
    "arcsinh": "fnp.arcsinh({})", "reciprocal": "1.0 / (1.5 + fnp.sin({}))",
    "cube": "{} ** 3", "sigmoid": "funcad.nn.sigmoid({})", "softplus": "funcad.nn.softplus({})",
    "clip": "fnp.clip({}, -1.0, 1.0)", "scale": "0.5 * {}",
}

BINARY = {
    "add": "{} + {}", "subtract": "{} - {}", "multiply": "{} * {}",
    "divide": "{} / (1.0 + fnp.square({}))", "maximum": "fnp.maximum({}, {})",
    "minimum": "fnp.minimum({}, {})", "logaddexp": "fnp.logaddexp({}, {})",
    "arctan2": "fnp.arctan2({}, 1.5 + fnp.sin({}))",
    "hypot": "fnp.hypot({}, 1.0 + fnp.square({}))",
}


def _unary(tpl):
    def build(r, env):
        n, s = _pick(r, env)
        return tpl.format(n), s, (n,)
    return build


def _binary(tpl):
    def build(r, env):
        a, sa = _pick(r, env)
        b, sb = _pick(r, env, lambda s: _bcast(sa, s) is not None)
        return tpl.format(a, b), _bcast(sa, sb), (a, b)
    return build


def _axis_arg(r, s):
    """An axis argument of a reduction over shape ``s``, and the axes it names."""
    kind = r.choice(["one", "none", "tuple"])
    if kind == "none" or not s:
        return "None", tuple(range(len(s)))
    if kind == "one":
        ax = r.randint(-len(s), len(s) - 1)
        return str(ax), (ax % len(s),)
    axes = tuple(sorted(r.sample(range(len(s)), r.randint(1, len(s)))))
    return str(axes), axes


def _reduction(fname):
    def build(r, env):
        n, s = _pick(r, env, lambda s: len(s) >= 1)
        axis, axes = _axis_arg(r, s)
        keep = (r.random() < 0.5)
        out = tuple(1 if i in axes else d for i, d in enumerate(s) if keep or i not in axes)
        return f"{fname}({n}, axis={axis}, keepdims={keep})", out, (n,)
    return build


def _cumulative(fname):
    def build(r, env):
        n, s = _pick(r, env, lambda s: len(s) >= 1)
        ax = r.randint(0, len(s) - 1)
        return f"{fname}({n}, axis={ax})", s, (n,)
    return build


def _reshape(r, env):
    n, s = _pick(r, env)
    size = int(np.prod(s))
    cands = [()] if size == 1 else []
    for rank in (1, 2, 3):
        divs = [d for d in range(1, size + 1) if size % d == 0]
        for shape in itertools.product(*[divs] * rank):
            if int(np.prod(shape)) == size:
                cands.append(shape)
    new = r.choice(cands)
    return f"fnp.reshape({n}, {new})", new, (n,)


def _transpose(r, env):
    n, s = _pick(r, env, lambda s: len(s) >= 2)
    perm = tuple(r.sample(range(len(s)), len(range(len(s)))))
    return f"fnp.transpose({n}, {perm})", tuple(s[p] for p in perm), (n,)


def _broadcast_to(r, env):
    n, s = _pick(r, env, lambda s: len(s) <= 2)
    k = r.randint(1, 3)
    new = (k,) + tuple(d if d != 1 else r.randint(1, 3) for d in s)
    return f"fnp.broadcast_to({n}, {new})", new, (n,)


def _expand_dims(r, env):
    n, s = _pick(r, env, lambda s: len(s) <= 2)
    ax = r.randint(0, len(s))
    return f"fnp.expand_dims({n}, {ax})", s[:ax] + (1,) + s[ax:], (n,)


def _concatenate(r, env):
    a, sa = _pick(r, env, lambda s: len(s) >= 1)
    ax = r.randint(0, len(sa) - 1)
    b, sb = _pick(r, env, lambda s: len(s) == len(sa) and all(
        d == e for i, (d, e) in enumerate(zip(s, sa)) if i != ax))
    out = sa[:ax] + (sa[ax] + sb[ax],) + sa[ax + 1:]
    return f"fnp.concatenate([{a}, {b}], axis={ax})", out, (a, b)


def _slice(r, env):
    n, s = _pick(r, env, lambda s: len(s) >= 1 and max(s) >= 2)
    ax = r.choice([i for i, d in enumerate(s) if d >= 2])
    d = s[ax]
    start = r.randint(0, d - 1)
    stop = r.randint(start + 1, d)
    step = r.choice([1, 2, -1])
    if step == -1:
        sl, m = "::-1", d
    else:
        sl, m = f"{start}:{stop}:{step}", len(range(start, stop, step))
    idx = ", ".join([":"] * ax + [sl])
    return f"{n}[{idx}]", s[:ax] + (m,) + s[ax + 1:], (n,)


def _int_index(r, env):
    n, s = _pick(r, env, lambda s: len(s) >= 1)
    ax = r.randint(0, len(s) - 1)
    i = r.randint(-s[ax], s[ax] - 1)
    idx = ", ".join([":"] * ax + [str(i)])
    return f"{n}[{idx}]", s[:ax] + s[ax + 1:], (n,)


def _indices(r, d, unique=False):
    k = r.randint(1, d if unique else 4)
    if unique:
        return r.sample(range(d), len(range(d)))[:k]
    return [r.randrange(d) for _ in range(k)]


def _take(r, env):
    n, s = _pick(r, env, lambda s: len(s) >= 1)
    ax = r.randint(0, len(s) - 1)
    idx = _indices(r, s[ax])
    return (f"fnp.take({n}, np.array({list(idx)}), axis={ax})",
            s[:ax] + (len(idx),) + s[ax + 1:], (n,))


def _fancy_index(r, env):
    n, s = _pick(r, env, lambda s: len(s) >= 1)
    idx = _indices(r, s[0])
    return f"{n}[np.array({list(idx)})]", (len(idx),) + s[1:], (n,)


def _scatter(mode):
    def build(r, env):
        a, sa = _pick(r, env, lambda s: len(s) >= 1)
        idx = _indices(r, sa[0], unique=(mode == "set"))
        ushape = (len(idx),) + sa[1:]
        got = _pick(r, env, lambda s: _bcast(s, ushape) == ushape)
        if got is not None and (r.random() < 0.5):
            u, deps = got[0], (a, got[0])
        else:
            u, deps = f"fnp.sin({a}[np.array({list(idx)})])", (a,)
        return f"fnp.at({a})[np.array({list(idx)})].{mode}({u})", sa, deps
    return build


def _where(r, env):
    a, sa = _pick(r, env)
    b, sb = _pick(r, env, lambda s: _bcast(sa, s) is not None)
    s2 = _bcast(sa, sb)
    c, sc = _pick(r, env, lambda s: _bcast(s2, s) is not None)
    s3 = _bcast(s2, sc)
    d, sd = _pick(r, env, lambda s: _bcast(s3, s) is not None)
    return f"fnp.where({a} > {b}, {c}, {d})", _bcast(s3, sd), (a, b, c, d)


def _matmul(r, env):
    a, sa = _pick(r, env, lambda s: 1 <= len(s) <= 2)
    k = sa[-1]
    got = _pick(r, env, lambda s: (len(s) == 1 and s[0] == k) or (len(s) == 2 and s[0] == k))
    if got is None:
        if len(sa) == 1:
            return f"fnp.dot({a}, {a})", (), (a,)
        return f"{a} @ {a}.T", (sa[0], sa[0]), (a,)
    b, sb = got
    out = sa[:-1] + sb[1:]
    fname = r.choice(["fnp.matmul", "fnp.dot"])
    return f"{fname}({a}, {b})", out, (a, b)


def _cond(r, env):
    p, _ = _pick(r, env)
    x, s = _pick(r, env)
    f1, f2 = (UNARY[r.choice(sorted(UNARY))].format("t") for _ in range(2))
    return (f"lax.cond(fnp.sum({p}) > 0.0, lambda t: {f1}, lambda t: {f2}, {x})", s, (p, x))


SCAN_BODIES = ("fnp.tanh(c + r)", "c * fnp.cos(r)", "0.5 * c + fnp.sin(r)", "c + r * r")


def _scan(r, env):
    x, s = _pick(r, env, lambda s: len(s) >= 1)
    got = _pick(r, env, lambda t: t == s[1:])
    init, deps = (got[0], (x, got[0])) if got is not None else (f"0.5 + 0.0 * {x}[0]", (x,))
    new_c = r.choice(SCAN_BODIES)
    y = UNARY[r.choice(sorted(UNARY))].format("c")
    which = r.randint(0, 1)
    src = f"lax.scan(lambda c, r: ({new_c}, {y}), {init}, {x})[{which}]"
    return src, (s[1:] if which == 0 else s), deps


LOOP_BODIES = ("fnp.sin({c}) * 1.1", "0.9 * {c} + fnp.tanh({c})", "{c} * fnp.cos({c})")


def _while_loop(r, env):
    x, s = _pick(r, env)
    n = r.randint(0, 3)
    body = r.choice(LOOP_BODIES).format(c="s[1]")
    src = (f"lax.while_loop(lambda s: s[0] < {n}, lambda s: (s[0] + 1, {body}), (0, {x}))[1]")
    return src, s, (x,)


def _fori_loop(r, env):
    x, s = _pick(r, env)
    n = r.randint(0, 3)
    body = r.choice(LOOP_BODIES).format(c="c")
    return f"lax.fori_loop(0, {n}, lambda i, c: {body}, {x})", s, (x,)


#: name -> builder; a builder returns None (or raises TypeError on an empty pick) when the
#: variables in scope do not fit it.
OPS = {**{f"unary:{k}": _unary(v) for k, v in UNARY.items()},
       **{f"binary:{k}": _binary(v) for k, v in BINARY.items()},
       **{f"reduce:{k}": _reduction(k) for k in (
           "fnp.sum", "fnp.mean", "fnp.max", "fnp.min", "fnp.prod",
           "funcad.scipy.special.logsumexp")},
       **{f"cumulative:{k}": _cumulative(k) for k in ("fnp.cumsum", "fnp.cumprod")},
       "reshape": _reshape, "transpose": _transpose, "broadcast_to": _broadcast_to,
       "expand_dims": _expand_dims, "concatenate": _concatenate, "slice": _slice,
       "int_index": _int_index, "take": _take, "fancy_index": _fancy_index,
       "scatter_add": _scatter("add"), "scatter_set": _scatter("set"),
       "scatter_mul": _scatter("multiply"), "where": _where, "matmul": _matmul,
       "cond": _cond, "scan": _scan, "while_loop": _while_loop, "fori_loop": _fori_loop}


def _input_shapes(r):
    base = tuple([r.randint(1, 4) for _ in range(r.randint(0, 3))])
    shapes = []
    for _ in range(r.randint(1, 3)):
        kind = r.choice(["same", "ones", "suffix"])
        if kind == "same":
            shapes.append(base)
        elif kind == "ones":
            shapes.append(tuple(1 if (r.random() < 0.5) else d for d in base))
        else:
            shapes.append(base[r.randint(0, len(base)):])
    return tuple(shapes)


def random_program(r: random.Random, max_stmts: int = 8, seed: int = 0) -> Program:
    """A :class:`Program` of 1 to ``max_stmts`` statements, every choice made by ``r``;
    ``seed`` seeds its input values."""
    in_shapes = _input_shapes(r)
    env = [(f"x{i}", s) for i, s in enumerate(in_shapes)]
    stmts = []
    names = sorted(OPS)
    for k in range(r.randint(1, max_stmts)):
        for _ in range(20):
            try:
                got = OPS[r.choice(names)](r, env)
            except TypeError:          # an empty pick: the op does not fit env
                got = None
            if got is not None:
                break
        else:
            n, s = env[-1]
            got = (f"fnp.sin({n})", s, (n,))
        src, shape, deps = got
        stmts.append(Stmt(f"v{k}", src, tuple(shape), tuple(deps)))
        env.append((f"v{k}", tuple(shape)))
    outs = (stmts[-1].name,)
    if len(stmts) > 1 and r.random() < 0.5:
        outs += (stmts[r.randint(0, len(stmts) - 2)].name,)
    return Program(tuple(in_shapes), tuple(stmts), outs, seed).returning(outs)


def programs(max_stmts: int = 8):
    """Hypothesis strategy for a :class:`Program`: hypothesis draws two seeds, one for the
    program's structure and one for its input values (as :mod:`funcad.testing` draws its
    inputs), so that every choice is uniform; :func:`shrink` minimises failing programs."""
    return st.tuples(testing.seeds(), testing.seeds()).map(
        lambda ss: random_program(random.Random(ss[0]), max_stmts, ss[1]))


# ---------------------------------------------------------------------------------------------
# Checks

class Skip(Exception):
    """The program is outside what the checks can judge (values not finite or too large)."""


def _tuple(y):
    return tuple(y) if isinstance(y, (tuple, list)) else (y,)


def _flat(tree):
    return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in _tuple(tree)]
                          + [np.zeros(0)])


def eager(prog: Program):
    """The program's function, inputs and eager outputs; :class:`Skip` when an output or an
    intermediate value is not finite or above :data:`MAX_ABS`."""
    f = prog.fn()
    args = prog.inputs()
    every = dataclasses.replace(prog, outs=tuple(s.name for s in prog.stmts)).fn()
    with np.errstate(all="ignore"):
        y = f(*args)
        # intermediates too: an overflow hidden by `minimum` or `where` makes the derivative
        # NaN (0 * inf) in any autodiff system, and finite differences meaningless
        flat = np.concatenate([_flat(y), _flat(every(*args))])
    if not np.all(np.isfinite(flat)) or (flat.size and np.max(np.abs(flat)) > MAX_ABS):
        raise Skip("values not finite or above MAX_ABS")
    return f, args, y


def _close(a, b, rtol, atol, slack=0.0):
    """Elementwise |a - b| <= atol * (1 + max|b|) + rtol * |b| + slack; the worst excess as a
    float (``slack``: an elementwise allowance, see :func:`rounding_spread`)."""
    a, b = _flat(a), _flat(b)
    if a.shape != b.shape:
        return np.inf
    scale = 1.0 + (np.max(np.abs(b)) if b.size else 0.0)
    err = np.abs(a - b) - (atol * scale + rtol * np.abs(b) + slack)
    return float(np.max(err)) if err.size else 0.0


def _directions(rng, args):
    return [rng.standard_normal(np.shape(a)) for a in args]


def _fd(f, args, t, eps):
    with np.errstate(all="ignore"):
        hi = _tuple(f(*[a + eps * d for a, d in zip(args, t)]))
        lo = _tuple(f(*[a - eps * d for a, d in zip(args, t)]))
    return tuple((np.asarray(h) - np.asarray(l)) / (2 * eps) for h, l in zip(hi, lo))


#: Finite-difference steps and tolerances (rtol, atol) for jvp: the small step's error is
#: mostly rounding, the large step's mostly truncation.
FD_STEPS = ((1e-6, 1e-5, 1e-6), (1e-4, 1e-4, 1e-5))


def check_jvp_fd(f, args, y, rng) -> str:
    """``jvp`` against central differences at two steps: "ok" when it matches either; "kink"
    when it matches neither and the two differences disagree with each other (the point is
    near a kink or discontinuity: a tie of ``maximum``, a branch of ``where``/``cond``, the
    edge of ``clip``); otherwise AssertionError."""
    t = _directions(rng, args)
    y2, ty = funcad.jvp(f, tuple(args), tuple(t))
    testing.assert_trees_close(y2, y, 1e-9, 1e-9, "jvp: primal output vs eager")
    fds = [_fd(f, args, t, eps) for eps, _, _ in FD_STEPS]
    if any(_close(ty, fd, r, a) <= 0 for fd, (_, r, a) in zip(fds, FD_STEPS)):
        return "ok"
    _, r, a = FD_STEPS[1]
    if _close(fds[0], fds[1], r, a) > 0:
        return "kink"
    raise AssertionError(f"jvp disagrees with central differences at two steps that agree "
                         f"with each other:\n jvp {_flat(ty)}\n fd  {_flat(fds[0])}")


def check_vjp_identity(f, args, rng) -> None:
    """``<vjp(u), v> == <u, jvp(v)>`` for random ``u``, ``v`` (both sides exact)."""
    y, vjp_fn = funcad.vjp(f, *args)
    u = tuple(rng.standard_normal(np.shape(x)) for x in _tuple(y))
    v = _directions(rng, args)
    ct = vjp_fn(u if isinstance(y, tuple) else u[0])
    for c, a in zip(ct, args):
        if np.shape(c) != np.shape(a):
            raise AssertionError(f"vjp: cotangent shape {np.shape(c)} for input {np.shape(a)}")
    _, jv = funcad.jvp(f, tuple(args), tuple(v))
    lhs = _flat(ct) * _flat(v)
    rhs = _flat(u) * _flat(jv)
    scale = 1.0 + np.sum(np.abs(lhs)) + np.sum(np.abs(rhs))
    if not abs(np.sum(lhs) - np.sum(rhs)) <= 1e-9 * scale:      # NaN fails too
        raise AssertionError(f"<vjp(u), v> = {np.sum(lhs)!r} but <u, jvp(v)> = {np.sum(rhs)!r}")


def check_vmap_loop(prog: Program, f, rng) -> None:
    """``vmap`` over random ``in_axes`` (0, None or the last axis; at least one mapped)
    against a Python loop."""
    n = len(prog.in_shapes)
    axes = [rng.choice([0, None, len(s)]) for s in prog.in_shapes]
    if all(a is None for a in axes):
        axes[int(rng.integers(n))] = 0
    axes = [None if a is None else int(a) for a in axes]
    args = prog.inputs(batch=3, axes=axes)
    testing.check_vmap(f, args, tuple(axes), atol=1e-9, rtol=1e-9)


#: jit vs eager: the compiled code may use libm's vector variants and fused loops (a few ulp).
JIT_TOL = (1e-9, 1e-11)

#: Relative size of the input perturbations of :func:`rounding_spread`, and how many of the
#: resulting spreads a jit/eager difference may use.
SPREAD_REL, SPREAD_DRAWS, SPREAD_FACTOR = 16 * np.finfo(np.float64).eps, 3, 4.0


def rounding_spread(prog: Program, y) -> np.ndarray:
    """How far each eager output moves when every input moves by a few ulp (random signs):
    the part of a jit/eager difference that rounding alone explains. An ill-conditioned
    program (``cos`` of an intermediate near 1e15, a cancellation) turns the last-bit
    differences of libm's vector variants into large ones; a well-conditioned program has a
    spread near 0, so this allowance does not hide a real disagreement there."""
    f, args = prog.fn(), prog.inputs()
    rng = np.random.default_rng(prog.seed ^ 0xC0DE)
    y = _flat(y)
    worst = np.zeros_like(y)
    with np.errstate(all="ignore"):
        for _ in range(SPREAD_DRAWS):
            moved = _flat(f(*[a * (1.0 + SPREAD_REL * rng.choice([-1.0, 1.0], np.shape(a)))
                              for a in args]))
            if moved.shape != y.shape:
                return worst
            worst = np.maximum(worst, np.abs(moved - y))
    return np.where(np.isfinite(worst), worst, np.inf)


def check_program(prog: Program, checks=("vmap", "jvp", "vjp")) -> dict:
    """Run eager and the per-program ``checks`` on ``prog``: {check: "ok" | "kink" | "skip" |
    "fail: <message>"}. eager raising, or eager values out of range, skip the rest."""
    res = {}
    try:
        f, args, y = eager(prog)
        res["eager"] = "ok"
    except Skip:
        return {"eager": "skip"}
    except Exception as e:                   # noqa: BLE001 -- a finding, reported
        return {"eager": _fail(e)}
    rng = np.random.default_rng(prog.seed ^ 0x5EED)
    for c in checks:
        try:
            if c == "vmap":
                check_vmap_loop(prog, f, rng)
                res[c] = "ok"
            elif c == "jvp":
                res[c] = check_jvp_fd(f, args, y, rng)
            elif c == "vjp":
                check_vjp_identity(f, args, rng)
                res[c] = "ok"
        except Exception as e:               # noqa: BLE001
            res[c] = _fail(e)
    return res


def _fail(e: BaseException) -> str:
    msg = "".join(traceback.format_exception_only(type(e), e)).strip()
    return "fail: " + msg[:2000]


def _jit_outputs(progs):
    fns = [p.fn() for p in progs]

    def batch(all_args):
        return tuple(fn(*a) for fn, a in zip(fns, all_args))

    return funcad.jit(batch)(tuple(tuple(p.inputs()) for p in progs))


def check_jit_batch(progs) -> list:
    """``jit`` against eager for many programs with one compile: {"jit": status} per program.
    Programs whose eager run fails or is skipped get "skip"; if the batch raises, or a program
    disagrees, that program is jitted alone to confirm."""
    ok, res = [], []
    for p in progs:
        try:
            ok.append((p, eager(p)[2]))
            res.append(None)
        except Exception:                    # noqa: BLE001 -- judged by check_program
            res.append("skip")
    try:
        outs = _jit_outputs([p for p, _ in ok])
    except Exception:                        # noqa: BLE001 -- find which one
        outs = None
    it = iter(range(len(ok)))
    for i, r in enumerate(res):
        if r is not None:
            continue
        k = next(it)
        p, y = ok[k]
        if outs is not None and _close(outs[k], y, *JIT_TOL) <= 0:
            res[i] = "ok"
            continue
        try:                                 # alone, to name the culprit
            y_jit = _jit_outputs([p])[0]
            if _close(y_jit, y, *JIT_TOL) <= 0:
                res[i] = "ok"
            elif _close(y_jit, y, *JIT_TOL, SPREAD_FACTOR * rounding_spread(p, y)) <= 0:
                res[i] = "ill-conditioned"
            else:
                raise AssertionError(f"jit {_flat(y_jit)} but eager {_flat(y)}")
        except Exception as e:               # noqa: BLE001
            res[i] = _fail(e)
    return [{"jit": r} for r in res]


# ---------------------------------------------------------------------------------------------
# Shrinking and the runner

def shrink(prog: Program, fails: Callable[[Program], bool]) -> Program:
    """The smallest program (fewest statements) among ``prog`` returning one of its variables,
    with dead statements dropped, for which ``fails`` holds (``prog`` itself if none)."""
    best = prog
    cands = [prog.returning((s.name,)) for s in prog.stmts]
    for c in sorted(cands, key=Program.n_ops):
        if c.n_ops() >= best.n_ops():
            break
        try:
            if fails(c):
                return c
        except Exception:                    # noqa: BLE001 -- a different failure: not it
            continue
    return best


def fails_check(check: str) -> Callable[[Program], bool]:
    """A predicate: does ``check`` fail on a program (for :func:`shrink`)."""
    def fails(p):
        if check == "jit":
            r = check_jit_batch([p])[0]
        else:
            r = check_program(p, checks=() if check == "eager" else (check,))
        return r.get(check, "").startswith("fail")
    return fails


def run(n_programs: int, seed: int, batch: int = 8, max_stmts: int = 8, jit_every: int = 1,
        out=sys.stdout):
    """Check ``n_programs`` programs (``jit`` only every ``jit_every``-th program: a compile
    costs ~0.1-1 s per program even in batches), print a summary, and return
    {check: {status: count}} and the failures [(check, program, msg)].

    Program ``i`` is ``random_program`` from the ``i``-th pair of seeds of
    ``random.Random(seed)``: the same programs as the ``programs()`` strategy draws, but
    all distinct (hypothesis's own draws of seeds repeat themselves often at this count)."""
    counts = {c: {} for c in CHECKS}
    failures = []
    pending = []
    t0 = time.time()
    seeds = random.Random(seed)

    def record(p, res):
        for c, r in res.items():
            key = "fail" if r.startswith("fail") else r
            counts[c][key] = counts[c].get(key, 0) + 1
            if key == "fail":
                failures.append((c, p, r))

    def flush():
        for p, r in zip(pending, check_jit_batch(pending)):
            record(p, r)
        pending.clear()

    sources = set()
    for i in range(n_programs):
        p = random_program(random.Random(seeds.getrandbits(32)), max_stmts,
                           seeds.getrandbits(32))
        sources.add(p.source())
        record(p, check_program(p))
        if i % jit_every == 0:
            pending.append(p)
        if len(pending) >= batch:
            flush()
        if (i + 1) % 500 == 0:
            print(f"... {i + 1} programs, {time.time() - t0:.0f} s, "
                  f"{len(failures)} failures", file=out, flush=True)
    flush()
    wall = time.time() - t0
    print(f"\nfuzz: {n_programs} programs ({len(sources)} distinct sources; seed {seed}, "
          f"jit batch {batch}, jit every {jit_every}, up to {max_stmts} statements) in "
          f"{wall:.0f} s ({n_programs / max(wall, 1e-9):.1f} programs/s)", file=out)
    for c in CHECKS:
        print(f"  {c:6s} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts[c].items())),
              file=out)
    print(f"  disagreements: {len(failures)}", file=out)
    seen = {}
    for c, p, msg in failures:
        seen[c] = seen.get(c, 0) + 1
        if seen[c] > 4:
            continue
        if seen[c] > 1:
            print(f"\n[{c}] another failure (seed {p.seed}):\n{p.source()}\n  {msg[:300]}",
                  file=out)
            continue
        small = shrink(p, fails_check(c))
        print(f"\n[{c}] smallest failing program (input shapes {small.in_shapes}, "
              f"seed {small.seed}):\n{small.source()}\n  {msg[:1000]}", file=out)
    return counts, failures


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--programs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8, help="programs per jit compile")
    ap.add_argument("--jit-every", type=int, default=1, help="jit only every n-th program")
    ap.add_argument("--max-stmts", type=int, default=8)
    a = ap.parse_args(argv)
    _, failures = run(a.programs, a.seed, a.batch, a.max_stmts, a.jit_every)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
