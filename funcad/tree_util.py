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
"""

from __future__ import annotations

import dataclasses
import functools
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

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

PyTree = Any
Leaf = Any
IsLeaf = Callable[[Any], bool] | None


# ---------------------------------------------------------------------------------------------
# Node kinds: how one container type is taken apart, rebuilt and printed.
# ---------------------------------------------------------------------------------------------


class _NodeKind:
    """The rules for one container type (one instance per type, compared by identity).

    ``flatten(x) -> (children, aux_data)`` with ``children`` a sequence;
    ``unflatten(aux_data, children: list) -> x``;
    ``format(aux_data, child_strings: list[str]) -> str`` for ``PyTreeDef.__repr__``.
    """

    __slots__ = ("name", "flatten", "unflatten", "format")

    def __init__(self, name: str, flatten, unflatten, format):
        self.name = name
        self.flatten = flatten
        self.unflatten = unflatten
        self.format = format

    def __repr__(self) -> str:
        return f"<pytree node kind {self.name}>"


def _sorted_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:
        pass
    # Mixed key types (say 1 and "a"): group by type name first, like a stable total order.
    try:
        return tuple(sorted(d, key=lambda k: (type(k).__qualname__, k)))
    except TypeError:
        raise TypeError(
            f"tree_flatten: cannot sort dict keys {list(d)!r}; pytree dict children are ordered "
            "by sorted key, so keys must be comparable (or use an OrderedDict)"
        ) from None


def _format_items(keys: Iterable, child_strings: Sequence[str]) -> str:
    return ", ".join(f"{k!r}: {c}" for k, c in zip(keys, child_strings))


def _format_tuple(aux, cs: Sequence[str]) -> str:
    return f"({cs[0]},)" if len(cs) == 1 else f"({', '.join(cs)})"


def _flatten_dict(x: dict):
    keys = _sorted_keys(x)
    return [x[k] for k in keys], keys


def _flatten_ordered_dict(x: OrderedDict):
    keys = tuple(x)
    return [x[k] for k in keys], keys


def _flatten_defaultdict(x: defaultdict):
    keys = _sorted_keys(x)
    return [x[k] for k in keys], (x.default_factory, keys)


def _format_defaultdict(aux, cs: Sequence[str]) -> str:
    factory, keys = aux
    name = getattr(factory, "__name__", repr(factory))
    return f"defaultdict({name}, {{{_format_items(keys, cs)}}})"


def _format_named(cls: type, names: Sequence[str], cs: Sequence[str], extra: str = "") -> str:
    fields = [f"{n}={c}" for n, c in zip(names, cs)]
    return f"{cls.__name__}({', '.join(fields)}{extra})"


_TUPLE = _NodeKind("tuple", lambda x: (x, None), lambda aux, ch: tuple(ch), _format_tuple)
_LIST = _NodeKind(
    "list", lambda x: (x, None), lambda aux, ch: ch, lambda aux, cs: f"[{', '.join(cs)}]"
)
_DICT = _NodeKind(
    "dict",
    _flatten_dict,
    lambda keys, ch: dict(zip(keys, ch)),
    lambda keys, cs: f"{{{_format_items(keys, cs)}}}",
)
_NONE = _NodeKind("None", lambda x: ((), None), lambda aux, ch: None, lambda aux, cs: "None")
_ORDERED_DICT = _NodeKind(
    "OrderedDict",
    _flatten_ordered_dict,
    lambda keys, ch: OrderedDict(zip(keys, ch)),
    lambda keys, cs: f"OrderedDict({{{_format_items(keys, cs)}}})",
)
_DEFAULTDICT = _NodeKind(
    "defaultdict",
    _flatten_defaultdict,
    lambda aux, ch: defaultdict(aux[0], zip(aux[1], ch)),
    _format_defaultdict,
)
# Namedtuples are recognised structurally rather than registered; aux_data is the class.
_NAMEDTUPLE = _NodeKind(
    "namedtuple",
    lambda x: (x, type(x)),
    lambda cls, ch: cls(*ch),
    lambda cls, cs: _format_named(cls, cls._fields, cs),
)

_registry: dict[type, _NodeKind] = {
    tuple: _TUPLE,
    list: _LIST,
    dict: _DICT,
    type(None): _NONE,
    OrderedDict: _ORDERED_DICT,
    defaultdict: _DEFAULTDICT,
}
_kind_get = _registry.get  # bound once; registration mutates the same dict


def _kind_of(x: Any) -> _NodeKind | None:
    """The node kind of ``x``, or None when ``x`` is a leaf."""
    kind = _kind_get(type(x))
    if kind is None and isinstance(x, tuple) and hasattr(type(x), "_fields"):
        return _NAMEDTUPLE
    return kind


# ---------------------------------------------------------------------------------------------
# Registration
# ---------------------------------------------------------------------------------------------


def _add_kind(nodetype: type, kind: _NodeKind, who: str) -> None:
    if not isinstance(nodetype, type):
        raise TypeError(f"{who}: expected a class, got {nodetype!r}")
    if nodetype in _registry:
        raise ValueError(
            f"{who}: {nodetype.__qualname__} is already registered as a pytree node; "
            "register each type once"
        )
    _registry[nodetype] = kind


def register_pytree_node(
    nodetype: type,
    flatten_func: Callable[[Any], tuple[Iterable[Any], Hashable]],
    unflatten_func: Callable[[Hashable, tuple], Any],
) -> None:
    """Make ``nodetype`` a pytree node type.

    Parameters
    ----------
    nodetype : type
        The class to register (matched exactly, not its subclasses).
    flatten_func : callable
        ``flatten_func(obj) -> (children, aux_data)``. ``children`` is an iterable of subtrees;
        ``aux_data`` is everything else needed to rebuild ``obj``. It becomes part of the
        ``PyTreeDef``, so it must be hashable and comparable with ``==``.
    unflatten_func : callable
        ``unflatten_func(aux_data, children: tuple) -> obj``.

    Raises
    ------
    ValueError
        If ``nodetype`` is already registered (built-in node types included).
    """
    name = nodetype.__name__ if isinstance(nodetype, type) else repr(nodetype)

    def flatten(x):
        children, aux = flatten_func(x)
        return tuple(children), aux

    def format(aux, cs):
        return f"CustomNode({name}[{aux!r}], [{', '.join(cs)}])"

    kind = _NodeKind(name, flatten, lambda aux, ch: unflatten_func(aux, tuple(ch)), format)
    _add_kind(nodetype, kind, "register_pytree_node")


def register_pytree_node_class(cls: type) -> type:
    """Class decorator: register ``cls`` through its own ``tree_flatten`` / ``tree_unflatten``.

    ``self.tree_flatten() -> (children, aux_data)`` is a method and
    ``cls.tree_unflatten(aux_data, children)`` a classmethod, with the meaning of
    ``register_pytree_node``'s two functions. Returns ``cls``.
    """
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


def register_dataclass(
    cls: type | None = None,
    data_fields: Sequence[str] | None = None,
    meta_fields: Sequence[str] | None = None,
):
    """Register a dataclass as a pytree node; usable bare (``@register_dataclass``) or called.

    Data fields are children (subtrees, usually arrays); meta fields are static values stored
    in the ``PyTreeDef`` (so they must be hashable, and changing them changes the structure).
    When neither list is given, the fields declared with ``field(metadata={"static": True})``
    are meta and all other init fields are data (as in JAX). When only one list is given, the
    other is the remaining init fields. Rebuilding calls ``cls(**fields)``.

    Parameters
    ----------
    cls : type, optional
        The dataclass. Omit it to get a decorator: ``@register_dataclass(meta_fields=["n"])``.
    data_fields, meta_fields : sequence of str, optional
        Field names; together they must list each init field exactly once.

    Returns
    -------
    type or callable
        ``cls``, or a decorator when ``cls`` is omitted.
    """
    if cls is None:
        return lambda c: register_dataclass(c, data_fields, meta_fields)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(
            f"register_dataclass: {cls!r} is not a dataclass class; apply @dataclasses.dataclass "
            "first (it goes below @register_dataclass)"
        )
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = [f.name for f in fields]
    if data_fields is None and meta_fields is None:
        meta = tuple(f.name for f in fields if f.metadata.get("static", False))
        data = tuple(n for n in names if n not in meta)
    elif meta_fields is None:
        data = tuple(data_fields)
        meta = tuple(n for n in names if n not in data)
    elif data_fields is None:
        meta = tuple(meta_fields)
        data = tuple(n for n in names if n not in meta)
    else:
        data, meta = tuple(data_fields), tuple(meta_fields)
    listed = data + meta
    if len(set(listed)) != len(listed) or set(listed) != set(names):
        raise ValueError(
            f"register_dataclass: data_fields {list(data)} and meta_fields {list(meta)} must "
            f"together name each init field of {cls.__name__} exactly once; its init fields "
            f"are {names}"
        )

    def flatten(x):
        aux = tuple([getattr(x, n) for n in meta])
        if meta:
            try:
                hash(aux)
            except TypeError:
                raise TypeError(
                    f"register_dataclass: meta fields {list(meta)} of {cls.__name__} must be "
                    f"hashable (they become part of the PyTreeDef), got {aux!r}; use hashable "
                    "values (a tuple, not a list) or make them data fields"
                ) from None
        return tuple([getattr(x, n) for n in data]), aux

    def unflatten(aux, children):
        return cls(**dict(zip(data, children)), **dict(zip(meta, aux)))

    def format(aux, cs):
        extra = "".join(f", {n}={v!r}" for n, v in zip(meta, aux))
        return _format_named(cls, data, cs, extra)

    _add_kind(cls, _NodeKind(cls.__name__, flatten, unflatten, format), "register_dataclass")
    return cls


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


_flat_defs: dict[_NodeKind, dict[int, PyTreeDef]] = {_TUPLE: {}, _LIST: {}}


def _flat_treedef(kind: _NodeKind, n: int) -> PyTreeDef:
    """The (shared) structure of a tuple or list of ``n`` leaves: cheap to get, hash, compare."""
    cache = _flat_defs[kind]
    treedef = cache.get(n)
    if treedef is None:
        treedef = PyTreeDef(((kind, None, n),) + (None,) * n, n)
        if n <= 256:  # bounded: wider flat containers are rare and cheap to describe anyway
            cache[n] = treedef
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
        # Fast path for the common `args` tuple: a flat container of leaves.
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
