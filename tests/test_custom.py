"""custom_jvp and custom_vjp under every transformation, and their error messages."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import custom_jvp, custom_vjp, grad, jacfwd, jacrev, jvp, make_jaxpr, vjp, vmap


@custom_jvp
def twice_sin(x):
    return fnp.sin(x)


@twice_sin.defjvp
def _twice_sin_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return twice_sin(x), 2.0 * fnp.cos(x) * t  # deliberately twice the true derivative


@custom_vjp
def scaled(x, y):
    return fnp.sin(x) * y


def _scaled_fwd(x, y):
    return scaled(x, y), (fnp.cos(x), fnp.sin(x), y)


def _scaled_bwd(res, ct):
    c, s, y = res
    return (10.0 * ct * c * y, 10.0 * ct * s)  # ten times the true cotangents


scaled.defvjp(_scaled_fwd, _scaled_bwd)


def test_custom_jvp_rule_is_used_in_every_mode():
    x = np.linspace(-1, 1, 4)
    want = 2 * np.cos(x)
    np.testing.assert_allclose(jvp(twice_sin, (x,), (np.ones(4),))[1], want)
    np.testing.assert_allclose(vmap(grad(twice_sin))(x), want)
    np.testing.assert_allclose(grad(lambda v: fnp.sum(vmap(twice_sin)(v)))(x), want)
    np.testing.assert_allclose(np.diag(jacfwd(twice_sin)(x)), want)
    np.testing.assert_allclose(np.diag(jacrev(twice_sin)(x)), want)
    # second order differentiates the rule: d/dx 2 cos x = -2 sin x
    np.testing.assert_allclose(grad(grad(twice_sin))(0.4), -2 * np.sin(0.4))


def test_custom_jvp_eager_call_is_the_function():
    x = np.linspace(-1, 1, 4)
    np.testing.assert_array_equal(twice_sin(x), np.sin(x))
    assert "custom_jvp_call" in str(make_jaxpr(twice_sin)(x))


def test_custom_jvp_defjvps_and_nondiff_argnums():
    @custom_jvp
    def softplus(x):
        return fnp.log1p(fnp.exp(x))

    softplus.defjvps(lambda t, ans, x: t / (1 + fnp.exp(-x)))
    np.testing.assert_allclose(grad(softplus)(1.0), 1 / (1 + np.exp(-1.0)))

    from functools import partial

    @partial(custom_jvp, nondiff_argnums=(0,))
    def power(n, x):
        return x ** n

    @power.defjvp
    def _power_jvp(n, primals, tangents):
        (x,), (t,) = primals, tangents
        return power(n, x), n * x ** (n - 1) * t

    np.testing.assert_allclose(grad(power, 1)(3, 2.0), 12.0)


def test_custom_vjp_reverse_uses_bwd_and_forward_differentiates_body():
    x, y = 0.5, 2.0
    gx, gy = grad(scaled, (0, 1))(x, y)
    np.testing.assert_allclose([gx, gy], [10 * np.cos(x) * y, 10 * np.sin(x)])
    # forward mode: the body's true derivative (JAX refuses this)
    np.testing.assert_allclose(jvp(scaled, (x, y), (1.0, 0.0))[1], np.cos(x) * y)
    np.testing.assert_allclose(jacfwd(scaled)(x, y), np.cos(x) * y)
    np.testing.assert_allclose(jacrev(scaled)(x, y), 10 * np.cos(x) * y)


def test_custom_vjp_under_vmap_and_higher_order():
    xs = np.linspace(-1, 1, 3)
    np.testing.assert_allclose(vmap(grad(scaled))(xs, np.ones(3)), 10 * np.cos(xs))
    g = grad(lambda a: fnp.sum(vmap(scaled, (0, None))(a, 2.0)))(xs)
    np.testing.assert_allclose(g, 20 * np.cos(xs))
    # grad of grad differentiates bwd: d/dx 10 cos(x) y = -10 sin(x) y
    np.testing.assert_allclose(grad(grad(scaled))(0.5, 2.0), -20 * np.sin(0.5))


def test_custom_vjp_pytree_residuals_and_arguments():
    @custom_vjp
    def f(p):
        return p["a"] * p["b"]

    def fwd(p):
        return f(p), {"a": p["a"], "b": p["b"]}

    def bwd(res, ct):
        return ({"a": ct * res["b"], "b": ct * res["a"]},)

    f.defvjp(fwd, bwd)
    g = grad(f)({"a": 3.0, "b": 4.0})
    assert g == {"a": 4.0, "b": 3.0}


def test_custom_rule_errors_name_the_function_and_structures():
    @custom_jvp
    def bad(x):
        return fnp.sin(x)

    @bad.defjvp
    def _bad_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return (bad(x), bad(x)), t

    with pytest.raises(TypeError, match=r"custom_jvp rule of bad.*structure"):
        grad(bad)(1.0)

    @custom_jvp
    def bad_shape(x):
        return fnp.sin(x)

    @bad_shape.defjvp
    def _bad_shape_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return bad_shape(x), fnp.ones(3)

    with pytest.raises(TypeError, match=r"bad_shape.*shape \(3,\).*shape \(\)"):
        grad(bad_shape)(1.0)

    @custom_vjp
    def bad_vjp(x, y):
        return x * y

    bad_vjp.defvjp(lambda x, y: (x * y, (x, y)), lambda res, ct: (ct,))
    with pytest.raises(TypeError, match=r"bwd of bad_vjp \(<lambda>\) returned 1 cotangents for 2"):
        grad(bad_vjp)(1.0, 2.0)

    @custom_jvp
    def no_rule(x):
        return x

    with pytest.raises(AttributeError, match="no jvp rule defined.*no_rule"):
        grad(no_rule)(1.0)


def test_custom_rules_compose_with_jit():
    x = np.linspace(-1, 1, 5)
    np.testing.assert_allclose(funcad.jit(funcad.vmap(grad(twice_sin)))(x), 2 * np.cos(x))
    np.testing.assert_allclose(funcad.jit(twice_sin)(x), np.sin(x))
    np.testing.assert_allclose(grad(funcad.jit(scaled))(0.5, 2.0), 10 * np.cos(0.5) * 2.0)
    np.testing.assert_allclose(funcad.jit(jacfwd(scaled))(0.5, 2.0), np.cos(0.5) * 2.0)
