"""Keep freed memory in the process between jitted calls (glibc's malloc settings).

Compiled code allocates its intermediates and outputs with ``malloc`` (through Numba's
runtime), and frees them when the call returns. With glibc's default settings a step of
a training loop then pays for fresh pages on every call: blocks of 128 KiB or more come from
``mmap`` at first, and although glibc raises that threshold after the first large ``free``, it
also hands the top of the heap back to the system once more than twice that is free, which
the end of every call does. The next call faults the pages in again and the kernel zeroes
them. Measured on the 784-512-10 MLP step of ``benchmarks/bench_jit.py`` (batch 256, one
core): 1520 page faults and 2.3-3.2 ms of system time per call, 11.5 ms in all; with the
settings below, no faults and 8.6 ms.

So before the first compilation, :func:`tune_malloc` fixes the two thresholds with
``mallopt``: blocks up to ``MMAP_THRESHOLD`` come from the heap, and the heap keeps up to
``TRIM_THRESHOLD`` of free memory at its top instead of returning it. Both apply to the whole
process (NumPy's large arrays reuse memory the same way). They are not set when:

* ``funcad.config.tune_malloc`` is False (environment: ``FUNCAD_TUNE_MALLOC=0``);
* the user already tuned malloc (``GLIBC_TUNABLES`` names a malloc setting, or one of the
  ``MALLOC_*_`` variables is set), or another allocator was preloaded (``LD_PRELOAD``);
* the C library is not glibc (macOS, Windows, musl).
"""
from __future__ import annotations

import ctypes
import os
import platform
import threading

from funcad.config import config

__all__ = ["tune_malloc", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

MMAP_THRESHOLD = 32 * 1024 * 1024     # glibc's own upper bound for its dynamic threshold
TRIM_THRESHOLD = 256 * 1024 * 1024
_M_TRIM_THRESHOLD = -1                # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3

_lock = threading.Lock()
_state: dict = {}     # "result": what the first call decided


def _why_not() -> str | None:
    """The reason to leave malloc alone, or None."""
    if not config.tune_malloc:
        return "funcad.config.tune_malloc is off"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "the C library is not glibc"
    env = os.environ
    if "malloc" in env.get("GLIBC_TUNABLES", "") or any(
            k.startswith("MALLOC_") and k.endswith("_") for k in env):
        return "malloc is tuned by the environment"
    if env.get("LD_PRELOAD"):
        return "LD_PRELOAD may replace malloc"
    return None


def tune_malloc() -> bool:
    """Set glibc's mmap and trim thresholds once per process (see the module docstring).
    Returns whether they are set."""
    with _lock:
        if "result" not in _state:
            reason = _why_not()
            ok = False
            if reason is None:
                mallopt = ctypes.CDLL(None).mallopt
                mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
                reason = None if ok else "mallopt refused"
            _state["result"], _state["reason"] = ok, reason
        return _state["result"]


def status() -> tuple[bool, str | None]:
    """(whether the thresholds are set, why not) once :func:`tune_malloc` has run."""
    return _state.get("result", False), _state.get("reason", "not run yet")
