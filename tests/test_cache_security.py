"""The compilation cache is used only when nobody else can write it, keeps Numba's files
inside it, is read when it is read-only, and rejects an entry copied from another function.

Each case runs jit in a fresh process (``_PROBE``) on its own cache directory, because
caches and the once-per-process warning are process state. The tests usually run as root,
where ``os.access`` says yes to everything: they set owners with ``os.chown`` and run the
read-only case with root's power to ignore file modes dropped (``setpriv``)."""
import json
import os
import pathlib
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

import funcad

ROOT = str(pathlib.Path(funcad.__file__).resolve().parent.parent)
IS_ROOT = os.geteuid() == 0
# as root, a read-only directory is read-only only without these capabilities
_NO_OVERRIDE = (["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]
                if IS_ROOT else [])

# jit two functions of one signature that differ only in sin/cos; print what happened
_PROBE = r'''
import json, sys, warnings
import numpy as np
import funcad, funcad.numpy as fnp
from funcad.codegen import compile as C

def sine_plus(x):
    return fnp.sin(x) * 2.0 + x

def cosi_plus(x):
    return fnp.cos(x) * 2.0 + x

out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    for name in sys.argv[1:]:
        fun, ref_fn = {"sin": (sine_plus, np.sin), "cos": (cosi_plus, np.cos)}[name]
        x = np.linspace(0.0, 1.0, 5)
        y = funcad.jit(fun)(x)
        info = C.last_compile_info
        dispatcher = funcad.jit(fun).lower(x).compile()
        out[name] = {"ok": bool(np.allclose(y, ref_fn(x) * 2.0 + x, rtol=1e-12)),
                     "hits": int(sum(dispatcher.stats.cache_hits.values())),
                     "path": info.path, "key": info.key}
out["warnings"] = [str(w.message) for w in caught if issubclass(w.category, C.CacheWarning)]
print(json.dumps(out))
'''


@pytest.fixture
def base():
    """A directory every uid can enter (pytest's tmp_path is 0o700 under root), removed
    afterwards whatever owners and modes the test left."""
    d = tempfile.mkdtemp(prefix="funcad-cache-security-")
    os.chmod(d, 0o755)
    yield pathlib.Path(d)
    for p, dirs, files in os.walk(d):
        for n in dirs + files:
            os.chmod(os.path.join(p, n), 0o700, follow_symlinks=False)
    shutil.rmtree(d)


def _probe(base, *names, read_only=False):
    env = dict(os.environ, FUNCAD_CACHE_DIR=str(base / "funcad"),
               NUMBA_CACHE_DIR=str(base / "numba"), HOME=str(base / "home"),
               PYTHONPATH=ROOT, OPENBLAS_NUM_THREADS="1")
    prefix = _NO_OVERRIDE if read_only else []
    r = subprocess.run(prefix + [sys.executable, "-c", _PROBE, *names], env=env,
                       cwd=str(base), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _entry_files(base, key):
    """Numba's index and data files of the generated module named by ``key``."""
    return sorted((base / "funcad" / "__pycache__").glob(f"{key[:24]}.*.nb[ic]"))


def _assert_not_used(out, directory, *words):
    assert out["sin"]["ok"] and out["sin"]["path"] is None
    [w] = out["warnings"]
    assert repr(str(directory)) in w and "compiling in memory" in w
    for word in words:
        assert word in w


def test_group_writable_cache_dir_is_not_used(base):
    d = base / "funcad"
    d.mkdir()
    os.chmod(d, 0o770)
    out = _probe(base, "sin")
    _assert_not_used(out, d, "writable by group or others", f"chmod go-w {d}")
    assert list(d.iterdir()) == []


def test_group_writable_pycache_is_not_used(base):
    d = base / "funcad"
    (d / "__pycache__").mkdir(parents=True)
    os.chmod(d, 0o700)
    os.chmod(d / "__pycache__", 0o777)
    out = _probe(base, "sin")
    [w] = out["warnings"]
    assert "__pycache__" in w and "chmod go-w" in w and out["sin"]["path"] is None
    assert list((d / "__pycache__").iterdir()) == []


@pytest.mark.skipif(not IS_ROOT, reason="giving a directory to another uid needs root")
def test_cache_dir_owned_by_another_user_is_not_used(base):
    d = base / "funcad"
    d.mkdir(mode=0o700)
    os.chown(d, 4242, 4242)
    out = _probe(base, "sin")
    _assert_not_used(out, d, "owned by uid 4242", "FUNCAD_CACHE_DIR")
    assert list(d.iterdir()) == []


def _read_only(path):
    for p, dirs, files in os.walk(path):
        for n in files:
            os.chmod(os.path.join(p, n), 0o400)
        os.chmod(p, 0o500)


def test_warm_cache_keeps_numba_files_inside_and_is_read_when_read_only(base):
    warm = _probe(base, "sin")
    assert warm["warnings"] == [] and warm["sin"]["ok"]
    assert warm["sin"]["path"].startswith(str(base / "funcad"))
    assert len(_entry_files(base, warm["sin"]["key"])) == 2    # index and data, inside
    assert not (base / "numba").exists() and not (base / "home").exists()
    before = sorted(p.name for p in (base / "funcad").rglob("*"))
    _read_only(base / "funcad")
    probe = subprocess.run(_NO_OVERRIDE + [sys.executable, "-c",
                           f"open({str(base / 'funcad' / 'x')!r}, 'w')"], capture_output=True)
    assert probe.returncode != 0, "the cache directory is not read-only for the probe"
    out = _probe(base, "sin", read_only=True)
    assert out["warnings"] == []
    assert out["sin"]["ok"] and out["sin"]["hits"] == 1    # machine code loaded, not rebuilt
    assert sorted(p.name for p in (base / "funcad").rglob("*")) == before
    assert not (base / "numba").exists()
    assert not (base / "home" / ".cache").exists()


def test_entry_copied_from_another_function_is_rejected(base):
    warm = _probe(base, "sin", "cos")
    assert warm["warnings"] == [] and warm["sin"]["hits"] == warm["cos"]["hits"] == 0
    sin_files = _entry_files(base, warm["sin"]["key"])
    cos_files = _entry_files(base, warm["cos"]["key"])
    assert len(sin_files) == len(cos_files) == 2
    # copy sin's index and data over cos's, and make cos's source file look like sin's to a
    # stamp of modification time and size
    for src, dst in zip(sin_files, cos_files):
        shutil.copyfile(src, dst)
    sin_py, cos_py = warm["sin"]["path"], warm["cos"]["path"]
    st = os.stat(sin_py)
    os.utime(cos_py, ns=(st.st_atime_ns, st.st_mtime_ns))
    out = _probe(base, "cos")
    assert out["cos"]["ok"] and out["cos"]["hits"] == 0
    [w] = out["warnings"]
    assert "rejected a Numba cache file" in w and cos_files[1].name in w

    # the entry was rewritten: read again without a warning
    again = _probe(base, "cos")
    assert again["warnings"] == [] and again["cos"]["ok"] and again["cos"]["hits"] == 1

    # only the data file swapped, the index left alone: the digest catches it
    shutil.copyfile(sin_files[0], cos_files[0])
    out = _probe(base, "cos")
    assert out["cos"]["ok"] and out["cos"]["hits"] == 0
    [w] = out["warnings"]
    assert "does not belong" in w and cos_files[0].name in w


def test_entry_writable_by_others_is_rejected(base):
    warm = _probe(base, "sin")
    index = [p for p in _entry_files(base, warm["sin"]["key"]) if p.suffix == ".nbi"][0]
    assert stat.S_IMODE(index.stat().st_mode) == 0o600
    os.chmod(index, 0o666)
    out = _probe(base, "sin")
    assert out["sin"]["ok"] and out["sin"]["hits"] == 0
    [w] = out["warnings"]
    assert "writable by group or others" in w and index.name in w
