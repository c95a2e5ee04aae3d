"""Derivatives of funcad.numpy composites, funcad.nn and funcad.scipy.special against finite
differences (funcad.testing.check_grads: jvp vs central differences, vjp by the dot-product
identity), stability at extreme inputs, and values against SciPy."""
import warnings

import numpy as np
import pytest

import funcad
import funcad.nn as nn
import funcad.numpy as fnp
import funcad.scipy.special as fsp
from funcad.testing import check_grads, check_vmap

from test_numpy import assert_same, traced

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))
P = RNG.random((3, 4)) * 0.8 + 0.1  # in (0, 1)

COMPOSITES = {
    "mean": lambda a: fnp.mean(a, axis=0),
    "mean_keepdims": lambda a: fnp.mean(a, axis=(0, 1), keepdims=True),
    "var": lambda a: fnp.var(a, axis=1),
    "var_ddof": lambda a: fnp.var(a, ddof=1),
    "std": lambda a: fnp.std(a, axis=0),
    "prod": lambda a: fnp.prod(a, axis=1),
    "cumsum": lambda a: fnp.cumsum(a, axis=1),
    "cumprod": lambda a: fnp.cumprod(a, axis=0),
    "max": lambda a: fnp.max(a, axis=1),
    "ptp": lambda a: fnp.ptp(a, axis=0),
    "average": lambda a: fnp.average(a, axis=1, weights=P),
    "hypot": lambda a: fnp.hypot(a, Y),
    "logaddexp": lambda a: fnp.logaddexp(a, Y),
    "logaddexp2": lambda a: fnp.logaddexp2(Y, a),
    "where": lambda a: fnp.where(a > 0, a ** 2, fnp.sin(a)),
    "clip": lambda a: fnp.clip(a, -0.5, 0.7),
    "power": lambda a: fnp.power(fnp.abs(a) + 0.5, a),
    "arctan2": lambda a: fnp.arctan2(a, Y),
    "square_reciprocal": lambda a: fnp.square(a) + fnp.reciprocal(a),
    "log2_log10": lambda a: fnp.log2(P + a ** 2) * fnp.log10(P + 1),
    "fmax": lambda a: fnp.fmax(a, Y),
    "copysign": lambda a: fnp.copysign(a, Y),
    "tile_repeat": lambda a: fnp.repeat(fnp.tile(a, (2, 1)), [1, 2, 0, 3], axis=1),
    "roll_flip": lambda a: fnp.flip(fnp.roll(a, (1, -1), axis=(0, 1)), 1),
    "split_stack": lambda a: fnp.stack(fnp.split(a, 2, axis=1)[::-1], axis=0),
    "concat_swap": lambda a: fnp.swapaxes(fnp.concatenate([a, 2 * a], axis=0), 0, 1),
    "linspace": lambda a: fnp.linspace(a[0], a[1], 5),
    "tril": lambda a: fnp.tril(a, -1) * a,
    "take_along_axis": lambda a: fnp.take_along_axis(a, np.argsort(X, axis=1), 1),
    "logsumexp": lambda a: fsp.logsumexp(a, axis=1),
    "logsumexp_b": lambda a: fsp.logsumexp(a, b=P, axis=0, keepdims=True),
    "softmax": lambda a: nn.softmax(a),
    "softmax_axis0": lambda a: nn.softmax(a, axis=0),
    "log_softmax": lambda a: nn.log_softmax(a, axis=(0, 1)),
    "special_softmax": lambda a: fsp.softmax(a) + fsp.log_softmax(a, axis=1),
    "sigmoid": nn.sigmoid, "log_sigmoid": nn.log_sigmoid, "softplus": nn.softplus,
    "silu": nn.silu, "gelu_tanh": nn.gelu, "gelu_erf": lambda a: nn.gelu(a, False),
    "elu": nn.elu, "selu": nn.selu, "celu": nn.celu, "leaky_relu": nn.leaky_relu,
    "relu": nn.relu, "relu6": lambda a: nn.relu6(4 * a),
    "standardize": nn.standardize,
    "expit": fsp.expit, "logit": lambda a: fsp.logit(P + 0.05 * a), "erf": fsp.erf,
    "erfc": fsp.erfc, "xlogy": lambda a: fsp.xlogy(a, P),
    "xlog1py": lambda a: fsp.xlog1py(a, P) + fsp.xlog1py(P, fnp.abs(a)),
}
SECOND_ORDER = {"mean", "var", "std", "hypot", "logaddexp", "where", "clip", "logsumexp",
                "softmax", "log_softmax", "softplus", "sigmoid", "prod", "cumprod", "power"}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_gradients_match_finite_differences(name):
    check_grads(COMPOSITES[name], (X,), order=2 if name in SECOND_ORDER else 1)


