"""``funcad.nn``: activation functions and friends for neural networks, composed from
funcad primitives (so they differentiate, batch and compile).

Stability is part of the definition: ``softplus`` never overflows, ``softmax`` and
``log_softmax`` subtract the (constant, ``stop_gradient``-ed) maximum before exponentiating,
and ``relu`` has derivative 0 at 0, as in JAX.
"""
from __future__ import annotations

import math

import numpy as np

from funcad import lax
from funcad import numpy as fnp
from funcad.core import get_aval
from funcad.numpy._util import asarray_of, canonical_axes, float_dtype, to_value
from funcad.scipy.special import _stable_max, erf, logsumexp

__all__ = ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "sigmoid", "log_sigmoid",
           "softplus", "silu", "swish", "gelu", "tanh", "softmax", "log_softmax", "logsumexp",
           "one_hot", "standardize"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _float(x):
    x = to_value(x)
    return asarray_of(x, float_dtype(x))


def _zero(x):
    return np.zeros((), get_aval(x).dtype)


def relu(x):
    """``max(x, 0)``, with derivative 0 at 0 (integers stay integers)."""
    x = to_value(x)
    return fnp.where(fnp.greater(x, _zero(x)), x, _zero(x))


def relu6(x):
    """``min(max(x, 0), 6)``, with derivative 0 at 0 and 6."""
    x = relu(x)
    six = np.asarray(6, get_aval(x).dtype)
    return fnp.where(fnp.less(x, six), x, six)


def leaky_relu(x, negative_slope=0.01):
    """``x`` where positive, ``negative_slope * x`` elsewhere."""
    x = _float(x)
    return fnp.where(fnp.greater_equal(x, _zero(x)), x, fnp.multiply(negative_slope, x))


def elu(x, alpha=1.0):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    x = _float(x)
    neg = fnp.minimum(x, _zero(x))  # keeps expm1 from overflowing where x is large
    return fnp.where(fnp.greater(x, _zero(x)), x, fnp.multiply(alpha, fnp.expm1(neg)))


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * min(0, expm1(x / alpha))``."""
    x = _float(x)
    neg = fnp.minimum(x, _zero(x))
    return fnp.where(fnp.greater(x, _zero(x)), x,
                     fnp.multiply(alpha, fnp.expm1(fnp.true_divide(neg, alpha))))


def selu(x):
    """Scaled ELU with the self-normalising constants."""
    return fnp.multiply(_SELU_SCALE, elu(x, _SELU_ALPHA))


def sigmoid(x):
    """The logistic function ``1 / (1 + exp(-x))``."""
    return lax.logistic(_float(x))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, stable for large ``|x|``."""
    return fnp.negative(softplus(fnp.negative(_float(x))))


def softplus(x):
    """``log(1 + exp(x))``, stable for large ``|x|`` (``logaddexp(x, 0)``)."""
    x = _float(x)
    return fnp.logaddexp(x, _zero(x))


def silu(x):
    """``x * sigmoid(x)``."""
    x = _float(x)
    return fnp.multiply(x, sigmoid(x))


swish = silu


def gelu(x, approximate=True):
    """The Gaussian error linear unit: ``x * Phi(x)``; with ``approximate`` (JAX's default)
    the tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``."""
    x = _float(x)
    if approximate:
        inner = fnp.multiply(_SQRT_2_OVER_PI, fnp.add(x, fnp.multiply(0.044715,
                                                                      fnp.power(x, 3))))
        return fnp.multiply(fnp.multiply(0.5, x), fnp.add(1.0, fnp.tanh(inner)))
    return fnp.multiply(fnp.multiply(0.5, x), fnp.add(1.0, erf(fnp.multiply(x, 1 / math.sqrt(2)))))


def tanh(x):
    """``numpy.tanh``."""
    return fnp.tanh(x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, normalised along ``axis`` (the last by default)."""
    x = _float(x)
    axes = canonical_axes("funcad.nn.softmax", axis, get_aval(x).ndim)
    e = fnp.exp(fnp.subtract(x, _stable_max(x, axes)))
    return fnp.true_divide(e, fnp.sum(e, axis=axes, keepdims=True))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis, keepdims=True)``, computed stably."""
    x = _float(x)
    axes = canonical_axes("funcad.nn.log_softmax", axis, get_aval(x).ndim)
    shifted = fnp.subtract(x, _stable_max(x, axes))
    return fnp.subtract(shifted, fnp.log(fnp.sum(fnp.exp(shifted), axis=axes, keepdims=True)))


def one_hot(x, num_classes: int, dtype=np.float64, axis=-1):
    """``x[..., None] == arange(num_classes)`` as ``dtype``, the new axis at ``axis``.
    Out-of-range classes give all-zero rows."""
    x = to_value(x)
    nd = get_aval(x).ndim + 1
    ax = canonical_axes("funcad.nn.one_hot", axis, nd)[0]
    classes = np.arange(int(num_classes)).reshape([-1 if i == ax else 1 for i in range(nd)])
    return fnp.asarray(fnp.equal(fnp.expand_dims(x, ax), classes), dtype=dtype)


def standardize(x, axis=-1, epsilon=1e-5):
    """``(x - mean) / sqrt(var + epsilon)`` along ``axis``."""
    x = _float(x)
    m = fnp.mean(x, axis=axis, keepdims=True)
    v = fnp.var(x, axis=axis, keepdims=True)
    return fnp.true_divide(fnp.subtract(x, m), fnp.sqrt(fnp.add(v, epsilon)))
