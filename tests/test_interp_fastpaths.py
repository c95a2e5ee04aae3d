"""The shortcuts that keep eager grad cheap on small problems, pinned against the general
paths they stand for: the backward pass's split into forward (non-linear) and linear
equations, JVP tracers' avals, the binary broadcast of shapes, and ``funcad.numpy``'s
elementwise functions binding their primitive directly.

The differential section at the end swaps every fast path for the plain rule beside it
(``_use_plain_rules``) and checks that a set of programs gives identical values, dtypes,
types and jaxprs both ways; a new fast path belongs in ``_use_plain_rules``."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.core import Primitive, get_aval
from funcad.interpreters.jvp import JVPTracer
from funcad.interpreters.transpose import backward_pass
from funcad.numpy._util import broadcast_shapes
from funcad.rule_util import UndefinedPrimal, Zero

# ---------------------------------------------------------------------------------------------
# backward_pass: non-linear equations run forwards, linear ones are transposed


def _mixed(c, x, unused):
    # s depends on c only (evaluated forwards); the rest is linear in x; ``unused`` gets no
    # cotangent; the outputs include an input itself and a value that does not depend on x
    s = lax.sin(c)
    y = lax.mul(lax.add(lax.mul(x, s), x), lax.cos(s))
    return y, x, lax.mul(s, 2.0)


def test_backward_pass_mixes_forward_and_linear_equations():
    c = np.array([0.3, -1.2, 2.0])
    x = np.array([1.0, 2.0, -0.5])
    closed = funcad.make_jaxpr(_mixed)(c, x, x)
    aval = get_aval(x)
    ct_y, ct_x = np.array([1.0, -2.0, 0.5]), np.array([0.25, 4.0, -1.0])
    got = backward_pass(closed.jaxpr, closed.consts,
                        [c, UndefinedPrimal(aval), UndefinedPrimal(aval)],
                        [ct_y, ct_x, np.ones(3)])
    assert got[0] is None                       # c is not linear: no cotangent
    want = ct_y * (np.sin(c) + 1.0) * np.cos(np.sin(c)) + ct_x
    np.testing.assert_allclose(got[1], want, rtol=1e-14)
    assert type(got[2]) is Zero and got[2].aval == aval   # linear, but unused


def test_backward_pass_skips_equations_without_cotangent():
    calls = []

    # a sin whose transpose rule records its calls (primitives are immutable once declared)
    spy = Primitive("spy_sin", impl=np.sin, abstract_eval=lambda x: x, register=False,
                    transpose=lambda *a, **k: calls.append(a) or [None])

    def f(x):
        return lax.mul(x, 3.0), spy.bind(x)  # sin of a linear input: never transposed

    closed = funcad.make_jaxpr(f)(np.ones(2))
    aval = get_aval(np.ones(2))
    got = backward_pass(closed.jaxpr, closed.consts, [UndefinedPrimal(aval)],
                        [np.array([1.0, 2.0]), None])
    np.testing.assert_array_equal(got[0], [3.0, 6.0])
    assert calls == []


def test_grad_through_linear_transpose_of_a_constant_closure():
    c = np.array([0.5, 1.5])
    f_t = funcad.linear_transpose(lambda x: x * fnp.sin(c) + x, np.ones(2))
    np.testing.assert_allclose(f_t(np.array([2.0, -1.0]))[0],
                               np.array([2.0, -1.0]) * (np.sin(c) + 1.0), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# JVP tracers carry the interned aval of their primal


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jvp_tracer_aval_is_the_interned_aval_of_its_primal(dtype):
    seen = []

    def f(x):
        y = fnp.tanh(x) * 2.0
        seen.extend([x, y])
        return fnp.sum(y)

    x = np.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3)
    funcad.jvp(f, (x,), (np.ones_like(x),))
    assert all(type(t) is JVPTracer for t in seen)
    for t in seen:
        assert t.aval is get_aval(t.primal)
        assert t.aval.shape == (2, 3) and t.aval.dtype == np.dtype(dtype)


# ---------------------------------------------------------------------------------------------
# broadcast_shapes: the two-shape path is NumPy's broadcast

_SHAPES = [(), (1,), (3,), (4,), (1, 1), (2, 1), (1, 3), (2, 3), (3, 3), (2, 1, 3), (4, 2, 1)]


@pytest.mark.parametrize("a", _SHAPES, ids=str)
def test_broadcast_shapes_of_two_matches_numpy(a):
    for b in _SHAPES:
        try:
            want = np.broadcast_shapes(a, b)
        except ValueError:
            with pytest.raises(ValueError, match=r"fnp\.test: .*broadcast together"):
                broadcast_shapes("fnp.test", a, b)
            continue
        for x, y in [(a, b), (list(a), list(b))]:
            got = broadcast_shapes("fnp.test", x, y)
            assert got == want and type(got) is tuple, (x, y)


# ---------------------------------------------------------------------------------------------
# Elementwise functions bind their primitive directly; bools keep their own primitives


@pytest.mark.parametrize("fn, prim", [(fnp.add, "or"), (fnp.multiply, "and"),
                                      (fnp.maximum, "max"), (fnp.equal, "eq")])
def test_boolean_elementwise_functions_stage_their_primitive(fn, prim):
    a = np.array([True, False, True])
    b = np.array([True, True, False])
    closed = funcad.make_jaxpr(fn)(a, b)
    assert [e.prim.name for e in closed.jaxpr.eqns] == [prim]
    np.testing.assert_array_equal(funcad.jit(fn)(a, b), fn.__wrapped_numpy__(a, b))


@pytest.mark.parametrize("fn, prim", [(fnp.add, "add"), (fnp.subtract, "sub"),
                                      (fnp.multiply, "mul"), (fnp.true_divide, "div"),
                                      (fnp.sin, "sin"), (fnp.negative, "neg")])
def test_float_elementwise_functions_stage_one_equation(fn, prim):
    args = [np.linspace(0.5, 2.0, 4, dtype=np.float32)] * (2 if fn.__wrapped_numpy__.nin == 2
                                                           else 1)
    closed = funcad.make_jaxpr(fn)(*args)
    assert [e.prim.name for e in closed.jaxpr.eqns] == [prim]
    assert closed.jaxpr.outvars[0].aval.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Differential: every fast path off (its plain rule instead) against every fast path on
#
# Each fast path sits beside the plain rule it shortcuts. ``_use_plain_rules`` swaps each one
# for its plain rule, then the same programs run in both modes and must agree exactly: values,
# dtypes, Python types and staged jaxprs.

import sys  # noqa: E402

from funcad import core  # noqa: E402
from funcad.interpreters import jit as jit_mod  # noqa: E402
from funcad.interpreters import transpose as transpose_mod  # noqa: E402
from funcad.interpreters.batching import BatchInterpreter  # noqa: E402
from funcad.interpreters.jvp import JVPInterpreter  # noqa: E402
from funcad.interpreters.partial_eval import PartialEvalInterpreter  # noqa: E402
from funcad.interpreters.stage import StagingInterpreter  # noqa: E402
from funcad.numpy import _util, ufuncs  # noqa: E402
from funcad.primitives import shape as shape_prims  # noqa: E402
from funcad.tree_util import _treedef  # noqa: E402


def _patch_everywhere(monkeypatch, orig, new):
    """Replace ``orig`` by ``new`` under every name any funcad module binds it to."""
    n = 0
    for name, mod in list(sys.modules.items()):
        if name == "funcad" or name.startswith("funcad."):
            for attr, val in list(vars(mod).items()):
                if val is orig:
                    monkeypatch.setattr(mod, attr, new)
                    n += 1
    assert n, orig


def _plain_bind(self, *args, **params):
    return core.current_interpreter().interpret(self, args, params)   # EvalInterpreter.interpret eagerly


def _plain_elementwise(fn):
    """``fn`` without its two fast paths: the traced rule, and on values that are not traced
    (the eager path: NumPy itself, which is constant folding under a transformation) the
    traced rule run on the eval interpreter: funcad's answer instead of NumPy's."""
    general = fn.general

    def plain(*args):
        if any(isinstance(a, core.Tracer) for a in args):
            return general(*args)
        return core.run_with(core.eval_interpreter, general, *args)
    return plain


def _use_plain_rules(monkeypatch):
    # core: Primitive.bind's inline eval interpreter; get_aval's table hit
    monkeypatch.setattr(core.Primitive, "bind", _plain_bind)
    monkeypatch.setattr(core, "_AVALS", {})
    # interpreters: each one's plain rule, beside its fast interpret
    monkeypatch.setattr(JVPInterpreter, "interpret", JVPInterpreter.interpret_plain)
    monkeypatch.setattr(BatchInterpreter, "interpret", BatchInterpreter.interpret_plain)
    monkeypatch.setattr(PartialEvalInterpreter, "interpret",
                        PartialEvalInterpreter.interpret_plain)
    monkeypatch.setattr(StagingInterpreter, "stage", StagingInterpreter.stage_plain)
    monkeypatch.setattr(StagingInterpreter, "interpret", StagingInterpreter.stage_plain)
    monkeypatch.setattr(transpose_mod, "_UNDEFINED", {})
    # jit: __call__'s signature table, and the specialized caller of compiled code
    monkeypatch.setattr(jit_mod._Jitted, "__call__",
                        lambda self, *args, **kwargs: self._call_slow(args, kwargs))
    monkeypatch.setattr(jit_mod._Entry, "specialize", False)
    # funcad.numpy: the elementwise functions' eager and traced fast paths; the two-shape
    # broadcast; tree_flatten's flat containers
    n = 0
    for name in ufuncs.__all__:
        fn = getattr(ufuncs, name)
        if getattr(fn, "general", None) is not None and fn.general is not fn.traced:
            _patch_everywhere(monkeypatch, fn, _plain_elementwise(fn))
            n += 1
    assert n > 50
    # primitives: broadcast_in_dim's impl fills small results into a fresh array instead of
    # returning np.broadcast_to's read-only view (its plain rule, taken for every size here)
    monkeypatch.setattr(shape_prims, "_BID_COPY_LIMIT", -1)
    bshapes = _util.broadcast_shapes
    _patch_everywhere(monkeypatch, bshapes, lambda who, *s: bshapes(who, *s, ()))
    _patch_everywhere(monkeypatch, funcad.tree_util.tree_flatten,
                      lambda tree, is_leaf=None: _treedef._flatten(tree, is_leaf))


_X = np.linspace(-1.5, 2.0, 12).reshape(3, 4)
_Y = np.linspace(0.5, 1.5, 4)
_I = np.arange(12).reshape(3, 4)


def _chain(x, y):
    # scalars (weak and strong), broadcasting (3, 4) with (4,), unary and binary functions
    return (fnp.sin(x) * 2.0 + y / (1.0 + x * x) - 3 * fnp.exp(-x) + fnp.maximum(x, y)
            - fnp.tanh(y) ** 2 + np.float32(0.5) * fnp.abs(x))


def _chain_int(i):
    return (i * 2 + 1) // 3 - i % 4 + (i > 5) + fnp.minimum(i, 7) * True


def _reduce(x):
    return (fnp.sum(x, axis=0) + fnp.mean(x, axis=1, keepdims=True) + fnp.max(x)
            * fnp.prod(x[0]) - fnp.sum(x * x, axis=(0, 1)))


def _loss(x):
    return fnp.sum(_chain(x, _Y) * _reduce(x)) + fnp.sum(fnp.where(x > 0, x, 0.5 * x) ** 2)


def _control(x):
    def body(c, a):
        return c * fnp.cos(a) + a, c * a
    c, ys = lax.scan(body, fnp.sum(x[0]), x[1])
    w = lax.fori_loop(0, 3, lambda i, v: v * 0.5 + fnp.sin(v), x[2])
    return c + fnp.sum(ys * w) + lax.cond(c > 0, lambda v: fnp.sum(v * v), fnp.sum, x[0])


def _programs():
    """Every result is a pytree of arrays or a string (a jaxpr); jitted functions are made
    here, so neither mode reuses the other's traces."""
    x32, y32, x1 = _X.astype(np.float32), _Y.astype(np.float32), _X[0]
    loss32 = lambda x: _loss(x).astype(np.float32) * fnp.sum(x)  # noqa: E731
    return {
        "eager chain": lambda: _chain(_X, _Y),
        "eager chain f32": lambda: _chain(x32, 2.0),
        "eager chain int": lambda: _chain_int(_I),
        "eager reduce": lambda: _reduce(_X),
        "jaxpr chain": lambda: str(funcad.make_jaxpr(_chain)(_X, _Y)),
        "jaxpr chain f32": lambda: str(funcad.make_jaxpr(_chain)(x32, y32)),
        "jaxpr chain scalar": lambda: str(funcad.make_jaxpr(lambda x: _chain(x, 2.0))(x32)),
        "jaxpr chain int": lambda: str(funcad.make_jaxpr(_chain_int)(_I)),
        "jaxpr reduce": lambda: str(funcad.make_jaxpr(_reduce)(_X)),
        "jaxpr grad": lambda: str(funcad.make_jaxpr(funcad.grad(_loss))(_X)),
        "jaxpr vmap": lambda: str(funcad.make_jaxpr(funcad.vmap(_chain, (0, None)))(_X, _Y)),
        "jaxpr control grad": lambda: str(funcad.make_jaxpr(funcad.grad(_control))(_X)),
        "grad": lambda: funcad.grad(_loss)(_X),
        "grad f32": lambda: funcad.grad(loss32)(x32),
        "value_and_grad": lambda: funcad.value_and_grad(_loss)(_X),
        "grad argnums": lambda: funcad.grad(lambda x, y: fnp.sum(_chain(x, y)), (0, 1))(_X, _Y),
        "hessian": lambda: funcad.hessian(lambda v: fnp.sum(fnp.sin(v) * v * v))(x1),
        "jvp": lambda: funcad.jvp(_chain, (_X, _Y), (fnp.ones_like(_X), fnp.ones_like(_Y))),
        "linearize": lambda: funcad.linearize(_loss, _X)[1](fnp.ones_like(_X)),
        "vjp": lambda: funcad.vjp(_chain, _X, _Y)[1](fnp.ones_like(_X)),
        "vmap": lambda: funcad.vmap(_chain, in_axes=(0, None))(_X, _Y),
        "vmap axis 1": lambda: funcad.vmap(_reduce, in_axes=1)(_X.reshape(3, 4, 1) * _Y[:, None]),
        "vmap grad": lambda: funcad.vmap(funcad.grad(lambda r: fnp.sum(fnp.sin(r) * r)))(_X),
        "jacfwd": lambda: funcad.jacfwd(lambda v: fnp.sin(v) * fnp.sum(v))(x1),
        "jacrev": lambda: funcad.jacrev(lambda v: fnp.sin(v) * fnp.sum(v))(x1),
        "control grad": lambda: funcad.grad(_control)(_X),
        "control vmap": lambda: funcad.vmap(_control)(np.stack([_X, 2 * _X])),
        "jit": lambda: funcad.jit(_chain)(_X, _Y),
        "jit f32 scalar": lambda: funcad.jit(_chain)(x32, 2.0),
        "jit int": lambda: funcad.jit(_chain_int)(_I),
        "jit reduce": lambda: funcad.jit(_reduce)(_X),
        "jit tuple": lambda: funcad.jit(lambda x, y: (fnp.sum(x * y), x - y))(_X, _Y),
        "jit grad": lambda: funcad.jit(funcad.grad(_loss))(_X),
        "grad jit": lambda: funcad.grad(funcad.jit(_loss))(_X),
        "vmap jit": lambda: funcad.vmap(funcad.jit(_reduce))(_X[:, :, None] * _Y),
        "jvp jit": lambda: funcad.jvp(funcad.jit(_loss), (_X,), (fnp.ones_like(_X),)),
        "jit control": lambda: funcad.jit(funcad.grad(_control))(_X),
    }


