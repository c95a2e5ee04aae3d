"""Structured control flow: ``cond``, ``switch``, ``while_loop``, ``fori_loop``, ``scan``, ``map``.

Python ``if`` and ``for`` on traced values cannot be staged, so these functions take the
branches and loop bodies as Python functions, trace them once into jaxprs over the avals of
their (pytree) arguments, and bind a higher-order primitive holding those jaxprs:

==============  ==========================================================================
``cond_p``      funcad/primitives/control_cond.py  (``cond``, ``switch``)
``while_p``     funcad/primitives/control_while.py (``while_loop``, ``fori_loop`` with
                traced bounds), with ``while_transpose_p`` for reverse mode and
                ``while_sweeps_p`` (control_while_transpose.py) for higher orders
``scan_p``      funcad/primitives/control_scan.py  (``scan``, ``map``, ``fori_loop`` with
                concrete bounds)
==============  ==========================================================================

Values a branch or body reads from the enclosing scope become explicit operands of the
primitive (see funcad/primitives/control_jaxpr.py), so closures work under every
transformation. Type errors (branches returning different types, a carry that changes type,
xs of different lengths) are raised here, at trace time, naming both types.

Every transformation works on every primitive: jvp, vmap, and reverse mode -- including
through ``while_loop`` and ``fori_loop`` with traced bounds, which record what each iteration's
backward step needs (memory grows with the trip count; see control_while.py).
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import numpy as np

from funcad.core import Tracer, get_aval, int32, int64
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.primitives import binary as bi, elementwise as ew
from funcad.primitives.control_cond import cond_p
from funcad.primitives.control_jaxpr import hoist, join_consts, type_str
from funcad.primitives.control_scan import scan_p
from funcad.primitives.control_while import while_p, while_transpose_p
from funcad.primitives import control_while_transpose  # noqa: F401  (registers while_sweeps)
from funcad.rule_util import check_array_leaves
from funcad.tree_util import tree_flatten, tree_unflatten

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "map", "cond_p", "while_p",
           "while_transpose_p", "scan_p"]


def _as_leaf(x):
    """A pytree leaf as a value funcad holds (Python scalars become 0-d arrays)."""
    if isinstance(x, (Tracer, np.ndarray)):
        get_aval(x)
        return x
    return np.asarray(x, get_aval(x).dtype)


def _weak_leaves(leaves, avals) -> list:
    """Python scalars returned for a carry take the carry's dtype (JAX's weak typing), so
    ``lambda c: 0.0`` is a valid body for a float32 carry."""
    if len(leaves) != len(avals):
        return [_as_leaf(x) for x in leaves]
    out = []
    for x, a in zip(leaves, avals):
        t = type(x)
        if a.shape == () and (t is float and a.dtype.kind in "fc" or
                              t is complex and a.dtype.kind == "c" or
                              t is int and a.dtype.kind in "iufc" or
                              t is bool and a.dtype.kind == "b"):
            x = np.asarray(x, a.dtype)
        out.append(_as_leaf(x))
    return out


_LEAF_FIX = ("Loop carries, operands and results are arrays (and pytrees of arrays); keep "
             "Python values such as strings out of them (close over them instead).")


def _flatten_args(tree, who: str = "", what: str = "operands") -> tuple[list, Any, list]:
    leaves, treedef = tree_flatten(tree)
    check_array_leaves(leaves, tree, f"lax.{who}:", what, _LEAF_FIX)
    leaves = [_as_leaf(x) for x in leaves]
    return leaves, treedef, [get_aval(x) for x in leaves]


def _fun_name(f) -> str:
    return getattr(f, "__name__", type(f).__name__)


def _trace(fun: Callable, in_tree, in_avals, who: str, star: bool = False, weak=()):
    """Trace ``fun(args)`` (``fun(*args)`` with ``star``) to a jaxpr; returns (closed,
    out_tree, out_avals). Python scalar outputs take the dtypes in ``weak``."""
    store: dict = {}

    def flat(*leaves):
        args = tree_unflatten(in_tree, leaves)
        out = fun(*args) if star else fun(args)
        out_leaves, store["tree"] = tree_flatten(out)
        check_array_leaves(out_leaves, out, f"lax.{who}: in the result of {_fun_name(fun)},",
                           "out", _LEAF_FIX)
        return _weak_leaves(out_leaves, weak)

    closed = trace_to_jaxpr(flat, in_avals, who)
    return closed, store["tree"], closed.out_avals


# ---------------------------------------------------------------------------------------------
# cond and switch

def _branches(who: str, index, funs: Sequence[Callable], names: Sequence[str], operands,
              order: Sequence[int] | None = None):
    """Trace the branches (reporting type mismatches in ``order``) and bind cond_p."""
    leaves, tree, avals = _flatten_args(operands, who)
    traced = [_trace(f, tree, avals, who, star=True) for f in funs]
    order = list(range(len(funs))) if order is None else list(order)
    _, tree0, avals0 = traced[order[0]]
    for k in order[1:]:
        _, t, a = traced[k]
        if t != tree0 or a != avals0:
            name = names[k]
            raise TypeError(
                f"lax.{who}: {names[order[0]]} and {name} must return the same type (pytree "
                f"structure, shapes and dtypes), but {names[order[0]]} returned "
                f"{type_str(tree0, avals0)} and {name} returned {type_str(t, a)}. Make the "
                f"branches agree, e.g. with .astype(...) or by returning arrays of one shape.")
    branches, consts = join_consts([hoist(c) for c, _, _ in traced])
    outs = cond_p.bind(index, *consts, *leaves, branches=branches)
    return tree_unflatten(tree0, outs)


def cond(pred, true_fun: Callable, false_fun: Callable, *operands):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``, as one primitive.

    Parameters
    ----------
    pred : bool scalar
        The predicate (a scalar of any dtype is compared with zero).
    true_fun, false_fun : callable
        Branches; they must return values of the same type (pytree structure, shapes and
        dtypes). Both are traced; only one runs (under ``vmap`` with a batched ``pred``
        both run and each lane selects its result).
    *operands : pytrees
        Passed to the branch. Branches may also read values from the enclosing scope.

    Examples
    --------
    >>> import funcad, numpy as np
    >>> from funcad import lax
    >>> float(lax.cond(np.float64(2.0) > 1, lambda x: x * 10, lambda x: x, 3.0))
    30.0
    """
    if not callable(true_fun) or not callable(false_fun):
        raise TypeError("lax.cond: true_fun and false_fun must be callables; call it as "
                        "lax.cond(pred, true_fun, false_fun, *operands)")
    pred = _as_leaf(pred)
    pa = get_aval(pred)
    if pa.shape != ():
        raise TypeError(f"lax.cond: pred must be a scalar, got {pa.str_short()}. For an "
                        f"elementwise choice use lax.select or fnp.where.")
    if pa.dtype.kind != "b":
        pred = bi.ne(pred, np.asarray(0, pa.dtype))
    index = ew.convert_element_type(pred, int32)
    return _branches("cond", index, (false_fun, true_fun), ("false_fun", "true_fun"), operands,
                     order=(1, 0))


