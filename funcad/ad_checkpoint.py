"""Gradient checkpointing: ``checkpoint`` (``remat``), its policies, ``checkpoint_name``.

Reverse mode keeps every intermediate value the backward pass needs (the *residuals*) from the
forward pass to the backward pass. ``checkpoint(f)`` computes the same values and derivatives
as ``f`` but keeps only what its ``policy`` allows (by default: only ``f``'s inputs) and
recomputes the rest in the backward pass: less memory for more compute. The classic use is a
loop body: ``grad`` of a ``scan`` whose body is checkpointed keeps one carry per step instead
of every intermediate of every step.

The primitive and its rules are in funcad/primitives/remat.py. A policy is a function
``policy(prim, *in_avals, **params) -> bool`` saying whether the output of one equation of the
(differentiated) body may be saved; :data:`checkpoint_policies` has JAX's.
"""
from __future__ import annotations

import functools
import types
from typing import Callable, Sequence

from funcad import core
from funcad.api._args import _as_value, _fun_name
from funcad.api._forward import linearize_flat
from funcad.core import Tracer, get_aval
from funcad.interpreters.jaxpr_util import hoist
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.ir import Lit
from funcad.primitives.annotations import name_p
from funcad.primitives.linalg import dot_general_p
from funcad.primitives.remat import (checkpoint_p, dots_saveable, everything_saveable,
                                     nothing_saveable)
from funcad.rule_util import check_array_leaves
from funcad.tree_util import leaf_paths, tree_flatten, tree_map, tree_unflatten

__all__ = ["checkpoint", "remat", "checkpoint_name", "checkpoint_policies",
           "print_saved_residuals", "saved_residuals"]


# ---------------------------------------------------------------------------------------------
# Policies

def dots_with_no_batch_dims_saveable(prim, *avals, **params) -> bool:
    """Policy: save the results of matrix products without batch dimensions."""
    if prim is not dot_general_p:
        return False
    (_, _), (lb, rb) = params["dimension_numbers"]
    return not lb and not rb


def _names(who: str, names) -> frozenset:
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"checkpoint_policies.{who}: names must be strings, passed as "
                            f"separate arguments ({who}('a', 'b')); got {n!r}")
    return frozenset(names)


def _factory(fn):
    fn._policy_factory = True   # a policy maker, not a policy: checkpoint says to call it
    return fn


@_factory
def save_only_these_names(*names: str) -> Callable:
    """Policy: save only the values named with :func:`checkpoint_name` by one of ``names``."""
    keep = _names("save_only_these_names", names)

    def policy(prim, *avals, **params):
        return prim is name_p and params["name"] in keep
    return policy


@_factory
def save_any_names_but_these(*names: str) -> Callable:
    """Policy: save every named value (:func:`checkpoint_name`) except those in ``names``."""
    drop = _names("save_any_names_but_these", names)

    def policy(prim, *avals, **params):
        return prim is name_p and params["name"] not in drop
    return policy


@_factory
def save_anything_except_these_names(*names: str) -> Callable:
    """Policy: save every value except the ones named by one of ``names``."""
    drop = _names("save_anything_except_these_names", names)

    def policy(prim, *avals, **params):
        return not (prim is name_p and params["name"] in drop)
    return policy


@_factory
def save_from_both_policies(policy_1: Callable, policy_2: Callable) -> Callable:
    """Policy: save what either policy saves."""
    for p in (policy_1, policy_2):
        _check_policy(p, "save_from_both_policies")

    def policy(prim, *avals, **params):
        return bool(policy_1(prim, *avals, **params) or policy_2(prim, *avals, **params))
    return policy


checkpoint_policies = types.SimpleNamespace(
    nothing_saveable=nothing_saveable, everything_saveable=everything_saveable,
    dots_saveable=dots_saveable, checkpoint_dots=dots_saveable,
    dots_with_no_batch_dims_saveable=dots_with_no_batch_dims_saveable,
    checkpoint_dots_with_no_batch_dims=dots_with_no_batch_dims_saveable,
    save_only_these_names=save_only_these_names,
    save_any_names_but_these=save_any_names_but_these,
    save_anything_except_these_names=save_anything_except_these_names,
    save_from_both_policies=save_from_both_policies)
