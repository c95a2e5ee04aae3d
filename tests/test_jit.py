"""funcad.jit: compiled results equal eager ones, jit composes with every transformation,
and the caches (trace, compile, disk) do what they promise.

Numba compiles slowly (~0.3-1 s per function), so tests share compilations: the primitive
registry is checked through one jitted function per chunk of 16 cases of one dtype, the
composites through one function per dtype (called at two shapes: one compilation), and the
jitted functions below are module-level objects reused by several tests. The on-disk cache
makes a second run fast (about 5 s instead of about 70 s).
"""
import functools
import json
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax, testing
from funcad.codegen import compile as C
from funcad.codegen.lower import has_lowering
from funcad.config import config
from funcad.core import Primitive, primitives
from funcad.interpreters.jit import jit
from funcad.lowering import Opaque

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _close(got, want, what=""):
    """Same type of container, shapes, dtypes; values to dtype-appropriate precision."""
    if isinstance(want, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(want), what
        for k, (g, w) in enumerate(zip(got, want)):
            _close(g, w, f"{what}[{k}]")
        return
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), what
        for k in want:
            _close(got[k], want[k], f"{what}[{k!r}]")
        return
    g, w = np.asarray(got), np.asarray(want)
    assert g.shape == w.shape, f"{what}: shape {g.shape} != {w.shape}"
    assert g.dtype == w.dtype, f"{what}: dtype {g.dtype} != {w.dtype}"
    if w.dtype.kind in "fc":
        tol = 2e-5 if w.dtype in (np.float32, np.complex64) else 1e-11
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol, err_msg=what)
    else:
        np.testing.assert_array_equal(g, w, err_msg=what)


# ---------------------------------------------------------------------------------------------
# Every primitive with a lowering: one jitted function per dtype evaluates all the cases

# Every registered primitive, for every dtype it accepts. A primitive that cannot be lowered
# (no ``lowering``), or whose jit case is a known gap, says why in its declaration
# (``xfail={"jit": "why"}``); the harness reports it as a strict xfail.
_ALL = testing.primitive_cases()
CASES = [c for c in _ALL if isinstance(c, testing.PrimCase)
         and (has_lowering(c.prim) or c.xfail_reason("jit"))]
_CHUNK = 16   # cases per compiled function: LLVM's time grows faster than linearly
_GROUP = {}
for _dt in sorted({c.dtype for c in CASES}):
    _cs = [c for c in CASES if c.dtype == _dt]
    for _k in range(0, len(_cs), _CHUNK):
        for _c in _cs[_k:_k + _CHUNK]:
            _GROUP[_c.id] = (_dt, _k)


def _case_args(case):
    return case.args(np.random.default_rng(zlib.crc32(case.id.encode())))


@functools.lru_cache(maxsize=None)
def _group_results(group):
    """{case id: jitted output or the exception} for one chunk of cases, compiled as one
    function (one per case only if that fails, to say which case is at fault)."""
    cases = [c for c in CASES if _GROUP[c.id] == group]
    args = [_case_args(c) for c in cases]

    def all_cases(arg_lists):
        return [c.fun()(*a) for c, a in zip(cases, arg_lists)]

    try:
        outs = jit(all_cases)(args)
        return {c.id: o for c, o in zip(cases, outs)}
    except Exception:  # noqa: BLE001 - isolate the culprit below
        pass
    results = {}
    for c, a in zip(cases, args):
        try:
            results[c.id] = jit(c.fun())(*a)
        except Exception as e:  # noqa: BLE001
            results[c.id] = e
    return results


def _normalize_eigh(case, outs):
    """Eigenvectors are defined up to sign (LAPACK's choice differs between triangles)."""
    if case.prim.name != "eigh":
        return outs
    w, v = outs
    v = np.asarray(v)
    s = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])
    return [w, v * s]


def _jit_param(c):
    reason = c.xfail_reason("jit")
    return pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=reason)]
                        if reason else [])


@pytest.mark.parametrize("case", [_jit_param(c) for c in CASES] + [
    pytest.param(c, id=c.id, marks=pytest.mark.xfail(run=False, reason=c.reason))
    for c in _ALL if isinstance(c, testing.UnsupportedCase)])