def switch(index, branches: Sequence[Callable], *operands):
    """``branches[index](*operands)``, with ``index`` clamped to ``[0, len(branches) - 1]``.

    Parameters
    ----------
    index : integer scalar
        Which branch runs (under ``vmap`` with a batched index every branch runs and each
        lane selects its result).
    branches : sequence of callables
        They must all return values of one type (pytree structure, shapes and dtypes).
    *operands : pytrees
        Passed to the chosen branch.

    Examples
    --------
    >>> from funcad import lax
    >>> float(lax.switch(1, [lambda x: x + 1.0, lambda x: x * 10.0], 2.0))
    20.0
    """
    if callable(branches) or not isinstance(branches, Sequence) or not branches or \
            not all(callable(b) for b in branches):
        raise TypeError("lax.switch: branches must be a non-empty sequence of callables; "
                        "call it as lax.switch(index, [f0, f1, ...], *operands)")
    index = _as_leaf(index)
    ia = get_aval(index)
    if ia.shape != () or ia.dtype.kind not in "iu":
        raise TypeError(f"lax.switch: index must be an integer scalar (i32[] or i64[]), got "
                        f"{ia.str_short()}. Convert it, e.g. index.astype(int), or use "
                        f"lax.cond for a boolean predicate.")
    n = len(branches)
    index = ew.convert_element_type(index, int32)
    if not isinstance(index, Tracer):
        index = np.asarray(np.clip(index, 0, n - 1), np.int32)
    else:
        index = bi.max(bi.min(index, np.asarray(n - 1, np.int32)), np.asarray(0, np.int32))
    names = [f"branches[{i}]" for i in range(n)]
    return _branches("switch", index, branches, names, operands)


