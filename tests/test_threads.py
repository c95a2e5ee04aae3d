"""Threads: the current interpreter is per thread, and the jit caches survive concurrent
first calls.

Before the interpreter became a ContextVar, a thread tracing ``grad`` made every other
thread's operations land in its trace (spurious UnexpectedTracerErrors, a ``jit`` call
returning a tracer), and two threads leaving their transformations out of order left a dead
interpreter current for the whole process, which sent every later ``jit`` call down the slow
path (6-12x slower). These tests run the burst and check all three."""
import threading
import time
import uuid

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import core
from funcad._memo import Memo
from funcad.codegen import compile as C
from funcad.interpreters import jit as jit_mod

N_THREADS = 8
N_CALLS = 10_000
SHAPES = [(3,), (5,), (2, 4), (7,)]   # a handful: few compiles, each raced by the threads


def _f(x):
    return fnp.sum(fnp.sin(x) * x + 0.5 * x * x)


def _run_threads(work, n=N_THREADS):
    """Run ``work(tid)`` in ``n`` threads started together; return their results, re-raising
    the first error."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def main(tid):
        try:
            barrier.wait()
            results[tid] = work(tid)
        except BaseException as e:  # noqa: BLE001 - reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=main, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def _per_call(fn, x, n=400, reps=5):
    """Best time per call over ``reps`` runs of ``n`` calls (the least disturbed run)."""
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            fn(x)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def test_a_thread_tracing_does_not_capture_another_threads_operations():
    inside, done = threading.Event(), threading.Event()

    def traced(x):
        inside.set()
        assert done.wait(10)   # hold the grad trace open while the other thread works
        return fnp.sum(x * x)

    seen = {}

    def other():
        assert inside.wait(10)
        seen["interp"] = core.current_interpreter()
        seen["value"] = fnp.sin(np.ones(2))   # an eager op while the main thread traces
        done.set()

    t = threading.Thread(target=other)
    t.start()
    g = funcad.grad(traced)(np.ones(3))
    t.join()
    assert seen["interp"] is core.eval_interpreter
    assert type(seen["value"]) is np.ndarray
    np.testing.assert_allclose(seen["value"], np.sin(np.ones(2)))
    np.testing.assert_allclose(g, 2 * np.ones(3))


def test_memo_lookup_builds_once_under_concurrent_first_calls():
    memo = Memo("test: single-flight", 16)
    calls = []

    def build():
        calls.append(threading.get_ident())
        time.sleep(0.05)   # long enough that every thread arrives while it runs
        return object()

    got = _run_threads(lambda tid: memo.lookup("k", build))
    assert len(calls) == 1
    assert all(g is got[0] for g in got)


def test_memo_lookup_stores_nothing_when_build_fails():
    memo = Memo("test: failing build", 16)

    def build():
        raise ValueError("no")

    with pytest.raises(ValueError):
        memo.lookup("k", build)
    assert "k" not in memo and not memo._building
    assert memo.lookup("k", lambda: 7) == 7


def test_concurrent_first_jit_calls_compile_once():
    def fresh(x):
        return fnp.cos(x) * 2.0 + x

    fresh.__name__ = f"burst_{uuid.uuid4().hex[:12]}"   # a source no cache has seen
    f = funcad.jit(fresh)
    x = np.linspace(0.0, 1.0, 6)
    before = C.stats.misses
    outs = _run_threads(lambda tid: f(x))
    assert C.stats.misses - before == 1
    for o in outs:
        assert type(o) is np.ndarray
        np.testing.assert_allclose(o, np.cos(x) * 2.0 + x, rtol=1e-12)


def test_burst_of_grad_vmap_jit_calls():
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(-1.0, 1.0, s) for s in SHAPES]
    batches = [rng.uniform(-1.0, 1.0, (3,) + s) for s in SHAPES]
    g, v = funcad.grad(_f), funcad.vmap(_f)
    jf, jg, gj = funcad.jit(_f), funcad.jit(funcad.grad(_f)), funcad.grad(funcad.jit(_f))
    # references, single-threaded and eager
    ref_f = [_f(x) for x in inputs]
    ref_g = [g(x) for x in inputs]
    ref_v = [np.array([_f(b) for b in batch]) for batch in batches]

    # dispatch before the burst: a warm jitted function, and eager grad
    warm = funcad.jit(lambda x: x * 2.0)
    small = np.ones(3)
    warm(small)
    jit_before = _per_call(warm, small)
    grad_before = _per_call(g, small, n=50)

    grad_op = ("grad", lambda k: g(inputs[k]), ref_g)
    vmap_op = ("vmap", lambda k: v(batches[k]), ref_v)
    gj_op = ("grad(jit)", lambda k: gj(inputs[k]), ref_g)
    jit_op = ("jit", lambda k: jf(inputs[k]), ref_f)
    jg_op = ("jit(grad)", lambda k: jg(inputs[k]), ref_g)
    # the tracing transformations cost ~1 ms a call, jitted calls microseconds: 3 in 10
    ops = [grad_op, jit_op, jg_op, vmap_op, jit_op, jg_op, gj_op, jit_op, jg_op, jit_op]
    per_thread = N_CALLS // N_THREADS

    def work(tid):
        bad = []
        for i in range(per_thread):
            name, op, ref = ops[(i + tid) % len(ops)]
            k = (i // 16 + tid) % len(SHAPES)   # threads reach each new shape together
            out = op(k)
            if isinstance(out, core.Tracer) or not np.allclose(out, ref[k], rtol=1e-10,
                                                               atol=1e-12):
                bad.append((name, SHAPES[k], out))
        return bad, core.current_interpreter() is core.eval_interpreter, per_thread

    results = _run_threads(work)
    assert sum(r[2] for r in results) == N_CALLS
    assert [b for r in results for b in r[0]] == []
    assert all(r[1] for r in results), "a thread was left with an interpreter current"
    assert core.current_interpreter() is core.eval_interpreter
    # no half-built entry, and the hot path knows every shape (its table was not poisoned)
    assert not jit_mod._executables._building and not jit_mod._rule_cache._building
    assert sorted(jf._fast) == sorted((x.dtype, x.shape) for x in inputs)

    # dispatch after the burst: as fast as before (a generous bound on noisy machines;
    # the bug this guards against made it 6-12x slower)
    jit_after = _per_call(warm, small)
    grad_after = _per_call(g, small, n=50)
    assert jit_after < 3 * jit_before, (jit_before, jit_after)
    assert grad_after < 3 * grad_before, (grad_before, grad_after)