@pytest.mark.parametrize("name", ["mean", "var", "std", "logsumexp", "softmax", "hypot",
                                  "where", "clip", "cumprod", "standardize"])
def test_float32_gradients(name):
    check_grads(COMPOSITES[name], (X.astype(np.float32),), order=1, atol=2e-2, rtol=2e-2)


def test_grad_of_scalar_composites():
    # grad of a scalar loss through several composites, against a hand-derived gradient
    g = funcad.grad(lambda a: fnp.sum(fnp.var(a, axis=0)))(X)
    np.testing.assert_allclose(g, 2 * (X - X.mean(0)) / X.shape[0], rtol=1e-12)
    g = funcad.grad(lambda a: fsp.logsumexp(a))(X)
    np.testing.assert_allclose(g, np.exp(X) / np.exp(X).sum(), rtol=1e-12)


def test_no_nans_for_infinite_entries():
    a = np.array([[0.5, -np.inf, 2.0], [-np.inf, -np.inf, 1.0]])
    for f in (lambda x: fnp.sum(fsp.logsumexp(x, axis=1)),
              lambda x: fnp.sum(nn.softmax(x) * np.array([1.0, 2.0, 3.0])),
              lambda x: fnp.sum(fnp.where(fnp.isfinite(x), nn.log_softmax(x), 0.0))):
        g = funcad.grad(f)(a)
        assert np.all(np.isfinite(g)), g
        assert np.all(g[np.isinf(a)] == 0)
    assert_same(fsp.logsumexp(np.full(3, -np.inf)), np.asarray(-np.inf))
    assert_same(traced(lambda x: fsp.logsumexp(x, axis=0), np.array([np.inf, 1.0])),
                np.asarray(np.inf))


def test_stability_at_extreme_inputs():
    big = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sp = traced(nn.softplus, big)
        np.testing.assert_allclose(sp, [0.0, np.exp(-50.0), np.log(2), 50.0, 1000.0],
                                   rtol=1e-12)
        np.testing.assert_allclose(traced(nn.log_sigmoid, big), -traced(nn.softplus, -big))
        g = funcad.vmap(funcad.grad(nn.softplus))(big)
        np.testing.assert_allclose(g, np.exp(-np.logaddexp(0.0, -big)), rtol=1e-12)
        sm = traced(nn.softmax, big)
        assert np.isclose(sm.sum(), 1.0) and np.all(np.isfinite(sm))
        np.testing.assert_allclose(traced(fsp.expit, big), [0, np.exp(-50) / (1 + np.exp(-50)),
                                                            0.5, 1 / (1 + np.exp(-50)), 1])
    h = traced(fnp.hypot, np.array([1e300, 3e-300]), np.array([1e300, 4e-300]))
    np.testing.assert_allclose(h, [np.sqrt(2) * 1e300, 5e-300], rtol=1e-12)