# ---------------------------------------------------------------------------------------------
# while_loop and fori_loop

def while_loop(cond_fun: Callable, body_fun: Callable, init_val):
    """``val = init_val; while cond_fun(val): val = body_fun(val)``, as one primitive.

    Parameters
    ----------
    cond_fun : callable
        ``cond_fun(val)`` returns a boolean scalar.
    body_fun : callable
        ``body_fun(val)`` returns the next value, of ``init_val``'s type (pytree structure,
        shapes and dtypes; Python scalars take the carry's dtype).
    init_val : pytree
        The initial loop carry.

    Notes
    -----
    Every transformation applies. Reverse mode (``grad``, ``vjp``), which JAX does not offer
    for while loops, first runs the loop to count its iterations, then runs it forward again
    recording what the backward pass needs, then runs the transposed body backwards. With a
    concrete count (``grad`` outside ``jit``) the record is the stacked residuals of a scan
    (memory ``trip_count * sizeof(residuals)``) and every higher derivative works, including
    ``grad(grad(f))``. Under ``jit``/``make_jaxpr`` or inside another loop's body the count is
    abstract; the record is then the primal carry of each iteration (memory ``trip_count *
    sizeof(carry)``). Higher orders work there too: forward-over-reverse (``hessian``) directly,
    and reverse-over-reverse (``grad(grad(f))``) through ``while_sweeps``, which records the
    loop once and sweeps over the record as often as the order needs (memory ``trip_count *
    sizeof(per-iteration intermediates)``). See funcad/primitives/control_while.py and
    control_while_transpose.py.

    Examples
    --------
    >>> from funcad import lax
    >>> n, x = lax.while_loop(lambda c: c[1] < 100.0, lambda c: (c[0] + 1, c[1] * 3.0), (0, 1.0))
    >>> int(n), float(x)
    (5, 243.0)
    """
    leaves, tree, avals = _flatten_args(init_val, "while_loop", "init_val")
    cond_closed, c_tree, c_avals = _trace(cond_fun, tree, avals, "while_loop")
    if c_tree.num_leaves != 1 or len(c_avals) != 1 or c_avals[0].shape != () or \
            c_avals[0].dtype.kind != "b":
        raise TypeError(f"lax.while_loop: cond_fun ({_fun_name(cond_fun)}) must return a "
                        f"boolean scalar (bool[]), but it returned "
                        f"{type_str(c_tree, c_avals)}.")
    body_closed, b_tree, b_avals = _trace(body_fun, tree, avals, "while_loop", weak=avals)
    if b_tree != tree or b_avals != avals:
        raise TypeError(
            f"lax.while_loop: body_fun ({_fun_name(body_fun)}) must return a value of the "
            f"same type as init_val (the loop carry), but init_val has type "
            f"{type_str(tree, avals)} and body_fun returned {type_str(b_tree, b_avals)}. "
            f"Give init_val the carry's final dtype and shape (e.g. 0.0 rather than 0).")
    cj, cc = hoist(cond_closed)
    bj, bc = hoist(body_closed)
    outs = while_p.bind(*cc, *bc, *leaves, cond_jaxpr=cj, body_jaxpr=bj,
                        cond_nconsts=len(cc), body_nconsts=len(bc))
    return tree_unflatten(tree, outs)


