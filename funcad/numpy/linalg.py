"""``fnp.linalg``: NumPy's ``np.linalg`` over funcad's linear-algebra primitives.

Outside transformations each function is NumPy's own (the eager fast path). Under one, inputs
are converted as NumPy converts them (ints and bools become float64, float32 stays), leading
axes broadcast as in NumPy (``solve`` follows NumPy 2: ``b`` is a vector only when it is 1-D),
and the work goes to the primitives of ``funcad.primitives.linalg`` and ``.decompositions``,
whose rules give derivatives, batching and staging. Results are the same named tuples NumPy
returns (``SlogdetResult``, ``EighResult``, ``QRResult``), so they unpack the same way.

``cholesky`` and ``eigh`` read one triangle of their input, as NumPy does; their derivatives
are those of that function (see ``funcad/primitives/decompositions.py``). ``norm`` composes
reductions; its spectral norms (``ord=2, -2, 'nuc'``) take the singular values as the top
eigenvalues of the symmetric matrix ``[[0, A], [Aᵀ, 0]]``, which keeps full accuracy.
"""
from __future__ import annotations

import collections
import operator

import math

import numpy as np

from funcad import lax
from funcad.core import get_aval
from funcad.numpy._util import (asarray_of, broadcast_shapes, broadcast_to, eager, float_dtype,
                                to_value)
from funcad.numpy.linear import matmul, tensordot  # noqa: F401  (np.linalg has them too)
from funcad.numpy.linear import diagonal as _diagonal, outer as _outer, trace as _trace
from funcad.numpy import creation as _cr, reductions as _red, ufuncs as _uf
from funcad.primitives import decompositions as _dec, linalg as _la

__all__ = ["LinAlgError", "solve", "inv", "det", "slogdet", "cholesky", "eigh", "eigvalsh",
           "qr", "norm", "vector_norm", "matrix_norm", "matmul", "tensordot", "outer",
           "matrix_transpose", "trace", "diagonal", "SlogdetResult", "EighResult", "QRResult"]

LinAlgError = np.linalg.LinAlgError
SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = collections.namedtuple("QRResult", ["Q", "R"])


def _eager_np(name):
    """The eager fast path through ``np.linalg.<name>`` when this NumPy has it (the
    array-API functions are NumPy 2 only); otherwise the funcad path runs eagerly too."""
    np_fn = getattr(np.linalg, name, None)
    return eager(np_fn) if np_fn is not None else (lambda fn: fn)


def _floats(*args):
    """Operands as funcad values of NumPy's float result dtype."""
    vals = [to_value(a) for a in args]
    dt = float_dtype(*vals)
    return [asarray_of(v, dt) for v in vals]


def _shape(x):
    return get_aval(x).shape


def _magnitudes(who, x, ord, matrix):
    """A complex operand of a norm as its elementwise |x|: vector norms, Frobenius and the
    1/inf matrix norms are those of |x|; the singular-value norms are not (complex
    decompositions are not there yet), so they raise."""
    if get_aval(x).dtype.kind != "c":
        return x
    if matrix and ord in (2, -2, "nuc"):
        raise TypeError(f"fnp.linalg.{who}: ord={ord!r} of a complex matrix needs its singular "
                        f"values, and complex decompositions are not supported yet; use "
                        f"ord='fro', 1 or inf, or split the matrix into real blocks")
    return lax.abs(x)


def _square(who, a):
    s = _shape(a)
    if len(s) < 2:
        raise LinAlgError(f"fnp.linalg.{who}: {len(s)}-dimensional array given. Array must be "
                          f"at least two-dimensional (shape (..., n, n))")
    if s[-1] != s[-2]:
        raise LinAlgError(f"fnp.linalg.{who}: last 2 dimensions of the array must be square; "
                          f"got shape {s}")


