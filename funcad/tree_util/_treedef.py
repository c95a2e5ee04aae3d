"""``PyTreeDef``, the structure of a pytree, and the flatten / unflatten that make and use it.

A ``PyTreeDef`` is the preorder sequence of a tree's nodes, each ``(kind, aux_data,
num_children)`` with ``None`` for a leaf (the ``funcad.tree_util`` docstring says why).
``_flatten`` walks a tree into such records with an explicit stack; ``_build`` walks the records
backwards to rebuild the tree (or its printed form); ``_flatten_up_to`` matches a tree against a
structure that is a prefix of its own and names the first node that differs. Node kinds come
from ``funcad.tree_util._nodes``. The public names are re-exported by ``funcad.tree_util``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from funcad._memo import Memo
from funcad.tree_util._nodes import _LIST, _NAMEDTUPLE, _TUPLE, _kind_get, _kind_of, _NodeKind

PyTree = Any
Leaf = Any
IsLeaf = Callable[[Any], bool] | None


# ---------------------------------------------------------------------------------------------
# PyTreeDef
# ---------------------------------------------------------------------------------------------


class _Mismatch(ValueError):
    """Internal: a tree does not have the expected structure; callers reword it."""


def _build(records: tuple, leaves: Sequence, node_fn: Callable) -> Any:
    """Rebuild bottom-up: walk the preorder records backwards with a stack.

    Walking a preorder sequence backwards visits every node after all of its descendants, and
    leaves its children on the stack first child on top, so no recursion is needed.
    """
    stack: list = []
    push = stack.append
    i = len(leaves)
    for rec in reversed(records):
        if rec is None:
            i -= 1
            push(leaves[i])
        else:
            kind, aux, n = rec
            if n:
                children = stack[-n:]
                del stack[-n:]
                children.reverse()
            else:
                children = []
            push(node_fn(kind, aux, children))
    return stack[0]


def _unflatten_node(kind: _NodeKind, aux: Any, children: list) -> Any:
    return kind.unflatten(aux, children)


def _format_node(kind: _NodeKind, aux: Any, child_strings: list) -> str:
    return kind.format(aux, child_strings)


def _subtree_end(records: tuple, i: int) -> int:
    """Index just past the subtree whose root is ``records[i]``."""
    pending = 1
    while pending:
        rec = records[i]
        i += 1
        pending += -1 if rec is None else rec[2] - 1
    return i


class PyTreeDef:
    """The structure of a pytree: everything but its leaves.

    Equal structures compare equal and hash equal (node types, aux data and arities all
    match), so a ``PyTreeDef`` can key a cache. Build one with ``tree_structure`` or
    ``tree_flatten``, not directly.
    """

    __slots__ = ("_records", "_num_leaves", "_hash", "_flat")

    def __init__(self, records: tuple, num_leaves: int):
        self._records = records
        self._num_leaves = num_leaves
        self._hash: int | None = None  # computed on first use, then cached
        # A tuple or list whose children are all leaves gets a fast unflatten.
        root = records[0]
        flat = root is not None and (root[0] is _TUPLE or root[0] is _LIST)
        self._flat = root[0] if flat and root[2] == num_leaves == len(records) - 1 else None

    @property
    def num_leaves(self) -> int:
        """Number of leaves."""
        return self._num_leaves

    @property
    def num_nodes(self) -> int:
        """Number of nodes, leaves included."""
        return len(self._records)

    def unflatten(self, leaves: Iterable[Leaf]) -> PyTree:
        """Build the pytree of this structure holding ``leaves`` (in ``tree_flatten`` order)."""
        leaves = leaves if isinstance(leaves, (list, tuple)) else list(leaves)
        if len(leaves) != self._num_leaves:
            raise ValueError(
                f"PyTreeDef.unflatten: {self!r} has {self._num_leaves} leaves but "
                f"{len(leaves)} were given"
            )
        flat = self._flat
        if flat is _TUPLE:
            return tuple(leaves)
        if flat is _LIST:
            return list(leaves)
        return _build(self._records, leaves, _unflatten_node)

    def flatten_up_to(self, tree: PyTree) -> list:
        """The subtrees of ``tree`` found where this structure has its leaves.

        Raises
        ------
        ValueError
            If this structure is not a prefix of ``tree``'s.
        """
        try:
            return _flatten_up_to(self._records, tree)
        except _Mismatch as e:
            raise ValueError(
                f"flatten_up_to: {self!r} is not a prefix of {tree_structure(tree)!r} ({e})"
            ) from None

    def children(self) -> list[PyTreeDef]:
        """The structures of the root's children (empty for a leaf)."""
        records = self._records
        if records[0] is None:
            return []
        out, i = [], 1
        for _ in range(records[0][2]):
            j = _subtree_end(records, i)
            sub = records[i:j]
            out.append(PyTreeDef(sub, sum(rec is None for rec in sub)))
            i = j
        return out

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return self._num_leaves == other._num_leaves and self._records == other._records

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = self._hash = hash(self._records)
        return h

    def __repr__(self) -> str:
        return f"PyTreeDef({_build(self._records, ['*'] * self._num_leaves, _format_node)})"


