"""The transformations users call: make_jaxpr, jvp, linearize, vjp, grad, jacobians, vmap.

Each function here takes pytrees, flattens them, runs an interpreter from
``funcad.interpreters`` over a flat function, checks what the user gave, and unflattens the
results. Nothing here knows about individual primitives.
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Callable, Sequence

import math

import numpy as np

from funcad.core import (ShapedArray, Tracer, _SUPPORTED, current_interpreter, get_aval,
                         is_float, new_interpreter)
from funcad.interpreters.batching import BatchInterpreter, BatchTracer, moveaxis, bdim_to
from funcad.interpreters.jvp import JVPTracer, Zero, instantiate, jvp_flat, zeros_like_aval
from funcad.interpreters.partial_eval import PartialEvalInterpreter
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.interpreters.transpose import UndefinedPrimal, backward_pass, undefined
from funcad.ir import ClosedJaxpr, eval_jaxpr
from funcad.tree_util import (broadcast_prefix, tree_flatten, tree_map, tree_structure,
                              tree_unflatten)

__all__ = ["make_jaxpr", "eval_shape", "ShapeDtypeStruct", "jvp", "linearize", "vjp",
           "linear_transpose", "grad", "value_and_grad", "jacfwd", "jacrev", "jacobian",
           "hessian", "vmap"]


def _fun_name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def _as_value(x):
    """A leaf as something funcad can hold: tracers and arrays stay, scalars become arrays."""
    if type(x) is np.ndarray and x.dtype in _SUPPORTED:
        return x
    if isinstance(x, (Tracer, np.ndarray)):
        get_aval(x)
        return x
    if isinstance(x, (list, tuple)):
        raise TypeError("a list or tuple leaf cannot be an array here")
    return np.asarray(x, get_aval(x).dtype)


def _flatten_fun(fun, in_tree, store: dict):
    """A flat version of ``fun``: flat inputs -> flat outputs, remembering the output tree."""
    def flat(*leaves):
        out = fun(*tree_unflatten(in_tree, leaves))
        out_leaves, out_tree = tree_flatten(out)
        store["out_tree"] = out_tree
        return out_leaves
    return flat


def _flatten_fun_aux(fun, in_tree, store: dict, has_aux: bool, name: str | None = None):
    """Like _flatten_fun; with ``has_aux`` the aux leaves follow the output leaves, so that the
    transformation lowers them to plain values like any output (they must not escape as
    tracers). ``store["n_out"]`` counts the real outputs, ``store["aux_tree"]`` is aux's tree.
    """
    def flat(*leaves):
        out = _aux_wrap(fun, has_aux, store, name)(*tree_unflatten(in_tree, leaves))
        out_leaves, out_tree = tree_flatten(out)
        store["out_tree"], store["n_out"] = out_tree, len(out_leaves)
        if not has_aux:
            return out_leaves
        aux_leaves, store["aux_tree"] = tree_flatten(store.pop("aux"))
        return out_leaves + aux_leaves
    return flat


def _split_aux(store: dict, leaves: list):
    """(output leaves, aux pytree or None) from the flat results of _flatten_fun_aux."""
    n = store["n_out"]
    aux = tree_unflatten(store["aux_tree"], leaves[n:]) if "aux_tree" in store else None
    return leaves[:n], aux


# ---------------------------------------------------------------------------------------------
# Staging

class ShapeDtypeStruct(ShapedArray):
    """The shape and dtype of an array, without its values."""
    __slots__ = ()


def make_jaxpr(fun: Callable, static_argnums: int | Sequence[int] = ()):
    """A function returning the :class:`~funcad.ir.ClosedJaxpr` that ``fun`` traces to.

    >>> import funcad, funcad.numpy as fnp, numpy as np
    >>> print(funcad.make_jaxpr(lambda x: fnp.sum(fnp.sin(x)))(np.ones(3)))
    { lambda ; a:f64[3]. let
        b:f64[3] = sin a
        c:f64[] = reduce_sum[axes=(0,)] b
      in (c,) }
    """
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def wrapped(*args, **kwargs):
        dyn = [a for i, a in enumerate(args) if i not in static]

        def call(*dyn_args):
            it = iter(dyn_args)
            full = [a if i in static else next(it) for i, a in enumerate(args)]
            return fun(*full, **kwargs)

        leaves, in_tree = tree_flatten(tuple(dyn))
        avals = [_abstractify(x) for x in leaves]
        store: dict = {}
        return trace_to_jaxpr(_flatten_fun(call, in_tree, store), avals, "make_jaxpr")

    return wrapped


def _abstractify(x) -> ShapedArray:
    if isinstance(x, ShapedArray):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, (np.ndarray,
                                                                         np.generic, Tracer)):
        from funcad.core import check_dtype
        return ShapedArray(x.shape, check_dtype(x.dtype))
    return get_aval(x)


def eval_shape(fun: Callable, *args, **kwargs):
    """Shapes and dtypes of ``fun(*args)`` as a pytree of :class:`ShapeDtypeStruct`, computed
    by tracing, without evaluating anything. Arguments may be arrays or ShapeDtypeStructs."""
    leaves, in_tree = tree_flatten(args)
    avals = [_abstractify(x) for x in leaves]
    store: dict = {}
    closed = trace_to_jaxpr(_flatten_fun(lambda *a: fun(*a, **kwargs), in_tree, store), avals,
                            "eval_shape")
    outs = [ShapeDtypeStruct(a.shape, a.dtype) for a in
            [o.aval for o in closed.jaxpr.outvars]]
    return tree_unflatten(store["out_tree"], outs)


# ---------------------------------------------------------------------------------------------
# Forward mode

def _check_tangent(who, i, p, t):
    pa, ta = get_aval(p), get_aval(t)
    if pa.shape != ta.shape:
        raise ValueError(f"{who}: the tangent for primal input {i} has shape {ta.shape}, but "
                         f"the primal has shape {pa.shape}; they must be equal")
    if is_float(pa.dtype) and ta.dtype != pa.dtype:
        raise TypeError(f"{who}: the tangent for primal input {i} has dtype {ta.dtype}, but "
                        f"the primal has dtype {pa.dtype}; they must be equal")


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Forward-mode derivative: ``(fun(*primals), J(primals) @ tangents)``.

    ``primals`` and ``tangents`` are tuples (or lists) of pytrees of the same structure.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples or lists of arguments, "
                        "e.g. jvp(f, (x,), (t,))")
    p_leaves, p_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ValueError(f"jvp of {_fun_name(fun)}: primals and tangents must have the same "
                         f"tree structure; got primals {p_tree} and tangents {t_tree}")
    p_leaves = [_as_value(p) for p in p_leaves]
    t_leaves = [_as_value(t) for t in t_leaves]
    ts = []
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        _check_tangent("jvp", i, p, t)
        ts.append(t if is_float(get_aval(p).dtype) else Zero(get_aval(p)))
    store: dict = {}
    flat = _flatten_fun_aux(fun, p_tree, store, has_aux)
    outs, t_outs = jvp_flat(flat, p_leaves, ts)
    outs, aux = _split_aux(store, outs)
    out_tree = store["out_tree"]
    t_outs = [instantiate(t) for t in t_outs[:len(outs)]]
    if has_aux:
        return (tree_unflatten(out_tree, outs), tree_unflatten(out_tree, t_outs), aux)
    return tree_unflatten(out_tree, outs), tree_unflatten(out_tree, t_outs)


def _aux_wrap(fun, has_aux, store, name=None):
    if not has_aux:
        return fun
    name = name or _fun_name(fun)

    def f(*args):
        out = fun(*args)
        if not (isinstance(out, tuple) and len(out) == 2):
            got = ("an array" if isinstance(out, (Tracer, np.ndarray, np.generic)) else
                   f"a {type(out).__name__}" + (f" of length {len(out)}"
                                                if isinstance(out, tuple) else ""))
            raise TypeError(f"has_aux=True requires {name} to return a pair "
                            f"(output, aux); it returned {got}. Return (output, aux) or "
                            f"drop has_aux=True.")
        store["aux"] = out[1]
        return out[0]
    return f


# ---------------------------------------------------------------------------------------------
# Linearize and reverse mode

def linearize_flat(fun, primals, name="linearize", dce: bool = True):
    """Returns (primals_out, linear ClosedJaxpr over the float inputs' tangents, float mask).

    The jaxpr's inputs are the tangents of the inputs whose dtype is float (``mask``).
    ``dce=False`` keeps dead equations (for a jaxpr that only goes to ``backward_pass``)."""
    pe = PartialEvalInterpreter(current_interpreter(), name)
    avals = [get_aval(p) for p in primals]
    mask = [is_float(a.dtype) for a in avals]
    t_in = [pe.new_arg(a) for a, m in zip(avals, mask) if m]
    it = iter(t_in)
    tangents = [next(it) if m else Zero(a) for a, m in zip(avals, mask)]
    with new_interpreter(pe):
        outs, t_outs = jvp_flat(fun, primals, tangents, name)
        t_outs = [instantiate(t) for t in t_outs]
        lin = pe.finish(t_in, t_outs, dce)
    return outs, lin, mask


def linearize(fun: Callable, *primals):
    """``(fun(*primals), f_jvp)`` where ``f_jvp(*tangents)`` evaluates the linear map
    ``J(primals) @ tangents`` from a jaxpr, without re-running ``fun``."""
    p_leaves, p_tree = tree_flatten(primals)
    p_leaves = [_as_value(p) for p in p_leaves]
    store: dict = {}
    outs, lin, mask = linearize_flat(_flatten_fun(fun, p_tree, store), p_leaves)
    out_tree = store["out_tree"]

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(tangents)
        if t_tree != p_tree:
            raise ValueError(f"linearize: tangents must have the primals' structure "
                             f"{p_tree}; got {t_tree}")
        for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
            _check_tangent("linearize", i, p, t)
        t_outs = eval_jaxpr(lin.jaxpr, lin.consts, [t for t, m in zip(t_leaves, mask) if m])
        return tree_unflatten(out_tree, t_outs)

    f_jvp.jaxpr = lin
    return tree_unflatten(out_tree, outs), f_jvp


def _zeros_for(p):
    return zeros_like_aval(get_aval(p))


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """``(fun(*primals), vjp_fn)``; ``vjp_fn(ct)`` returns one cotangent per primal.

    With ``has_aux=True`` ``fun`` returns ``(out, aux)`` and vjp returns
    ``(out, vjp_fn, aux)``.
    """
    return _vjp(fun, primals, has_aux, "vjp", _fun_name(fun))


def _linearize_tree(fun, p_leaves, p_tree, has_aux, who, name):
    """``fun`` (taking the pytree ``p_tree``) linearized at the flat ``p_leaves``, for reverse
    mode: ``(outs, out_tree, aux, lin, mask)`` with the flat outputs and the linear jaxpr."""
    store: dict = {}
    flat = _flatten_fun_aux(fun, p_tree, store, has_aux, name)
    outs, lin, mask = linearize_flat(flat, p_leaves, who, dce=False)
    outs, aux = _split_aux(store, outs)
    return outs, store["out_tree"], aux, lin, mask


def _pullback(lin, mask, p_leaves, p_tree, cts):
    """Input cotangents (the primals' pytree) from the flat output cotangents ``cts``."""
    jaxpr = lin.jaxpr
    args = [undefined(v.aval) for v in jaxpr.invars]
    n_aux = len(jaxpr.outvars) - len(cts)
    res = backward_pass(jaxpr, lin.consts, args, list(cts) + [None] * n_aux if n_aux else cts)
    it = iter(res)
    cts_in = [instantiate(next(it)) if m else _zeros_for(p) for p, m in zip(p_leaves, mask)]
    return tree_unflatten(p_tree, cts_in)


def _vjp(fun, primals, has_aux, who, name):
    """vjp, with the transformation's name ``who`` (for tracers that escape) and the user
    function's ``name`` (for error messages)."""
    p_leaves, p_tree = tree_flatten(primals)
    p_leaves = [_as_value(p) for p in p_leaves]
    outs, out_tree, aux, lin, mask = _linearize_tree(fun, p_leaves, p_tree, has_aux, who, name)
    out_avals = [get_aval(o) for o in outs]

    def vjp_fn(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"vjp of {name}: the cotangent must have the structure of "
                             f"{name}'s output, {out_tree}; got {ct_tree}")
        cts = []
        for i, (c, a) in enumerate(zip(ct_leaves, out_avals)):
            c = _as_value(c)
            ca = get_aval(c)
            where = "the cotangent" if len(out_avals) == 1 else f"cotangent leaf {i}"
            if ca.shape != a.shape:
                raise ValueError(f"vjp of {name}: {where} has shape {ca.shape}, but {name}'s "
                                 f"output has shape {a.shape} ({a.str_short()}); pass a "
                                 f"cotangent of the output's shape and dtype")
            if is_float(a.dtype) and ca.dtype != a.dtype:
                raise TypeError(f"vjp of {name}: {where} has dtype {ca.dtype}, but {name}'s "
                                f"output has dtype {a.dtype} ({a.str_short()}); convert it "
                                f"with .astype({a.dtype.name})")
            cts.append(c)
        return _pullback(lin, mask, p_leaves, p_tree, cts)

    out = tree_unflatten(out_tree, outs)
    if has_aux:
        return out, vjp_fn, aux
    return out, vjp_fn


def linear_transpose(fun: Callable, *primals):
    """The transpose of the linear function ``fun``, at inputs shaped like ``primals``."""
    p_leaves, p_tree = tree_flatten(primals)
    avals = [_abstractify(p) for p in p_leaves]
    store: dict = {}
    closed = trace_to_jaxpr(_flatten_fun(fun, p_tree, store), avals, "linear_transpose")
    out_tree = store["out_tree"]

    def transposed(ct):
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ValueError(f"linear_transpose: the cotangent must have the structure "
                             f"{out_tree}; got {ct_tree}")
        res = backward_pass(closed.jaxpr, closed.consts,
                            [UndefinedPrimal(a) for a in avals], ct_leaves)
        return tree_unflatten(p_tree, [instantiate(r) for r in res])

    return transposed


def _argnums_tuple(who, argnums, nargs, name="the function"):
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,)
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{who}({name}): argnums must be an int or a tuple of ints, got "
                            f"{argnums!r}")
        if not -nargs <= a < nargs:
            raise ValueError(f"{who}({name}): argnums {argnums!r} is out of range: {name} was "
                             f"called with {nargs} positional argument(s), so each argnum "
                             f"must be in [{-nargs}, {nargs}). Pass the arguments to "
                             f"differentiate positionally, or fix argnums.")
    return tuple(a % nargs for a in nums)


