"""Matrix factorizations: ``cholesky``, ``eigh`` and ``qr`` (reduced).

Like the solvers in ``linalg.py`` they act on the last two axes, map over leading ones, call
NumPy in ``impl`` and state their jvp as the standard matrix-calculus rule in funcad ops,
linear in the tangent, so reverse mode is the transposed jvp and higher orders come free:

- cholesky, ``A = L Lᵀ``:  ``dL = L Φ(L⁻¹ dA L⁻ᵀ)`` with ``Φ`` the lower triangle with the
  diagonal halved;
- eigh, ``A = V diag(w) Vᵀ``:  ``dw = diag(Vᵀ dA V)``, ``dV = V (F ∘ Vᵀ dA V)`` with
  ``F_ij = 1 / (w_j - w_i)`` off the diagonal (distinct eigenvalues assumed; where two are
  exactly equal F is 0, so sums over a degenerate eigenspace still differentiate);
- qr, ``A = Q R``: ``C = Qᵀ dA R⁻¹``, ``Ω = tril(C, -1) - tril(C, -1)ᵀ``,
  ``dQ = Q Ω + dA R⁻¹ - Q C`` and ``dR = (C - Ω) R``; for wide matrices the same rule on the
  leading square block and ``dR₂ = Qᵀ (dA₂ - dQ R₂)`` for the rest.

cholesky and eigh read one triangle of their input, as LAPACK does (the lower one unless
``lower=False``); their tangent is the symmetric matrix sharing that triangle
(``sym_from_triangle``), so derivatives match finite differences of NumPy's functions.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, ShapedArray, get_aval, per_primitive
from funcad.primitives import binary as bi, elementwise as ew, linalg_lowering as _lw
from funcad.primitives import reductions as red, shape as sh
from funcad.primitives.linalg import (check_float, check_square, matrix_batch, mm, mT,
                                      spd_matrix, sym_from_triangle, tri_mask, tril,
                                      triangular_solve)

__all__ = ["cholesky", "cholesky_p", "eigh", "eigh_p", "qr", "qr_p"]


# ---------------------------------------------------------------------------------------------
# cholesky

def _cholesky_abstract(a):
    check_square("cholesky", a)
    return a


def _cholesky_jvp(primals, tangents):
    (a,), (ta,) = primals, tangents
    L = cholesky(a)
    shape, dtype = get_aval(L).shape, get_aval(L).dtype
    y = triangular_solve(L, sym_from_triangle(ta), lower=True)   # L⁻¹ dA
    x = triangular_solve(L, mT(y), lower=True)                   # L⁻¹ dA L⁻ᵀ (symmetric)
    # Φ: keep the strict lower triangle, halve the diagonal, as one constant weight matrix.
    strict = ew.convert_element_type(tri_mask(shape, -1), dtype)
    lower = ew.convert_element_type(tri_mask(shape, 0), dtype)
    phi = bi.mul(bi.add(strict, lower), 0.5)
    return L, mm(L, bi.mul(x, phi))


cholesky_p = Primitive("cholesky", impl=lambda a: np.linalg.cholesky(a),
                       abstract_eval=_cholesky_abstract, jvp=_cholesky_jvp,
                       batch=per_primitive(matrix_batch), lowering=_lw.CHOLESKY,
                       test_dtypes=("float64",),
                       test_args=lambda rng, dtype: (spd_matrix(rng, dtype),))


def cholesky(a):
    """Lower Cholesky factor ``L`` (``a = L Lᵀ``) of each matrix of a stack; reads only the
    lower triangle of ``a``."""
    return cholesky_p.bind(a)


# ---------------------------------------------------------------------------------------------
# eigh

def _eigh_abstract(a, *, lower):
    check_square("eigh", a)
    return [a.update(shape=a.shape[:-1]), a]


def _eigh_impl(a, *, lower):
    return list(np.linalg.eigh(a, UPLO="L" if lower else "U"))


def _eigh_jvp(primals, tangents, *, lower):
    (a,), (ta,) = primals, tangents
    w, v = eigh(a, lower)
    aval = get_aval(v)
    nd = aval.ndim
    ta = sym_from_triangle(ta, lower)
    vt_ta_v = mm(mT(v), mm(ta, v))
    # dw_i = (Vᵀ dA V)_ii = Σ_k V_ki (dA V)_ki: a column sum, no diagonal extraction needed.
    tw = red.reduce_sum(bi.mul(v, mm(ta, v)), (nd - 2,))
    # F_ij = 1 / (w_j - w_i) off the diagonal, 0 where the eigenvalues are equal.
    keep = tuple(range(nd - 2))
    wj = sh.broadcast_in_dim(w, aval.shape, keep + (nd - 1,))
    wi = sh.broadcast_in_dim(w, aval.shape, keep + (nd - 2,))
    diff = bi.sub(wj, wi)
    same = bi.eq(diff, sh.full(aval.shape, 0, aval.dtype))
    ones = sh.full(aval.shape, 1, aval.dtype)
    f = ew.select_n(same, bi.div(ones, ew.select_n(same, diff, ones)),
                    sh.full(aval.shape, 0, aval.dtype))
    return [w, v], [tw, mm(v, bi.mul(f, vt_ta_v))]


eigh_p = Primitive("eigh", impl=_eigh_impl, abstract_eval=_eigh_abstract, jvp=_eigh_jvp,
                   multiple_results=True, batch=per_primitive(matrix_batch),
                   lowering=_lw.EIGH, test_dtypes=("float64",),
                   test_params=({"lower": True}, {"lower": False}),
                   test_args=lambda rng, dtype: (spd_matrix(rng, dtype),))


def eigh(a, lower=True):
    """``[w, v]``: ascending eigenvalues and orthonormal eigenvectors (columns) of each
    symmetric matrix of a stack, reading its lower (or upper) triangle only."""
    return eigh_p.bind(a, lower=bool(lower))


# ---------------------------------------------------------------------------------------------
# qr (reduced)

def _qr_abstract(a):
    check_float("qr", a)
    if a.ndim < 2:
        raise TypeError(f"lax.qr needs a matrix or a stack of them, shape (..., m, n); got "
                        f"shape {a.shape}")
    m, n = a.shape[-2:]
    k = min(m, n)
    lead = a.shape[:-2]
    return [ShapedArray(lead + (m, k), a.dtype), ShapedArray(lead + (k, n), a.dtype)]


def _qr_tall_tangent(q, r, ta):
    """(dQ, dR) for ``A = QR`` with ``m >= n``, ``R`` square and invertible."""
    # dA R⁻¹ by a triangular solve from the right: X R = dA  <=>  Rᵀ Xᵀ = dAᵀ.
    ta_rinv = mT(triangular_solve(r, mT(ta), lower=False, transpose_a=True))
    c = mm(mT(q), ta_rinv)
    low = tril(c, -1)
    omega = bi.sub(low, mT(low))
    dq = bi.add(mm(q, omega), bi.sub(ta_rinv, mm(q, c)))
    dr = mm(bi.sub(c, omega), r)
    return dq, dr


def _block(x, lo, hi):
    """Columns ``lo:hi`` of a stack of matrices."""
    shape = get_aval(x).shape
    nd = len(shape)
    return sh.slice_(x, (0,) * (nd - 1) + (lo,), shape[:-1] + (hi,))


def _qr_jvp(primals, tangents):
    (a,), (ta,) = primals, tangents
    q, r = qr(a)
    m, n = get_aval(a).shape[-2:]
    if m >= n:
        dq, dr = _qr_tall_tangent(q, r, ta)
        return [q, r], [dq, dr]
    r1, r2 = _block(r, 0, m), _block(r, m, n)
    dq, dr1 = _qr_tall_tangent(q, r1, _block(ta, 0, m))
    dr2 = mm(mT(q), bi.sub(_block(ta, m, n), mm(dq, r2)))
    return [q, r], [dq, sh.concatenate([dr1, dr2], get_aval(r).ndim - 1)]


qr_p = Primitive("qr", impl=lambda a: list(np.linalg.qr(a, mode="reduced")),
                 abstract_eval=_qr_abstract, jvp=_qr_jvp, multiple_results=True,
                 batch=per_primitive(matrix_batch), lowering=_lw.QR,
                 test_dtypes=("float64",),
                 test_args=lambda rng, dtype: (rng.standard_normal((4, 3)).astype(dtype),))


def qr(a):
    """``[q, r]``, the reduced QR factorization of each matrix of a stack (..., m, n)."""
    return qr_p.bind(a)

