"""funcad.codegen.compile: memory and disk caches, and that no cache problem breaks a call."""
import json
import os
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from funcad.codegen import compile as C
from funcad.config import config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Generated-style source: the fastmath kernels make the first compile take ~1 s, so a cache
# hit is easy to tell apart by time as well as by Numba's counters.
SOURCE = textwrap.dedent('''\
    import math
    import numba
    import numpy as np
    from funcad.codegen.fastmath import fcos, fsin, ftanh


    def f(x, c):
        # sum(sin(x)**2 + cos(x)*x - tanh(x)) * c
        s = -0.0
        for i0 in range(x.shape[0]):
            v = x[i0]
            s += fsin(v) ** 2 + fcos(v) * v - ftanh(v)
        return s * c
    ''')
X = np.linspace(-3.0, 3.0, 1001)
EXPECTED = float(np.sum(np.sin(X) ** 2 + np.cos(X) * X - np.tanh(X)) * 2.0)

SMALL = ("def g(x, c):\n    s = 0.0\n    for i0 in range(x.shape[0]):\n"
         "        s += x[i0] * c\n    return s\n")


@pytest.fixture
def cache_dir(tmp_path):
    """A fresh cache dir, an empty memory cache and a re-armed warn-once flag."""
    old = config.cache_dir
    d = tmp_path / "cache"
    config.update("cache_dir", str(d))
    C.clear_memory_cache()
    C._warned = False
    yield d
    config.update("cache_dir", old)
    C.clear_memory_cache()
    C._warned = False


def _path_for(cache_dir, source, fn_name, parallel=False):
    return os.path.join(str(cache_dir), C.cache_key(source, fn_name, parallel)[:24] + ".py")


def test_memory_cache_returns_the_same_dispatcher(cache_dir):
    misses = C.stats.misses
    f1 = C.compile_source(SMALL, "g")
    f2 = C.compile_source(SMALL, "g")
    assert f1 is f2 and C.stats.misses == misses + 1
    assert C.compile_source(SMALL, "g", parallel=True) is not f1      # different entry
    assert f1(np.arange(4.0), 2.0) == 12.0
    C.clear_memory_cache()
    assert C.compile_source(SMALL, "g") is not f1


def test_source_file_is_content_addressed_and_private(cache_dir):
    deep = cache_dir / "a" / "b"
    config.update("cache_dir", str(deep))
    f = C.compile_source(SMALL, "g")
    info = C.last_compile_info
    assert info.problem is None and info.path == _path_for(deep, SMALL, "g")
    with open(info.path) as fh:
        assert fh.read() == SMALL
    for d in (cache_dir, cache_dir / "a", deep, deep / "__pycache__"):   # parents we created
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700, d
    assert stat.S_IMODE(os.stat(info.path).st_mode) & 0o077 == 0
    assert f.__module__ == info.module_name and f.py_func.__code__.co_filename == info.path
    assert f(np.arange(3.0), 1.0) == 3.0


def test_key_covers_everything_that_changes_machine_code():
    k = C.cache_key(SMALL, "g")
    assert len({k, C.cache_key(SMALL, "g", True), C.cache_key(SMALL + "\n", "g"),
                C.cache_key(SMALL, "h")}) == 4
    assert k == C.cache_key(SMALL, "g")


