"""Source text -> compiled callable. All side effects of compiling live here.

``compile_source(source, fn_name, parallel=...)`` returns a Numba dispatcher for the function
``fn_name`` defined by ``source`` (a complete Python module, as written by ``lower.py``). Three
layers, cheapest first:

1. **Memory.** A dict keyed by ``(source, fn_name, parallel)``. This is the hot path: one dict
   lookup (Python caches a string's hash in the string, so a repeated lookup does not rehash the
   source). It is a :class:`funcad._memo.Memo` of 512 dispatchers (emptied when full, and by
   ``funcad.clear_caches()``, after which a source compiles again from the disk layer).
2. **Disk.** The source goes to ``<cache_dir>/<key[:24]>.py``, named by the sha256 of everything
   that determines the machine code (source, fn_name, parallel, the njit options, Numba's
   version, ``CODEGEN_VERSION`` and the files generated code imports from funcad). It is
   executed as a module with that ``__file__`` and its function is wrapped in
   ``numba.njit(cache=True, ...)``; Numba then keeps its index/data files in
   ``<cache_dir>/__pycache__`` and a second process loads the machine code instead of running
   LLVM. The fastmath kernels that generated code calls are cached there too (once per
   process, before the first compile: ``_cache_kernels``), so even a function compiled for the
   first time does not recompile them (~1 s). Writes are atomic (temp file + ``os.replace``);
   an existing file whose text differs from the source is treated as corrupt and rewritten.
   Directories we create are ``0o700``.
3. **Trust.** A cache directory runs as code, so it is used only when the current user owns
   it (and its ``__pycache__``) and neither group nor others can write it: ``st_uid`` and the
   mode bits are checked, not ``os.access``, which says yes to root for everything.
   Otherwise funcad warns once, naming the directory and the fix (``chmod go-w``, or another
   FUNCAD_CACHE_DIR), and compiles in memory. Numba's files for our functions always go to
   ``<cache_dir>/__pycache__`` (our own locator: NUMBA_CACHE_DIR and ``~/.cache/numba`` are
   never used for them), and a read-only warm cache is read (the locator does not demand a
   writable directory; only saving a new entry would need one). Every entry is bound to its
   source: the index's stamp is the cache key of the source (not the file's mtime and size),
   and each data file starts with the sha256 of (that key, the entry's name, the pickled
   data), checked before unpickling; a file that fails either check (copied over from
   another function, edited, or not ours or group/other-writable) is rejected with a warning
   and recompiled. Files Numba writes for us are created ``0o600``.
4. **Fallback.** Nothing about the cache may break a call. A cache dir that cannot be created
   or written: warn (once per process, :class:`CacheWarning`), then execute the source in a
   module without ``__file__`` and compile with ``cache=False``. A corrupt source file: warn and
   rewrite it. Numba cache files that cannot be read (garbage, truncated) or written: warn,
   recompile, and overwrite them (``_GuardedFunctionCache``).

Before the first compilation, :func:`funcad.codegen.memory.tune_malloc` sets glibc's malloc
thresholds so that arrays freed at the end of one call are reused by the next (see there).

Numba compiles lazily, on the first call with concrete argument types; what we cache in memory
is the dispatcher, which then holds one compiled overload per signature.

Fast-math flags: ``FASTMATH_FLAGS = {'reassoc'}``, nothing else. Reassociation is what lets LLVM
vectorize a floating-point reduction (``s += x[i]`` becomes several partial sums): measured on
10**6 float64, 0.49 ms -> 0.074 ms (6.6x; 9.5x for 10**5 elements that fit in cache). We do not
use ``fastmath=True``: its ``nnan``/``ninf`` let LLVM assume away nan and inf, which breaks
NumPy semantics. We also leave out ``contract`` (fusing ``a*b + c`` into an fma): it sped a
degree-7 polynomial reduction up by 1.3x, but it changes results such as ``b*b - 4*a*c`` for a
zero discriminant (0.0 becomes -8.3e-19, so a following ``sqrt`` gives nan), and
``funcad.codegen.fastmath`` already uses explicit fmas where they matter. Flags apply to the
generated function only; the fastmath kernels are compiled strictly and keep their own operation
order when LLVM inlines them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import linecache
import os
import pickle
import stat
import sys
import tempfile
import threading
import types
import warnings
from typing import Any, Callable

import numba
from numba.core.caching import (CompileResultCacheImpl, FunctionCache, IndexDataCacheFile,
                                 InTreeCacheLocator, NullCache)
from numba.core.dispatcher import Dispatcher

from funcad._memo import Memo
from funcad.codegen import fastmath
from funcad.codegen.memory import tune_malloc
from funcad.config import config

__all__ = ["compile_source", "clear_memory_cache", "cache_key", "CacheWarning", "CompileInfo",
           "stats", "last_compile_info", "FASTMATH_FLAGS", "ERROR_MODEL", "CODEGEN_VERSION"]

# Bump when the shape of generated code or the way we compile it changes in a way the key
# below does not already capture.
CODEGEN_VERSION = "2"   # 2: cache entries bound to their source (stamps and digests)
FASTMATH_FLAGS = frozenset({"reassoc"})
ERROR_MODEL = "numpy"    # no Python exceptions (and no branches) for 1/0 in loops
# Numba's cache does not track dependencies: machine code that inlined a helper keeps the old
# helper. So every funcad file that generated code imports is part of the key.
_DEPENDENCIES = ("fastmath.py",)


class CacheWarning(UserWarning):
    """The on-disk compilation cache could not be used; funcad compiled in memory instead."""


@dataclasses.dataclass
class CompileInfo:
    """What the last compile_source call that missed the memory cache did."""
    key: str                  # sha256 hex of the cache key
    path: str | None          # the generated .py file, or None when compiled in memory
    module_name: str
    problem: str | None       # why the disk cache was not used, if it was not


@dataclasses.dataclass
class CompileStats:
    """Counters for tests and curious users (memory hits are not counted: hot path)."""
    misses: int = 0           # compile_source calls not answered from memory
    files_written: int = 0    # generated .py files written (new, or repairing a corrupt one)
    fallbacks: int = 0        # in-memory compiles after a cache problem
    warnings: int = 0         # CacheWarnings issued (at most 1 per process)


stats = CompileStats()
last_compile_info: CompileInfo | None = None

# (source, fn_name, parallel) -> dispatcher; read inline by compile_source, written through
# the memo (bounded: see funcad/_memo.py; funcad.clear_caches empties it, never the disk)
_memory_memo = Memo("codegen.compile: dispatchers by (source, fn_name, parallel)", 512)
_memory: dict[tuple[str, str, bool], Callable[..., Any]] = _memory_memo.table
_lock = threading.Lock()
_warn_lock = threading.Lock()
_warned = False


def compile_source(source: str, fn_name: str, *, parallel: bool = False) -> Callable[..., Any]:
    """Compile the function ``fn_name`` defined in module text ``source`` with Numba.

    Parameters
    ----------
    source : str
        A complete Python module. It may import numpy, math, numba and
        ``funcad.codegen.fastmath``; constants must be passed as arguments, not globals.
    fn_name : str
        The function in ``source`` to compile.
    parallel : bool
        Passed to ``numba.njit`` (``prange`` loops run on threads).

    Returns
    -------
    callable
        A Numba dispatcher; it compiles (or loads from Numba's disk cache) on first call.
    """
    fn = _memory.get((source, fn_name, parallel))
    if fn is not None:
        return fn
    with _lock:
        fn = _memory.get((source, fn_name, parallel))
        if fn is None:
            fn = _memory_memo.put((source, fn_name, parallel),
                                  _compile_uncached(source, fn_name, parallel))
    return fn


def clear_memory_cache() -> None:
    """Forget compiled functions held in memory (the disk cache is kept)."""
    with _lock:
        _memory_memo.clear()


def cache_key(source: str, fn_name: str, parallel: bool = False) -> str:
    """The sha256 hex digest naming the cache entry of (source, fn_name, parallel)."""
    h = hashlib.sha256()
    for part in (CODEGEN_VERSION, numba.__version__, _dependency_digest(),
                 repr(sorted(FASTMATH_FLAGS)), ERROR_MODEL, repr(bool(parallel)), fn_name,
                 source):
        h.update(part.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


# --- the slow path -----------------------------------------------------------------------------
def _compile_uncached(source: str, fn_name: str, parallel: bool) -> Callable[..., Any]:
    tune_malloc()
    global last_compile_info
    stats.misses += 1
    key = cache_key(source, fn_name, parallel)
    module_name = f"funcad_generated_{key[:24]}"
    cache_dir = os.path.abspath(os.path.expanduser(str(config.cache_dir)))
    path = os.path.join(cache_dir, f"{key[:24]}.py")
    code = compile(source, path, "exec")     # a syntax error is a code generator bug: raise it
    try:
        untrusted = _untrusted_cache_dir(cache_dir)   # creates what is missing, 0o700
        if untrusted is not None:
            return _fall_back(source, fn_name, module_name, parallel, key, cache_dir,
                              untrusted=untrusted)
        _write_source(path, source)
    except OSError as e:
        return _fall_back(source, fn_name, module_name, parallel, key, cache_dir, e)
    _cache_kernels(cache_dir)
    fn = _njit(_exec_module(code, fn_name, module_name, path, key), parallel)
    try:
        fn._cache = _GuardedFunctionCache(fn.py_func)   # what njit(cache=True) does + guards
    except Exception as e:  # noqa: BLE001 - e.g. Numba finds no writable cache location
        return _fall_back(source, fn_name, module_name, parallel, key, cache_dir, e)
    last_compile_info = CompileInfo(key, path, module_name, None)
    return fn


def _fall_back(source: str, fn_name: str, module_name: str, parallel: bool, key: str,
               cache_dir: str, error: Exception | None = None,
               untrusted: str | None = None) -> Callable[..., Any]:
    """Warn (once per process) and compile without any file."""
    global last_compile_info
    if untrusted is not None:
        problem = untrusted
        _warn_once(f"funcad: not using the compilation cache {cache_dir!r}: {untrusted}; "
                   f"compiling in memory instead")
    else:
        problem = f"{type(error).__name__}: {error}"
        _warn_once(f"funcad could not use its compilation cache in {cache_dir!r} "
                   f"({problem}); compiling in memory instead (set FUNCAD_CACHE_DIR to a "
                   f"writable directory to keep compiled code across processes)")
    stats.fallbacks += 1
    last_compile_info = CompileInfo(key, None, module_name + "_mem", problem)
    return _compile_in_memory(source, fn_name, module_name + "_mem", parallel)


class _NoSuchFunction(LookupError):
    """The source does not define fn_name: a code generator bug, not a cache problem."""


def _njit(py_func: Callable[..., Any], parallel: bool) -> Any:
    return numba.njit(parallel=parallel, error_model=ERROR_MODEL,
                      fastmath=set(FASTMATH_FLAGS))(py_func)


def _exec_module(code: types.CodeType, fn_name: str, module_name: str, path: str,
                 key: str) -> Callable[..., Any]:
    """Run ``code`` as the module ``module_name`` whose ``__file__`` is ``path``.

    We run the text we already hold (equal to the file's) rather than let the import system
    read the file, so no stale or corrupt .pyc can interfere. The module is registered in
    sys.modules because Numba re-imports it by name when it loads cached code.
    ``__funcad_cache_key__`` is what the module's Numba cache entries are stamped with
    (:class:`_PrivateLocator`).
    """
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    module.__funcad_cache_key__ = key
    sys.modules[module_name] = module
    exec(code, module.__dict__)
    return _get_function(module, fn_name)


def _compile_in_memory(source: str, fn_name: str, module_name: str,
                       parallel: bool) -> Callable[..., Any]:
    """The fallback: no file, no Numba disk cache."""
    filename = f"<funcad-generated {module_name}>"
    # let tracebacks and inspect show the generated code although it has no file
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(module_name)
    exec(compile(source, filename, "exec"), module.__dict__)
    return _njit(_get_function(module, fn_name), parallel)


def _get_function(module: types.ModuleType, fn_name: str) -> Callable[..., Any]:
    try:
        return getattr(module, fn_name)
    except AttributeError:
        raise _NoSuchFunction(f"generated source defines no function {fn_name!r}") from None


def _make_private_dirs(path: str) -> None:
    """os.makedirs, but every directory we create (parents too) gets mode 0o700."""
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            if not os.path.isdir(d):
                raise


def _untrusted(path: str) -> str | None:
    """Why another user could write ``path`` (None: only we can): it must be owned by the
    effective user and not writable by group or others. Mode bits, not os.access: root
    passes every access check, and a cache is about who *else* can write."""
    st = os.stat(path)
    me = os.geteuid()
    if st.st_uid != me:
        return (f"{path!r} is owned by uid {st.st_uid}, not by you (uid {me}), so its owner "
                f"could place code in it that runs as you. Fix: point FUNCAD_CACHE_DIR at a "
                f"directory of your own (mkdir -m 700 DIR)")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return (f"{path!r} is writable by group or others (mode "
                f"{stat.S_IMODE(st.st_mode):#o}), so another user could place code in it "
                f"that runs as you. Fix: chmod go-w {path}")
    return None


def _untrusted_cache_dir(cache_dir: str) -> str | None:
    """:func:`_untrusted` of the cache directory, then of its ``__pycache__`` (each made,
    mode 0o700, if missing; nothing is created inside a directory that fails)."""
    for d in (cache_dir, os.path.join(cache_dir, "__pycache__")):
        _make_private_dirs(d)
        problem = _untrusted(d)
        if problem is not None:
            return problem
    return None


@contextlib.contextmanager
def _atomic_open(path: str, mode: str, **kwargs):
    """Open a private temporary file (mode 0o600) beside ``path`` for writing, and move it
    onto ``path`` when the block ends without an exception (removed otherwise), so a reader
    never sees a half-written file."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _write_source(path: str, source: str) -> None:
    """Make ``path`` hold exactly ``source``; rewrite it atomically if it does not."""
    corrupt = True
    try:
        with open(path, encoding="utf-8", newline="") as f:
            if f.read() == source:
                return
    except FileNotFoundError:
        corrupt = False
    except (OSError, UnicodeDecodeError):
        pass    # unreadable or not text: rewrite it
    with _atomic_open(path, "w", encoding="utf-8", newline="") as f:
        f.write(source)
    stats.files_written += 1
    if corrupt:
        _warn_once(f"funcad: the cached source {path!r} did not match its content hash "
                   f"(corrupted?); it was rewritten")


class _ForeignEntry(Exception):
    """A Numba cache file that does not belong to the function it is loaded for."""


_DATA_MAGIC = b"funcad-entry-1\0"


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class _PrivateLocator(InTreeCacheLocator):
    """Where Numba keeps the cache files of a funcad function, and what they are stamped with.

    The directory is ``<cache_dir>/__pycache__`` whatever NUMBA_CACHE_DIR says (for generated
    modules that is the in-tree ``__pycache__``; ``_KernelLocator`` points the fastmath
    kernels there too). It is not required to be writable, so a read-only warm cache is read
    (Numba's own locators probe with a temp file and fall back to ``~/.cache/numba``). The
    stamp is the source's cache key (generated modules) or the sha256 of the source file
    (the kernels), so an index copied from another function's entry reads as foreign."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        key = py_func.__globals__.get("__funcad_cache_key__")
        self._stamp = key if key is not None else _file_digest(py_file)

    def ensure_cache_path(self):
        path = self.get_cache_path()
        if not os.path.isdir(path):
            _make_private_dirs(path)

    def get_source_stamp(self):
        return self._stamp


class _VerifiedCacheFile(IndexDataCacheFile):
    """Numba's index and data files, bound to their source: the index's stamp must equal the
    source's, each data file begins with the sha256 of (stamp, entry name, payload), checked
    before it is unpickled, and a file not ours or writable by group or others is refused.
    Files are written ``0o600``. Refusals raise :class:`_ForeignEntry`."""

    def _check_file(self, f, path: str) -> None:
        st = os.fstat(f.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise _ForeignEntry(f"{path!r} is not owned by you or is writable by group or "
                                f"others (uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):#o})")

    def _load_index(self):
        try:
            with open(self._index_path, "rb") as f:
                self._check_file(f, self._index_path)
                version = pickle.load(f)
                data = f.read()
        except FileNotFoundError:
            return {}
        if version != self._version:
            return {}    # another Numba's entry: not ours to read
        stamp, overloads = pickle.loads(data)
        if stamp != self._source_stamp:
            if isinstance(stamp, str):   # a funcad stamp of another source: a copied file
                raise _ForeignEntry(f"{self._index_path!r} was written for another source")
            return {}    # an entry of an older funcad (mtime stamps): stale, overwritten
        return overloads

    def _digest(self, name: str, payload: bytes) -> bytes:
        h = hashlib.sha256()
        for part in (str(self._source_stamp).encode(), name.encode(), payload):
            h.update(part)
            h.update(b"\0")
        return h.digest()

    def _load_data(self, name):
        path = self._data_path(name)
        with open(path, "rb") as f:
            self._check_file(f, path)
            data = f.read()
        head, digest = len(_DATA_MAGIC), len(_DATA_MAGIC) + 32
        payload = data[digest:]
        if data[:head] != _DATA_MAGIC or data[head:digest] != self._digest(name, payload):
            raise _ForeignEntry(f"{path!r} does not belong to this function's source")
        return pickle.loads(payload)

    def _save_data(self, name, data):
        payload = self._dump(data)
        with self._open_for_write(self._data_path(name)) as f:
            f.write(_DATA_MAGIC + self._digest(name, payload) + payload)

    def _open_for_write(self, filepath):
        return _atomic_open(filepath, "wb")


class _PrivateCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_PrivateLocator]


class _GuardedFunctionCache(FunctionCache):
    """Numba's per-function disk cache in funcad's directory, its files bound to their source
    (:class:`_VerifiedCacheFile`); an unreadable, unwritable or foreign entry only costs a
    recompile: it warns (once per process), clears the bad index and returns a miss."""
    _impl_class = _PrivateCacheImpl

    def __init__(self, py_func):
        super().__init__(py_func)
        self._cache_file = _VerifiedCacheFile(
            cache_path=self._cache_path, filename_base=self._impl.filename_base,
            source_stamp=self._impl.locator.get_source_stamp())

    def load_overload(self, sig, target_context):
        try:
            return super().load_overload(sig, target_context)
        except _ForeignEntry as e:
            _warn_once(f"funcad: rejected a Numba cache file: {e}; recompiling and "
                       f"overwriting it")
            self._flush_quietly()
            return None
        except Exception as e:  # noqa: BLE001 - garbage files raise anything
            _warn_once(f"funcad: Numba's cache files in {self.cache_path!r} could not be read "
                       f"({type(e).__name__}: {e}); recompiling and overwriting them")
            self._flush_quietly()
            return None

    def _flush_quietly(self):
        try:
            self.flush()            # replace the bad index by an empty one
        except Exception:  # noqa: BLE001 - e.g. a read-only cache: the entry stays a miss
            pass

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as e:  # noqa: BLE001
            _warn_once(f"funcad: could not write Numba's cache files in {self.cache_path!r} "
                       f"({type(e).__name__}: {e}); the compiled code is kept in memory only")


class _KernelLocator(_PrivateLocator):
    """Numba's cache files of the fastmath kernels go to ``<cache_dir>/__pycache__`` (private,
    per user, chosen by FUNCAD_CACHE_DIR) instead of next to the installed package, stamped
    with the sha256 of fastmath.py, so an edit recompiles them."""
    cache_dir = ""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        self._cache_path = os.path.join(self.cache_dir, "__pycache__")


class _KernelCacheImpl(_PrivateCacheImpl):
    _locator_classes = [_KernelLocator]


class _GuardedKernelCache(_GuardedFunctionCache):
    _impl_class = _KernelCacheImpl


_kernels_cached = False


def _cache_kernels(cache_dir: str) -> None:
    """Give every Numba function of ``fastmath.py`` an on-disk cache in ``cache_dir`` (once
    per process, before generated code first compiles them). Without it each new process
    spends ~1 s compiling the kernels a generated function calls, even when that function's
    own machine code comes from the cache. A cached kernel is still inlined (and vectorized)
    into its caller. No usable cache: the kernels compile in memory, as before."""
    global _kernels_cached
    if _kernels_cached:
        return
    _kernels_cached = True
    _KernelLocator.cache_dir = cache_dir
    for obj in vars(fastmath).values():
        if isinstance(obj, Dispatcher) and isinstance(obj._cache, NullCache):
            try:
                obj._cache = _GuardedKernelCache(obj.py_func)
            except Exception:  # noqa: BLE001 - no locator: keep compiling in memory
                return


def _warn_once(message: str) -> None:
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
        stats.warnings += 1
    warnings.warn(message, CacheWarning, stacklevel=5)   # the caller of compile_source


_dependency_digest_value: str | None = None


def _dependency_digest() -> str:
    global _dependency_digest_value
    if _dependency_digest_value is None:
        h = hashlib.sha256()
        here = os.path.dirname(os.path.abspath(__file__))
        for name in _DEPENDENCIES:
            try:
                with open(os.path.join(here, name), "rb") as f:
                    h.update(f.read())
            except OSError:
                h.update(b"missing:" + name.encode())
        _dependency_digest_value = h.hexdigest()
    return _dependency_digest_value