@eager(np.linalg.solve)
def solve(a, b):
    """Solve ``a @ x = b``. ``a`` is (..., n, n); ``b`` is (n,) (one vector for every matrix)
    or (..., n, k) with leading axes broadcast against ``a``'s (NumPy 2 semantics)."""
    a, b = _floats(a, b)
    _square("solve", a)
    sa, sb = _shape(a), _shape(b)
    n = sa[-1]
    if len(sb) == 1:
        if sb[0] != n:
            raise ValueError(f"fnp.linalg.solve: b of shape {sb} does not match a of shape "
                             f"{sa}: b must have length {n}")
        b2 = broadcast_to(lax.reshape(b, (n, 1)), sa[:-2] + (n, 1))
        return lax.reshape(_la.solve(a, b2), sa[:-1])
    if not sb or sb[-2] != n:
        raise ValueError(f"fnp.linalg.solve: b of shape {sb} does not match a of shape {sa}: "
                         f"b must be (n,) or (..., n, k) with n = {n}")
    batch = broadcast_shapes("fnp.linalg.solve", sa[:-2], sb[:-2])
    return _la.solve(broadcast_to(a, batch + sa[-2:]), broadcast_to(b, batch + sb[-2:]))


@eager(np.linalg.inv)
def inv(a):
    """The inverse of each matrix of ``a`` (..., n, n)."""
    (a,) = _floats(a)
    _square("inv", a)
    return _la.inv(a)


@eager(np.linalg.det)
def det(a):
    """The determinant of each matrix of ``a`` (..., n, n)."""
    (a,) = _floats(a)
    _square("det", a)
    return _la.det(a)


@eager(np.linalg.slogdet)
def slogdet(a):
    """``(sign, logabsdet)`` of each matrix: ``det = sign * exp(logabsdet)`` without
    overflow. The derivative of ``logabsdet`` is ``inv(a).T``; ``sign`` has none."""
    (a,) = _floats(a)
    _square("slogdet", a)
    return SlogdetResult(*_la.slogdet(a))


@eager(np.linalg.cholesky)
def cholesky(a, /, *, upper=False):
    """The Cholesky factor of each symmetric positive definite matrix: lower ``L`` with
    ``a = L Lᵀ`` (reading the lower triangle), or upper ``U = Lᵀ`` with ``upper=True``
    (reading the upper triangle)."""
    (a,) = _floats(a)
    _square("cholesky", a)
    if upper:
        return _la.mT(_dec.cholesky(_la.mT(a)))
    return _dec.cholesky(a)


def _uplo(who, UPLO):
    if UPLO not in ("L", "U"):
        raise ValueError(f"fnp.linalg.{who}: UPLO argument must be 'L' or 'U', got {UPLO!r}")
    return UPLO == "L"


@eager(np.linalg.eigh)
def eigh(a, UPLO="L"):
    """``(eigenvalues, eigenvectors)`` of each symmetric matrix, eigenvalues ascending and
    eigenvectors as columns; reads the ``UPLO`` triangle. Derivatives of the eigenvectors
    assume distinct eigenvalues."""
    (a,) = _floats(a)
    _square("eigh", a)
    return EighResult(*_dec.eigh(a, _uplo("eigh", UPLO)))


@eager(np.linalg.eigvalsh)
def eigvalsh(a, UPLO="L"):
    """The ascending eigenvalues of each symmetric matrix (reading the ``UPLO`` triangle)."""
    (a,) = _floats(a)
    _square("eigvalsh", a)
    return _dec.eigh(a, _uplo("eigvalsh", UPLO))[0]


