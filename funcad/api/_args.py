"""From the user's function and pytrees to the flat lists the interpreters work on, and back.

Every transformation in ``funcad.api`` flattens its arguments to leaves, turns the user's
function into one from flat leaves to flat leaves (remembering the output's tree and, with
``has_aux``, the aux value's), and picks out the arguments named by ``argnums``. Those shared
steps and their checks live here; their errors name the transformation and the function.
"""
from __future__ import annotations

import numpy as np

from funcad.core import ShapedArray, Tracer, _SUPPORTED, check_dtype, get_aval
from funcad.tree_util import tree_flatten, tree_unflatten


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


def _abstractify(x) -> ShapedArray:
    if isinstance(x, ShapedArray):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, (np.ndarray,
                                                                         np.generic, Tracer)):
        return ShapedArray(x.shape, check_dtype(x.dtype))
    return get_aval(x)


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


def _check_fun(who: str, fun) -> None:
    """A transformation's first argument must be callable: say so when it is made."""
    if not callable(fun):
        raise TypeError(f"{who}: expected a function to transform, got {fun!r} of type "
                        f"{type(fun).__name__}. Pass the function itself, e.g. "
                        f"{who}(f)(x), not {who}(f(x)).")


def _check_argnums(who: str, argnums, name: str = "the function") -> tuple:
    """``argnums`` as a tuple of ints, checked when the transformation is made: ints only (no
    floats, no bools) and no repeats (a repeated argnum would differentiate one argument
    twice, of which only one copy can receive the gradient)."""
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return (argnums,)
    try:
        nums = tuple(argnums)
    except TypeError:
        nums = None
    if nums is None or not nums or any(not isinstance(a, int) or isinstance(a, bool)
                                       for a in nums):
        raise TypeError(f"{who}({name}): argnums must be an int or a non-empty tuple of ints, "
                        f"got {argnums!r} of type {type(argnums).__name__}. For example "
                        f"argnums=1 or argnums=(0, 2).")
    if len(set(nums)) != len(nums):
        dup = sorted({a for a in nums if nums.count(a) > 1})
        raise ValueError(f"{who}({name}): argnums {argnums!r} repeats {dup[0]}; each argument "
                         f"may be named once. Remove the duplicate (to use one argument in "
                         f"two places, pass it twice as two arguments).")
    return nums


def _argnums_tuple(who, argnums, nargs, name="the function"):
    if type(argnums) is int and 0 <= argnums < nargs:
        return (argnums,)
    nums = _check_argnums(who, argnums, name)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ValueError(f"{who}({name}): argnums {argnums!r} is out of range: {name} was "
                             f"called with {nargs} positional argument(s), so each argnum "
                             f"must be in [{-nargs}, {nargs}). Pass the arguments to "
                             f"differentiate positionally, or fix argnums.")
    out = tuple(a % nargs for a in nums)
    if len(set(out)) != len(out):   # (0, -2) with two arguments
        raise ValueError(f"{who}({name}): argnums {argnums!r} names the same argument twice "
                         f"(called with {nargs} positional arguments); remove the duplicate.")
    return out


def _partial_args(fun, args, kwargs, argnums):
    if argnums == (0,) and len(args) == 1:  # f(x): nothing to splice
        return (lambda x: fun(x, **kwargs)) if kwargs else fun

    def f(*dyn):
        full = list(args)
        for i, a in zip(argnums, dyn):
            full[i] = a
        return fun(*full, **kwargs)
    return f


# ---------------------------------------------------------------------------------------------
# Dtypes of derivatives: JAX's rules for complex numbers and holomorphic=True


def check_holomorphic_input(who: str, dtype, holomorphic: bool, forward: bool) -> None:
    """The input dtype rules of ``grad``/``jacrev`` (``forward`` False) and ``jacfwd``: with
    ``holomorphic`` the inputs must be complex; without, forward mode takes real inputs only
    (a complex tangent basis would need a choice of directions the user has not made)."""
    dt = np.dtype(dtype)
    if holomorphic and dt.kind != "c":
        raise TypeError(f"{who} with holomorphic=True requires inputs with complex dtype, but "
                        f"got {dt.name}. Convert them (x.astype(complex)) or drop "
                        f"holomorphic=True.")
    if forward and not holomorphic and dt.kind == "c":
        raise TypeError(f"{who} requires real-valued inputs (a float dtype), but got "
                        f"{dt.name}. For holomorphic differentiation, pass holomorphic=True. "
                        f"For non-holomorphic functions of complex inputs, use funcad.jvp "
                        f"directly (or split the input into real and imaginary parts).")


def check_holomorphic_output(who: str, dtype, holomorphic: bool) -> None:
    """The output dtype rules of ``grad`` and ``jacrev``: real outputs, or with
    ``holomorphic`` complex ones."""
    dt = np.dtype(dtype)
    if holomorphic:
        if dt.kind != "c":
            raise TypeError(f"{who} with holomorphic=True requires outputs with complex "
                            f"dtype, but got {dt.name}.")
    elif dt.kind == "c":
        raise TypeError(f"{who} requires real-valued outputs (a float dtype), but got "
                        f"{dt.name}. For holomorphic differentiation, pass holomorphic=True. "
                        f"For non-holomorphic functions with complex outputs, use funcad.vjp "
                        f"directly (or differentiate the real and imaginary parts).")
