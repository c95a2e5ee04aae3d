"""Every cache in funcad is a registered, bounded ``funcad._memo.Memo``, and
``funcad.clear_caches()`` empties them all without breaking anything.

The first test reads the package's source: a new ad-hoc cache fails it, with the place to
fix. It looks for ``functools.lru_cache``/``cache``/``cached_property``; module-level dicts
written inside a function (directly, through a local alias, or passed to a function that
writes its parameter); dicts named like a cache or memo (module, local or ``self.x``); closure
memos (a local dict a nested function both looks up and fills); and writes to a Memo's
``table`` that bypass ``Memo.put``. Dict attributes of ordinary objects are not flagged unless
named like a cache: most are per-object state (a lowering's name table), not caches."""
import ast
import gc
import os
import pathlib
import re
import weakref

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import _memo, core, lax
from funcad._memo import Memo, memo_by_id, memoize
from funcad.codegen import compile as C
from funcad.core import ShapedArray, get_aval
from funcad.interpreters import jit as jit_mod

PKG = pathlib.Path(funcad.__file__).parent

# ---------------------------------------------------------------------------------------------
# The source scan

_DICT_CALLS = {"dict", "OrderedDict", "defaultdict", "WeakKeyDictionary", "WeakValueDictionary",
               "Counter"}
_CACHE_DECORATORS = {"lru_cache", "cache", "cached_property"}
_CACHEY = re.compile(r"cache|memo", re.I)

# (file under funcad/, name) -> why it is not a Memo. Tolerant: an entry that no longer
# matches anything is not an error (other changes may rename or remove it).
ALLOWED = {
    # registries: filled by declarations, never evicted, not caches
    ("core.py", "primitives"): "the primitive registry",
    ("tree_util/_nodes.py", "_registry"): "the pytree node registry",
    ("codegen/memory.py", "_state"): "what tune_malloc decided, once per process",
    # scratch of one lowering or one call: it lives and dies with that object or call
    ("codegen/nest.py", "self.cache"): "scratch of one loop nest's lowering",
    ("codegen/scalarise.py", "cache"): "scratch of one pack() call",
    ("codegen/rewrite.py", "const_ids"): "scratch of one inline_calls() call",
}


def _is_dict(node) -> bool:
    if isinstance(node, (ast.Dict, ast.DictComp)):
        return True
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in _DICT_CALLS
    return False


def _is_memo_dict(node) -> bool:
    """``{key: Memo(...), ...}``: a dict of memos, not a cache itself."""
    return isinstance(node, ast.Dict) and bool(node.values) and all(
        isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "Memo"
        for v in node.values)


def _is_table(node) -> bool:
    """``<something>.table``: a Memo's dict, which must be written through put."""
    return isinstance(node, ast.Attribute) and node.attr == "table"


def _target_name(t) -> str | None:
    """``x`` or ``self.x`` as a string; None for anything else."""
    if isinstance(t, ast.Name):
        return t.id
    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name):
        return f"{t.value.id}.{t.attr}"
    return None