def _bound_dtype(lower, upper):
    dts = []
    for name, b in (("lower", lower), ("upper", upper)):
        if isinstance(b, bool) or isinstance(b, np.bool_):
            raise TypeError(f"lax.fori_loop: {name} must be an integer scalar, got a bool")
        if isinstance(b, int):
            continue
        a = get_aval(_as_leaf(b))
        if a.shape != () or a.dtype.kind not in "iu":
            la, ua = (get_aval(_as_leaf(x)).str_short() for x in (lower, upper))
            raise TypeError(f"lax.fori_loop: lower and upper must be integer scalars, got "
                            f"lower: {la} and upper: {ua}. Convert them, e.g. with int(...)"
                            f" or .astype(int).")
        dts.append(a.dtype)
    return np.result_type(*dts) if dts else int64


def fori_loop(lower, upper, body_fun: Callable, init_val):
    """``val = init_val; for i in range(lower, upper): val = body_fun(i, val)``.

    With concrete bounds (Python or NumPy integers) this is a ``scan`` of length
    ``upper - lower``; with traced bounds (under ``jit``/``make_jaxpr``, or batched by
    ``vmap``) it is a ``while_loop``. Both support every transformation, reverse mode
    included (see :func:`while_loop` for its memory cost with traced bounds).

    Parameters
    ----------
    lower, upper : integer scalars
    body_fun : callable
        ``body_fun(i, val)`` returns the next value, of ``init_val``'s type.
    init_val : pytree

    Examples
    --------
    >>> from funcad import lax
    >>> float(lax.fori_loop(0, 4, lambda i, x: x + i, 0.0))
    6.0
    """
    dt = _bound_dtype(lower, upper)
    _, tree, avals = _flatten_args(init_val, "fori_loop", "init_val")
    _, ia_tree, ia_avals = _flatten_args((np.asarray(0, dt), init_val))
    _, b_tree, b_avals = _trace(lambda a: body_fun(*a), ia_tree, ia_avals, "fori_loop",
                                weak=avals)
    if b_tree != tree or b_avals != avals:
        raise TypeError(
            f"lax.fori_loop: body_fun ({_fun_name(body_fun)}) must return a value of the same "
            f"type as init_val (the loop carry), but init_val has type {type_str(tree, avals)} "
            f"and body_fun returned {type_str(b_tree, b_avals)}. Give init_val the carry's "
            f"final dtype and shape (e.g. 0.0 rather than 0).")
    if not isinstance(lower, Tracer) and not isinstance(upper, Tracer):
        lo, hi = operator.index(lower), operator.index(upper)

        def step(carry, _):
            i, x = carry
            return (bi.add(i, np.asarray(1, dt)), body_fun(i, x)), None

        (_, out), _ = scan(step, (np.asarray(lo, dt), init_val), None, length=max(hi - lo, 0))
        return out
    lo = ew.convert_element_type(_as_leaf(lower), dt)
    hi = ew.convert_element_type(_as_leaf(upper), dt)

    def keep_going(carry):
        return bi.lt(carry[0], hi)

    def body(carry):
        i, x = carry
        return bi.add(i, np.asarray(1, dt)), body_fun(i, x)

    return while_loop(keep_going, body, (lo, init_val))[1]


# ---------------------------------------------------------------------------------------------
# scan and map

