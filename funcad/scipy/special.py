"""``funcad.scipy.special``: SciPy's special functions that machine learning code leans on,
composed from funcad primitives so they differentiate, batch and compile.

The log-sum-exp family is written the stable way: the maximum is subtracted before
exponentiating and added back after the log, and it is held constant (``stop_gradient``) so
that it changes the arithmetic but not the derivative. Entries of ``-inf`` contribute exact
zeros, to the value and to the gradient.
"""
from __future__ import annotations

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
    m = _stable_max(a, axes)
    e = fnp.exp(fnp.subtract(a, m))
    if b is not None:
        e = fnp.multiply(b, e)
    s = fnp.sum(e, axis=axes, keepdims=True)
    sign = fnp.sign(s)
    with np.errstate(divide="ignore"):  # a sum of zeros has log -inf, without a warning
        out = fnp.add(fnp.log(fnp.abs(s)), m)
    if not keepdims:
        out, sign = lax.squeeze(out, axes), lax.squeeze(sign, axes)
    if return_sign:
        return out, sign
    if b is None:
        return out
    return fnp.where(fnp.less(sign, 0), np.asarray(np.nan, get_aval(out).dtype), out)


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
    ``log(y)`` in ``x`` and ``x / y`` in ``y``, as JAX's."""
    x, y = _float_pair(x, y)
    zero = lax.eq(x, lax.full(get_aval(x).shape, 0, get_aval(x).dtype))
    safe_y = fnp.where(zero, np.ones((), get_aval(y).dtype), y)
    return fnp.where(zero, np.zeros((), get_aval(x).dtype), fnp.multiply(x, fnp.log(safe_y)))


@xlogy.defjvp
def _xlogy_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = xlogy(x, y)
    t = fnp.add(fnp.multiply(tx, fnp.log(y)), fnp.multiply(ty, fnp.true_divide(x, y)))
    return out, fnp.asarray(t, dtype=get_aval(out).dtype)


@custom_jvp
def xlog1py(x, y):
    """``x * log1p(y)``, and 0 where ``x == 0`` (even where ``y == -1``). Its derivative is
    ``log1p(y)`` in ``x`` and ``x / (1 + y)`` in ``y``, as JAX's."""
    x, y = _float_pair(x, y)
    zero = lax.eq(x, lax.full(get_aval(x).shape, 0, get_aval(x).dtype))
    safe_y = fnp.where(zero, np.zeros((), get_aval(y).dtype), y)
    return fnp.where(zero, np.zeros((), get_aval(x).dtype), fnp.multiply(x, fnp.log1p(safe_y)))


@xlog1py.defjvp
def _xlog1py_jvp(primals, tangents):
    (x, y), (tx, ty) = primals, tangents
    out = xlog1py(x, y)
    t = fnp.add(fnp.multiply(tx, fnp.log1p(y)),
                fnp.multiply(ty, fnp.true_divide(x, fnp.add(y, 1.0))))
    return out, fnp.asarray(t, dtype=get_aval(out).dtype)
