"""Process-wide settings, read from the environment once and changeable at run time.

``config`` holds a small closed set of named options. Each has a default taken from an
environment variable when this module is first imported; ``config.update(name, value)``
changes it later. Reading uses attribute access (``config.disable_jit``) or
``config.read("disable_jit")``. Unknown names raise an error that lists the valid ones, so a
typo never silently creates a new option.

Options
-------
disable_jit : bool
    Run ``jit``-wrapped functions eagerly (no code generation). Env ``FUNCAD_DISABLE_JIT``
    in {"1", "true", "True"}.
cache_dir : str
    Where generated sources (and Numba's cache files beside them) are stored. Env
    ``FUNCAD_CACHE_DIR``; default ``~/.cache/funcad``.
exact_math : bool
    False (default): generated loops use the vectorizable approximations of
    ``funcad.codegen.fastmath`` (a few ulp). True: they call libm through ``math``.
    Env ``FUNCAD_EXACT_MATH`` in {"1", "true", "True"}.
tune_malloc : bool
    True (default): before the first compilation, set glibc's malloc thresholds so that
    memory freed at the end of a jitted call is reused by the next one instead of being
    returned to the system and faulted in again (see ``funcad.codegen.memory``). Env
    ``FUNCAD_TUNE_MALLOC=0`` turns it off; it is read before the first compilation only.
"""
from __future__ import annotations

import os
from typing import Any

_TRUE = ("1", "true", "True")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "") in _TRUE


def _defaults() -> dict[str, Any]:
    return {
        "disable_jit": _env_flag("FUNCAD_DISABLE_JIT"),
        "cache_dir": os.environ.get("FUNCAD_CACHE_DIR")
        or os.path.join(os.path.expanduser("~"), ".cache", "funcad"),
        "exact_math": _env_flag("FUNCAD_EXACT_MATH"),
        "tune_malloc": os.environ.get("FUNCAD_TUNE_MALLOC", "1") in _TRUE,
    }


class Config:
    """A closed set of named options; see the module docstring for the list."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        object.__setattr__(self, "_values", _defaults())

    def _unknown(self, name: str) -> str:
        return (f"unknown funcad config option {name!r}; "
                f"valid options are: {', '.join(sorted(self._values))}")

    def update(self, name: str, value: Any) -> None:
        """Set option ``name`` to ``value`` (KeyError if the name is unknown)."""
        if name not in self._values:
            raise KeyError(self._unknown(name))
        self._values[name] = value

    def read(self, name: str) -> Any:
        """Return the current value of option ``name`` (KeyError if the name is unknown)."""
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(self._unknown(name)) from None

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails, i.e. for option names and typos.
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(self._unknown(name)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"use config.update({name!r}, value) to change an option")

    def values(self) -> dict[str, Any]:
        """A copy of all options and their current values."""
        return dict(self._values)

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in sorted(self._values.items()))
        return f"Config({items})"


config = Config()
