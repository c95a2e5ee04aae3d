"""``funcad.scipy.special``: SciPy's special functions that machine learning code leans on,
composed from funcad primitives so they differentiate, batch and compile.

The log-sum-exp family is written the stable way: the maximum is subtracted before
exponentiating and added back after the log, and it is held constant (``stop_gradient``) so
that it changes the arithmetic but not the derivative. Entries of ``-inf`` contribute exact
zeros, to the value and to the gradient.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from funcad import lax
from funcad import numpy as fnp
from funcad.core import get_aval
from funcad.custom_derivatives import custom_jvp
from funcad.numpy._util import asarray_of, canonical_axes, float_dtype, to_value

__all__ = ["logsumexp", "softmax", "log_softmax", "expit", "logit", "erf", "erfc", "xlogy",
           "xlog1py"]


def _float(x):
    """``x`` as a float value (integers and bools become float64)."""
    x = to_value(x)
    return asarray_of(x, float_dtype(x))


def _float_pair(x, y):
    """``x`` and ``y`` in their common float dtype, broadcast to one shape."""
    x, y = to_value(x), to_value(y)
    dt = float_dtype(x, y)
    return fnp.broadcast_arrays(asarray_of(x, dt), asarray_of(y, dt))


def _stable_max(a, axes):
    """The maximum over ``axes`` (kept as size-1 axes), 0 where it is not finite, held
    constant for differentiation."""
    m = fnp.max(a, axis=axes, keepdims=True)
    return lax.stop_gradient(fnp.where(fnp.isfinite(m), m, np.zeros((), get_aval(m).dtype)))


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a), axis))``, computed without overflow.

    Parameters
    ----------
    a : array_like
        Input values; ``-inf`` entries contribute nothing.
    axis : None, int or tuple of ints
        Axes to sum over (all by default).
    b : array_like, optional
        Weights, broadcast against ``a``. They may be negative; see ``return_sign``.
    keepdims : bool
        Keep the summed axes with size one.
    return_sign : bool
        Also return the sign of the sum; without it a negative sum gives NaN, as SciPy.

    Returns
    -------
    The log of the (absolute value of the) sum, and its sign if ``return_sign``.
    """
    a = _float(a)
    if b is not None:
        a, b = _float_pair(a, b)
    axes = canonical_axes("funcad.scipy.special.logsumexp", axis, get_aval(a).ndim)
    weights = b if b is not None else np.ones((), get_aval(a).dtype)
    with np.errstate(divide="ignore"):  # a sum of zeros has log -inf, without a warning
        out = _logabssumexp(a, fnp.broadcast_to(weights, get_aval(a).shape), axes)
    sign = fnp.sign(_scaled_sum(a, weights, axes))
    if not keepdims:
        out, sign = lax.squeeze(out, axes), lax.squeeze(sign, axes)
    if return_sign:
        return out, sign
    if b is None:
        return out
    return fnp.where(fnp.less(sign, 0), np.asarray(np.nan, get_aval(out).dtype), out)


def _scaled_sum(a, b, axes):
    """``sum(b * exp(a - m))`` over ``axes`` (kept) with ``m`` the stable maximum."""
    return fnp.sum(fnp.multiply(b, fnp.exp(fnp.subtract(a, _stable_max(a, axes)))), axis=axes,
                   keepdims=True)


@partial(custom_jvp, nondiff_argnums=(2,))
def _logabssumexp(a, b, axes):
    """``log|sum(b * exp(a))|`` over ``axes`` (kept as size-1 axes)."""
    with np.errstate(divide="ignore"):  # a sum of zeros has log -inf, without a warning
        return fnp.add(fnp.log(fnp.abs(_scaled_sum(a, b, axes))), _stable_max(a, axes))


@_logabssumexp.defjvp
def _logabssumexp_jvp(axes, primals, tangents):
    # The tangent is sum(w * ta) + sum(e * tb) / s with w = b e / s the softmax weights. Where
    # the maximum m is finite, e = exp(a - m) with m held constant (exact at every order);
    # where it is +inf only the +inf entries count (the gradient of logsumexp([inf, 0]) is
    # [1, 0]); where every entry is -inf they count alike.
    (a, b), (ta, tb) = primals, tangents
    with np.errstate(divide="ignore"):
        out = _logabssumexp(a, b, axes)
    m = fnp.max(a, axis=axes, keepdims=True)
    fin = fnp.isfinite(m)
    dt = get_aval(a).dtype
    zero, ninf = np.zeros((), dt), np.asarray(-np.inf, dt)
    shifted_fin = fnp.subtract(fnp.where(fin, a, zero),
                               lax.stop_gradient(fnp.where(fin, m, zero)))
    shifted = fnp.where(fin, shifted_fin, fnp.where(fnp.equal(a, m), zero, ninf))
    e = fnp.exp(shifted)
    s = fnp.sum(fnp.multiply(b, e), axis=axes, keepdims=True)
    num = fnp.add(fnp.sum(fnp.multiply(fnp.multiply(b, e), ta), axis=axes, keepdims=True),
                  fnp.sum(fnp.multiply(e, tb), axis=axes, keepdims=True))
    return out, fnp.true_divide(num, s)


