"""Checkers for transformations, and the test inputs of every registered primitive.

The checkers compare a transformation against a slow, obviously correct reference:

- :func:`check_grads`: ``jvp`` against central finite differences in one random direction,
  ``vjp`` by the inner-product identity ``<ct, J t> == <J^T ct, t>`` (with ``J t`` from both
  finite differences and ``jvp``), and, for ``order > 1``, the same checks on the jvp and vjp
  functions themselves (jvp-of-jvp, vjp-of-jvp, jvp-of-vjp, vjp-of-vjp).
- :func:`check_vmap`: ``vmap`` against a Python loop over the mapped axis and ``np.stack``.
- :func:`check_staged`: evaluating the jaxpr of ``make_jaxpr`` against eager evaluation, with
  every equation's NumPy result checked against the shape and dtype it was staged with.

:func:`primitive_cases` turns the primitive registry (``funcad.core.primitives``) into test
cases: each primitive's ``test_params`` (parameter dicts) times the dtypes it accepts, with
inputs from its ``test_args(rng[, dtype[, params]])`` when it declares one, and otherwise
arrays of shape (3, 4) drawn from its ``domain`` (per-argument ``(lo, hi)``; default
``(-3, 3)``). Random values are drawn uniformly from a seed that hypothesis chooses, so every
example is reproducible and *generic*: no ties or kinks, where finite differences and
derivative rules legitimately disagree (special points belong in explicit examples).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Callable, Sequence

import numpy as np

from funcad import api
from funcad.core import SUPPORTED_DTYPES, Primitive, get_aval, is_float, primitives
from funcad.ir import Lit, typecheck_jaxpr
from funcad.primitives._family import DEFAULT_DOMAIN, rand_array
from funcad.tree_util import broadcast_prefix, tree_flatten, tree_map, tree_unflatten

__all__ = ["check_grads", "check_jvp", "check_vjp", "check_zero_derivative", "check_vmap",
           "check_staged", "check_abstract_eval", "assert_trees_close", "rand_array",
           "arrays_for", "seeds", "primitive_cases", "PrimCase", "UnsupportedCase", "CHECKS",
           "DEFAULT_DOMAIN", "DEFAULT_SHAPE"]

#: The names of the generic checks; a primitive's ``xfail`` dict is keyed by these, either
#: plainly (``"vmap"``) or for one dtype (``"vmap[int32]"``).
CHECKS = ("abstract_eval", "staging", "jvp", "vjp", "order2", "vmap", "vmap_of_jvp")
DEFAULT_SHAPE = (3, 4)

# eps, atol, rtol for finite differences; the tight tolerance compares two exact derivatives.
_FD_TOL = {np.dtype("float64"): (1e-4, 1e-5, 1e-5), np.dtype("float32"): (3e-3, 3e-2, 3e-2)}
# (complex leaves use the tolerances of their parts' precision: see _worst_float)
_TIGHT = {np.dtype("float64"): 1e-9, np.dtype("float32"): 1e-4}


# ---------------------------------------------------------------------------------------------
# Random values

def seeds():
    """Hypothesis strategy for a seed of :func:`numpy.random.default_rng`."""
    from hypothesis import strategies as st
    return st.integers(0, 2 ** 32 - 1)


def _domain(prim: Primitive, i: int):
    dom = getattr(prim, "domain", None)
    if dom and i < len(dom) and dom[i] is not None:
        return dom[i]
    return DEFAULT_DOMAIN


def arrays_for(prim: Primitive, shapes: Sequence[Sequence[int]], dtype="float64"):
    """Hypothesis strategy for a list of input arrays of ``prim``, one per shape.

    Argument ``i`` is drawn from ``prim.domain[i]`` (a ``(lo, hi)`` pair; ``(-3, 3)`` when
    the primitive declares none) from a seed that hypothesis chooses.

    Parameters
    ----------
    prim : Primitive
        The primitive whose domain bounds the values.
    shapes : sequence of shapes
        One shape per argument.
    dtype : dtype, optional
        The dtype of every argument.

    Returns
    -------
    hypothesis.strategies.SearchStrategy
        Draws lists of NumPy arrays.
    """
    shapes = [tuple(s) for s in shapes]

    def make(seed):
        rng = np.random.default_rng(seed)
        return [rand_array(rng, s, dtype, *_domain(prim, i)) for i, s in enumerate(shapes)]

    return seeds().map(make)


# ---------------------------------------------------------------------------------------------
# Comparing pytrees of arrays

def _leaves(tree):
    return [np.asarray(x) for x in tree_flatten(tree)[0]]


def assert_trees_close(actual, expected, atol=1e-10, rtol=1e-10, what: str = "values",
                       check_dtype: bool = True) -> None:
    """Assert two pytrees have one structure and leaves of equal shape, dtype and (within
    ``atol``/``rtol`` for floats, exactly otherwise) value; ``what`` starts the message."""
    a_leaves, a_tree = tree_flatten(actual)
    e_leaves, e_tree = tree_flatten(expected)
    if a_tree != e_tree:
        raise AssertionError(f"{what}: structure {a_tree} differs from the expected {e_tree}")
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        a, e = np.asarray(a), np.asarray(e)
        where = f"{what} (output leaf {i})"
        if a.shape != e.shape:
            raise AssertionError(f"{where}: shape {a.shape}, expected {e.shape}")
        if check_dtype and a.dtype != e.dtype:
            raise AssertionError(f"{where}: dtype {a.dtype}, expected {e.dtype}")
        if a.dtype.kind in "fc" or e.dtype.kind in "fc":
            np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(a, e, err_msg=where)


def _worst_float(*trees) -> np.dtype:
    """float32 if any leaf is float32 or complex64, else float64 (the tolerances to use)."""
    f32 = any(np.asarray(x).dtype in (np.float32, np.complex64)
              for t in trees for x in tree_flatten(t)[0])
    return np.dtype("float32") if f32 else np.dtype("float64")


def _random_like(rng, tree):
    """Standard normal leaves for float leaves of ``tree`` (complex leaves: standard normal
    real and imaginary parts, a random complex direction); zeros for the others."""
    def one(x):
        x = np.asarray(x)
        if x.dtype.kind == "c":
            return (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)
                    ).astype(x.dtype)
        if is_float(x.dtype):
            return np.asarray(rng.standard_normal(x.shape)).astype(x.dtype)
        return np.zeros(x.shape, x.dtype)
    return tree_map(one, tree)


def _inner(a_tree, b_tree):
    """Sum over float leaves of <a, b>, and the sum of |a * b| (the scale of the sum).

    For complex leaves the pairing is ``Re(sum(a * b))``, with no conjugation: the one for
    which JAX's (and funcad's) transposes are transposes, so ``<ct, J t> == <J^T ct, t>``."""
    total, scale = 0.0, 0.0
    for a, b in zip(_leaves(a_tree), _leaves(b_tree)):
        if is_float(a.dtype) and is_float(b.dtype):
            p = a.astype(np.complex128).ravel() * b.astype(np.complex128).ravel()
            total += float(np.sum(p).real)
            scale += float(np.sum(np.abs(p)))
    return total, scale


# ---------------------------------------------------------------------------------------------
# Derivatives

def _numerical_jvp(f, args, tangents, eps):
    def shift(sign):
        def one(x, t):
            x = np.asarray(x)
            if not is_float(x.dtype):
                return x
            return (x + sign * eps * np.asarray(t, np.complex128 if x.dtype.kind == "c"
                                                else np.float64)).astype(x.dtype)
        return tree_map(one, args, tangents)

    hi, lo = f(*shift(1.0)), f(*shift(-1.0))

    def diff(a, b):
        a, b = np.asarray(a), np.asarray(b)
        if not is_float(a.dtype):
            return np.zeros(a.shape, a.dtype)
        wide = np.complex128 if a.dtype.kind == "c" else np.float64
        return ((a.astype(wide) - b.astype(wide)) / (2 * eps)).astype(a.dtype)

    return tree_map(diff, hi, lo)


def _tols(dtype, eps, atol, rtol):
    e, a, r = _FD_TOL[dtype]
    return (e if eps is None else eps, a if atol is None else atol, r if rtol is None else rtol)


def check_jvp(f: Callable, args: Sequence, atol=None, rtol=None, eps=None, rng=None,
              label: str = "JVP") -> None:
    """Check ``jvp(f)`` against central finite differences in one random direction.

    Integer and bool inputs get zero tangents; integer and bool outputs must get zero
    tangents. See :func:`check_grads` for the parameters.
    """
    args = tuple(args)
    rng = np.random.default_rng(0) if rng is None else rng
    y_ref = f(*args)
    eps, atol, rtol = _tols(_worst_float(args, y_ref), eps, atol, rtol)
    t = _random_like(rng, args)
    y, ty = api.jvp(f, args, t)
    assert_trees_close(y, y_ref, atol, rtol, f"{label}: primal output vs f(*args)")
    fd = _numerical_jvp(f, args, t, eps)
    assert_trees_close(ty, fd, atol, rtol, f"{label}: tangent vs central differences")


def check_vjp(f: Callable, args: Sequence, atol=None, rtol=None, eps=None, rng=None,
              label: str = "VJP") -> None:
    """Check ``vjp(f)`` by the identity ``<ct, J t> == <J^T ct, t>`` for random ``ct``, ``t``.

    ``J t`` comes from central finite differences (loose tolerance) and from ``jvp`` (tight
    tolerance: both are exact). The cotangents returned must have the inputs' shapes and
    (for float inputs) dtypes. See :func:`check_grads` for the parameters.
    """
    args = tuple(args)
    rng = np.random.default_rng(0) if rng is None else rng
    y_ref = f(*args)
    dt = _worst_float(args, y_ref)
    eps, atol, rtol = _tols(dt, eps, atol, rtol)
    y, vjp_fn = api.vjp(f, *args)
    assert_trees_close(y, y_ref, atol, rtol, f"{label}: primal output vs f(*args)")
    ct = _random_like(rng, y)
    ct_in = vjp_fn(ct)
    for i, (c, x) in enumerate(zip(_leaves(ct_in), _leaves(args))):
        if c.shape != x.shape or (is_float(x.dtype) and c.dtype != x.dtype):
            raise AssertionError(f"{label}: cotangent of input leaf {i} is "
                                 f"{c.dtype}{list(c.shape)}, but the input is "
                                 f"{x.dtype}{list(x.shape)}")
    t = _random_like(rng, args)
    ip_rev, s_rev = _inner(ct_in, t)
    _, jt = api.jvp(f, args, t)
    ip_fwd, s_fwd = _inner(ct, jt)
    ip_fd, s_fd = _inner(ct, _numerical_jvp(f, args, t, eps))
    tight = _TIGHT[dt]
    if abs(ip_rev - ip_fwd) > tight * (1.0 + max(s_rev, s_fwd)):
        raise AssertionError(f"{label}: <J^T ct, t> = {ip_rev!r} but <ct, J t> = {ip_fwd!r} "
                             f"with J t from jvp (the vjp is not the transpose of the jvp)")
    if abs(ip_rev - ip_fd) > atol + rtol * max(s_rev, s_fd):
        raise AssertionError(f"{label}: <J^T ct, t> = {ip_rev!r} but <ct, J t> = {ip_fd!r} "
                             f"with J t from central differences")


def check_grads(f: Callable, args: Sequence, order: int, modes=("fwd", "rev"), atol=None,
                rtol=None, eps=None) -> None:
    """Check the derivatives of ``f`` at ``args`` up to ``order``.

    Parameters
    ----------
    f : callable
        Takes ``*args`` (pytrees of arrays) and returns a pytree of arrays.
    args : sequence
        The point to check at. Float leaves are perturbed; integer and bool leaves are held
        fixed (their tangents are zero).
    order : int
        1 checks ``jvp``/``vjp`` of ``f``; 2 also checks the jvp and vjp *of* the functions
        ``(args, tangents) -> jvp(f, args, tangents)`` and ``(args, ct) -> vjp(f, *args)[1](ct)``,
        and so on recursively.
    modes : sequence of {"fwd", "rev"}, optional
        Forward mode (jvp vs central differences) and/or reverse mode (the inner-product
        identity).
    atol, rtol, eps : float, optional
        Tolerances and the finite-difference step. Defaults depend on the least precise float
        dtype among inputs and outputs: (1e-5, 1e-5, 1e-4) for float64, looser for float32.

    Raises
    ------
    AssertionError
        Saying which derivative (e.g. "VJP of JVP") disagreed and by how much.

    Notes
    -----
    Directions and cotangents come from a fixed seed, so the check is deterministic.
    """
    modes = tuple(modes)
    for m in modes:
        if m not in ("fwd", "rev"):
            raise ValueError(f"check_grads: modes must be 'fwd' and/or 'rev', got {m!r}")
    _check_grads(f, tuple(args), order, modes, (atol, rtol, eps), np.random.default_rng(0), "")


def _check_grads(f, args, order, modes, tols, rng, label):
    atol, rtol, eps = tols
    n = len(args)
    if "fwd" in modes:
        name = f"JVP{label}"
        check_jvp(f, args, atol, rtol, eps, rng, name)
        if order > 1:
            t = _random_like(rng, args)

            def f_jvp(*a):
                return api.jvp(f, a[:n], a[n:])

            _check_grads(f_jvp, args + tuple(t), order - 1, modes, tols, rng, f" of {name}")
    if "rev" in modes:
        name = f"VJP{label}"
        check_vjp(f, args, atol, rtol, eps, rng, name)
        if order > 1:
            ct = _random_like(rng, f(*args))

            def f_vjp(*a):
                return api.vjp(f, *a[:n])[1](a[n])

            _check_grads(f_vjp, args + (ct,), order - 1, modes, tols, rng, f" of {name}")


def check_zero_derivative(f: Callable, args: Sequence) -> None:
    """Check that ``f`` has a zero jvp and a zero vjp at ``args`` (for floor, sign, ...)."""
    args = tuple(args)
    rng = np.random.default_rng(0)
    _, ty = api.jvp(f, args, _random_like(rng, args))
    for i, x in enumerate(_leaves(ty)):
        if np.any(x != 0):
            raise AssertionError(f"jvp: tangent output leaf {i} is not zero: {x}")
    y, vjp_fn = api.vjp(f, *args)
    for i, x in enumerate(_leaves(vjp_fn(_random_like(rng, y)))):
        if np.any(x != 0):
            raise AssertionError(f"vjp: cotangent of input leaf {i} is not zero: {x}")


# ---------------------------------------------------------------------------------------------
# vmap and staging

def _axes_for(in_axes, args):
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    prefix = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    return broadcast_prefix(prefix, tuple(args))


def check_vmap(f: Callable, args: Sequence, in_axes, out_axes=0, atol=None, rtol=None
               ) -> None:
    """Check ``vmap(f, in_axes, out_axes)(*args)`` against a Python loop and ``np.stack``.

    Parameters
    ----------
    f : callable
        The function to batch.
    args : sequence
        The *batched* arguments: a leaf mapped with axis ``a`` has the batch axis at ``a``.
    in_axes, out_axes : int, None or pytree prefixes
        As for :func:`funcad.vmap`.
    atol, rtol : float, optional
        Tolerances for float results (default: tight, batching changes no arithmetic).
    """
    args = tuple(args)
    leaves, tree = tree_flatten(args)
    axes = _axes_for(in_axes, args)
    sizes = {np.shape(x)[a] for x, a in zip(leaves, axes) if a is not None}
    if len(sizes) != 1:
        raise ValueError(f"check_vmap: the mapped axes must have one size, got {sizes}")
    size = sizes.pop()
    rows = []
    for i in range(size):
        sl = [np.asarray(x) if a is None else np.take(np.asarray(x), i, axis=a)
              for x, a in zip(leaves, axes)]
        rows.append(f(*tree_unflatten(tree, sl)))
    out_leaves, out_tree = tree_flatten(rows[0])
    oaxes = broadcast_prefix(out_axes, rows[0])
    columns = list(zip(*[tree_flatten(r)[0] for r in rows])) if out_leaves else []
    expected = []
    for col, oa in zip(columns, oaxes):
        if oa is None:
            expected.append(np.asarray(col[0]))
        else:
            expected.append(np.stack([np.asarray(c) for c in col], axis=oa))
    actual = api.vmap(f, in_axes, out_axes)(*args)
    dt = _worst_float(actual, out_leaves)
    tol = _TIGHT[dt] * 100
    assert_trees_close(actual, tree_unflatten(out_tree, expected),
                       tol if atol is None else atol, tol if rtol is None else rtol,
                       f"vmap(in_axes={in_axes!r}, out_axes={out_axes!r}) vs a Python loop")


def _eval_checked(jaxpr, consts, args):
    """eval_jaxpr with impl, checking each result against the staged aval."""
    env = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))

    def read(a):
        return a.val if type(a) is Lit else env[a]

    for eqn in jaxpr.eqns:
        out = eqn.prim.bind(*[read(a) for a in eqn.inputs], **eqn.params)
        outs = list(out) if eqn.prim.multiple_results else [out]
        for v, x in zip(eqn.outvars, outs):
            a = get_aval(x)
            if a != v.aval:
                raise AssertionError(
                    f"primitive {eqn.prim.name}: impl gives {a.str_short()} but abstract_eval "
                    f"gave {v.aval.str_short()} (params {eqn.params})")
            env[v] = x
    return [read(a) for a in jaxpr.outvars]


def check_staged(f: Callable, args: Sequence, atol=None, rtol=None) -> None:
    """Check that the jaxpr of ``f`` typechecks and evaluates to what ``f`` gives eagerly.

    Each equation is run with its primitive's ``impl`` and its result's shape and dtype must
    equal the ones the equation was staged with (``abstract_eval``).
    """
    args = tuple(args)
    closed = api.make_jaxpr(f)(*args)
    typecheck_jaxpr(closed.jaxpr)
    leaves = tree_flatten(args)[0]
    got = _eval_checked(closed.jaxpr, closed.consts, leaves)
    expected = _leaves(f(*args))
    dt = _worst_float(got, expected)
    tol = _TIGHT[dt] * 100
    assert_trees_close(got, expected, tol if atol is None else atol,
                       tol if rtol is None else rtol, "eval of make_jaxpr(f) vs f")


def check_abstract_eval(prim: Primitive, args: Sequence, params: dict) -> None:
    """Check that ``prim.impl`` gives the shape and dtype that ``prim.abstract_eval`` says."""
    out = prim.impl(*args, **params)
    want = prim.abstract_eval(*[get_aval(a) for a in args], **params)
    outs = list(out) if prim.multiple_results else [out]
    wants = list(want) if prim.multiple_results else [want]
    if len(outs) != len(wants):
        raise AssertionError(f"{prim.name}: impl gives {len(outs)} results, abstract_eval "
                             f"{len(wants)}")
    for i, (o, w) in enumerate(zip(outs, wants)):
        if not isinstance(o, (np.ndarray, np.generic)):
            raise AssertionError(f"{prim.name}: impl result {i} is a {type(o).__name__}, not "
                                 f"a NumPy array")
        if get_aval(o) != w:
            raise AssertionError(f"{prim.name}: impl gives {get_aval(o).str_short()} but "
                                 f"abstract_eval says {w.str_short()} (params {params})")


# ---------------------------------------------------------------------------------------------
# Test cases from the primitive registry

@dataclasses.dataclass(frozen=True)
class PrimCase:
    """One primitive with one parameter dict and one input dtype.

    ``dtype`` is the dtype name, or ``"args"`` when the primitive's ``test_args`` fixes the
    dtypes itself. ``make(rng)`` returns a fresh list of inputs.
    """
    prim: Primitive
    params: dict
    dtype: str
    index: int
    make: Callable[[np.random.Generator], list]

    @property
    def id(self) -> str:
        return f"{self.prim.name}-p{self.index}-{self.dtype}"

    def args(self, rng: np.random.Generator) -> list:
        return self.make(rng)

    def strategy(self):
        """Hypothesis strategy for this case's inputs."""
        return seeds().map(lambda s: self.make(np.random.default_rng(s)))

    def fun(self) -> Callable:
        prim, params = self.prim, self.params

        def f(*args):
            return prim.bind(*args, **params)
        f.__name__ = prim.name
        return f

    @property
    def differentiable(self) -> bool:
        """Float inputs, and a dtype the derivative checks use (float64 or test_args')."""
        if self.dtype not in ("float64", "complex128", "args"):
            return False
        return any(is_float(np.asarray(a).dtype) for a in self.make(np.random.default_rng(0)))

    def xfail_reason(self, check: str) -> str | None:
        xf = self.prim.xfail
        return xf.get(f"{check}[{self.dtype}]", xf.get(check))


