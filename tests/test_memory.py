"""funcad.codegen.memory: jitted calls reuse freed memory instead of faulting pages in."""
import os
import subprocess
import sys
import textwrap

import pytest

from funcad.codegen import memory

_SCRIPT = textwrap.dedent("""
    import resource, numpy as np, funcad, funcad.numpy as fnp
    def step(x, w):     # four intermediates of about 1.2 MB each
        h = fnp.tanh(fnp.dot(x, w))
        return fnp.sum(fnp.dot(h * h, w.T) + fnp.dot(fnp.sin(h), w.T), axis=0)
    f = funcad.jit(step)
    x, w = np.ones((256, 600)), np.ones((600, 512)) * 1e-3
    f(x, w)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        f(x, w)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    from funcad.codegen.memory import status
    print(status()[0], (after - before) / 20)
""")


def _faults_per_call(tune: str):
    env = dict(os.environ, FUNCAD_TUNE_MALLOC=tune, OPENBLAS_NUM_THREADS="1")
    for k in [k for k in env if k.startswith("MALLOC_") or k in ("GLIBC_TUNABLES",
                                                                  "LD_PRELOAD")]:
        del env[k]
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(memory._why_not() not in (None, "funcad.config.tune_malloc is off")
                    or os.environ.get("FUNCAD_TUNE_MALLOC") == "0",
                    reason="glibc malloc only")
def test_tuned_malloc_stops_page_faults_on_every_call():
    tuned, tuned_faults = _faults_per_call("1")
    plain, plain_faults = _faults_per_call("0")
    assert tuned and not plain
    # the untuned process faults in the ~1.2 MB of intermediates again on every call
    assert plain_faults > 200
    assert tuned_faults < plain_faults / 10


def test_switched_off_by_config(monkeypatch):
    monkeypatch.setattr(memory, "_state", {})
    monkeypatch.setitem(object.__getattribute__(memory.config, "_values"), "tune_malloc",
                        False)
    assert memory.tune_malloc() is False
    assert memory.status() == (False, "funcad.config.tune_malloc is off")


def test_left_alone_when_the_environment_tunes_malloc(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000")
    reason = memory._why_not()
    assert reason in ("malloc is tuned by the environment", "the C library is not glibc",
                      "funcad.config.tune_malloc is off")