@eager(np.linalg.qr)
def qr(a, mode="reduced"):
    """QR factorization of each matrix of ``a`` (..., m, n): ``QRResult(Q, R)`` for
    ``mode='reduced'`` (and ``'complete'`` when m <= n, where the two agree), ``R`` alone for
    ``mode='r'``."""
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"fnp.linalg.qr: unrecognized mode {mode!r}; use 'reduced', "
                         f"'complete' or 'r'")
    (a,) = _floats(a)
    s = _shape(a)
    if len(s) < 2:
        raise LinAlgError(f"fnp.linalg.qr: {len(s)}-dimensional array given. Array must be at "
                          f"least two-dimensional")
    if mode == "raw" or (mode == "complete" and s[-2] > s[-1]):
        raise NotImplementedError(f"fnp.linalg.qr: mode={mode!r} is not supported under "
                                  f"transformations for shape {s}; use mode='reduced'")
    q, r = _dec.qr(a)
    return r if mode == "r" else QRResult(q, r)


# ---------------------------------------------------------------------------------------------
# norms

def _vector_norm(x, ord, axis, keepdims):
    kw = dict(axis=axis, keepdims=keepdims)
    if ord is None or (not isinstance(ord, str) and ord == 2):
        return _uf.sqrt(_red.sum(x * x, **kw))
    if isinstance(ord, str):
        raise ValueError(f"fnp.linalg.norm: invalid norm order {ord!r} for vectors")
    if ord == np.inf:
        return _red.max(_uf.abs(x), **kw)
    if ord == -np.inf:
        return _red.min(_uf.abs(x), **kw)
    if ord == 0:
        return _red.sum(_cr.asarray(_uf.not_equal(x, 0), dtype=get_aval(x).dtype), **kw)
    if ord == 1:
        return _red.sum(_uf.abs(x), **kw)
    return _uf.power(_red.sum(_uf.power(_uf.abs(x), ord), **kw), 1.0 / ord)


def _singular_values(x, r, c):
    """Singular values (ascending) of the matrices on axes ``(r, c)``, as a last axis after
    the other axes: the ``min(m, n)`` largest eigenvalues of ``[[0, A], [Aᵀ, 0]]``."""
    shape, dt = _shape(x), get_aval(x).dtype
    nd = len(shape)
    rest = tuple(i for i in range(nd) if i not in (r, c))
    lead = tuple(shape[i] for i in rest)
    y = lax.transpose(x, rest + (r, c))
    m, n = shape[r], shape[c]
    top = lax.concatenate([lax.full(lead + (m, m), 0, dt), y], nd - 1)
    bottom = lax.concatenate([_la.mT(y), lax.full(lead + (n, n), 0, dt)], nd - 1)
    w = _dec.eigh(lax.concatenate([top, bottom], nd - 2))[0]
    k = min(m, n)
    return lax.slice(w, (0,) * (nd - 2) + (m + n - k,), lead + (m + n,))


