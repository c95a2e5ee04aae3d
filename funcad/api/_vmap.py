"""vmap: run a function on a whole batch by giving every value a batch axis.

``vmap`` matches ``in_axes`` against the arguments with ``broadcast_prefix``, checks every
mapped axis (in range, and the same size for all mapped arguments), wraps the mapped leaves in
``BatchTracer``s of one ``BatchInterpreter``, calls the function, and moves each output's batch
axis to where ``out_axes`` asks. Its errors name each argument leaf by the parameter's name and
the path inside that argument (``_leaf_names``).
"""
from __future__ import annotations

import functools
from typing import Callable

from funcad.api._args import _as_value, _check_fun, _fun_name
from funcad.core import current_interpreter, get_aval, new_interpreter, set_interpreter
from funcad.interpreters.batching import BatchInterpreter, BatchTracer
from funcad.rule_util import bdim_to
from funcad.tree_util import broadcast_prefix, tree_flatten, tree_unflatten
from funcad.tree_util._nodes import _sorted_keys


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
    the builtin containers; other nodes give ``prefix`` plus a leaf number). Walks with an
    explicit stack: a pytree thousands of levels deep is fine."""
    out = []
    stack = [(x, prefix)]
    while stack:
        x, prefix = stack.pop()
        if x is None:
            continue
        t = type(x)
        if t in (tuple, list) or (isinstance(x, tuple) and hasattr(x, "_fields")):
            named = hasattr(x, "_fields")
            stack.extend((c, f"{prefix}.{x._fields[i]}" if named else f"{prefix}[{i}]")
                         for i, c in reversed(list(enumerate(x))))
        elif t is dict:
            stack.extend((x[k], f"{prefix}[{k!r}]") for k in reversed(_sorted_keys(x)))
        else:
            leaves = tree_flatten(x)[0]
            out.extend([prefix] if len(leaves) == 1 and leaves[0] is x else
                       [f"{prefix} (leaf {j})" for j in range(len(leaves))])
    return out


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
    _check_fun("vmap", fun)
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
        self.cm = set_interpreter(interp.prev)

    def __enter__(self):
        return self.cm.__enter__()

    def __exit__(self, *exc):
        return self.cm.__exit__(*exc)