checkpoint_policies.__doc__ = ("The checkpoint policies (JAX's names): functions "
                               "policy(prim, *avals, **params) -> bool, and makers of them.")


def _check_policy(policy, who: str) -> None:
    if policy is None:
        return
    if getattr(policy, "_policy_factory", False):
        raise TypeError(f"{who}: {policy.__name__} makes a policy; call it with the names "
                        f"(or policies) it takes, e.g. policy=checkpoint_policies."
                        f"{policy.__name__}('h') for values named with checkpoint_name(x, "
                        f"'h').")
    if not callable(policy):
        raise TypeError(f"{who}: policy must be None or a function policy(prim, *avals, "
                        f"**params) -> bool such as checkpoint_policies.dots_saveable; got "
                        f"{policy!r} of type {type(policy).__name__}")
    try:
        hash(policy)
    except TypeError:
        raise TypeError(f"{who}: policy must be hashable (it is a parameter of the "
                        f"checkpoint equation); got an unhashable {type(policy).__name__}. "
                        f"Use a function.") from None


# ---------------------------------------------------------------------------------------------
# checkpoint

def _static_argnums(name: str, static_argnums) -> tuple:
    if isinstance(static_argnums, int) and not isinstance(static_argnums, bool):
        return (static_argnums,)
    try:
        nums = tuple(static_argnums)
    except TypeError:
        nums = None
    if nums is None or any(not isinstance(n, int) or isinstance(n, bool) for n in nums):
        raise TypeError(f"checkpoint({name}): static_argnums must be an int or a tuple of ints, "
                        f"got {static_argnums!r}. For example static_argnums=(1,).")
    return nums


_LEAF_FIX = ("The arguments and results of a checkpointed function are arrays (and pytrees of "
             "arrays); mark a Python constant argument with static_argnums.")


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Callable | None = None,
               static_argnums: int | Sequence[int] = ()) -> Callable:
    """``fun`` with the same values and derivatives, whose reverse mode saves only what
    ``policy`` allows and recomputes the rest in the backward pass (JAX's ``jax.checkpoint``).

    Parameters
    ----------
    fun : callable
        A function of arrays (pytrees of arrays; keyword arguments are traced too).
    prevent_cse : bool
        Under ``jit``, keep the recomputation apart from the forward pass: the backward pass
        reads the saved values through an ``optimization_barrier``, so common-subexpression
        elimination cannot merge the recomputed values with the forward pass's copies (which
        would keep them alive until the backward pass, as without a checkpoint). Only
        straight-line code needs it; in a loop body (``scan``) the forward and backward passes
        are different loops and ``False`` loses nothing.
    policy : callable or None
        ``policy(prim, *in_avals, **params) -> bool``: may the output of this equation be
        saved? None (the default) saves nothing but ``fun``'s inputs. See
        :data:`checkpoint_policies`.
    static_argnums : int or tuple of ints
        Positional arguments that are Python values (``fun`` sees them while tracing, so
        Python control flow may depend on them); they are not differentiated.

    Returns
    -------
    callable
        A function of the same arguments as ``fun``.

    Examples
    --------
    >>> import numpy as np, funcad, funcad.numpy as fnp
    >>> f = funcad.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
    >>> float(funcad.grad(f)(0.5)) == float(np.cos(np.sin(0.5)) * np.cos(0.5))
    True
    """
    if not callable(fun):
        raise TypeError(f"checkpoint: expected a function, got {fun!r} of type "
                        f"{type(fun).__name__}. Use it as checkpoint(f) or @checkpoint, and "
                        f"pass options by keyword: checkpoint(f, policy=...).")
    name = _fun_name(fun)
    _check_policy(policy, f"checkpoint({name})")
    nums = _static_argnums(name, static_argnums)
    prevent_cse = bool(prevent_cse)

    @functools.wraps(fun)
    def fun_remat(*args, **kwargs):
        n = len(args)
        for i in nums:
            if not -n <= i < n:
                raise ValueError(f"checkpoint({name}): static_argnums {nums} refers to "
                                 f"argument {i}, but {name} was called with {n} positional "
                                 f"argument(s); each must be in [{-n}, {n}).")
        static = {i % n for i in nums}
        for i in sorted(static):
            if isinstance(args[i], Tracer):
                raise TypeError(f"checkpoint({name}): argument {i} is marked static "
                                f"(static_argnums) but is a traced value "
                                f"({args[i].aval.str_short()}); a static argument must be a "
                                f"Python value known while tracing. Drop {i} from "
                                f"static_argnums to pass it as an array.")
        dyn = (tuple(a for i, a in enumerate(args) if i not in static), kwargs)
        leaves, in_tree = tree_flatten(dyn)
        if core.is_eager() and not any(isinstance(x, Tracer) for x in leaves):
            return fun(*args, **kwargs)   # no transformation: the body is the answer
        check_array_leaves(leaves, dyn, f"checkpoint({name}):", "(args, kwargs)", _LEAF_FIX)
        leaves = [_as_value(x) for x in leaves]
        store: dict = {}

        def flat(*xs):
            d_args, kw = tree_unflatten(in_tree, xs)
            it = iter(d_args)
            out = fun(*[args[i] if i in static else next(it) for i in range(n)], **kw)
            out_leaves, store["tree"] = tree_flatten(out)
            check_array_leaves(out_leaves, out, f"checkpoint({name}): in the output of "
                               f"{name},", "out", _LEAF_FIX)
            return [_as_value(o) for o in out_leaves]

        closed = trace_to_jaxpr(flat, [get_aval(x) for x in leaves], f"checkpoint({name})")
        jaxpr, consts = hoist(closed)
        outs = checkpoint_p.bind(*consts, *leaves, jaxpr=jaxpr, prevent_cse=prevent_cse,
                                 policy=policy)
        return tree_unflatten(store["tree"], outs)

    return fun_remat