def softmax(x, axis=None):
    """``exp(x) / sum(exp(x), axis)`` (SciPy's default ``axis=None`` normalises over all
    elements; ``funcad.nn.softmax`` uses the last axis)."""
    x = _float(x)
    axes = canonical_axes("funcad.scipy.special.softmax", axis, get_aval(x).ndim)
    e = fnp.exp(fnp.subtract(x, _stable_max(x, axes)))
    return fnp.true_divide(e, fnp.sum(e, axis=axes, keepdims=True))


def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis)``, computed stably (all elements by default, as SciPy)."""
    x = _float(x)
    axes = canonical_axes("funcad.scipy.special.log_softmax", axis, get_aval(x).ndim)
    shifted = fnp.subtract(x, _stable_max(x, axes))
    return fnp.subtract(shifted, fnp.log(fnp.sum(fnp.exp(shifted), axis=axes, keepdims=True)))


def expit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))`` (no overflow for large ``|x|``)."""
    return lax.logistic(_float(x))


def logit(p):
    """``log(p / (1 - p))``, the inverse of :func:`expit`."""
    p = _float(p)
    return fnp.subtract(fnp.log(p), fnp.log1p(fnp.negative(p)))


def erf(x):
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t**2) dt``."""
    return lax.erf(_float(x))


def erfc(x):
    """The complementary error function ``1 - erf(x)``, accurate where that difference
    rounds to zero (``erfc(10.0)`` is about 2.1e-45, not 0)."""
    return lax.erfc(_float(x))


@custom_jvp
def xlogy(x, y):
    """``x * log(y)``, and 0 where ``x == 0`` (even where ``y == 0``). Its derivative is
    ``log(y)`` in ``x`` and ``x / y`` in ``y``, as JAX's, except that the latter is 0 (not NaN)
    at ``x == y == 0``, where xlogy is 0 along ``y``."""
    x, y = _float_pair(x, y)
    zero = lax.eq(x, lax.full(get_aval(x).shape, 0, get_aval(x).dtype))
    safe_y = fnp.where(zero, np.ones((), get_aval(y).dtype), y)
    return fnp.where(zero, np.zeros((), get_aval(x).dtype), fnp.multiply(x, fnp.log(safe_y)))


@xlogy.defjvp
def _xlogy_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = xlogy(x, y)
    t = fnp.add(fnp.multiply(tx, fnp.log(y)), fnp.multiply(ty, _x_over(x, y)))
    return out, fnp.asarray(t, dtype=get_aval(out).dtype)


def _x_over(x, d):
    """``x / d``, and 0 where ``x == d == 0``: the derivative of ``x * log(d)`` in ``d``
    (xlogy is 0 all along ``x == 0``). Elsewhere ``x * (1 / d)``, so it differentiates again
    as ``x / d`` does."""
    x, d = fnp.broadcast_arrays(x, d)
    both = fnp.logical_and(fnp.equal(x, 0), fnp.equal(d, 0))
    return fnp.multiply(x, fnp.reciprocal(fnp.where(both, np.ones((), get_aval(d).dtype), d)))


@custom_jvp
def xlog1py(x, y):
    """``x * log1p(y)``, and 0 where ``x == 0`` (even where ``y == -1``). Its derivative is
    ``log1p(y)`` in ``x`` and ``x / (1 + y)`` in ``y``, as JAX's, except that the latter is 0
    (not NaN) at ``x == 0, y == -1``."""
    x, y = _float_pair(x, y)
    zero = lax.eq(x, lax.full(get_aval(x).shape, 0, get_aval(x).dtype))
    safe_y = fnp.where(zero, np.zeros((), get_aval(y).dtype), y)
    return fnp.where(zero, np.zeros((), get_aval(x).dtype), fnp.multiply(x, fnp.log1p(safe_y)))


@xlog1py.defjvp
def _xlog1py_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = xlog1py(x, y)
    t = fnp.add(fnp.multiply(tx, fnp.log1p(y)),
                fnp.multiply(ty, _x_over(x, fnp.add(y, 1.0))))
    return out, fnp.asarray(t, dtype=get_aval(out).dtype)
