"""The differential fuzzer (tests/fuzz.py) on a small budget, and its checks on planted bugs.

The long run is ``python -m tests.fuzz --programs 10000 --seed S`` (see docs/architecture.md,
"Testing"); here hypothesis draws a few dozen programs under the project's profile, and each
check of the fuzzer is shown to catch a wrong derivative, a wrong transpose and a program that
``jit`` cannot run.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import funcad
import funcad.numpy as fnp
import fuzz

_EXAMPLES = settings.default.max_examples


def _assert_ok(res, prog):
    bad = {c: r for c, r in res.items() if r.startswith("fail")}
    assert not bad, f"{bad}\n{prog.source()}\ninput shapes {prog.in_shapes}, seed {prog.seed}"


@settings(max_examples=4 * _EXAMPLES)
@given(prog=fuzz.programs())
def test_programs_agree_eager_vmap_jvp_vjp(prog):
    _assert_ok(fuzz.check_program(prog), prog)


@settings(max_examples=1)
@given(progs=st.lists(fuzz.programs(), min_size=4, max_size=4))
def test_programs_agree_jit_batch(progs):
    for p, res in zip(progs, fuzz.check_jit_batch(progs)):
        _assert_ok(res, p)


def test_generator_covers_the_operations():
    # every operation of OPS appears in a few hundred programs: none is dead in the generator
    import random
    seen = set()
    for s in range(400):
        for stmt in fuzz.random_program(random.Random(s)).stmts:
            seen.add(stmt.src)
    for name in ("lax.cond", "lax.scan", "lax.while_loop", "lax.fori_loop", ".add(",
                 ".set(", ".multiply(", "fnp.where", "fnp.take", "fnp.cumsum", "fnp.reshape",
                 "fnp.transpose", "fnp.broadcast_to", "fnp.sum", "fnp.max"):
        assert any(name in src for src in seen), name
    assert len(fuzz.OPS) >= 30


def _prog(*stmts, shapes=((3,),)):
    return fuzz.Program(shapes, tuple(fuzz.Stmt(*s) for s in stmts), (stmts[-1][0],), 0)


def test_jvp_check_catches_a_wrong_derivative():
    @funcad.custom_jvp
    def f(x):
        return fnp.sin(x)

    f.defjvp(lambda primals, tangents: (fnp.sin(primals[0]), 2.0 * fnp.cos(primals[0])
                                        * tangents[0]))
    x = np.array([0.3, -1.2, 2.0])
    rng = np.random.default_rng(0)
    assert fuzz.check_jvp_fd(fnp.sin, [x], np.sin(x), rng) == "ok"
    with pytest.raises(AssertionError, match="central differences at two steps"):
        fuzz.check_jvp_fd(f, [x], np.sin(x), rng)


def test_vjp_check_catches_a_wrong_transpose():
    @funcad.custom_vjp
    def f(x):
        return fnp.sin(x)

    f.defvjp(lambda x: (fnp.sin(x), x), lambda x, ct: (-fnp.cos(x) * ct,))
    x = np.array([0.3, -1.2, 2.0])
    fuzz.check_vjp_identity(fnp.sin, [x], np.random.default_rng(0))
    with pytest.raises(AssertionError, match="<vjp"):
        fuzz.check_vjp_identity(f, [x], np.random.default_rng(0))


def test_vjp_check_fails_on_nan():
    @funcad.custom_vjp
    def f(x):
        return fnp.sin(x)

    f.defvjp(lambda x: (fnp.sin(x), x), lambda x, ct: (fnp.log(-fnp.abs(ct) - 1.0),))
    with np.errstate(invalid="ignore"), pytest.raises(AssertionError, match="nan"):
        fuzz.check_vjp_identity(f, [np.array([0.3, -1.2])], np.random.default_rng(0))


def test_jit_batch_names_the_culprit():
    good = _prog(("v0", "fnp.sin(x0) * 2.0", (3,), ("x0",)))
    # float() of a traced value: fine eagerly, an error under jit
    bad = _prog(("v0", "x0 * float(fnp.sum(x0))", (3,), ("x0",)))
    res = fuzz.check_jit_batch([good, bad, good])
    assert [r["jit"][:4] for r in res] == ["ok", "fail", "ok"]


def test_shrink_finds_the_smallest_failing_program():
    prog = _prog(("v0", "fnp.sin(x0)", (3,), ("x0",)),
                 ("v1", "fnp.cos(v0)", (3,), ("v0",)),
                 ("v2", "fnp.reshape(v1, (7,))", (7,), ("v1",)),    # the bad statement
                 ("v3", "fnp.exp(v2)", (7,), ("v2",)))
    assert fuzz.check_program(prog)["eager"].startswith("fail")
    small = fuzz.shrink(prog, fuzz.fails_check("eager"))
    assert [s.name for s in small.stmts] == ["v0", "v1", "v2"]
    assert "reshape" in small.source()


def _shifted_jit(monkeypatch, shift):
    # the jitted outputs replaced by the eager ones moved by ``shift``: a planted disagreement
    def outs(progs):
        return tuple(p.fn()(*p.inputs()) + shift for p in progs)
    monkeypatch.setattr(fuzz, "_jit_outputs", outs)


def test_rounding_spread_measures_conditioning():
    well = _prog(("v0", "fnp.sin(x0) * 2.0", (3,), ("x0",)))
    ill = _prog(("v0", "fnp.cos(x0 * 1e15)", (3,), ("x0",)))
    y_well, y_ill = (p.fn()(*p.inputs()) for p in (well, ill))
    assert np.max(fuzz.rounding_spread(well, y_well)) < 1e-13
    assert np.max(fuzz.rounding_spread(ill, y_ill)) > 1e-3


def test_jit_check_allows_rounding_only_in_ill_conditioned_programs(monkeypatch):
    # cos of an argument near 1e15: a few ulp of the argument move the result by O(0.1), so a
    # jit/eager difference of 1e-3 is rounding; the same difference in sin(x) is a bug
    well = _prog(("v0", "fnp.sin(x0) * 2.0", (3,), ("x0",)))
    ill = _prog(("v0", "fnp.cos(x0 * 1e15)", (3,), ("x0",)))
    _shifted_jit(monkeypatch, 1e-3)
    res = fuzz.check_jit_batch([well, ill])
    assert res[0]["jit"].startswith("fail: AssertionError: jit")
    assert res[1]["jit"] == "ill-conditioned"
    _shifted_jit(monkeypatch, 10.0)          # beyond any rounding: a failure in both
    assert all(r["jit"].startswith("fail") for r in fuzz.check_jit_batch([well, ill]))