def test_generator_bugs_raise_and_are_not_cache_problems(cache_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("error", C.CacheWarning)
        with pytest.raises(LookupError, match="no function 'nope'"):
            C.compile_source(SMALL, "nope")
        with pytest.raises(SyntaxError):
            C.compile_source("def g(x:\n", "g")
        with pytest.raises(ZeroDivisionError):
            C.compile_source("1 / 0\n", "g")


def _run(cache_dir, script, **env):
    """Run ``script`` in a fresh interpreter with FUNCAD_CACHE_DIR=cache_dir; parse its JSON."""
    full_env = dict(os.environ, FUNCAD_CACHE_DIR=str(cache_dir), PYTHONPATH=REPO, **env)
    out = subprocess.run([sys.executable, "-c", script], env=full_env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


CHILD = textwrap.dedent(f'''\
    import json, time, warnings
    import numba
    import numpy as np
    from funcad.codegen import compile as C
    warnings.simplefilter("always")
    numba.njit(lambda: 1)()     # Numba's one-off start-up (~0.4 s) is not what we measure
    source = {SOURCE!r}
    x = np.linspace(-3.0, 3.0, 1001)
    t0 = time.perf_counter()
    f = C.compile_source(source, "f")
    value = f(x, 2.0)
    seconds = time.perf_counter() - t0
    print(json.dumps(dict(value=value, seconds=seconds,
                          hits=sum(f.stats.cache_hits.values()),
                          misses=sum(f.stats.cache_misses.values()),
                          path=C.last_compile_info.path, warnings=C.stats.warnings)))
    ''')


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory):
    """A cache dir filled by one child process, and that child's report."""
    d = tmp_path_factory.mktemp("warm")
    first, _ = _run(d, CHILD)
    return d, first


def test_second_process_loads_compiled_code_from_disk(warm_cache):
    d, first = warm_cache
    second, _ = _run(d, CHILD)
    assert first["misses"] == 1 and first["hits"] == 0
    assert second["hits"] == 1 and second["misses"] == 0
    assert second["value"] == first["value"] == pytest.approx(EXPECTED, rel=1e-13)
    # e.g. 1.0 s -> 0.02 s here; the bound leaves room for a loaded machine
    assert second["seconds"] < 0.25 * first["seconds"], (first["seconds"], second["seconds"])


KERNELS_CHILD = textwrap.dedent(f'''\
    import json
    import numpy as np
    from funcad.codegen import compile as C, fastmath
    source = {SOURCE.replace("return s * c", "return s + c")!r}   # new code, same kernels
    f = C.compile_source(source, "f")
    f(np.linspace(-3.0, 3.0, 11), 2.0)
    print(json.dumps(dict(hits=sum(fastmath.fsin.stats.cache_hits.values()),
                          misses=sum(fastmath.fsin.stats.cache_misses.values()),
                          own_misses=sum(f.stats.cache_misses.values()))))
    ''')


def test_fastmath_kernels_are_cached_on_disk_too(warm_cache):
    """A new generated function in a new process compiles itself, but loads the kernels it
    calls from the cache dir (they cost ~1 s of LLVM time otherwise)."""
    d, _ = warm_cache
    assert any(p.name.startswith("fastmath.fsin-") for p in (d / "__pycache__").iterdir())
    result, _ = _run(d, KERNELS_CHILD)
    assert result == dict(hits=1, misses=0, own_misses=1)


def test_corrupt_numba_cache_files_recompile_in_a_fresh_process(warm_cache, tmp_path):
    d, first = warm_cache
    # a private copy, so the other tests keep a good cache
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(d), str(copy)], check=True)
    pycache = copy / "__pycache__"
    numba_files = [p for p in pycache.iterdir() if p.suffix in (".nbi", ".nbc")]
    assert {p.suffix for p in numba_files} == {".nbi", ".nbc"}
    for p in numba_files:
        p.write_bytes(os.urandom(200))
    broken, stderr = _run(copy, CHILD)
    assert broken["value"] == first["value"] and broken["misses"] == 1
    assert broken["warnings"] == 1 and "CacheWarning" in stderr
    repaired, _ = _run(copy, CHILD)            # the bad files were overwritten
    assert repaired["hits"] == 1 and repaired["warnings"] == 0
    assert repaired["value"] == first["value"]


def test_corrupt_numba_data_file_alone_is_also_survived(warm_cache, tmp_path):
    d, first = warm_cache
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(d), str(copy)], check=True)
    for p in (copy / "__pycache__").glob("*.nbc"):
        p.write_bytes(p.read_bytes()[:100])     # truncated
    result, stderr = _run(copy, CHILD)
    assert result["value"] == first["value"] and "CacheWarning" in stderr


def test_corrupt_source_file_is_rewritten(cache_dir):
    path = _path_for(cache_dir, SMALL, "g")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as fh:
        fh.write("def g(x, c):\n    return -1.0\n")    # right name, wrong body
    written = C.stats.files_written
    with pytest.warns(C.CacheWarning, match="rewritten"):
        f = C.compile_source(SMALL, "g")
    assert f(np.arange(4.0), 1.0) == 6.0
    assert C.stats.files_written == written + 1 and C.last_compile_info.path == path
    with open(path) as fh:
        assert fh.read() == SMALL


