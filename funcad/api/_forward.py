"""Staging and forward mode: make_jaxpr, eval_shape, jvp, linearize.

``make_jaxpr`` and ``eval_shape`` trace a function to a jaxpr at abstract inputs. ``jvp`` runs
the JVP interpreter over the flattened function. ``linearize`` runs it under partial
evaluation, so the primal outputs are computed now and the tangent map is staged into a linear
jaxpr (``linearize_flat``, which reverse mode then transposes).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

from funcad.api._args import (_abstractify, _as_value, _check_fun, _flatten_fun,
                              _flatten_fun_aux, _fun_name, _split_aux)
from funcad.core import ShapedArray, current_interpreter, get_aval, is_float, new_interpreter
from funcad.interpreters.jvp import jvp_flat
from funcad.interpreters.partial_eval import PartialEvalInterpreter
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.ir import eval_jaxpr
from funcad.rule_util import Zero, instantiate
from funcad.tree_util import tree_flatten, tree_unflatten


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
    _check_fun("make_jaxpr", fun)
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


def eval_shape(fun: Callable, *args, **kwargs):
    """Shapes and dtypes of ``fun(*args)`` as a pytree of :class:`ShapeDtypeStruct`, computed
    by tracing, without evaluating anything. Arguments may be arrays or ShapeDtypeStructs."""
    _check_fun("eval_shape", fun)
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
    if not is_float(pa.dtype) and is_float(ta.dtype):
        raise TypeError(f"{who}: primal input {i} has non-float dtype {pa.dtype} but its "
                        f"tangent has dtype {ta.dtype}. A non-float input has no derivative, "
                        f"so its tangent must be zeros of the primal's dtype (JAX's float0): "
                        f"pass np.zeros_like(x) for it, or make the input a float "
                        f"(x.astype(float)) to differentiate with respect to it.")


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """Forward-mode derivative: ``(fun(*primals), J(primals) @ tangents)``.

    ``primals`` and ``tangents`` are tuples (or lists) of pytrees of the same structure.
    """
    _check_fun("jvp", fun)
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
    _check_fun("linearize", fun)
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
