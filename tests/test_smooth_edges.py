"""Exact derivatives at the special points of smooth functions built from non-smooth parts:
ties, zeros and infinities of logaddexp, logaddexp2, logsumexp, softplus, sinc and xlogy, and
singular matrices for det and slogdet. Each row gives a point and the analytic first and
second derivatives, checked under grad, jvp and jit(grad)."""
import math

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import nn
from funcad.scipy import special

INF = np.inf
LN2 = math.log(2.0)


def _sig(d):
    return 1.0 / (1.0 + math.exp(-d)) if d > -700 else 0.0


def _check(f, x, d1, d2):
    """f's gradient at x is d1 and its second derivative (Hessian) is d2, under grad, jvp,
    jit(grad) and grad(grad)."""
    x = np.asarray(x, float)
    for g in (funcad.grad(f), funcad.jit(funcad.grad(f))):
        np.testing.assert_allclose(g(x), d1, rtol=1e-12, atol=1e-15)
    t = np.ones_like(x)
    _, jt = funcad.jvp(f, (x,), (t,))
    np.testing.assert_allclose(jt, np.sum(np.asarray(d1) * t), rtol=1e-12, atol=1e-15)
    if d2 is not None:
        for h in (funcad.hessian(f), funcad.jit(funcad.hessian(f))):
            np.testing.assert_allclose(h(x), d2, rtol=1e-12, atol=1e-15)


def _pair(fn):
    return lambda v: fn(v[0], v[1])


# (x, y): d/dx = sig(x - y) (scale s: sig(s (x - y))), d²/dx² = s sig (1 - sig)
LOGADDEXP_POINTS = [(1.0, 1.0), (0.0, 0.0), (-3.0, -3.0), (2.0, -1.0), (INF, 0.0), (0.0, INF),
                    (-INF, 0.0), (0.0, -INF), (-50.0, 0.0)]


@pytest.mark.parametrize("fn,scale", [(fnp.logaddexp, 1.0), (fnp.logaddexp2, LN2)])
@pytest.mark.parametrize("x,y", LOGADDEXP_POINTS)
def test_logaddexp_family(fn, scale, x, y):
    d = x - y
    w = _sig(scale * d)
    c = scale * w * (1 - w)
    hess = None if not np.isfinite(d) else [[c, -c], [-c, c]]
    _check(_pair(fn), [x, y], [w, 1 - w], hess)


@pytest.mark.parametrize("fn", [fnp.logaddexp, fnp.logaddexp2])
@pytest.mark.parametrize("x", [INF, -INF, 0.0, 5.0])
def test_logaddexp_of_a_value_with_itself(fn, x):
    # f(x, x) = x + const: derivative 1, second derivative 0, also at +-inf
    _check(lambda v: fn(v, v), x, 1.0, 0.0 if np.isfinite(x) else None)


def test_logaddexp_inf_ties_split_evenly():
    _check(_pair(fnp.logaddexp), [INF, INF], [0.5, 0.5], None)
    _check(_pair(fnp.logaddexp), [-INF, -INF], [0.5, 0.5], None)


@pytest.mark.parametrize("x", [0.0, 1.0, -2.0, 30.0, -50.0, INF, -INF])
def test_softplus(x):
    s = _sig(x) if np.isfinite(x) else float(x > 0)
    _check(nn.softplus, x, s, s * (1 - s))


@pytest.mark.parametrize("lse", [special.logsumexp, nn.logsumexp])
@pytest.mark.parametrize("a,grad", [
    ([1.0, 1.0], [0.5, 0.5]),
    ([0.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]),
    ([INF, 0.0], [1.0, 0.0]),
    ([INF, INF, 2.0], [0.5, 0.5, 0.0]),
    ([-INF, 0.0], [0.0, 1.0]),
    ([-INF, -INF], [0.5, 0.5]),
])
def test_logsumexp(lse, a, grad):
    w = np.asarray(grad)
    finite = np.all(np.isfinite(a)) or (np.isfinite(np.max(a)) and w[~np.isfinite(a)].sum() == 0)
    hess = np.diag(w) - np.outer(w, w) if finite else None
    _check(lse, a, w, hess)


def test_logsumexp_weights_derivative():
    # d/db_i log sum b e^a = e^a_i / sum(b e^a)
    a = np.array([0.5, 0.5, -1.0])
    b = np.array([1.0, 2.0, 0.5])
    s = np.sum(b * np.exp(a))
    got = funcad.jit(funcad.grad(lambda b: special.logsumexp(a, b=b)))(b)
    np.testing.assert_allclose(got, np.exp(a) / s, rtol=1e-12)