def test_primitive_jit_matches_eager(case):
    got = _group_results(_GROUP[case.id])[case.id]
    if isinstance(got, Exception):
        raise got
    args = _case_args(case)
    want = case.fun()(*args)
    if case.prim.multiple_results:
        got, want = _normalize_eigh(case, list(got)), _normalize_eigh(case, list(want))
    else:
        aval = case.prim.abstract_eval(*[funcad.core.get_aval(a) for a in args],
                                       **case.params)
        assert np.asarray(got).dtype == aval.dtype   # the declared dtype, always
    _close(got, want, case.id)


@pytest.mark.parametrize("prim", [
    pytest.param(p, id=n, marks=[pytest.mark.xfail(strict=True, reason=p.xfail["jit"])]
                 if "jit" in p.xfail else [])
    for n, p in sorted(primitives.items())])
def test_every_primitive_has_a_lowering(prim):
    """A primitive without a lowering fails here unless its declaration says why
    (``xfail={"jit": ...}``)."""
    assert has_lowering(prim), (f"{prim.name} has no lowering: declare one (funcad/lowering.py) "
                                f"or xfail={{'jit': 'why'}}")


# ---------------------------------------------------------------------------------------------
# funcad.numpy composites: values and dtypes, several shapes and dtypes

def _common(x, y, i):
    """fnp functions of two 2-D arrays of one dtype and an int index array: reductions,
    indexing and shape functions (dtype-agnostic code paths)."""
    return {
        "arith": x * 2 + y - x // (fnp.abs(y) + 1) if x.dtype.kind == "i" else
        x * 2 + y - x / (fnp.abs(y) + 1),
        "sum0": fnp.sum(x, axis=0), "mean1": fnp.mean(x, axis=1), "max": fnp.max(x, axis=1),
        "prod": fnp.prod(x[:2], axis=0), "argmax": fnp.argmax(x, axis=1),
        "argmin": fnp.argmin(y), "cumsum": fnp.cumsum(x, axis=1),
        "where": fnp.where(x > y, x, y), "clip": fnp.clip(x, -1, 1), "T": fnp.transpose(x),
        "reshape": fnp.reshape(x, (-1,)), "slice": x[1:, ::2], "rev": x[::-1],
        "take": x[i], "col": x[:, i[:2]], "concat": fnp.concatenate([x, y], axis=1),
        "stack": fnp.stack([x, y]), "set": fnp.at(x)[0].set(y[1]),
        "add": fnp.at(x)[i].add(1), "bcast": x[:, :1] * y, "any": fnp.any(x > 0, axis=0),
        "roll": fnp.roll(x, 1, axis=0), "tril": fnp.tril(x), "matmul": x @ y.T,
    }


def _floats(x, y):
    """Float math, with the decompositions funcad.numpy uses (softmax, var, einsum, ...)."""
    m = fnp.max(x, axis=1, keepdims=True)
    return {
        "elem": fnp.sin(x) * fnp.exp(-y * y) + fnp.log1p(fnp.abs(x)) - fnp.tanh(y),
        "softmax": fnp.exp(x - m) / fnp.sum(fnp.exp(x - m), axis=1, keepdims=True),
        "var": fnp.var(x, axis=0), "std": fnp.std(y), "dot_vec": fnp.dot(x[0], y[0]),
        "einsum": fnp.einsum("ij,kj->ik", x, y), "pow": fnp.abs(x) ** 1.5,
        "floor": fnp.floor(x), "round": fnp.round(x), "isnan": fnp.isnan(x / y),
        "hypot": fnp.hypot(x, y), "logaddexp": fnp.logaddexp(x, y),
    }


def _composites(x, y, i):
    if x.dtype == np.float32:
        return _floats(x, y)
    out = _common(x, y, i)
    if x.dtype.kind == "f":
        out.update(_floats(x, y))
    else:
        out.update({"mod": x % (fnp.abs(y) + 1), "and": x & y})
    return out


_CONFIGS = [  # (dtype, (first shape, second shape of the same ranks))
    ("float64", ((11, 17), (13, 19))),
    ("float32", ((3, 4), (5, 7))),
    ("int64", ((11, 17), (13, 19))),
]
_composites_jit = jit(_composites)