@dataclasses.dataclass(frozen=True)
class UnsupportedCase:
    """A primitive for which no test inputs could be built (reported as an xfail)."""
    prim: Primitive
    reason: str

    @property
    def id(self) -> str:
        return f"{self.prim.name}-no-inputs"


def _num_positional(fn) -> int | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        return None
    return sum(k in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
               for k in kinds)


def _arity(prim: Primitive) -> int | None:
    dom = getattr(prim, "domain", None)
    if dom:
        return len(dom)
    return _num_positional(prim.impl) if prim.impl is not None else None


def _maker(prim, params, dtype, test_args, nparams):
    if test_args is not None:
        extra = (dtype, params)[:max(0, nparams - 1)]
        return lambda rng: list(test_args(rng, *extra))
    n = _arity(prim)
    return lambda rng: [rand_array(rng, DEFAULT_SHAPE, dtype, *_domain(prim, i))
                        for i in range(n)]


def _probe(prim, params, make) -> str | None:
    """None if abstract_eval accepts the inputs ``make`` builds, else the error."""
    try:
        args = make(np.random.default_rng(0))
        prim.abstract_eval(*[get_aval(a) for a in args], **params)
    except Exception as e:  # noqa: BLE001 - any failure means: not a valid combination
        return f"{type(e).__name__}: {e}"
    return None