@pytest.mark.parametrize("x,d1,d2", [
    (0.0, 0.0, -math.pi ** 2 / 3),
    (1.0, -1.0, 2.0),                    # f' = cos(pi x)/x - sinc/x, f'' = 2 at x = 1
    (1e-9, -math.pi ** 2 / 3 * 1e-9, -math.pi ** 2 / 3),
])
def test_sinc(x, d1, d2):
    assert fnp.sinc(np.float64(x)) == np.sinc(x)
    np.testing.assert_allclose(funcad.jit(fnp.sinc)(np.float64(x)), np.sinc(x), rtol=1e-15)
    _check(fnp.sinc, x, d1, d2)


@pytest.mark.parametrize("fn,shift", [(special.xlogy, 0.0), (special.xlog1py, 1.0)])
def test_xlogy_at_zero(fn, shift):
    y0 = -shift   # where log(y + shift) is log(0)
    # value 0 along x == 0; d/dx = log(y + shift) (-inf at y0), d/dy = 0
    for g in (funcad.grad(_pair(fn)), funcad.jit(funcad.grad(_pair(fn)))):
        np.testing.assert_array_equal(g(np.array([0.0, y0])), [-INF, 0.0])
        np.testing.assert_allclose(g(np.array([0.0, 2.0 - shift])), [LN2, 0.0])
    # the mixed second derivative along x == 0 is 1 / (y + shift)
    h = funcad.jit(funcad.hessian(_pair(fn)))(np.array([0.0, 2.0 - shift]))
    np.testing.assert_allclose(h, [[0.0, 0.5], [0.5, 0.0]])


# ---------------------------------------------------------------------------------------------
# det and slogdet at singular and rank-deficient matrices

def _cofactors_ref(a):
    n = a.shape[0]
    c = np.zeros_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, 0), j, 1)
            c[i, j] = (-1) ** (i + j) * (np.linalg.det(minor) if n > 1 else 1.0)
    return c


def _hessian_ref(a, eps=1e-3):
    """Central differences of the cofactor matrix (exact to rounding: for n <= 3 it is at
    most quadratic in the entries)."""
    n = a.shape[0]
    h = np.zeros((n, n, n, n))
    for k in range(n):
        for l in range(n):
            e = np.zeros_like(a)
            e[k, l] = eps
            h[:, :, k, l] = (_cofactors_ref(a + e) - _cofactors_ref(a - e)) / (2 * eps)
    return h


SINGULAR = {
    "zero 2x2": np.zeros((2, 2)),
    "rank 1 2x2": np.array([[1.0, 2.0], [2.0, 4.0]]),
    "rank 2 3x3": np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]]),
    "rank 1 3x3": np.outer([1.0, -2.0, 0.5], [3.0, 1.0, 2.0]),
    "zero 3x3": np.zeros((3, 3)),
    "regular 3x3": np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]]),
    "1x1 zero": np.zeros((1, 1)),
}


@pytest.mark.parametrize("name", sorted(SINGULAR))
def test_det_gradient_is_the_cofactor_matrix(name):
    a = SINGULAR[name]
    want = _cofactors_ref(a)
    for g in (funcad.grad(fnp.linalg.det), funcad.jit(funcad.grad(fnp.linalg.det))):
        np.testing.assert_allclose(g(a), want, atol=1e-12)
    t = np.arange(a.size, dtype=float).reshape(a.shape)
    _, jt = funcad.jvp(fnp.linalg.det, (a,), (t,))
    np.testing.assert_allclose(jt, np.sum(want * t), atol=1e-12)
    np.testing.assert_allclose(funcad.hessian(fnp.linalg.det)(a), _hessian_ref(a), atol=1e-8)
    np.testing.assert_allclose(funcad.jit(funcad.hessian(fnp.linalg.det))(a), _hessian_ref(a),
                               atol=1e-8)


def test_det_gradient_batched_singular():
    stack = np.stack([SINGULAR["rank 2 3x3"], SINGULAR["rank 1 3x3"], SINGULAR["regular 3x3"]])
    want = np.stack([_cofactors_ref(a) for a in stack])
    got = funcad.vmap(funcad.grad(fnp.linalg.det))(stack)
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(funcad.grad(lambda s: fnp.sum(fnp.linalg.det(s)))(stack), want,
                               atol=1e-12)


def test_slogdet_at_singular_matrix():
    a = SINGULAR["rank 2 3x3"]
    sign, logdet = fnp.linalg.slogdet(a)
    assert sign == 0 and logdet == -INF
    with pytest.raises(ValueError, match=r"lax.slogdet: derivative at a singular matrix"):
        funcad.grad(lambda a: fnp.linalg.slogdet(a)[1])(a)
    # regular matrices: the gradient is inv(a).T
    b = SINGULAR["regular 3x3"]
    np.testing.assert_allclose(funcad.jit(funcad.grad(lambda a: fnp.linalg.slogdet(a)[1]))(b),
                               np.linalg.inv(b).T, rtol=1e-12)