def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False,
         unroll: int = 1):
    """Loop ``f(carry, x) -> (carry, y)`` over the leading axis of ``xs``.

    Returns ``(final_carry, ys)`` with the ys stacked on a new leading axis. Equivalent to::

        carry = init; ys = []
        for x in (reversed(xs) if reverse else xs):
            carry, y = f(carry, x); ys.append(y)
        return carry, stack(ys if not reverse else ys[::-1])

    Parameters
    ----------
    f : callable
        ``f(carry, x)`` returning ``(new_carry, y)``; ``new_carry`` must have ``init``'s type.
    init : pytree
        The initial carry.
    xs : pytree or None
        Arrays scanned over their leading axis (all of one length). None: ``f`` gets None
        and ``length`` must be given.
    length : int, optional
        The number of iterations (checked against ``xs``).
    reverse : bool
        Run from the last slice to the first (ys keep their positions).
    unroll : int
        Accepted for JAX compatibility; ignored.
    """
    del unroll
    c_leaves, c_tree, c_avals = _flatten_args(init, "scan", "init")
    x_leaves, x_tree, x_avals = _flatten_args(xs, "scan", "xs")
    lengths = []
    for k, a in enumerate(x_avals):
        if a.ndim == 0:
            raise TypeError(f"lax.scan: xs leaf {k} has type {a.str_short()}, which has no "
                            f"leading axis to scan over")
        lengths.append(a.shape[0])
    if len(set(lengths)) > 1:
        desc = ", ".join(f"leaf {k}: {a.str_short()}" for k, a in enumerate(x_avals))
        raise ValueError(f"lax.scan: all xs must have the same leading axis length, but xs "
                         f"has type {type_str(x_tree, x_avals)} ({desc}).")
    if length is not None:
        length = operator.index(length)
        if lengths and lengths[0] != length:
            raise ValueError(f"lax.scan: length={length} but the xs have leading axis "
                             f"{lengths[0]} (xs type {type_str(x_tree, x_avals)})")
    elif lengths:
        length = lengths[0]
    else:
        raise ValueError("lax.scan: with xs=None (or no arrays in xs) pass length=...")
    slice_avals = [a.update(shape=a.shape[1:]) for a in x_avals]
    n_c = len(c_leaves)
    store: dict = {}

    def flat(*leaves):
        carry = tree_unflatten(c_tree, leaves[:n_c])
        x = tree_unflatten(x_tree, leaves[n_c:])
        out = f(carry, x)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise TypeError(f"lax.scan: f ({_fun_name(f)}) must return a pair "
                            f"(new_carry, y), got {type(out).__name__}")
        new_c, c_t = tree_flatten(out[0])
        ys, store["y_tree"] = tree_flatten(out[1])
        store["c_tree"] = c_t
        return _weak_leaves(new_c, c_avals) + [_as_leaf(y) for y in ys]

    closed = trace_to_jaxpr(flat, c_avals + slice_avals, "scan")
    out_c_avals = closed.out_avals[:store["c_tree"].num_leaves]
    if store["c_tree"] != c_tree or out_c_avals != c_avals:
        raise TypeError(
            f"lax.scan: f ({_fun_name(f)}) must return a carry of the same type as init, but "
            f"init has type {type_str(c_tree, c_avals)} and f returned the carry "
            f"{type_str(store['c_tree'], out_c_avals)}. Give init the carry's final dtype "
            f"and shape (e.g. 0.0 rather than 0).")
    jaxpr, consts = hoist(closed)
    outs = scan_p.bind(*consts, *c_leaves, *x_leaves, jaxpr=jaxpr,
                       num_consts=len(consts), num_carry=n_c, length=length,
                       reverse=bool(reverse))
    return (tree_unflatten(c_tree, outs[:n_c]), tree_unflatten(store["y_tree"], outs[n_c:]))


def map(f: Callable, xs):  # noqa: A001 - JAX's name
    """``stack([f(x) for x in xs])`` over the leading axis of the pytree ``xs``, as a scan.

    Examples
    --------
    >>> import numpy as np
    >>> from funcad import lax
    >>> lax.map(lambda x: x * x, np.arange(4.0))
    array([0., 1., 4., 9.])
    """
    _, ys = scan(lambda _, x: (None, f(x)), None, xs)
    return ys