def primitive_cases(prims: Sequence[Primitive] | None = None,
                    extra_args: dict[str, Callable] | None = None,
                    extra_params: dict[str, Sequence[dict]] | None = None) -> list:
    """Test cases for the registered primitives (or ``prims``).

    For each primitive: each dict of ``test_params`` (``{}`` when it declares none) times
    each dtype. ``extra_args`` and ``extra_params`` (keyed by primitive name) stand in for
    ``test_args`` and ``test_params`` that a primitive does not declare. Inputs come from
    ``test_args``, called as
    ``test_args(rng)``, ``test_args(rng, dtype)`` or ``test_args(rng, dtype, params)``
    depending on how many arguments it takes; shapes must not depend on ``rng``, so that
    inputs of different draws can be stacked for vmap. Without ``test_args``, each argument
    is an array of shape (3, 4) from the primitive's domain, the number of arguments being
    the length of ``domain`` (or the positional parameters of ``impl``). Dtypes are
    ``prim.test_dtypes`` when declared, else every supported dtype that ``abstract_eval``
    accepts. A primitive with no valid combination becomes an :class:`UnsupportedCase`.

    Returns
    -------
    list of PrimCase and UnsupportedCase
    """
    extra_args, extra_params = extra_args or {}, extra_params or {}
    prims = sorted(primitives.values(), key=lambda p: p.name) if prims is None else prims
    out: list = []
    for prim in prims:
        test_args = getattr(prim, "test_args", None) or extra_args.get(prim.name)
        nparams = _num_positional(test_args) if test_args is not None else None
        if test_args is not None and nparams is None:
            nparams = 3
        declared = getattr(prim, "test_dtypes", None)
        if test_args is not None and nparams < 2:
            dtypes = ["args"]
        else:
            dtypes = [np.dtype(d).name for d in (declared or SUPPORTED_DTYPES)]
        if test_args is None and _arity(prim) is None:
            out.append(UnsupportedCase(prim, f"{prim.name}: cannot tell how many arguments "
                                       f"it takes; declare test_args or domain"))
            continue
        found, errors = [], []
        param_dicts = (extra_params.get(prim.name) or getattr(prim, "test_params", None)
                       or ({},))
        for i, params in enumerate(param_dicts):
            for dt in dtypes:
                make = _maker(prim, params, dt, test_args, nparams or 0)
                err = _probe(prim, params, make)
                if err is None or declared or dt == "args":
                    found.append(PrimCase(prim, dict(params), dt, i, make))
                else:
                    errors.append(err)
        if found:
            out.extend(found)
        else:
            out.append(UnsupportedCase(
                prim, f"{prim.name}: no test inputs could be built ({errors[-1]}); declare "
                      f"test_params and/or test_args on the primitive"))
    return out
