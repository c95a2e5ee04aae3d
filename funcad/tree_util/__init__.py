"""Pytrees: nested containers taken apart into a flat list of leaves and a structure.

Transformations work on flat lists of arrays, but users pass tuples, dicts, namedtuples and
dataclasses of arrays. Such a nested value is a *pytree*. ``tree_flatten`` takes it apart into
its *leaves* (everything that is not a container: arrays, scalars, strings, ...) and a
``PyTreeDef`` recording the containers; ``tree_unflatten`` puts it back together::

    >>> leaves, treedef = tree_flatten((1, {"b": [2, 3], "a": 4}))
    >>> leaves
    [1, 4, 2, 3]
    >>> treedef
    PyTreeDef((*, {'a': *, 'b': [*, *]}))
    >>> tree_unflatten(treedef, [10, 40, 20, 30])
    (10, {'a': 40, 'b': [20, 30]})

The semantics are JAX's. Container ("node") types are tuple, list, dict (children in sorted-key
order), ``collections.OrderedDict`` (insertion order), ``collections.defaultdict``, namedtuples
(any tuple subclass with ``_fields``), ``None`` (a node with no children, so it holds no leaf),
and whatever is registered with ``register_pytree_node``, ``register_pytree_node_class`` or
``register_dataclass``. Lookup is by exact type: an unregistered subclass of dict or list is a
leaf. Everything else, NumPy arrays included, is a leaf.

A ``PyTreeDef`` is the preorder sequence of the tree's nodes, each stored as ``(kind, aux_data,
num_children)``, with ``None`` standing for a leaf. Being one flat tuple, it compares at C
speed and its hash is computed once and cached (``jit`` uses it as a cache key); the structure
of a flat tuple or list of leaves is a shared object, so the usual ``args`` tuple costs almost
nothing. Flatten / unflatten walk the sequence with an explicit stack, so neither wide nor deep
trees hit Python's recursion limit.

The package is split by responsibility. ``_nodes`` holds the node kinds, their registry and the
``register_*`` functions; ``_treedef`` holds ``PyTreeDef`` and ``tree_flatten`` /
``tree_unflatten`` (with ``tree_leaves``, ``tree_structure``, ``treedef_is_leaf``); this module
holds the functions built on them (``tree_map``, ``tree_all``, ``tree_reduce``,
``tree_transpose``, ``broadcast_prefix``) and is the public interface: import from here.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from funcad.tree_util._nodes import (_LIST, _NAMEDTUPLE, _TUPLE, _kind_of, register_dataclass,
                                     register_pytree_node, register_pytree_node_class)
from funcad.tree_util._treedef import (IsLeaf, PyTree, PyTreeDef, _flatten_up_to, _Mismatch,
                                       tree_flatten, tree_leaves, tree_structure, tree_unflatten,
                                       treedef_is_leaf)

__all__ = [
    "PyTreeDef",
    "broadcast_prefix",
    "register_dataclass",
    "register_pytree_node",
    "register_pytree_node_class",
    "tree_all",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_reduce",
    "tree_structure",
    "tree_transpose",
    "tree_unflatten",
    "treedef_is_leaf",
]


# ---------------------------------------------------------------------------------------------
# Functions over whole trees, built on flatten / unflatten
# ---------------------------------------------------------------------------------------------


def tree_map(
    f: Callable[..., Any], tree: PyTree, *rest: PyTree, is_leaf: IsLeaf = None
) -> PyTree:
    """Apply ``f`` leafwise, to one tree or to several trees of the same structure.

    Parameters
    ----------
    f : callable
        Called as ``f(x, *xs)`` with the leaf of ``tree`` and the matching leaves of ``rest``.
    tree : pytree
        Its structure is the structure of the result.
    *rest : pytree
        Each has ``tree``'s structure, or extends it below its leaves (then ``f`` receives the
        whole subtree found there, as in JAX).
    is_leaf : callable, optional
        As in ``tree_flatten``; applied when flattening ``tree``.

    Returns
    -------
    pytree
        ``tree``'s structure holding the results of ``f``.

    Raises
    ------
    ValueError
        If a tree in ``rest`` does not match; the message shows both structures.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    if not rest:
        return treedef.unflatten([f(x) for x in leaves])
    all_leaves = [leaves]
    for other in rest:
        other_leaves, other_def = tree_flatten(other, is_leaf)
        if other_def != treedef:
            try:
                other_leaves = _flatten_up_to(treedef._records, other)
            except _Mismatch as e:
                raise ValueError(
                    f"tree_map: tree structures differ: {treedef!r} vs {other_def!r} ({e}); "
                    "every tree passed to tree_map must have the structure of the first"
                ) from None
        all_leaves.append(other_leaves)
    return treedef.unflatten([f(*xs) for xs in zip(*all_leaves)])


