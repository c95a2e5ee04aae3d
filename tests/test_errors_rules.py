"""User derivative rules are checked where they return (issue 11, part 4): a custom_jvp rule's
primal and tangent outputs, a custom_vjp fwd's output and residuals and its bwd's cotangents
must match the function's avals (pytree structure, shape, dtype), under every transformation
that runs the rule. Errors name the function, the rule and both sides."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp

X = np.linspace(0.1, 0.9, 3)


def _runs_jvp_rule(f):
    """Every way of running a custom_jvp rule on X: (name, thunk)."""
    j = lambda x: funcad.jvp(f, (x,), (fnp.ones_like(x),))  # noqa: E731
    return {
        "jvp": lambda: j(X),
        "make_jaxpr": lambda: funcad.make_jaxpr(j)(X),
        "jit": lambda: funcad.jit(j)(X),
        "vmap": lambda: funcad.vmap(j)(np.stack([X, X])),
        "grad": lambda: funcad.grad(lambda x: fnp.sum(f(x)))(X),
        "jit of grad": lambda: funcad.jit(funcad.grad(lambda x: fnp.sum(f(x))))(X),
    }


def _runs_bwd(f, args):
    loss = lambda *a: fnp.sum(f(*a))  # noqa: E731
    nums = tuple(range(len(args)))
    return {
        "grad": lambda: funcad.grad(loss, argnums=nums)(*args),
        "vjp": lambda: funcad.vjp(f, *args)[1](np.ones_like(f(*args))),
        "jit": lambda: funcad.jit(funcad.grad(loss, argnums=nums))(*args),
        "make_jaxpr": lambda: funcad.make_jaxpr(funcad.grad(loss, argnums=nums))(*args),
        "vmap": lambda: funcad.vmap(funcad.grad(loss, argnums=nums))(
            *[np.stack([a, a]) for a in args]),
    }


MODES_JVP = list(_runs_jvp_rule(fnp.sin))
MODES_BWD = list(_runs_bwd(fnp.sin, (X,)))


# ---------------------------------------------------------------------------------------------
# custom_jvp

def _custom_jvp(rule):
    @funcad.custom_jvp
    def smooth(x):
        return fnp.sin(x)
    smooth.defjvp(rule)
    return smooth


def wrong_primal_shape(primals, tangents):
    (x,), (t,) = primals, tangents
    return fnp.ones(5), fnp.cos(x) * t


def wrong_primal_dtype(primals, tangents):
    (x,), (t,) = primals, tangents
    return fnp.ones(3, dtype=np.int64), fnp.cos(x) * t


def int_tangent(primals, tangents):
    (x,), (t,) = primals, tangents
    return fnp.sin(x), fnp.ones(3, dtype=np.int64)


@pytest.mark.parametrize("mode", MODES_JVP)
@pytest.mark.parametrize("rule, pattern", [
    (wrong_primal_shape, r"returned primal_out of type f64\[5\].*matching output of smooth is "
                         r"f64\[3\].*shape \(3,\)"),
    (wrong_primal_dtype, r"returned primal_out of type i64\[3\].*matching output of smooth is "
                         r"f64\[3\].*dtype float64"),
    (int_tangent, r"returned tangent_out of type i64\[3\].*smooth is f64\[3\].*a float array"),
], ids=["primal shape", "primal dtype", "int tangent"])
def test_custom_jvp_rule_outputs_are_checked(mode, rule, pattern):
    f = _custom_jvp(rule)
    with pytest.raises(TypeError, match=rf"custom_jvp rule of smooth \({rule.__name__}\) "
                                        + pattern):
        _runs_jvp_rule(f)[mode]()


def test_custom_jvp_rule_structure_names_rule_and_both_trees():
    def pair_rule(primals, tangents):
        (x,), (t,) = primals, tangents
        return (fnp.sin(x), fnp.sin(x)), fnp.cos(x) * t
    with pytest.raises(TypeError, match=r"custom_jvp rule of smooth \(pair_rule\) must return "
                                        r"primal and tangent outputs with the structure of "
                                        r"smooth's output PyTreeDef\(\*\); got "
                                        r"PyTreeDef\(\(\*, \*\)\) and PyTreeDef\(\*\)"):
        funcad.jvp(_custom_jvp(pair_rule), (X,), (X,))


def test_custom_jvp_rule_python_scalars_and_other_float_precisions_are_accepted():
    @funcad.custom_jvp
    def f32(x):
        return x * np.float32(2.0)

    @f32.defjvp
    def f32_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return f32(x), (t * 2.0).astype(np.float64)   # converted to the output's float32

    x = X.astype(np.float32)
    out, t = funcad.jvp(f32, (x,), (np.ones_like(x),))
    assert t.dtype == np.float32
    np.testing.assert_allclose(t, 2.0 * np.ones(3))

    @funcad.custom_jvp
    def half(x):
        return x * 0.5

    half.defjvp(lambda p, t: (0.5 * p[0], 0.5))   # a weak Python scalar tangent, shape ()
    assert float(funcad.jvp(half, (3.0,), (1.0,))[1]) == 0.5


# ---------------------------------------------------------------------------------------------
# custom_vjp

def _custom_vjp(fwd, bwd):
    @funcad.custom_vjp
    def scale(x):
        return x * 2.0
    scale.defvjp(fwd, bwd)
    return scale


def fwd_ok(x):
    return x * 2.0, ()


def int_cotangent(res, ct):
    return (np.ones(3, dtype=np.int64),)


def wrong_ct_shape(res, ct):
    return (fnp.ones(4),)


def fwd_wrong_shape(x):
    return fnp.ones(5), ()


def fwd_string_residual(x):
    return x * 2.0, (x, "note")


def bwd_ok(res, ct):
    return (2.0 * ct,)


@pytest.mark.parametrize("mode", MODES_BWD)
@pytest.mark.parametrize("fwd, bwd, pattern", [
    (fwd_ok, int_cotangent, r"custom_vjp bwd of scale \(int_cotangent\) returned cts\[0\] of "
                            r"type i64\[3\].*argument 0 of scale is f64\[3\].*a float array"),
    (fwd_ok, wrong_ct_shape, r"custom_vjp bwd of scale \(wrong_ct_shape\) returned cts\[0\] of "
                             r"type f64\[4\].*argument 0 of scale is f64\[3\].*shape \(3,\)"),
    (fwd_wrong_shape, bwd_ok, r"custom_vjp fwd of scale \(fwd_wrong_shape\) returned out of "
                              r"type f64\[5\].*matching output of scale is f64\[3\]"),
    (fwd_string_residual, bwd_ok, r"custom_vjp fwd of scale \(fwd_string_residual\): in its "
                                  r"residuals, res\[1\] is a str \('note'\)"),
], ids=["int cotangent", "cotangent shape", "fwd output shape", "string residual"])
def test_custom_vjp_rules_are_checked(mode, fwd, bwd, pattern):
    with pytest.raises(TypeError, match=pattern):
        _runs_bwd(_custom_vjp(fwd, bwd), (X,))[mode]()


def test_custom_vjp_cotangent_structure_names_both_trees():
    @funcad.custom_vjp
    def prod(x, y):
        return x * y

    def prod_bwd(res, ct):
        return None, {"a": ct}

    prod.defvjp(lambda x, y: (x * y, (x, y)), prod_bwd)
    with pytest.raises(TypeError, match=r"custom_vjp bwd of prod \(prod_bwd\) returned a "
                                        r"cotangent of structure PyTreeDef\(\{'a': \*\}\) for "
                                        r"argument 1 of prod, whose structure is "
                                        r"PyTreeDef\(\*\)"):
        funcad.grad(prod, argnums=(0, 1))(1.0, 2.0)


def test_custom_vjp_none_cotangents_are_zeros_for_an_argument_or_a_leaf():
    @funcad.custom_vjp
    def prod(d):
        return d["a"] * d["b"]

    prod.defvjp(lambda d: (d["a"] * d["b"], d), lambda r, ct: ({"a": ct * r["b"], "b": None},))
    g = funcad.grad(prod)({"a": 2.0, "b": 3.0})
    assert float(g["a"]) == 3.0 and float(g["b"]) == 0.0
    assert np.asarray(g["b"]).dtype == np.float64

    @funcad.custom_vjp
    def first(x, y):
        return x * 1.0

    first.defvjp(lambda x, y: (x * 1.0, ()), lambda r, ct: (ct, None))
    gx, gy = funcad.grad(first, argnums=(0, 1))(2.0, 5.0)
    assert (float(gx), float(gy)) == (1.0, 0.0)


def test_custom_vjp_gradient_dtype_is_the_input_dtype():
    x = X.astype(np.float32)
    f = _custom_vjp(lambda v: (v * 2.0, ()), lambda r, ct: ((2.0 * ct).astype(np.float64),))
    g = funcad.grad(lambda v: fnp.sum(f(v)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2.0 * np.ones(3))


@pytest.mark.parametrize("kind", [funcad.custom_jvp, funcad.custom_vjp])
def test_nondiff_argnums_are_distinct_non_negative_ints(kind):
    def power(n, x):
        return x ** n
    with pytest.raises(ValueError, match=rf"{kind.__name__}\(power\): nondiff_argnums \(0, 0\) "
                                         r"names an argument twice"):
        kind(power, nondiff_argnums=(0, 0))
    with pytest.raises(TypeError, match=rf"{kind.__name__}\(power\): nondiff_argnums must be "
                                        r"non-negative ints, got \(1\.0,\)"):
        kind(power, nondiff_argnums=(1.0,))