def _leaves(out):
    leaves, tree = funcad.tree_util.tree_flatten(out)
    return leaves, str(tree)


def _run_all():
    funcad.clear_caches()   # nothing traced in one mode is reused in the other
    out = {}
    for name, prog in _programs().items():
        r = prog()
        out[name] = r if isinstance(r, str) else _leaves(r)
    return out


def test_fast_paths_agree_with_their_plain_rules(monkeypatch):
    fast = _run_all()
    with monkeypatch.context() as m:
        _use_plain_rules(m)
        assert core.Primitive.bind is _plain_bind and fnp.sin.__name__ == "plain"
        assert JVPInterpreter.interpret is JVPInterpreter.interpret_plain
        plain = _run_all()
    funcad.clear_caches()
    assert fast.keys() == plain.keys()
    for name in fast:
        f, p = fast[name], plain[name]
        if isinstance(f, str):
            assert f == p, f"{name}: the staged jaxprs differ\nfast:\n{f}\nplain:\n{p}"
            continue
        (fl, ft), (pl, pt) = f, p
        assert ft == pt, f"{name}: output structures differ: {ft} vs {pt}"
        for a, b in zip(fl, pl):
            assert type(a) is type(b), f"{name}: {type(a)} vs {type(b)}"
            assert np.asarray(a).dtype == np.asarray(b).dtype, f"{name}: dtypes differ"
            np.testing.assert_array_equal(a, b, err_msg=name)