def _inputs(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        x, y = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    else:
        x, y = (rng.integers(-9, 10, shape).astype(dtype) for _ in range(2))
    i = np.array([2, 0, 1])
    return x, y, i


@pytest.mark.parametrize("dtype,shapes", _CONFIGS, ids=[c[0] for c in _CONFIGS])
def test_composites_match_eager_and_reuse_compilation(dtype, shapes):
    for k, shape in enumerate(shapes):
        x, y, i = _inputs(dtype, shape, k)
        misses = C.stats.misses
        got = _composites_jit(x, y, i)
        want = _composites(x, y, i)
        _close(got, want, f"{dtype}{shape}")
        if k:   # a new shape of the same ranks and dtypes: retraced, not recompiled
            assert C.stats.misses == misses


# ---------------------------------------------------------------------------------------------
# Compositions with grad / vmap / jvp, in every order

def loss(x):
    return fnp.sum(fnp.sin(x) ** 2 + fnp.cos(x) * x - fnp.tanh(x))


def mlp(params, x):
    w1, b1, w2 = params
    h = fnp.tanh(x @ w1 + b1)
    logits = h @ w2
    return fnp.mean(fnp.log(fnp.sum(fnp.exp(logits), axis=1)) - logits[:, 0])


X = np.linspace(-2.0, 2.0, 11)
_rng = np.random.default_rng(0)
PARAMS = (_rng.standard_normal((4, 6)), _rng.standard_normal(6), _rng.standard_normal((6, 3)))
BATCH = _rng.standard_normal((5, 4))
loss_jit = jit(loss)


def test_grad_of_jit():
    _close(funcad.grad(loss_jit)(X), funcad.grad(loss)(X))
    v, g = funcad.value_and_grad(jit(mlp))(PARAMS, BATCH)
    v0, g0 = funcad.value_and_grad(mlp)(PARAMS, BATCH)
    _close(v, v0)
    _close(list(g), list(g0))


def test_grad_of_jit_runs_compiled_code():
    before = C.stats.misses
    funcad.grad(loss_jit)(X + 1.0)
    after_first = C.stats.misses
    funcad.grad(loss_jit)(X + 2.0)   # same shapes: every piece comes from the caches
    assert C.stats.misses == after_first
    jaxpr = funcad.make_jaxpr(funcad.grad(loss_jit))(X)
    assert [e.prim.name for e in jaxpr.eqns].count("jit") >= 2, str(jaxpr)
    assert after_first >= before


def test_jit_of_grad_and_value_and_grad():
    _close(jit(funcad.grad(loss))(X), funcad.grad(loss)(X))
    v, g = jit(funcad.value_and_grad(mlp))(PARAMS, BATCH)
    v0, g0 = funcad.value_and_grad(mlp)(PARAMS, BATCH)
    _close(v, v0)
    _close(list(g), list(g0))


def test_vmap_of_jit_and_jit_of_vmap():
    xs = np.stack([X, 2 * X, -X])
    want = np.array([loss(r) for r in xs])
    _close(funcad.vmap(loss_jit)(xs), want)
    _close(jit(funcad.vmap(loss))(xs), want)
    # in_axes=1 and an unbatched argument
    f = jit(lambda a, b: fnp.sin(a) * b)
    _close(funcad.vmap(f, in_axes=(1, None))(xs, X[:3]),
           np.stack([np.sin(xs[:, k]) * X[:3] for k in range(xs.shape[1])]))


def test_jit_of_vmap_of_grad_and_jacobians():
    xs = np.stack([X, 2 * X])
    _close(jit(funcad.vmap(funcad.grad(loss)))(xs),
           np.stack([funcad.grad(loss)(r) for r in xs]))
    _close(funcad.jacfwd(loss_jit)(X[:4]), funcad.jacfwd(loss)(X[:4]))
    _close(funcad.hessian(loss_jit)(X[:3]), funcad.hessian(loss)(X[:3]))


def test_jvp_of_jit():
    t = np.cos(X)
    _close(funcad.jvp(loss_jit, (X,), (t,)), funcad.jvp(loss, (X,), (t,)))


def test_jit_inside_jit_is_one_function():
    inner = jit(lambda x: fnp.sin(x) * 2.0)
    outer = jit(lambda x: fnp.sum(inner(x) + inner(x * 3.0)))
    _close(outer(X), np.sum(np.sin(X) * 2 + np.sin(X * 3) * 2))
    low = outer.lower(X)
    assert "jit" in [e.prim.name for e in low.jaxpr.eqns]
    assert low.source.count("def ") == 1   # inlined into one function
    _close(funcad.grad(outer)(X), 2 * np.cos(X) + 6 * np.cos(3 * X))


def test_make_jaxpr_shows_one_jit_equation():
    jaxpr = funcad.make_jaxpr(loss_jit)(X)
    assert [e.prim.name for e in jaxpr.eqns] == ["jit"]
    text = str(jaxpr)
    assert "sin" in text and "reduce_sum" in text


# ---------------------------------------------------------------------------------------------
# Control flow becomes if / while / for in the generated function

def control(x):
    s = lax.fori_loop(0, 7, lambda i, c: c * 0.9 + fnp.sin(fnp.take(x, i % 3)), 0.0)
    y = lax.cond(s > 0, lambda v: v * 2.0, lambda v: v - 1.0, x)
    z = lax.switch(2, [lambda v: v, lambda v: -v, lambda v: fnp.cos(v)], x)

    def step(c, xi):
        c = c + xi
        return c, c * xi

    c, ys = lax.scan(step, 0.0, y, reverse=True)
    w = lax.while_loop(lambda v: fnp.sum(v) < 20.0, lambda v: fnp.sin(v) + v * 1.5, x)
    return s, y, z, c, ys, w


def test_control_flow_is_lowered():
    x = np.linspace(0.2, 1.0, 5)
    g = jit(control)
    _close(g(x), control(x))
    src = g.lower(x).source
    assert "while True:" in src and "if " in src and "for __s" in src


def test_grad_through_loops_runs_compiled():
    x = np.linspace(0.2, 1.0, 5)

    def loss_loops(x):
        s, y, z, c, ys, w = control(x)
        return s + c + fnp.sum(ys * z) + fnp.sum(w)

    want = funcad.grad(loss_loops)(x)
    g = jit(funcad.grad(loss_loops))
    _close(g(x), want)
    assert "while_transpose" in str(funcad.make_jaxpr(funcad.grad(loss_loops))(x))


# ---------------------------------------------------------------------------------------------
# Closures, static arguments, caches and retracing

def test_closure_over_arrays_is_an_argument_not_a_global():
    def make(c):
        return jit(lambda x: fnp.sum(x * c))
    c1, c2 = np.arange(11.0), np.ones(11)
    f1, f2 = make(c1), make(c2)
    _close(f1(X), np.sum(X * c1))
    misses = C.stats.misses
    _close(f2(X), np.sum(X * c2))       # same text, other constant: no new compile
    assert C.stats.misses == misses
    src = f1.lower(X).source
    assert "10.0" not in src and "def jit_" in src
    # closed-over arrays also reach transformations as inputs
    _close(funcad.grad(lambda x: make(c1)(x))(X), c1)


def test_static_argnums_and_argnames():
    traces = []

    def f(x, n, *, mode="sin"):
        traces.append((n, mode))
        y = x
        for _ in range(n):   # Python control flow on a static value
            y = fnp.sin(y) if mode == "sin" else fnp.cos(y)
        return y

    g = jit(f, static_argnums=1, static_argnames="mode")
    _close(g(X, 2), np.sin(np.sin(X)))
    _close(g(X, 2), np.sin(np.sin(X)))
    _close(g(X, 1, mode="cos"), np.cos(X))
    _close(g(X, 3), np.sin(np.sin(np.sin(X))))
    assert traces == [(2, "sin"), (1, "cos"), (3, "sin")]


def test_static_argument_errors():
    g = jit(lambda x, opts: x * len(opts), static_argnums=(1,))
    with pytest.raises(TypeError, match="not hashable.*tuple instead of a list"):
        g(X, [1, 2])
    with pytest.raises(TypeError, match="arrays cannot be static"):
        g(X, np.ones(2))
    with pytest.raises(ValueError, match="static_argnums"):
        jit(lambda x: x, static_argnums=3)(X)
    with pytest.raises(TypeError, match="str.*static_argnums"):
        jit(lambda x, mode: x)(X, "fast")


def test_retrace_on_new_dtype_and_pytree_never_a_wrong_answer():
    traces = []

    def f(tree):
        traces.append(1)
        return funcad.tree_util.tree_map(lambda a: a * 2, tree)

    g = jit(f)
    _close(g({"a": X}), {"a": 2 * X})
    _close(g({"a": X.astype(np.float32)}), {"a": 2 * X.astype(np.float32)})
    _close(g({"a": X, "b": (X[:2],)}), {"a": 2 * X, "b": (2 * X[:2],)})
    _close(g([X]), [2 * X])
    _close(g({"a": X}), {"a": 2 * X})
    assert len(traces) == 4


def test_new_shape_same_rank_reuses_the_compiled_function():
    g = jit(lambda x, y: fnp.sum(fnp.exp(x) * y[:, None], axis=0))
    a, b = np.ones((3, 4)), np.arange(3.0)
    _close(g(a, b), np.sum(np.exp(a) * b[:, None], axis=0))
    misses = C.stats.misses
    dispatcher = g.lower(a, b).compile()
    n_sigs = len(dispatcher.signatures)
    for shape in [(7, 2), (2, 9), (6, 4)]:   # no unit axes, no new equal extents
        a2, b2 = np.ones(shape) * 0.5, np.arange(float(shape[0]))
        _close(g(a2, b2), np.sum(np.exp(a2) * b2[:, None], axis=0))
    assert C.stats.misses == misses
    assert len(dispatcher.signatures) == n_sigs


def test_source_embeds_no_extents():
    g = jit(lambda x: fnp.sum(fnp.sin(x[1:, :]) * 2.0, axis=1))
    src = g.lower(np.ones((37, 53))).source
    code = "\n".join(line.split("#")[0] for line in src.splitlines())
    assert "37" not in code and "53" not in code and "36" not in code
    assert "__dims" in code


def test_outputs_are_numpy_arrays_and_scalars():
    g = jit(lambda x: (fnp.sum(x), x * 2, {"n": fnp.argmax(x), "f": fnp.sum(
        x.astype(np.float32))}))
    s, y, d = g(X)
    assert type(s) is np.float64 and type(y) is np.ndarray
    assert type(d["n"]) is np.int64 and type(d["f"]) is np.float32
    # the same types as eager funcad.numpy
    assert type(fnp.sum(X)) is np.float64
    # scalars in, scalars out
    h = jit(lambda a, b: a * b + 1)
    assert h(2.0, 3.0) == 7.0 and type(h(2.0, 3.0)) is np.float64
    assert type(h(np.float32(2), np.float32(3))) is np.float32
    assert h(2, 3) == 7 and type(h(2, 3)) is np.int64


def test_disable_jit_runs_eagerly():
    calls = []

    def f(x):
        calls.append(type(x))
        return x + 1

    g = jit(f)
    g(X)
    g(X)
    assert len(calls) == 1 and calls[0] is not np.ndarray   # traced once
    config.update("disable_jit", True)
    try:
        _close(g(X), X + 1)
        assert calls[-1] is np.ndarray                       # ran on the array itself
        _close(funcad.grad(lambda x: fnp.sum(g(x) ** 2))(X), 2 * (X + 1))
    finally:
        config.update("disable_jit", False)


def test_method_and_decorator_forms():
    class Model:
        def __init__(self, w):
            self.w = w

        @functools.partial(jit, static_argnums=0)
        def apply(self, x):
            return x * self.w

    m = Model(3.0)
    _close(m.apply(X), 3.0 * X)

    @jit
    def f(x):
        return x - 1

    _close(f(X), X - 1)
    assert f.__name__ == "f"


# ---------------------------------------------------------------------------------------------
# Numerics that differ between Python/Numba and NumPy

def _special(x, y, i, j, b):
    return {
        "max": fnp.maximum(x, y), "min": fnp.minimum(x, y), "rmax": fnp.max(x),
        "rmin": fnp.min(y, axis=0), "argmax": fnp.argmax(x), "argmin": fnp.argmin(y),
        "div": lax.div(i, j), "rem": lax.rem(i, j), "fdiv": x / y, "neg0": -x * 0.0,
        "and": b & (i > 0), "not": ~b, "xor": b ^ (j > 0), "bsum": fnp.sum(b),
        "f32": fnp.sin(x.astype(np.float32)) * np.float32(2), "i32": i.astype(np.int32) * 3,
        "powi": lax.integer_pow(x, -3), "sign": fnp.sign(x), "floor": fnp.floor(x),
    }


def test_special_values_match_numpy_semantics():
    nan, inf = np.nan, np.inf
    x = np.array([1.0, nan, -inf, 0.0, -0.0, 2.5, -3.5])
    y = np.array([nan, 1.0, 0.0, -0.0, 0.0, 2.5, 7.0])
    i = np.array([7, -7, 7, -7, 0, 5, np.iinfo(np.int64).max])
    j = np.array([2, 2, -2, -2, 3, 0, -1])
    b = np.array([True, False, True, False, True, True, False])
    with np.errstate(all="ignore"):
        want = _special(x, y, i, j, b)
    _close(jit(_special)(x, y, i, j, b), want)


@pytest.mark.parametrize("parallel", [False, True])
def test_blocked_trig_loops_redo_blocks_out_of_the_cheap_range(parallel):
    g = jit(lambda x: (fnp.sum(fnp.sin(x) * fnp.cos(2.0 * x)), fnp.sin(x) + 1.0),
            parallel=parallel)
    x = np.random.default_rng(3).uniform(-10, 10, 5000)
    x[1500] = 1.0e19    # beyond the bounded kernels' range (they give ~1e27 here):
    x[4999] = -1.0e22   # that block is redone exactly; the tail uses the full kernels
    src = g.lower(x).source
    assert "fsin_bounded" in src
    # a parallel block's offset is clamped at 0 so LLVM can drop the wraparound check and
    # vectorize the block loop (the prange body sees the block index as any int64)
    assert ("= max(__blk0 * 1024, 0)" in src) == parallel
    s, y = g(x)
    assert abs(s - np.sum(np.sin(x) * np.cos(2 * x))) < 1e-10
    np.testing.assert_allclose(y, np.sin(x) + 1.0, rtol=1e-15, atol=4e-16)


def test_parallel_loops_give_the_same_results():
    g = jit(lambda x, y: (fnp.sum(fnp.sin(x) * y), fnp.tanh(x) + y, fnp.sum(x, axis=0)),
            parallel=True)
    a, b = np.random.default_rng(1).standard_normal((2, 200, 30))
    src = g.lower(a, b).source
    assert "prange" in src
    _close(g(a, b), (np.sum(np.sin(a) * b), np.tanh(a) + b, np.sum(a, axis=0)))


# ---------------------------------------------------------------------------------------------
# Errors

def test_python_control_flow_on_traced_value_raises_concretization_error():
    def f(x):
        if fnp.sum(x) > 0:
            return x
        return -x

    with pytest.raises(funcad.ConcretizationError, match="lax.cond.*static_argnums"):
        jit(f)(X)
    with pytest.raises(funcad.ConcretizationError):
        jit(lambda x: x * int(x[0]))(X)


def test_unsupported_primitive_is_a_clear_not_implemented_error():
    p = Primitive("funcad_test_opaque", impl=lambda x: x,
                  abstract_eval=lambda x: x, register=False)
    with pytest.raises(NotImplementedError, match="funcad_test_opaque"):
        jit(lambda x: p.bind(x) + 1)(X)


def test_primitive_lower_slot_is_the_extension_point():
    def lower_twice(ctx, eqn):
        (x,), (out,) = eqn.inputs, eqn.outvars
        ctx.alloc(out)
        with ctx.loops(out.aval.shape) as idx:
            ctx.store(out, idx, f"2.0 * {ctx.read(x, idx)}")

    twice = Primitive("funcad_test_twice", impl=lambda x: 2 * x, abstract_eval=lambda x: x,
                      lowering=Opaque(lower_twice), register=False)
    _close(jit(lambda x: twice.bind(x) + 1.0)(X), 2 * X + 1)

    def lower_broken(ctx, eqn):
        ctx.em.line(f"{ctx.out(eqn.outvars[0])} = no_such_function({ctx.name(eqn.inputs[0])})")

    broken = Primitive("funcad_test_broken", impl=lambda x: x, abstract_eval=lambda x: x,
                       lowering=Opaque(lower_broken), register=False)
    with pytest.raises(RuntimeError, match="(?s)bug in funcad's code generator.*no_such_function"):
        jit(lambda x: broken.bind(x))(X)


def test_huge_trig_arguments_redo_their_block_with_full_range_kernels():
    # blocks (and the tail) use the cheap sin/cos kernels, exact for |x| <= 2**30; a block
    # with a larger argument is recomputed with the full-range ones
    x = np.linspace(-3.0, 3.0, 2 * 1024 + 300)
    for i in (5, 1500, 2100):          # block 0, block 1, the tail
        x[i] = 1e22 * (1 + i)
    f = jit(lambda x: (fnp.sum(fnp.sin(x) ** 2 + fnp.cos(x) * 0.5), fnp.sin(x) * 2.0))
    s, y = f(x)
    np.testing.assert_allclose(y, np.sin(x) * 2.0, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(s, np.sum(np.sin(x) ** 2 + np.cos(x) * 0.5), rtol=1e-12)
    src = f.lower(x).source
    assert "fsin_bounded(" in src and "fsin_far(" in src and "fsin(" not in src


def test_exact_math_switch_changes_the_generated_code():
    g = jit(lambda x: fnp.sum(fnp.exp(x) * fnp.sin(x)))
    fast_src = g.lower(X).source
    fast = g(X)
    config.update("exact_math", True)
    try:
        exact_src = g.lower(X).source
        exact = g(X)
    finally:
        config.update("exact_math", False)
    assert "fsin_bounded(" in fast_src and "math.sin(" in exact_src and "fsin" not in exact_src
    want = np.sum(np.exp(X) * np.sin(X))
    assert abs(exact - want) <= 1e-13 * abs(want) and abs(fast - want) <= 1e-13 * abs(want)


def test_jit_rejects_non_callables():
    with pytest.raises(TypeError, match="expected a function"):
        jit(3)


# ---------------------------------------------------------------------------------------------
# The compiled code survives the process (and FUNCAD_DISABLE_JIT is honoured)

_CHILD = textwrap.dedent("""
    import json, sys, numpy as np
    import funcad.numpy as fnp
    from funcad.config import config
    from funcad.interpreters.jit import jit, executable
    f = jit(lambda x: fnp.sum(fnp.sin(x) ** 2 + fnp.cos(x) * x - fnp.tanh(x)))
    x = np.linspace(-1.0, 1.0, 101)
    value = float(f(x))
    hits = misses = 0
    if not config.disable_jit:
        entry = next(iter(f._cache.values()))
        stats = executable(entry.jaxpr, "f", False).fn.stats
        hits, misses = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
    print(json.dumps({"value": value, "hits": hits, "misses": misses,
                      "compiled": bool(f._cache)}))
""")


def _run_child(env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run([sys.executable, "-c", _CHILD], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_loads_compiled_code_from_disk(tmp_path):
    env = {"FUNCAD_CACHE_DIR": str(tmp_path / "cache")}
    first = _run_child(env)
    second = _run_child(env)
    x = np.linspace(-1.0, 1.0, 101)
    want = float(np.sum(np.sin(x) ** 2 + np.cos(x) * x - np.tanh(x)))
    assert abs(first["value"] - want) < 1e-12 and second["value"] == first["value"]
    assert first["hits"] == 0 and second["hits"] >= 1 and second["misses"] == 0
    assert oct(os.stat(tmp_path / "cache").st_mode & 0o777) == "0o700"
    disabled = _run_child(dict(env, FUNCAD_DISABLE_JIT="1"))
    assert abs(disabled["value"] - want) < 1e-12 and not disabled["compiled"]


def test_jit_and_control_flow_share_one_set_of_jaxpr_helpers():
    from funcad.interpreters import jaxpr_util
    from funcad.interpreters import jit as jit_module
    from funcad.primitives import control_jaxpr
    for name in ("hoist", "trace_hoisted", "jvp_jaxpr", "run"):
        assert getattr(control_jaxpr, name) is getattr(jaxpr_util, name)
    assert jit_module.hoist is jaxpr_util.hoist
    w = np.arange(3.0)
    closed = funcad.make_jaxpr(lambda x: x * w)(np.ones(3))
    assert len(closed.jaxpr.constvars) == 1
    hoisted, consts = jaxpr_util.hoist(closed)
    assert not hoisted.jaxpr.constvars and len(hoisted.jaxpr.invars) == 2 and consts[0] is w
    again, none = jaxpr_util.hoist(hoisted)
    assert again is hoisted and none == []     # caches key on the jaxpr's identity
