"""Reverse mode: vjp, linear_transpose, value_and_grad, grad.

``vjp`` is linearize followed by transpose: ``linearize_flat`` stages the function's tangent map
into a linear jaxpr, and ``backward_pass`` runs that jaxpr backwards from the output cotangents
to one cotangent per input. ``value_and_grad`` is a vjp with cotangent 1 that first checks the
output is a real scalar and, unless ``allow_int``, that the inputs are floats.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from funcad.api._args import (_abstractify, _argnums_tuple, _as_value, _check_argnums,
                              _check_fun, _flatten_fun, check_holomorphic_input,
                              check_holomorphic_output,
                              _flatten_fun_aux, _fun_name, _partial_args, _split_aux)
from funcad.api._forward import linearize_flat
from funcad.core import get_aval, is_float
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.interpreters.transpose import backward_pass, undefined
from funcad.rule_util import UndefinedPrimal, instantiate, zeros_like_aval
from funcad.tree_util import tree_flatten, tree_unflatten


def _zeros_for(p):
    return zeros_like_aval(get_aval(p))


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """``(fun(*primals), vjp_fn)``; ``vjp_fn(ct)`` returns one cotangent per primal.

    With ``has_aux=True`` ``fun`` returns ``(out, aux)`` and vjp returns
    ``(out, vjp_fn, aux)``.
    """
    _check_fun("vjp", fun)
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
    _check_fun("linear_transpose", fun)
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


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
                   holomorphic: bool = False, allow_int: bool = False):
    """A function returning ``(fun(*args), gradient)`` (``((value, aux), gradient)`` with
    ``has_aux``). ``fun`` must return a real scalar (with ``holomorphic=True``, a complex
    scalar of complex inputs). See :func:`grad` for complex inputs."""
    return _value_and_grad(fun, argnums, has_aux, allow_int, "value_and_grad", holomorphic)


def _value_and_grad(fun, argnums, has_aux, allow_int, who, holomorphic=False):
    _check_fun(who, fun)
    name = _fun_name(fun)
    _check_argnums(who, argnums, name)

    @functools.wraps(fun)
    def vg(*args, **kwargs):
        nums = _argnums_tuple(who, argnums, len(args), name)
        dyn = (args[nums[0]],) if len(nums) == 1 else tuple([args[i] for i in nums])
        p_leaves, p_tree = tree_flatten(dyn)
        p_leaves = [_as_value(p) for p in p_leaves]
        for leaf in p_leaves:
            dt = get_aval(leaf).dtype
            if not allow_int and dt.kind not in "fc":
                _raise_int_input(name, nums, dyn)
            check_holomorphic_input(who, dt, holomorphic, forward=False)
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
        check_holomorphic_output(who, a.dtype, holomorphic)
        if not is_float(a.dtype):
            raise TypeError(f"grad requires a float output; {name} returned dtype {a.dtype}")
        # JAX's convention: the cotangent 1 (1+0j when holomorphic). For a real f of complex
        # z = x + iy this gives df/dx - i df/dy, the conjugate of the "steepest ascent"
        # direction: grad(|z|**2)(z) == 2 * conj(z).
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
         holomorphic: bool = False, allow_int: bool = False):
    """The gradient of a scalar function, with respect to argument(s) ``argnums``.

    ``fun`` returns a real scalar. Complex inputs follow JAX's convention: the gradient is
    the vjp of the cotangent 1, ``df/dx - i df/dy`` for ``z = x + iy`` (so ``grad(lambda z:
    abs(z) ** 2)(z) == 2 * conj(z)``; step along its conjugate to ascend). With
    ``holomorphic=True`` ``fun`` maps complex inputs to a complex scalar and the result is
    the complex derivative ``f'(z)``. A complex output without it is a TypeError.

    >>> import funcad, funcad.numpy as fnp
    >>> float(funcad.grad(fnp.sin)(0.0))
    1.0
    >>> complex(funcad.grad(lambda z: fnp.abs(z) ** 2)(3 + 4j))
    (6-8j)
    """
    vg = _value_and_grad(fun, argnums, has_aux, allow_int, "grad", holomorphic)

    @functools.wraps(fun)
    def g(*args, **kwargs):
        (v, g_) = vg(*args, **kwargs)
        if has_aux:
            return g_, v[1]
        return g_

    return g