def _partial_args(fun, args, kwargs, argnums):
    if argnums == (0,) and len(args) == 1:  # f(x): nothing to splice
        return (lambda x: fun(x, **kwargs)) if kwargs else fun

    def f(*dyn):
        full = list(args)
        for i, a in zip(argnums, dyn):
            full[i] = a
        return fun(*full, **kwargs)
    return f


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   allow_int: bool = False):
    """A function returning ``(fun(*args), gradient)`` (``((value, aux), gradient)`` with
    ``has_aux``). ``fun`` must return a real scalar."""
    name = _fun_name(fun)

    @functools.wraps(fun)
    def vg(*args, **kwargs):
        nums = _argnums_tuple("grad", argnums, len(args), name)
        dyn = (args[nums[0]],) if len(nums) == 1 else tuple([args[i] for i in nums])
        p_leaves, p_tree = tree_flatten(dyn)
        p_leaves = [_as_value(p) for p in p_leaves]
        if not allow_int:
            for leaf in p_leaves:
                if get_aval(leaf).dtype.kind != "f":
                    _raise_int_input(name, nums, dyn)
        outs, out_tree, aux, lin, mask = _linearize_tree(
            _partial_args(fun, args, kwargs, nums), p_leaves, p_tree, has_aux, "grad", name)
        value = tree_unflatten(out_tree, outs)
        if len(outs) != 1 or outs[0] is not value:
            raise TypeError(f"grad requires a scalar output; {name} returned a "
                            f"{type(value).__name__} (a pytree of {len(outs)} arrays). Use "
                            f"jacrev or vjp for non-scalar outputs, or has_aux=True to "
                            f"return extra values.")
        a = get_aval(value)
        if a.shape != ():
            raise TypeError(f"grad requires a scalar output; {name} returned an array of "
                            f"shape {a.shape}. Use jacrev or vjp for non-scalar outputs (or "
                            f"sum the output).")
        if not is_float(a.dtype):
            raise TypeError(f"grad requires a float output; {name} returned dtype {a.dtype}")
        g = _pullback(lin, mask, p_leaves, p_tree, [np.array(1, a.dtype)])
        g = g[0] if isinstance(argnums, int) else g
        if has_aux:
            return (value, aux), g
        return value, g

    return vg


