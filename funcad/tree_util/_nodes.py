"""Pytree node kinds: how each container type is taken apart, rebuilt and printed.

A node kind (``_NodeKind``) holds three functions for one container type: ``flatten`` into its
children and aux data, ``unflatten`` back, and ``format`` for ``PyTreeDef.__repr__``. The
built-in kinds (tuple, list, dict, None, OrderedDict, defaultdict, and namedtuples, which are
recognised by their ``_fields`` rather than registered) and the kinds added by
``register_pytree_node``, ``register_pytree_node_class`` and ``register_dataclass`` share one
registry keyed by exact type. ``funcad.tree_util._treedef`` reads that registry when it
flattens; this module knows nothing of ``PyTreeDef``. The public names are re-exported by
``funcad.tree_util``.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any


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