def _matrix_norm(x, ord, r, c, keepdims):
    shape = _shape(x)
    if ord in (2, -2, "nuc") and not isinstance(ord, bool):
        if shape[r] == 0 or shape[c] == 0:
            raise ValueError("fnp.linalg.norm: spectral norms of empty matrices are undefined")
        sv = _singular_values(x, r, c)
        red = {2: _red.max, -2: _red.min, "nuc": _red.sum}[ord]
        out = red(sv, axis=-1)
    elif ord in (1, -1):
        red = _red.max if ord == 1 else _red.min
        out = red(_red.sum(_uf.abs(x), axis=r), axis=c - 1 if c > r else c)
    elif ord in (np.inf, -np.inf):
        red = _red.max if ord == np.inf else _red.min
        out = red(_red.sum(_uf.abs(x), axis=c), axis=r - 1 if r > c else r)
    elif ord in (None, "fro", "f"):
        out = _uf.sqrt(_red.sum(x * x, axis=(r, c)))
    else:
        raise ValueError(f"fnp.linalg.norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        out = lax.reshape(out, tuple(1 if i in (r, c) else s for i, s in enumerate(shape)))
    return out


def _axis_index(ax, nd):
    ax = operator.index(ax)
    if not -nd <= ax < nd:
        raise np.exceptions.AxisError(f"fnp.linalg.norm: axis {ax} is out of bounds for an "
                                      f"array of dimension {nd}")
    return ax % nd


@eager(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector and matrix norms as ``np.linalg.norm``: vector ``ord`` None/2, 1, inf, -inf, 0
    or any p along one axis; matrix ``ord`` None/'fro', 1, -1, inf, -inf, 2, -2, 'nuc' over
    two axes. ``axis=None`` means the whole (1-D or 2-D) array; ``ord=None`` with
    ``axis=None`` is the 2-norm of the flattened array for any rank."""
    (x,) = _floats(x)
    shape = _shape(x)
    nd = len(shape)
    matrix = (axis is None and nd == 2 and ord is not None) or (
        isinstance(axis, tuple) and len(axis) == 2)
    x = _magnitudes("norm", x, ord, matrix)
    if axis is None:
        if ord is None or (ord in ("f", "fro") and nd == 2) or (
                not isinstance(ord, str) and ord == 2 and nd == 1):
            out = _uf.sqrt(_red.sum(x * x))
            return lax.reshape(out, (1,) * nd) if keepdims else out
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        axis = (axis,)
    axis = tuple(_axis_index(a, nd) for a in axis)
    if len(axis) == 1:
        return _vector_norm(x, ord, axis, keepdims)
    if len(axis) == 2:
        if axis[0] == axis[1]:
            raise ValueError("fnp.linalg.norm: duplicate axes given")
        return _matrix_norm(x, ord, axis[0], axis[1], keepdims)
    raise ValueError(f"fnp.linalg.norm: improper number of dimensions to norm (axis={axis}); "
                     f"give one axis for a vector norm or two for a matrix norm")


@_eager_np("vector_norm")
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """``np.linalg.vector_norm``: the vector norm over ``axis`` (all axes when None, several
    axes flattened together)."""
    (x,) = _floats(x)
    x = _magnitudes("vector_norm", x, ord, False)
    shape = _shape(x)
    nd = len(shape)
    if axis is None:
        axes = tuple(range(nd))
    else:
        axes = tuple(sorted({_axis_index(a, nd) for a in
                             (axis if isinstance(axis, (tuple, list)) else (axis,))}))
    rest = tuple(i for i in range(nd) if i not in axes)
    lead = tuple(shape[i] for i in rest)
    y = lax.reshape(lax.transpose(x, rest + axes),
                    lead + (math.prod([shape[i] for i in axes]),))
    out = _vector_norm(y, ord, (len(lead),), False)
    if keepdims:
        out = lax.reshape(out, tuple(1 if i in axes else s for i, s in enumerate(shape)))
    return out


@_eager_np("matrix_norm")
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """``np.linalg.matrix_norm``: the norm of the matrices on the last two axes."""
    return norm(x, ord, (-2, -1), keepdims)


# ---------------------------------------------------------------------------------------------
# array-API spellings that np.linalg also provides

@_eager_np("matrix_transpose")
def matrix_transpose(x, /):
    """Swap the last two axes."""
    x = to_value(x)
    if len(_shape(x)) < 2:
        raise ValueError(f"fnp.linalg.matrix_transpose: needs at least two dimensions, got "
                         f"shape {_shape(x)}")
    return _la.mT(x)


@_eager_np("outer")
def outer(x1, x2, /):
    """Outer product of two vectors (1-D only, as ``np.linalg.outer``)."""
    for i, v in enumerate((x1, x2)):
        if len(_shape(to_value(v))) != 1:
            raise ValueError(f"fnp.linalg.outer: input {i} must be one-dimensional, got shape "
                             f"{_shape(to_value(v))}")
    return _outer(x1, x2)


@_eager_np("trace")
def trace(x, /, *, offset=0, dtype=None):
    """Trace of the matrices on the last two axes."""
    return _trace(x, offset, -2, -1, dtype)


@_eager_np("diagonal")
def diagonal(x, /, *, offset=0):
    """Diagonals of the matrices on the last two axes."""
    return _diagonal(x, offset, -2, -1)