def _raise_int_input(name, nums, dyn):
    for k, a in zip(nums, dyn):
        for leaf in tree_flatten(a)[0]:
            dt = get_aval(leaf).dtype
            if not is_float(dt):
                raise TypeError(
                    f"grad requires real-valued (float) inputs; argument {k} of {name} "
                    f"has dtype {dt}. Pass floats (for example x.astype(float)) or use "
                    f"allow_int=True.")


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
         allow_int: bool = False):
    """The gradient of a scalar function, with respect to argument(s) ``argnums``.

    >>> import funcad, funcad.numpy as fnp
    >>> float(funcad.grad(fnp.sin)(0.0))
    1.0
    """
    vg = value_and_grad(fun, argnums, has_aux, allow_int)

    @functools.wraps(fun)
    def g(*args, **kwargs):
        (v, g_) = vg(*args, **kwargs)
        if has_aux:
            return g_, v[1]
        return g_

    return g


# ---------------------------------------------------------------------------------------------
# vmap

def _check_axis(who, axis, ndim, what):
    if axis is None:
        return None
    if not isinstance(axis, int):
        raise TypeError(f"{who}: axes must be ints or None, got {axis!r} for {what}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{who}: axis {axis} is out of range for {what}, which has rank "
                         f"{ndim} (valid axes: {-ndim} to {ndim - 1})")
    return axis % ndim


