"""A small source builder for generated code: lines, indentation, loops and fresh names.

The code generator never counts spaces or glues strings across lines by hand: it asks an
:class:`Emitter` for a line, opens a block with ``with em.block("for i0 in range(n):")`` and
gets internal names from :meth:`Emitter.fresh`. Internal names start with ``__`` so they can
never collide with the names of IR variables (``a``, ``b``, ..., ``aa``, ..., given in the
order the jaxpr printer uses, so the comments read like ``make_jaxpr`` output); a name that
is a Python keyword or a module the generated code uses gets a ``_`` (:func:`safe_name`).
"""
from __future__ import annotations

import contextlib
import keyword
from typing import Iterator


INDENT = "    "

# Names that generated code uses at module level; an IR name equal to one gets a suffix.
RESERVED = frozenset({"np", "math", "numba", "prange", "range", "abs", "min", "max", "int",
                      "float", "bool", "len", "print", "True", "False", "None", "fexp",
                      "fexpm1", "fexp2", "flog", "flog1p", "fsin", "fcos", "ftanh",
                      "flogistic", "fatan"})


class Emitter:
    """Collects indented lines of Python source."""

    def __init__(self):
        self.lines: list = []      # str, or a Slot filled later
        self.depth = 0
        self._counters: dict[str, int] = {}

    def line(self, text: str = "") -> None:
        self.lines.append(INDENT * self.depth + text if text else "")

    def comment(self, text: str) -> None:
        for part in text.splitlines():
            self.line("# " + part)

    @contextlib.contextmanager
    def block(self, header: str) -> Iterator[None]:
        """``header`` (ending in ``:``) followed by an indented body."""
        self.line(header)
        self.depth += 1
        start = len(self.lines)
        try:
            yield
        finally:
            if not any(isinstance(x, str) for x in self.lines[start:]):
                self.line("pass")   # (a slot may still get lines; a `pass` is harmless)
            self.depth -= 1

    @contextlib.contextmanager
    def indent(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def slot(self) -> "Slot":
        """A place at the current position that lines can be added to later (a loop's
        preamble, where the allocations of its body are hoisted)."""
        slot = Slot(self.depth)
        self.lines.append(slot)
        return slot

    def flat_lines(self) -> list[str]:
        """The lines, with every slot's lines in its place."""
        out: list[str] = []
        for line in self.lines:
            if isinstance(line, Slot):
                out.extend(INDENT * line.depth + t for t in line.lines)
            else:
                out.append(line)
        return out

    def fresh(self, prefix: str) -> str:
        """A new internal name ``__<prefix><k>``."""
        k = self._counters.get(prefix, 0)
        self._counters[prefix] = k + 1
        return f"__{prefix}{k}"

    def source(self) -> str:
        return "\n".join(self.flat_lines()) + "\n"


class Slot:
    """Lines to be written at an earlier position of an :class:`Emitter` (see ``slot``)."""

    def __init__(self, depth: int):
        self.depth = depth
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        self.lines.append(text)


def safe_name(name: str) -> str:
    if keyword.iskeyword(name) or name in RESERVED:
        return name + "_"
    return name
