"""The one memo helper every cache in funcad is built on, and the registry that empties them.

A :class:`Memo` is a bounded dict with a name. Every memo registers itself (weakly: a memo
belonging to a ``jit``-ed function goes away with the function), so :func:`clear_all` (public
as ``funcad.clear_caches``) reaches every cache in the package. Three forms:

- ``Memo(name, maxsize)``: the dict itself. Hot paths read ``memo.table`` inline (one
  ``dict.get``, no Python call); misses go through :meth:`Memo.put`, which enforces the bound.
- :func:`memoize`: decorator for a function of hashable positional arguments (what
  ``functools.lru_cache`` would be used for).
- :func:`memo_by_id`: ``get(obj)`` -> one ``make(obj)`` per object, found by ``id(obj)`` (for
  interned objects whose hash is a Python-level call, e.g. avals). The memo holds ``obj``
  alive with its entry, so the id cannot be reused by another object while the entry lives.

When a memo is full, the next :meth:`Memo.put` **clears it entirely** (and the memos it is
linked to with ``clears=``), then inserts. Not LRU, because:

- the hot paths read the dict inline, and a hit must stay one ``dict.get``: an LRU has to
  record every hit (``move_to_end``), which an inline read cannot do and which costs a Python
  call on the paths that are benchmarked;
- every funcad cache is a pure function of its key that is cheap to refill compared with
  what it saves over a run (the jit caches refill from the in-memory and on-disk compilation
  caches; see ``funcad/codegen/compile.py``), and the bounds are far above the working sets
  of real programs: clearing only happens for programs with thousands of distinct shapes,
  where an occasional refill costs a retrace, not a recompile.

Threads: reads are plain ``dict.get`` (atomic under the GIL). Writes take the module's lock,
so a put never interleaves with a clear (an entry and the object it keeps live and go
together). :meth:`Memo.lookup` is single-flight: concurrent first calls with one key run
``build`` once (a per-key lock), the others wait for and share its value; a failing ``build``
stores nothing, so the next call tries again.

This module imports nothing from funcad, so every module may use it.
"""
from __future__ import annotations

import functools
import threading
import weakref
from typing import Any, Callable, Hashable

__all__ = ["Memo", "memoize", "memo_by_id", "clear_all", "registered"]

_registry: "weakref.WeakSet[Memo]" = weakref.WeakSet()
# Held for every write (put, clear); re-entrant because a clear cascades through ``clears``.
_write_lock = threading.RLock()


class Memo:
    """A named, bounded dict cache, registered so that :func:`clear_all` empties it.

    Parameters
    ----------
    name : str
        What it caches, for ``repr`` and for the tests that list every cache.
    maxsize : int
        At most this many entries. The :meth:`put` that finds the memo full clears it first
        (clear-all, not LRU: see the module docstring for why).
    clears : sequence of Memo
        Memos emptied together with this one (when it is full, and by :meth:`clear`): for a
        memo whose entries are only valid while this one's are (``get_aval``'s table holds
        avals interned in ``ShapedArray``'s).

    Attributes
    ----------
    table : dict
        The entries. Read it inline on hot paths (``memo.table.get(key)``); write through
        :meth:`put` so the bound holds. :meth:`clear` empties it in place, so a module that
        bound ``table`` to a name keeps a valid reference.
    """
    __slots__ = ("name", "maxsize", "table", "_held", "_clears", "_building", "__weakref__")

    def __init__(self, name: str, maxsize: int = 4096, *, clears: tuple = ()):
        if maxsize < 1:
            raise ValueError(f"Memo {name!r}: maxsize must be at least 1, got {maxsize}")
        self.name = name
        self.maxsize = int(maxsize)
        self.table: dict = {}
        self._held: dict = {}   # key -> object kept alive with the entry (put's keep)
        self._clears = tuple(clears)
        self._building: dict = {}   # key -> the lock of the lookup building it (lookup)
        _registry.add(self)

    def get(self, key: Hashable, default: Any = None) -> Any:
        return self.table.get(key, default)

    def put(self, key: Hashable, value: Any, keep: Any = None) -> Any:
        """Store ``value`` under ``key`` (clearing the memo first if it is full) and return
        it. ``keep``: an object held alive as long as the entry, for keys built from
        ``id(keep)``."""
        with _write_lock:
            table = self.table
            if len(table) >= self.maxsize and key not in table:
                self.clear()
            if keep is not None:
                self._held[key] = keep   # first: a reader that finds the entry finds it kept
            table[key] = value
        return value

    def lookup(self, key: Hashable, build: Callable[[], Any], keep: Any = None) -> Any:
        """The value under ``key``, or ``build()`` stored there (see :meth:`put`). ``build``
        must not return None (a stored None reads as a miss). Single-flight: threads asking
        for one missing key concurrently run ``build`` once."""
        value = self.table.get(key)
        if value is not None:
            return value
        with _write_lock:
            lock = self._building.get(key)
            if lock is None:
                lock = self._building[key] = threading.RLock()   # re-entrant: build may recurse
        with lock:
            try:
                value = self.table.get(key)
                if value is None:
                    value = self.put(key, build(), keep)
            finally:
                with _write_lock:
                    if self._building.get(key) is lock:
                        del self._building[key]
        return value

    def clear(self) -> None:
        """Empty this memo (in place) and the memos it ``clears``."""
        with _write_lock:
            self.table.clear()
            self._held.clear()
            for m in self._clears:
                m.clear()

    def __len__(self) -> int:
        return len(self.table)

    def __contains__(self, key) -> bool:
        return key in self.table

    def __repr__(self) -> str:
        return f"<Memo {self.name!r}: {len(self.table)}/{self.maxsize}>"


def memoize(maxsize: int = 4096, name: str | None = None):
    """Decorator: memoize a function of hashable positional arguments in a :class:`Memo`
    (``functools.lru_cache``'s use, bounded the same way as every funcad cache). The wrapper
    has ``.memo`` (the Memo) and ``.cache_clear()``. Unhashable arguments raise TypeError,
    as with ``lru_cache``; the function must not return None."""
    def deco(fn: Callable) -> Callable:
        memo = Memo(name or f"{fn.__module__}.{fn.__qualname__}", maxsize)
        table, put = memo.table, memo.put

        @functools.wraps(fn)
        def wrapper(*args):
            value = table.get(args)
            if value is None:
                value = put(args, fn(*args))
            return value

        wrapper.memo = memo
        wrapper.cache_clear = memo.clear
        return wrapper
    return deco


def memo_by_id(make: Callable[[Any], Any], name: str, maxsize: int = 4096) -> Callable:
    """``get(obj)``: one shared ``make(obj)`` per object, found by identity. The memo holds
    ``obj`` with its entry, so its id stays its own while the entry lives. ``get.table`` is
    the dict ``id(obj) -> make(obj)`` for inline reads on hot paths (``table.get(id(obj))``);
    ``get.memo`` is the Memo."""
    memo = Memo(name, maxsize)
    table, put = memo.table, memo.put

    def get(obj):
        value = table.get(id(obj))
        if value is None:
            value = put(id(obj), make(obj), obj)
        return value

    get.table = table
    get.memo = memo
    return get


def registered() -> list:
    """Every live :class:`Memo`."""
    return list(_registry)


def clear_all() -> None:
    """Empty every registered memo (``funcad.clear_caches``)."""
    for memo in list(_registry):
        memo.clear()