# The (shared) structures of flat tuples and lists, by number of leaves. Only n <= 256 is
# kept (wider flat containers are rare and cheap to describe anyway), so they never fill.
_flat_memos: dict[_NodeKind, Memo] = {
    _TUPLE: Memo("tree_util: structures of flat tuples by length", 257),
    _LIST: Memo("tree_util: structures of flat lists by length", 257)}
_flat_defs: dict[_NodeKind, dict] = {k: m.table for k, m in _flat_memos.items()}  # inline reads


def _flat_treedef(kind: _NodeKind, n: int) -> PyTreeDef:
    """The (shared) structure of a tuple or list of ``n`` leaves: cheap to get, hash, compare."""
    treedef = _flat_defs[kind].get(n)
    if treedef is None:
        treedef = PyTreeDef(((kind, None, n),) + (None,) * n, n)
        if n <= 256:
            _flat_memos[kind].put(n, treedef)
    return treedef


def _flatten_up_to(records: tuple, tree: PyTree) -> list:
    """Walk ``tree`` along ``records`` (preorder); collect what sits at each leaf record."""
    out = []
    stack = [tree]
    for rec in records:
        x = stack.pop()
        if rec is None:
            out.append(x)
            continue
        kind, aux, n = rec
        if _kind_of(x) is not kind:
            raise _Mismatch(_mismatch_detail(rec, x))
        children, got_aux = kind.flatten(x)
        if len(children) != n or not (got_aux == aux):
            raise _Mismatch(_mismatch_detail(rec, x))
        stack.extend(reversed(children))
    return out


def _mismatch_detail(rec: tuple, x: Any) -> str:
    """'expected {'a': ..., 'b': ...}, got [..., ...]': one node of each side, children elided."""
    kind, aux, n = rec
    got_kind = _kind_of(x)
    if got_kind is None:
        got = f"a leaf of type {type(x).__name__}"
    else:
        children, got_aux = got_kind.flatten(x)
        got = got_kind.format(got_aux, ["..."] * len(children))
    return f"expected {kind.format(aux, ['...'] * n)}, got {got}"


# ---------------------------------------------------------------------------------------------
# Flatten / unflatten and friends
# ---------------------------------------------------------------------------------------------


def _flatten(tree: PyTree, is_leaf: IsLeaf) -> tuple[list, PyTreeDef]:
    leaves: list = []
    records: list = []
    stack = [tree]
    pop, extend = stack.pop, stack.extend
    add_leaf, add_record = leaves.append, records.append
    while stack:
        x = pop()
        if is_leaf is not None and is_leaf(x):
            kind = None
        else:
            kind = _kind_get(type(x))
            if kind is None and isinstance(x, tuple) and hasattr(type(x), "_fields"):
                kind = _NAMEDTUPLE
        if kind is None:
            add_leaf(x)
            add_record(None)
            continue
        if kind is _TUPLE or kind is _LIST:  # inlined: the most common nodes by far
            children, aux = x, None
        else:
            children, aux = kind.flatten(x)
        n = len(children)
        add_record((kind, aux, n))
        if n:
            extend(reversed(children))
    return leaves, PyTreeDef(tuple(records), len(leaves))


def tree_flatten(tree: PyTree, is_leaf: IsLeaf = None) -> tuple[list[Leaf], PyTreeDef]:
    """Take a pytree apart into its leaves and its structure.

    Parameters
    ----------
    tree : pytree
        The value to flatten.
    is_leaf : callable, optional
        Called on every subtree (root first); when it returns True the subtree is treated as
        a leaf and not looked into.

    Returns
    -------
    leaves : list
        The leaves, left to right (dict children in sorted-key order).
    treedef : PyTreeDef
        The structure; ``treedef.unflatten(leaves)`` rebuilds ``tree``.
    """
    t = type(tree)
    if (t is tuple or t is list) and is_leaf is None:
        # Fast path of _flatten (the plain rule, below) for the common `args` tuple: a flat
        # container of leaves.
        for x in tree:
            if _kind_get(type(x)) is not None or isinstance(x, tuple):
                break
        else:
            return list(tree), _flat_treedef(_TUPLE if t is tuple else _LIST, len(tree))
    return _flatten(tree, is_leaf)


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Leaf]) -> PyTree:
    """Build the pytree with structure ``treedef`` and the given leaves.

    Parameters
    ----------
    treedef : PyTreeDef
        The structure, from ``tree_flatten`` or ``tree_structure``.
    leaves : iterable
        Exactly ``treedef.num_leaves`` leaves, in flattening order.

    Returns
    -------
    pytree
    """
    return treedef.unflatten(leaves)


def tree_leaves(tree: PyTree, is_leaf: IsLeaf = None) -> list[Leaf]:
    """The leaves of ``tree``, left to right (see ``tree_flatten``)."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree: PyTree, is_leaf: IsLeaf = None) -> PyTreeDef:
    """The structure of ``tree`` (see ``tree_flatten``)."""
    return tree_flatten(tree, is_leaf)[1]


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """Whether ``treedef`` has a single node, as in JAX (so the structure of ``None`` counts)."""
    return treedef.num_nodes == 1