def _base_name(node) -> str | None:
    """The name under a chain of subscripts: ``a[k][j]`` -> ``a``; ``self.a[k]`` -> ``self.a``."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return _target_name(node)


def _assignments(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for t in node.targets:
                yield node, t, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            yield node, node.target, node.value


def _writes(func):
    """(base name, node) for every ``x[k] = ...``, ``x[k] += ...``, ``x.setdefault(...)``,
    ``x.update(...)`` in ``func`` (nested functions included)."""
    for node in ast.walk(func):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store):
                    name = _base_name(sub)
                    if name:
                        yield name, node
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("setdefault", "update")):
            name = _base_name(node.func.value)
            if name:
                yield name, node


def _reads(func):
    """Base names read as ``x.get(...)`` or tested with ``k in x`` in ``func``."""
    for node in ast.walk(func):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"):
            name = _base_name(node.func.value)
            if name:
                yield name
        elif isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators):
                if isinstance(op, (ast.In, ast.NotIn)):
                    name = _base_name(right)
                    if name:
                        yield name


def _functions(tree):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _local_names(func) -> set:
    names = {a.arg for a in func.args.args + func.args.kwonlyargs + func.args.posonlyargs}
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


def scan_source(path: pathlib.Path, rel: str) -> list:
    """Ad-hoc caches in one file: a list of (rel, lineno, name, what)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []

    # 1. functools caches, imported or used as functools.x
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "functools":
            for a in node.names:
                if a.name in _CACHE_DECORATORS:
                    found.append((rel, node.lineno, f"functools.{a.name}", "functools cache"))
        if (isinstance(node, ast.Attribute) and node.attr in _CACHE_DECORATORS
                and isinstance(node.value, ast.Name) and node.value.id == "functools"):
            found.append((rel, node.lineno, f"functools.{node.attr}", "functools cache"))

    # 2. dicts named like a cache, anywhere (module, local, attribute)
    for node, t, value in _assignments(tree):
        name = _target_name(t)
        if (name and _is_dict(value) and not _is_memo_dict(value)
                and _CACHEY.search(name.split(".")[-1])):
            found.append((rel, node.lineno, name, "a dict named like a cache"))

    # 3. module-level dicts (and Memo tables bound to a name) written at run time
    module_dicts, module_tables = {}, {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    if _is_dict(node.value):
                        module_dicts[t.id] = node.lineno
                    elif _is_table(node.value):
                        module_tables[t.id] = node.lineno
    def module_name(name, aliases, local):
        """The module-level dict or table ``name`` stands for in a function, if any."""
        name = aliases.get(name, name)
        return None if name in local and name not in aliases.values() else name

    # parameters each function writes into (a module dict passed to it is written too)
    written_params = {}
    for func in _functions(tree):
        params = [a.arg for a in func.args.posonlyargs + func.args.args]
        written = {name for name, _ in _writes(func)}
        written_params[func.name] = {i for i, p in enumerate(params) if p in written}
    for func in _functions(tree):
        local = _local_names(func)
        aliases = {}   # local name -> module dict it is bound to (``c = M`` or ``c = M[k]``)
        for node, t, value in _assignments(func):
            if isinstance(t, ast.Name):
                base = _base_name(value) if isinstance(value, (ast.Name, ast.Subscript)) else None
                if base in module_dicts or base in module_tables:
                    aliases[t.id] = base
        writes = [(module_name(n, aliases, local), node) for n, node in _writes(func)]
        for node in ast.walk(func):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                for i in written_params.get(node.func.id, ()):
                    if i < len(node.args) and isinstance(node.args[i], ast.Name):
                        writes.append((module_name(node.args[i].id, aliases, local), node))
        for name, node in writes:
            if name in module_dicts:
                found.append((rel, module_dicts[name], name,
                              f"a module-level dict written at run time (line {node.lineno})"))
            elif name in module_tables:
                found.append((rel, node.lineno, name,
                              "a write to a Memo's table that bypasses Memo.put"))

    # 4. attributes bound to a Memo's table and written directly
    attr_tables = {_target_name(t) for _, t, v in _assignments(tree)
                   if _is_table(v) and isinstance(t, ast.Attribute)}
    for func in _functions(tree):
        for name, node in _writes(func):
            if name in attr_tables:
                found.append((rel, node.lineno, name,
                              "a write to a Memo's table that bypasses Memo.put"))

    # 5. closure memos: a function's local dict that a nested function looks up and fills
    for func in _functions(tree):
        local_dicts = {}
        for stmt in func.body:
            for node, t, value in _assignments(stmt):
                if isinstance(t, ast.Name) and _is_dict(value):
                    local_dicts[t.id] = node.lineno
        if not local_dicts:
            continue
        for inner in _functions(func):
            if inner is func:
                continue
            shadow = _local_names(inner)
            read = set(_reads(inner)) - shadow
            for name, _ in _writes(inner):
                if name in local_dicts and name in read and name not in shadow:
                    found.append((rel, local_dicts[name], name,
                                  f"a closure memo filled by {inner.name}()"))
                    read.discard(name)
    return found


def ad_hoc_caches() -> list:
    out = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        for item in scan_source(path, rel):
            if (item[0], item[2]) not in ALLOWED and item not in out:
                out.append(item)
    return out


def test_no_cache_bypasses_the_memo_helper():
    found = ad_hoc_caches()
    assert not found, (
        "caches that do not go through funcad._memo (use Memo / memoize / memo_by_id, so the "
        "cache is bounded and funcad.clear_caches() empties it; or add it to ALLOWED with the "
        "reason it is not a cache):\n"
        + "\n".join(f"  funcad/{rel}:{line}: {name}: {what}" for rel, line, name, what in found))


_SAMPLE = '''
import functools
from functools import lru_cache
_seen = {}
_REGISTRY = {}
_tbl = memo.table
TABLE = {"a": 1}

@functools.cache
def f(x):
    return x

def g(k):
    v = _seen.get(k)
    if v is None:
        v = _seen[k] = k * 2
    _tbl[k] = v
    return TABLE["a"]

def outer():
    loops = {}
    store = {}
    def inner(k):
        if k not in loops:
            loops[k] = k
        store["out"] = k
        return loops[k]
    return inner, store["out"]

_by_kind = {"a": {}, "b": {}}
_lru = {}

def via_alias(kind, n):
    c = _by_kind[kind]
    c[n] = n

def _remember(table, k, v):
    table[k] = v

def via_param(k):
    _remember(_lru, k, 1)

class K:
    def __init__(self):
        self._my_cache = {}
        self.t = self.m.table
    def put(self, k):
        self.t[k] = 1
'''


def test_the_scan_finds_each_kind_of_ad_hoc_cache(tmp_path):
    p = tmp_path / "sample.py"
    p.write_text(_SAMPLE)
    got = {(name, what.split(" (")[0]) for _, _, name, what in scan_source(p, "sample.py")}
    assert got == {
        ("functools.lru_cache", "functools cache"),
        ("functools.cache", "functools cache"),
        ("_seen", "a module-level dict written at run time"),
        ("_tbl", "a write to a Memo's table that bypasses Memo.put"),
        ("self._my_cache", "a dict named like a cache"),
        ("self.t", "a write to a Memo's table that bypasses Memo.put"),
        ("loops", "a closure memo filled by inner()"),
        ("_by_kind", "a module-level dict written at run time"),
        ("_lru", "a module-level dict written at run time"),
    }   # not: _REGISTRY (never written), TABLE (only read), store (an out-parameter)


# ---------------------------------------------------------------------------------------------
# The helper


def test_memo_put_clears_when_full_and_clears_linked_memos():
    linked = Memo("test: linked", 10)
    m = Memo("test: bounded", 3, clears=(linked,))
    linked.put("x", 1)
    for k in range(3):
        assert m.put(k, k * 10) == k * 10
    assert len(m) == 3 and len(linked) == 1
    m.put(1, 11)                        # an existing key: no clear
    assert len(m) == 3 and m.get(1) == 11
    m.put(3, 30)                        # full: cleared, then inserted
    assert dict(m.table) == {3: 30} and len(linked) == 0
    assert len(m) <= m.maxsize


def test_memo_lookup_builds_once_and_keeps_the_owner_alive():
    class Owner:
        pass

    m = Memo("test: owned", 4)
    o = Owner()
    ref = weakref.ref(o)
    calls = []
    key = ("k", id(o))
    assert m.lookup(key, lambda: calls.append(1) or "v", o) == "v"
    assert m.lookup(key, lambda: calls.append(1) or "w", o) == "v"
    assert calls == [1]
    del o
    gc.collect()
    assert ref() is not None            # held with the entry: its id stays its own
    m.clear()
    gc.collect()
    assert ref() is None


def test_memoize_and_memo_by_id_are_bounded_and_registered():
    calls = []

    @memoize(maxsize=2, name="test: memoize")
    def double(x):
        calls.append(x)
        return 2 * x

    assert [double(1), double(1), double(2), double(3)] == [2, 2, 4, 6]
    assert calls == [1, 2, 3] and len(double.memo) == 1     # full at 3: cleared
    with pytest.raises(TypeError):
        double([1])
    double.cache_clear()
    assert len(double.memo) == 0

    class Box:
        def __init__(self, v):
            self.v = v

    get = memo_by_id(lambda obj: Box(obj), "test: by id", maxsize=2)
    key = ShapedArray((7, 7, 7), np.float64)
    assert get(key) is get(key) and get.table[id(key)].v is key
    assert get.memo in _memo.registered() and double.memo in _memo.registered()


def test_registry_is_weak_so_jitted_functions_are_freed():
    f = funcad.jit(lambda x: x + 1.0)
    f(np.ones(2))
    memos = [weakref.ref(f._traces), weakref.ref(f._fast_memo)]
    assert all(r() in _memo.registered() for r in memos)
    del f
    gc.collect()
    assert all(r() is None for r in memos)


def test_memo_module_imports_nothing_from_funcad():
    tree = ast.parse((PKG / "_memo.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("funcad") for a in node.names)
        if isinstance(node, ast.ImportFrom):
            assert not (node.module or "").startswith("funcad") and node.level == 0


# ---------------------------------------------------------------------------------------------
# funcad.clear_caches


def _workload():
    """Touch every kind of cache: avals, rules, fnp dtype tables, jit traces and executables,
    jit's transformation rules, the compiled-function memory, tree structures."""
    x = np.linspace(-1.0, 1.0, 6)
    x32 = x.astype(np.float32)
    f = lambda v: fnp.sum(fnp.sin(v) * v + 2.0 * fnp.cos(v) / (1.0 + v * v))  # noqa: E731
    jf = funcad.jit(f)
    out = {
        "eager": f(x),
        "eager32": f(x32),
        "grad": funcad.grad(f)(x),
        "jit": jf(x),
        "jit32": jf(x32),
        "grad_jit": funcad.grad(jf)(x),
        "jit_grad": funcad.jit(funcad.grad(f))(x),
        "vmap_jit": funcad.vmap(jf)(np.stack([x, 2 * x])),
        "jvp_jit": funcad.jvp(jf, (x,), (np.ones_like(x),))[1],
        "jaxpr": str(funcad.make_jaxpr(f)(x32)),
        "scan": funcad.jit(lambda v: lax.scan(lambda c, a: (c + a, c * a), 0.0, v))(x),
        "tree": funcad.jit(lambda t: t[0] * t[1])((x, x)),
        "list": funcad.jit(lambda t: t[0] - t[1])([x, 2 * x]),
        "flat": str(funcad.tree_util.tree_flatten([x, x])[1]),
        "where": funcad.grad(lambda v: fnp.sum(fnp.where(v > 0, v, 2 * v) ** 2))(x32),
        "matmul": funcad.grad(lambda m: fnp.sum(fnp.tanh(m @ m.T)))(np.outer(x, x[:3])),
        "numpy_dispatch": funcad.grad(lambda v: np.sum(np.sin(v) * v))(x),  # plain NumPy
        # plain NumPy off the dispatch fast path (a keyword fnp.sum lacks, at its default)
        "numpy_dispatch_bound": funcad.grad(lambda v: np.sum(v * v, out=None))(x),
        "checkpoint": funcad.grad(funcad.checkpoint(f))(x),   # checkpoint's rule memo
    }
    return out, jf


def _same(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for p, q in zip(a, b):
            _same(p, q)
    elif isinstance(a, str):
        assert a == b
    else:
        assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)


def test_clear_caches_empties_every_memo_and_everything_still_works():
    before, jf = _workload()
    # every memo of the package (not one per fnp function or per jitted function) is in use,
    # so the test below sees each one emptied; a new memo needs a line in _workload
    unused = [m.name for m in _memo.registered()
              if not len(m) and not m.name.startswith(("fnp.", "jit(", "test: "))]
    assert not unused, f"extend _workload so that it fills {unused}"
    assert jf._cache and jf._fast and C._memory
    assert any(len(m) for m in _memo.registered() if m.name.startswith("fnp.sin:"))

    funcad.clear_caches()
    assert all(len(m) == 0 for m in _memo.registered()), [
        m for m in _memo.registered() if len(m)]
    assert not jf._cache and not jf._fast and not C._memory
    assert not core._SHAPED and not core._AVALS and not jit_mod._executables.table

    # avals are interned again, from scratch
    a = get_aval(np.zeros(3))
    assert a is ShapedArray((3,), np.float64) and a is get_aval(np.ones(3))

    after, _ = _workload()
    assert before.keys() == after.keys()
    for k in before:
        _same(before[k], after[k])


def test_clear_caches_keeps_the_disk_cache_and_jit_loads_from_it(tmp_path):
    old = funcad.config.cache_dir
    funcad.config.update("cache_dir", str(tmp_path / "cache"))
    try:
        f = funcad.jit(lambda v: fnp.sum(fnp.exp(v) * 3.0 - v))
        x = np.linspace(0.0, 1.0, 5)
        want = f(x)
        files = sorted(os.listdir(tmp_path / "cache"))
        assert any(n.endswith(".py") for n in files)
        misses, written = C.stats.misses, C.stats.files_written
        funcad.clear_caches()
        assert sorted(os.listdir(tmp_path / "cache")) == files    # nothing deleted
        got = f(x)
        assert got == want and type(got) is type(want)
        assert C.stats.misses == misses + 1            # compiled again: memory was emptied
        assert C.stats.files_written == written        # from the source file already there
        entry = next(iter(f._cache.values()))
        stats = jit_mod.executable(entry.jaxpr, "f", False).fn.stats
        assert sum(stats.cache_hits.values()) >= 1     # machine code loaded from Numba's files
        assert sum(stats.cache_misses.values()) == 0
    finally:
        funcad.config.update("cache_dir", old)
        C.clear_memory_cache()


def test_jit_signature_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(jit_mod, "_SIGNATURES", 3)
    f = funcad.jit(lambda v: v * 2.0)
    for n in range(1, 8):
        np.testing.assert_array_equal(f(np.ones(n)), np.full(n, 2.0))
        assert len(f._cache) <= 3 and len(f._fast) <= 3
    np.testing.assert_array_equal(f(np.ones(2)), [2.0, 2.0])    # retraced after a clear


def test_package_memos_are_bounded():
    for m in _memo.registered():
        assert 0 < m.maxsize <= 4096 and len(m) <= m.maxsize, m