def test_special_points():
    assert funcad.grad(nn.relu)(0.0) == 0.0
    assert funcad.grad(nn.relu)(2.0) == 1.0
    np.testing.assert_allclose(funcad.grad(lambda a: fnp.clip(a, 0.0, 1.0))(0.0), 0.5)
    np.testing.assert_allclose(funcad.grad(lambda a: fsp.xlogy(a, 2.0))(0.0), np.log(2.0))
    assert funcad.grad(lambda y: fsp.xlogy(0.0, y))(2.0) == 0.0
    assert fsp.xlogy(0.0, 0.0) == 0.0 and fsp.xlog1py(0.0, -1.0) == 0.0
    g = funcad.grad(lambda a: fnp.hypot(a, 0.0))(3.0)
    assert g == 1.0
    assert np.isfinite(funcad.grad(lambda a: fnp.hypot(a, a))(0.0))


def test_values_against_scipy():
    import scipy.special as sps  # scipy is a run-time dependency: fail, never skip
    b = RNG.standard_normal((3, 4))
    for axis in (None, 0, 1, (0, 1)):
        for keepdims in (False, True):
            assert_same(traced(lambda a: fsp.logsumexp(a, axis=axis, keepdims=keepdims), X),
                        np.asarray(sps.logsumexp(X, axis=axis, keepdims=keepdims)))
        out, sign = traced(lambda a, w: fsp.logsumexp(a, axis=axis, b=w, return_sign=True),
                           X, b)
        ref, rsign = sps.logsumexp(X, axis=axis, b=b, return_sign=True)
        assert_same(out, np.asarray(ref))
        assert_same(sign, np.asarray(rsign))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_same(traced(lambda a, w: fsp.logsumexp(a, axis=1, b=w), X, b),
                    np.asarray(sps.logsumexp(X, axis=1, b=b)))
    for name in ("softmax", "log_softmax"):
        for axis in (None, 0, 1):
            assert_same(traced(lambda a: getattr(fsp, name)(a, axis=axis), X),
                        getattr(sps, name)(X, axis=axis))
    for name, arg in [("expit", X), ("logit", P), ("erf", X), ("erfc", X)]:
        np.testing.assert_allclose(traced(getattr(fsp, name), arg), getattr(sps, name)(arg),
                                   rtol=1e-12, atol=1e-15)
    assert_same(traced(fsp.xlogy, X, P), sps.xlogy(X, P))
    assert_same(traced(fsp.xlog1py, X, P), sps.xlog1py(X, P))
    assert fsp.expit(np.float32(1)).dtype == np.float32
    assert fsp.logsumexp(np.arange(3)).dtype == np.float64


def test_nn_values():
    assert_same(traced(nn.relu, X), np.maximum(X, 0))
    i = np.array([-2, 0, 3], np.int32)
    assert_same(traced(nn.relu, i), np.maximum(i, 0))
    assert_same(traced(lambda a: nn.softmax(a, axis=0), X),
                np.exp(X) / np.exp(X).sum(0, keepdims=True))
    assert_same(traced(nn.log_softmax, X), X - np.log(np.exp(X).sum(-1, keepdims=True)))
    assert_same(traced(lambda k: nn.one_hot(k, 4), np.array([0, 3, 5])),
                np.array([[1.0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]))
    assert_same(traced(lambda k: nn.one_hot(k, 3, dtype=np.int32, axis=0), np.array([2, 0])),
                np.array([[0, 1], [0, 0], [1, 0]], np.int32))
    from math import erf
    ref = np.array([0.5 * v * (1 + erf(v / np.sqrt(2))) for v in X.ravel()]).reshape(X.shape)
    np.testing.assert_allclose(traced(lambda a: nn.gelu(a, approximate=False), X), ref,
                               rtol=1e-12)
    np.testing.assert_allclose(traced(nn.gelu, X), ref, atol=1e-3)


def test_vmap_of_composites():
    check_vmap(lambda a: fsp.logsumexp(a, axis=0), (X,), 1)
    check_vmap(nn.softmax, (X,), 0)
    check_vmap(lambda a: nn.log_softmax(a, axis=0), (X,), 1)
    check_vmap(lambda a: fnp.std(a), (X,), 0)
    check_vmap(funcad.grad(lambda a: fnp.sum(nn.softmax(a) * P[0])), (X,), 0)