def tree_all(tree: PyTree, is_leaf: IsLeaf = None) -> bool:
    """Whether every leaf of ``tree`` is truthy (True for a tree without leaves)."""
    return all(tree_leaves(tree, is_leaf))


_NO_INITIALIZER = object()


def tree_reduce(
    f: Callable[[Any, Any], Any],
    tree: PyTree,
    initializer: Any = _NO_INITIALIZER,
    is_leaf: IsLeaf = None,
) -> Any:
    """Fold ``f(accumulated, leaf)`` over the leaves, left to right, like ``functools.reduce``.

    ``initializer`` is the start value; it is required when ``tree`` has no leaves.
    """
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INITIALIZER:
        if not leaves:
            raise TypeError("tree_reduce: the tree has no leaves; pass an initializer")
        return functools.reduce(f, leaves)
    return functools.reduce(f, leaves, initializer)


def tree_transpose(
    outer_treedef: PyTreeDef, inner_treedef: PyTreeDef, pytree_to_transpose: PyTree
) -> PyTree:
    """Turn ``outer_treedef``-of-``inner_treedef`` into ``inner_treedef``-of-``outer_treedef``.

    For example a list of ``(a, b)`` pairs becomes a pair of lists, with
    ``outer_treedef = tree_structure([0, 0, 0])`` and ``inner_treedef = tree_structure((0, 0))``.
    """
    outer = outer_treedef.flatten_up_to(pytree_to_transpose)
    rows = [inner_treedef.flatten_up_to(sub) for sub in outer]
    if rows:
        columns = [outer_treedef.unflatten(col) for col in zip(*rows)]
    else:
        columns = [outer_treedef.unflatten([]) for _ in range(inner_treedef.num_leaves)]
    return inner_treedef.unflatten(columns)


def _is_none(x: Any) -> bool:
    return x is None


def broadcast_prefix(prefix_tree: PyTree, full_tree: PyTree, is_leaf: IsLeaf = None) -> list:
    """For every leaf of ``full_tree``, the leaf of ``prefix_tree`` whose subtree covers it.

    This is how ``vmap``'s ``in_axes`` / ``out_axes`` apply: ``in_axes=(0, None)`` for
    ``args = (x, {"a": y, "b": z})`` gives ``[0, None, None]``. In the prefix, ``None`` is a
    leaf (meaning "not batched"); in ``full_tree`` it is an empty node, as everywhere else.

    Parameters
    ----------
    prefix_tree : pytree
        A tree whose structure is a prefix of ``full_tree``'s.
    full_tree : pytree
        The tree to broadcast against; flattened without ``is_leaf``.
    is_leaf : callable, optional
        Extra leaf test for ``prefix_tree``, on top of ``x is None``.

    Returns
    -------
    list
        One entry per leaf of ``full_tree``, in flattening order.

    Raises
    ------
    ValueError
        If ``prefix_tree`` is not a prefix of ``full_tree``; the message shows both structures.
    """
    prefix_is_leaf = _is_none if is_leaf is None else (lambda x: x is None or is_leaf(x))
    prefix_leaves, prefix_def = tree_flatten(prefix_tree, prefix_is_leaf)
    try:
        subtrees = _flatten_up_to(prefix_def._records, full_tree)
    except _Mismatch as e:
        raise ValueError(
            f"broadcast_prefix: {prefix_def!r} is not a prefix of {tree_structure(full_tree)!r} "
            f"({e}); the prefix must follow the full tree's containers down to where it stops"
        ) from None
    out: list = []
    for p, sub in zip(prefix_leaves, subtrees):
        if _kind_of(sub) is None:
            out.append(p)
        else:
            out.extend([p] * tree_structure(sub).num_leaves)
    return out


def leaf_paths(tree: PyTree, prefix: str = "") -> list[str]:
    """Readable paths of the leaves of ``tree``, in ``tree_flatten``'s order, for error
    messages: ``prefix[0]['a'].field`` (tuple and list positions, dict keys, namedtuple
    fields; the children of other nodes by position). Walks with an explicit stack, so deep
    trees do not hit the recursion limit."""
    paths: list[str] = []
    stack = [(tree, prefix)]
    while stack:
        x, path = stack.pop()
        kind = _kind_of(x)
        if kind is None:
            paths.append(path)
            continue
        children, aux = (x, None) if kind in (_TUPLE, _LIST) else kind.flatten(x)
        if kind is _NAMEDTUPLE:
            names = [f".{f}" for f in type(x)._fields]
        elif isinstance(x, dict):
            keys = aux[1] if isinstance(x, defaultdict) else aux
            names = [f"[{k!r}]" for k in keys]
        else:
            names = [f"[{i}]" for i in range(len(children))]
        stack.extend((c, path + n) for c, n in zip(reversed(list(children)), reversed(names)))
    return paths