def test_every_fast_path_has_its_plain_rule_beside_it():
    for cls, fast, plain in [(JVPInterpreter, "interpret", "interpret_plain"),
                             (BatchInterpreter, "interpret", "interpret_plain"),
                             (PartialEvalInterpreter, "interpret", "interpret_plain"),
                             (StagingInterpreter, "stage", "stage_plain"),
                             (funcad.interpreters.jit._Jitted, "__call__", "_call_slow")]:
        names = list(vars(cls))
        assert names.index(plain) in (names.index(fast) - 1, names.index(fast) + 1), cls
    assert StagingInterpreter.interpret is StagingInterpreter.stage
    # each elementwise function's traced path and its plain rule
    for name in ufuncs.__all__:
        fn = getattr(ufuncs, name)
        if hasattr(fn, "traced"):
            assert callable(fn.general), name


# The fast paths tested directly against their plain rule


@pytest.mark.parametrize("prim, args, params", [
    ("sin", (np.linspace(0, 1, 4),), {}),
    ("add", (np.ones(3, np.float32), np.float32(2.0)), {}),
    ("mul", (np.arange(4), 3), {}),
    ("reduce_sum", (np.ones((2, 3)),), {"axes": (1,)}),
    ("broadcast_in_dim", (np.arange(3.0),), {"shape": (2, 3), "broadcast_dimensions": (1,)}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bind_inlines_the_eval_interpreter(prim, args, params):
    p = core.primitives[prim]
    got, want = p.bind(*args, **params), core.eval_interpreter.interpret(p, args, params)
    assert type(got) is type(want) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_bind_and_the_eval_interpreter_both_reject_escaped_tracers():
    leaked = []
    funcad.grad(lambda x: leaked.append(x) or fnp.sum(x))(np.ones(2))
    sin_p = core.primitives["sin"]
    with pytest.raises(core.UnexpectedTracerError):
        sin_p.bind(leaked[0])
    with pytest.raises(core.UnexpectedTracerError):
        core.eval_interpreter.interpret(sin_p, (leaked[0],), {})


@pytest.mark.parametrize("x", [np.zeros(3), np.zeros((2, 0), np.int32), np.array(True),
                               np.ones((1, 2), np.float32)], ids=str)
def test_get_aval_inlines_its_table_hit(x):
    assert core.get_aval(x) is core._array_aval(x.shape, x.dtype)
    assert core.get_aval(x) is core.ShapedArray(x.shape, x.dtype)


@pytest.mark.parametrize("a, axis, keepdims", [
    (np.arange(6.0).reshape(2, 3), None, False), (np.arange(6.0).reshape(2, 3), 1, True),
    (np.arange(6, dtype=np.int32), 0, False), (np.array([True, False, True]), None, False),
    (np.float32(3.0) * np.ones((2, 2), np.float32), (0, 1), False), (np.array(2.5), None, False),
], ids=str)
def test_sum_of_an_array_is_numpys_sum(a, axis, keepdims):
    got, want = fnp.sum(a, axis=axis, keepdims=keepdims), np.sum(a, axis=axis, keepdims=keepdims)
    assert type(got) is type(want) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("tree", [(), (1.0, np.ones(2)), [np.ones(2)] * 3, (1, (2, 3)),
                                  [None, 1.0], (np.float32(1),)], ids=str)
def test_tree_flatten_of_a_flat_container_is_the_general_flatten(tree):
    leaves, treedef = funcad.tree_util.tree_flatten(tree)
    want_leaves, want_def = _treedef._flatten(tree, None)
    assert treedef == want_def and hash(treedef) == hash(want_def)
    assert len(leaves) == len(want_leaves) and all(a is b for a, b in zip(leaves, want_leaves))
    assert funcad.tree_util.tree_unflatten(treedef, leaves) == tree or tree != tree


@pytest.mark.parametrize("a", _SHAPES, ids=str)
def test_broadcast_shapes_of_two_is_the_general_loop(a):
    for b in _SHAPES:
        try:
            want = broadcast_shapes("fnp.test", a, b, ())   # three shapes: the general loops
        except ValueError:
            with pytest.raises(ValueError):
                broadcast_shapes("fnp.test", a, b)
            continue
        assert broadcast_shapes("fnp.test", a, b) == want


# one primitive of NumPy's loop: bit for bit; composites (hypot is ``hi * sqrt(1 + r*r)``,
# floor_divide NumPy's divmod algorithm in several steps) within a few ulps
_ONE_PRIMITIVE = ["sin", "exp", "negative", "add", "multiply", "true_divide", "maximum",
                  "equal", "arctan2", "bitwise_and"]
_COMPOSITE = ["floor_divide", "remainder", "power", "logical_and", "hypot", "signbit", "square"]


@pytest.mark.parametrize("name", _ONE_PRIMITIVE + _COMPOSITE)
def test_elementwise_eager_fast_path_is_the_traced_rule(name):
    fn = getattr(fnp, name)
    vals = [np.array([-2.5, -1.0, 0.5, 3.0]), np.array([1, -3, 4, 7]),
            np.array([1.5, 2.0, -0.5, 4.0], np.float32), np.array([True, False, True, True]),
            2.0, 3]
    nin = fn.__wrapped_numpy__.nin
    for args in ([(v,) for v in vals] if nin == 1 else
                 [(u, v) for u in vals for v in vals if not (np.isscalar(u) and np.isscalar(v))]):
        try:
            with np.errstate(all="ignore"):
                got = fn(*args)             # NumPy itself
        except (TypeError, ValueError):     # no such loop, or ints to negative int powers
            continue
        with np.errstate(all="ignore"):
            want = fn.general(*args)        # the traced rule, run on the eval interpreter
        assert got.dtype == want.dtype, (name, args)
        if name in _ONE_PRIMITIVE or got.dtype.kind != "f":
            np.testing.assert_array_equal(got, want, err_msg=f"{name}{args}")
        else:
            np.testing.assert_allclose(got, want, rtol=4 * np.finfo(got.dtype).eps,
                                       err_msg=f"{name}{args}")


def test_eager_decorator_shortcut_for_a_tracer_is_the_traced_function():
    seen = []

    def f(x):
        out = fnp.prod(x, axis=0)
        seen.append(str(funcad.make_jaxpr(fnp.prod.__wrapped__)(x)))
        return out

    closed = funcad.make_jaxpr(f)(np.ones((2, 3)))
    assert str(closed) in seen[0] or [e.prim.name for e in closed.jaxpr.eqns]


def test_lit_of_a_rank0_array_is_the_general_lit():
    from funcad.ir import Lit
    for v in [np.array(2.5), np.array(3, np.int32), np.array(True), np.float32(1.5)]:
        fast, plain = Lit(np.asarray(v)), Lit(v, core.get_aval(v))
        assert fast.aval is plain.aval and type(fast.val) is type(plain.val)
        assert fast.val == plain.val