remat = checkpoint


def checkpoint_name(x, name: str):
    """``x`` (a pytree of arrays) unchanged, named ``name`` for checkpoint policies such as
    ``checkpoint_policies.save_only_these_names(name)``.

    >>> import numpy as np, funcad
    >>> funcad.checkpoint_name(np.ones(2), "h")
    array([1., 1.])
    """
    if not isinstance(name, str):
        raise TypeError(f"checkpoint_name: the name must be a string, got {name!r} of type "
                        f"{type(name).__name__}")
    return tree_map(lambda a: name_p.bind(_as_value(a), name=name), x)


# ---------------------------------------------------------------------------------------------
# What reverse mode saves

def saved_residuals(fun: Callable, *args, **kwargs) -> list:
    """What reverse mode of ``fun`` at ``args`` (differentiated) and ``kwargs`` (held fixed)
    keeps for the backward pass: a list of ``(aval, description)``, one per residual (JAX's
    ``saved_residuals``). Found by tracing ``linearize`` abstractly; nothing is computed."""
    leaves, in_tree = tree_flatten(args)
    leaves = [_as_value(x) for x in leaves]

    def flat(*xs):
        out = fun(*tree_unflatten(in_tree, xs), **kwargs)
        return tree_flatten(out)[0]

    def residuals(*xs):
        _, lin, _ = linearize_flat(flat, list(xs), "saved_residuals")
        return list(lin.consts)

    closed = trace_to_jaxpr(residuals, [get_aval(x) for x in leaves], "saved_residuals")
    j = closed.jaxpr
    paths = leaf_paths(args, "args")
    arg_of = dict(zip(j.invars, paths))
    producer = {v: e for e in j.eqns for v in e.outvars}
    out = []
    for v in j.outvars:
        if type(v) is Lit:
            out.append((v.aval, "a literal"))
        elif v in arg_of:
            out.append((v.aval, f"from the argument {arg_of[v]}"))
        elif v in producer:
            e = producer[v]
            what = (f"named '{e.params['name']}'" if e.prim is name_p else
                    f"output of {e.prim.name}")
            out.append((v.aval, what))
        else:
            out.append((v.aval, "a constant"))
    return out


def print_saved_residuals(fun: Callable, *args, **kwargs) -> None:
    """Print :func:`saved_residuals`: one line per residual, its type and where it comes from.

    >>> import numpy as np, funcad, funcad.numpy as fnp
    >>> funcad.ad_checkpoint.print_saved_residuals(
    ...     funcad.checkpoint(lambda x: fnp.sum(fnp.sin(x))), np.ones(3))
    f64[3] from the argument args[0]
    """
    for aval, what in saved_residuals(fun, *args, **kwargs):
        print(f"{aval.str_short()} {what}")