def _paths(x, prefix: str) -> list:
    """Readable paths of the leaves of ``x`` for error messages, in tree_flatten's order (for
    the builtin containers; other nodes give ``prefix`` plus a leaf number)."""
    if x is None:
        return []
    t = type(x)
    if t in (tuple, list) or (isinstance(x, tuple) and hasattr(x, "_fields")):
        named = hasattr(x, "_fields")
        return [p for i, c in enumerate(x)
                for p in _paths(c, f"{prefix}.{x._fields[i]}" if named else f"{prefix}[{i}]")]
    if t is dict:
        from funcad.tree_util import _sorted_keys
        return [p for k in _sorted_keys(x) for p in _paths(x[k], f"{prefix}[{k!r}]")]
    n = len(tree_flatten(x)[0])
    return [prefix] if n == 1 and tree_flatten(x)[0][0] is x else \
        [f"{prefix} (leaf {j})" for j in range(n)]


def _leaf_names(fun, args, kwargs) -> list:
    """One readable name per leaf of ``(args, kwargs)``: the parameter name and the path."""
    import inspect
    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    names = []
    for i, a in enumerate(args):
        base = f"argument {params[i]}" if i < len(params) else f"argument {i}"
        names.extend(_paths(a, base))
    for k in sorted(kwargs):
        names.extend(_paths(kwargs[k], f"keyword argument {k}"))
    return names