def test_binary_garbage_source_file_is_rewritten(cache_dir):
    path = _path_for(cache_dir, SMALL, "g")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as fh:
        fh.write(b"\xff\xfe\x00garbage")
    with pytest.warns(C.CacheWarning):
        assert C.compile_source(SMALL, "g")(np.ones(3), 1.0) == 3.0
    with open(path) as fh:
        assert fh.read() == SMALL


def _assert_falls_back_in_memory():
    fallbacks = C.stats.fallbacks
    with pytest.warns(C.CacheWarning, match="compiling in memory"):
        f = C.compile_source(SMALL, "g")
    assert C.stats.fallbacks == fallbacks + 1
    assert C.last_compile_info.path is None and C.last_compile_info.problem
    assert "__file__" not in f.py_func.__globals__
    assert f(np.arange(4.0), 0.5) == 3.0
    return f


def test_cache_dir_under_a_regular_file_falls_back(cache_dir, tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    config.update("cache_dir", str(blocker / "cache"))
    _assert_falls_back_in_memory()


def test_unwritable_cache_dir_falls_back(cache_dir, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied (simulated read-only directory)")
    monkeypatch.setattr(C.tempfile, "mkstemp", refuse)
    _assert_falls_back_in_memory()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root ignores directory permissions; covered by the simulated test")
def test_read_only_cache_dir_falls_back(cache_dir):
    os.makedirs(cache_dir)
    os.chmod(cache_dir, 0o500)
    try:
        _assert_falls_back_in_memory()
    finally:
        os.chmod(cache_dir, 0o700)


def test_warns_only_once_per_process(cache_dir, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config.update("cache_dir", str(blocker))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        C.compile_source(SMALL, "g")
        C.compile_source(SMALL.replace("s = 0.0", "s = 1.0"), "g")
    assert [w.category for w in caught] == [C.CacheWarning]


def test_in_memory_code_is_still_inspectable(cache_dir, tmp_path):
    import inspect
    config.update("cache_dir", str(tmp_path / "f"))
    (tmp_path / "f").write_text("x")
    with pytest.warns(C.CacheWarning):
        f = C.compile_source(SMALL, "g")
    assert inspect.getsource(f.py_func) == SMALL


def test_reduction_in_generated_code_vectorizes(cache_dir):
    """FASTMATH_FLAGS must let ``s += x[i]`` use SIMD partial sums (see the module docstring
    for timings) without letting LLVM assume away nan/inf."""
    f = C.compile_source(SMALL, "g")
    x = np.arange(1000.0)
    assert f(x, 1.0) == x.sum()
    llvm_ir = f.inspect_llvm(f.signatures[0])
    assert "fadd reassoc <" in llvm_ir
    assert "nnan" not in llvm_ir and "ninf" not in llvm_ir
    x[3] = np.nan
    assert np.isnan(f(x, 1.0))
    x[3] = np.inf
    assert f(x, 1.0) == np.inf


def test_config_options(monkeypatch):
    import importlib
    config_module = importlib.import_module("funcad.config")
    monkeypatch.setenv("FUNCAD_DISABLE_JIT", "true")
    monkeypatch.setenv("FUNCAD_EXACT_MATH", "0")
    monkeypatch.setenv("FUNCAD_CACHE_DIR", "/some/where")
    fresh = config_module.Config()
    assert fresh.disable_jit is True and fresh.exact_math is False
    assert fresh.read("cache_dir") == "/some/where"
    monkeypatch.delenv("FUNCAD_CACHE_DIR")
    assert config_module.Config().cache_dir.endswith(os.path.join(".cache", "funcad"))
    fresh.update("exact_math", True)
    assert fresh.exact_math is True
    with pytest.raises(AttributeError, match="valid options are: cache_dir, disable_jit"):
        fresh.no_such_option
    with pytest.raises(KeyError, match="no_such_option"):
        fresh.update("no_such_option", 1)
    with pytest.raises(KeyError):
        fresh.read("no_such_option")
    with pytest.raises(AttributeError, match="config.update"):
        fresh.exact_math = False