def vmap(fun: Callable, in_axes=0, out_axes=0, axis_size: int | None = None):
    """Vectorise ``fun`` over an axis of its inputs.

    ``in_axes`` is an int, None, or a tuple with one entry per positional argument, each a
    pytree prefix of that argument (ints or None). ``out_axes`` likewise for the output.
    Keyword arguments are mapped over axis 0.
    """
    name = _fun_name(fun)
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)

    @functools.wraps(fun)
    def batched(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(f"vmap({name}): in_axes has {len(in_axes)} entries but {name} "
                             f"was called with {len(args)} positional arguments; give one "
                             f"entry per positional argument (None for unbatched ones)")
        leaves, in_tree = tree_flatten((args, kwargs))
        try:
            if isinstance(in_axes, tuple):
                axes = broadcast_prefix((in_axes, 0), (args, kwargs))
            else:
                axes = broadcast_prefix(((in_axes,) * len(args), 0), (args, kwargs))
        except ValueError as e:
            raise ValueError(f"vmap({name}): in_axes {in_axes!r} does not match the structure "
                             f"of the arguments: {e}") from None
        leaves = [_as_value(x) if a is not None else x for x, a in zip(leaves, axes)]
        names = _leaf_names(fun, args, kwargs)
        if len(names) != len(leaves):
            names = [f"argument leaf {i}" for i in range(len(leaves))]
        sizes = []
        for i, (x, a) in enumerate(zip(leaves, axes)):
            if a is None:
                continue
            nd = get_aval(x).ndim
            if nd == 0:
                raise ValueError(f"vmap({name}): in_axes gives axis {a} for {names[i]}, which "
                                 f"is a scalar (rank 0) and has no axis to map; use None in "
                                 f"in_axes for unbatched arguments")
            ax = _check_axis(f"vmap({name})", a, nd, names[i])
            sizes.append((i, ax, get_aval(x).shape[ax]))
        if not sizes and axis_size is None:
            raise ValueError(f"vmap({name}): no argument is mapped (all in_axes are None); "
                             f"pass axis_size=...")
        size = axis_size if axis_size is not None else sizes[0][2]
        if any(s != size for _, _, s in sizes):
            desc = "; ".join(f"{names[i]} has size {s} on axis {ax}" for i, ax, s in sizes)
            if axis_size is not None:
                desc += f"; axis_size is {axis_size}"
            raise ValueError(f"vmap({name}) got inconsistent sizes for the mapped axis: "
                             f"{desc}. Every mapped axis must have the same size; use None "
                             f"in in_axes for arguments that are not batched.")
        interp = BatchInterpreter(current_interpreter(), size, "vmap")
        ins = [x if a is None else BatchTracer(interp, x, a % get_aval(x).ndim)
               for x, a in zip(leaves, axes)]
        with new_interpreter(interp):
            a2, k2 = tree_unflatten(in_tree, ins)
            out = fun(*a2, **k2)
            out_leaves, out_tree = tree_flatten(out)
            try:
                oaxes = broadcast_prefix(out_axes, out)
            except ValueError as e:
                raise ValueError(f"vmap({name}): out_axes {out_axes!r} does not match the "
                                 f"structure of the output: {e}") from None
            results = []
            for j, (o, oa) in enumerate(zip(out_leaves, oaxes)):
                v, d = interp.lift(o)
                if oa is None:
                    if d is not None:
                        raise ValueError(f"vmap({name}): output leaf {j} ({get_aval(o).str_short()}"
                                         f" per example) depends on the mapped axis, but "
                                         f"out_axes is None for it; give it an axis (e.g. "
                                         f"out_axes=0) or return a value that does not "
                                         f"depend on the mapped inputs")
                    results.append(v)
                    continue
                nd = get_aval(v).ndim + (1 if d is None else 0)
                oa = _check_axis(f"vmap({name})", oa, nd, f"output leaf {j}")
                with new_interpreter_prev(interp):
                    results.append(bdim_to(_as_value(v), d, oa, size))
        return tree_unflatten(out_tree, results)

    return batched


class new_interpreter_prev:
    """Run a block under the interpreter below ``interp`` (to post-process its values)."""

    def __init__(self, interp):
        from funcad.core import set_interpreter
        self.cm = set_interpreter(interp.prev)

    def __enter__(self):
        return self.cm.__enter__()

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# Jacobians

def _std_basis(leaves):
    """Rows of the identity, split per leaf: leaf i gets an array (N,) + shape_i."""
    sizes = [math.prod(get_aval(x).shape) for x in leaves]
    n = sum(sizes)
    dts = [get_aval(x).dtype for x in leaves]
    dt = np.result_type(*dts) if dts else np.float64
    eye = np.eye(n, dtype=dt)
    out, start = [], 0
    for x, s, d in zip(leaves, sizes, dts):
        out.append(eye[:, start:start + s].reshape((n,) + get_aval(x).shape).astype(d))
        start += s
    return out, sizes


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """Jacobian by forward mode: one batched jvp over the input basis (vmap of jvp)."""

    def jac(*args, **kwargs):
        nums = _argnums_tuple("jacfwd", argnums, len(args), _fun_name(fun))
        dyn = tuple(args[i] for i in nums)
        f = _partial_args(fun, args, kwargs, nums)
        d_leaves, d_tree = tree_flatten(dyn)
        d_leaves = [_as_value(x) for x in d_leaves]
        for leaf in d_leaves:
            if not is_float(get_aval(leaf).dtype):
                raise TypeError(f"jacfwd requires float inputs; got dtype {get_aval(leaf).dtype}")
        basis, sizes = _std_basis(d_leaves)
        store: dict = {}

        def push(*t_leaves):
            primals = tree_unflatten(d_tree, d_leaves)
            tangents = tree_unflatten(d_tree, list(t_leaves))
            res = jvp(f, primals, tangents, has_aux=has_aux)
            if has_aux:
                store["aux"] = res[2]
            return res[0], res[1]

        y, jt = vmap(push, in_axes=0, out_axes=(None, 0))(*basis)
        y_leaves, y_tree = tree_flatten(y)
        jt_leaves = tree_flatten(jt)[0]
        per_out = []
        for yl, j in zip(y_leaves, jt_leaves):
            ya = get_aval(yl)
            # j: (N,) + y.shape  ->  y.shape + x_i.shape for each input leaf i
            j = np.moveaxis(np.asarray(j), 0, -1) if not isinstance(j, Tracer) else \
                _fnp().moveaxis(j, 0, -1)
            parts, start = [], 0
            for x, s in zip(d_leaves, sizes):
                part = j[..., start:start + s]
                parts.append(part.reshape(ya.shape + get_aval(x).shape))
                start += s
            per_out.append(tree_unflatten(d_tree, parts))
        if isinstance(argnums, int):
            per_out = [p[0] for p in per_out]
        out = tree_unflatten(y_tree, per_out)
        return (out, store["aux"]) if has_aux else out

    return jac


def _fnp():
    from funcad import numpy as fnp
    return fnp


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """Jacobian by reverse mode: one batched vjp over the output basis (vmap of vjp)."""

    def jac(*args, **kwargs):
        nums = _argnums_tuple("jacrev", argnums, len(args), _fun_name(fun))
        dyn = tuple(args[i] for i in nums)
        f = _partial_args(fun, args, kwargs, nums)
        res = _vjp(f, dyn, has_aux, "jacrev", _fun_name(fun))
        y, vjp_fn = res[0], res[1]
        y_leaves, y_tree = tree_flatten(y)
        y_leaves = [_as_value(v) for v in y_leaves]
        for leaf in y_leaves:
            if not is_float(get_aval(leaf).dtype):
                raise TypeError(f"jacrev requires float outputs; got dtype "
                                f"{get_aval(leaf).dtype}")
        basis, sizes = _std_basis(y_leaves)

        def pull(*ct_leaves):
            return vjp_fn(tree_unflatten(y_tree, list(ct_leaves)))

        cts = vmap(pull)(*basis)  # tuple over dyn args, each (N,) + x.shape
        ct_leaves, ct_tree = tree_flatten(cts)
        per_out, start = [], 0
        for yl, s in zip(y_leaves, sizes):
            ya = get_aval(yl)
            parts = [c[start:start + s].reshape(ya.shape + get_aval(c).shape[1:])
                     for c in ct_leaves]
            tree = tree_unflatten(ct_tree, parts)
            per_out.append(tree[0] if isinstance(argnums, int) else tree)
            start += s
        out = tree_unflatten(y_tree, per_out)
        return (out, res[2]) if has_aux else out

    return jac


jacobian = jacrev


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False):
    """The Hessian, as forward-over-reverse: ``jacfwd(jacrev(fun))``."""
    return jacfwd(jacrev(fun, argnums, has_aux), argnums, has_aux)
