"""Linear algebra primitives: ``dot_general`` and the linear solvers.

``dot_general(x, y, dimension_numbers=((lc, rc), (lb, rb)))`` contracts axes ``lc`` of x with
``rc`` of y, pairs batch axes ``lb`` with ``rb``, and returns axes ordered as
``batch + free axes of x + free axes of y``. It is bilinear: its jvp is two contractions and
its transpose with respect to either operand is another dot_general and a permutation. Eager
reverse mode runs these rules on every call, so they are kept cheap: the impl hands vectors and
matrices straight to ``np.dot`` (transposed operands included), and the transpose puts its
operands in the order that makes the permutation unnecessary where one exists (``x.T @ ct``
for ``x @ w``), planning from the dimension numbers once per signature.

Below it come ``solve``, ``triangular_solve``, ``inv``, ``det`` and ``slogdet`` (the
factorizations cholesky, eigh and qr live in ``decompositions.py``). They act on the last two
axes and map over any leading axes, as NumPy's ``np.linalg`` does, so their batching rules
only move the batch axis among the leading ones. They are strict: float operands of one dtype,
equal leading axes; ``funcad.numpy.linalg`` adds NumPy's promotion and broadcasting.

Their jvps are the textbook matrix-calculus rules written with funcad ops, and each is
*linear in the tangents*: tangents only meet dot_general with primal values, add, neg,
transpose, masks and the solves themselves. The solves are linear in the right-hand side and
declare a transpose for it (the transpose of ``x = A⁻¹ b`` is ``A⁻ᵀ ct``), so reverse mode is
the transposed jvp, and higher orders follow because the rules are funcad ops too.

Generic tests draw inputs from ``test_args(rng, dtype) -> tuple of arrays`` (well-conditioned,
symmetric positive definite, ... as the primitive needs) combined with each ``test_params``.
"""
from __future__ import annotations

import math

import numpy as np

from funcad._memo import memoize
from funcad.core import Primitive, ShapedArray, get_aval, int64, per_primitive
from funcad.primitives import binary as bi, elementwise as ew, linalg_lowering as _lw
from funcad.primitives import reductions as red, shape as sh
from funcad.primitives.indexing import gather
from funcad.primitives._family import rand_array
from funcad.rule_util import (UndefinedPrimal, Zero, add_tangents, bdim_to_front, instantiate,
                              moveaxis)

__all__ = ["dot_general", "dot_general_p", "solve", "solve_p", "triangular_solve",
           "triangular_solve_p", "inv", "inv_p", "det", "det_p", "slogdet", "slogdet_p",
           "cofactors"]


def _undef(x):
    return type(x) is UndefinedPrimal


def _aval(x):
    return x.aval if _undef(x) else get_aval(x)


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot(x, y, dimension_numbers):
    """Bind dot_general with dimension numbers that are already tuples of ints, as the rules
    below build them: the public wrapper's normalization is for user input."""
    return dot_general_p.bind(x, y, dimension_numbers=dimension_numbers)


def _dot_abstract(x, y, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    if x.dtype != y.dtype:
        raise TypeError(f"lax.dot_general requires operands of one dtype, got {x.dtype} and "
                        f"{y.dtype}; use fnp.dot/fnp.matmul for type promotion")
    if x.dtype.kind == "b":
        raise TypeError("lax.dot_general does not accept bool operands")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise TypeError(f"lax.dot_general: dimension_numbers {dimension_numbers} pair "
                        f"different numbers of axes")
    for a, b in list(zip(lc, rc)) + list(zip(lb, rb)):
        if not (0 <= a < x.ndim and 0 <= b < y.ndim) or x.shape[a] != y.shape[b]:
            raise TypeError(f"lax.dot_general: shapes {x.shape} and {y.shape} do not match "
                            f"for dimension_numbers {dimension_numbers}")
    shape = ([x.shape[i] for i in lb] + [x.shape[i] for i in _free(x.ndim, lc, lb)]
             + [y.shape[i] for i in _free(y.ndim, rc, rb)])
    return ShapedArray(shape, preferred_element_type or x.dtype)


def _dot_impl(x, y, *, dimension_numbers, preferred_element_type=None):
    (lc, rc), (lb, rb) = dimension_numbers
    dtype = x.dtype if preferred_element_type is None else np.dtype(preferred_element_type)
    nx, ny = x.ndim, y.ndim
    if (not lb and len(lc) == 1 and 0 < nx <= 2 and 0 < ny <= 2
            and lc[0] in (0, nx - 1) and rc[0] in (0, ny - 1)):
        # One contraction between vectors and matrices: every product of two such operands,
        # and the transposed forms reverse mode makes of it, is one np.dot, which contracts
        # the last axis of its left operand with the first (vector) or second-to-last axis of
        # its right one, and hands a transposed matrix to BLAS without copying it.
        out = np.dot(x if lc[0] == nx - 1 else x.T, y if rc[0] == 0 else y.T)
        if nx == ny == 1:
            out = np.asarray(out)  # np.dot of two vectors returns a NumPy scalar
        return out if out.dtype == dtype else out.astype(dtype)
    lf, rf = _free(nx, lc, lb), _free(ny, rc, rb)
    bshape = [x.shape[i] for i in lb]
    lfs, rfs = [x.shape[i] for i in lf], [y.shape[i] for i in rf]
    nb, nc = math.prod(bshape), math.prod([x.shape[i] for i in lc])
    xm = np.transpose(x, list(lb) + lf + list(lc)).reshape(nb, math.prod(lfs), nc)
    ym = np.transpose(y, list(rb) + list(rc) + rf).reshape(nb, nc, math.prod(rfs))
    if nb == 1:
        # np.dot copies strided operands into BLAS-friendly layout; matmul may not
        out = np.dot(xm[0], ym[0]).reshape(bshape + lfs + rfs)
    else:
        out = np.matmul(np.ascontiguousarray(xm), np.ascontiguousarray(ym))
        out = out.reshape(bshape + lfs + rfs)
    return out if out.dtype == dtype else out.astype(dtype)


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


@memoize(maxsize=512)
def _transpose_plan(dimension_numbers, lin_ndim, other_ndim, lhs):
    """How to get the cotangent of the linear operand (x if ``lhs``, else y) from ct and the
    other operand: ``(other_first, dims, perm)`` meaning ``transpose(dot_general(other, ct)
    if other_first else dot_general(ct, other), perm)``, perm None for no transpose. A pure
    function of small tuples, memoized: the backward pass asks the same few questions over
    and over."""
    (lc, rc), (lb, rb) = dimension_numbers
    if not lhs:
        # y's cotangent is x's in the product with the roles swapped; other's free axes then
        # come first in ct
        (lc, rc), (lb, rb) = (rc, lc), (rb, lb)
    lin_kept = _free(lin_ndim, lc, lb)
    other_kept = tuple(_free(other_ndim, rc, rb))
    nb = len(lb)
    start = nb + len(lin_kept) if lhs else nb
    ans_other = tuple(range(start, start + len(other_kept)))
    ans_batch = tuple(range(nb))
    # ct is contracted with the other operand over that operand's free axes; its contracting
    # axes survive the product in increasing order, and these are the axes facing them:
    faced = [lc[rc.index(a)] for a in sorted(rc)]
    ct_first = list(lb) + lin_kept + faced  # the axis each axis of dot(ct, other) becomes
    identity = list(range(lin_ndim))
    if ct_first != identity and list(lb) + faced + lin_kept == identity:
        # dot(other, ct) is already in order (x.T @ ct for x @ w): no transpose
        return True, ((other_kept, ans_other), (rb, ans_batch)), None
    perm = None if ct_first == identity else _inverse(ct_first)
    return False, ((ans_other, other_kept), (ans_batch, rb)), perm


def _dot_transpose(ct, x, y, *, dimension_numbers, preferred_element_type=None):
    lhs = type(x) is UndefinedPrimal
    lin, other = (x, y) if lhs else (y, x)
    if type(other) is UndefinedPrimal:
        raise TypeError("lax.dot_general: cannot transpose a product of two linear values")
    other_first, dims, perm = _transpose_plan(dimension_numbers, lin.aval.ndim,
                                              get_aval(other).ndim, lhs)
    if type(ct) is Zero:
        ct = instantiate(ct)
    out = _dot(other, ct, dims) if other_first else _dot(ct, other, dims)
    if perm is not None:
        out = sh.transpose(out, perm)
    return [out, None] if lhs else [None, out]


def _dot_jvp(primals, tangents, *, dimension_numbers, preferred_element_type=None):
    (x, y), (tx, ty) = primals, tangents
    out = _dot(x, y, dimension_numbers)
    if type(tx) is Zero:
        t = Zero(get_aval(out)) if type(ty) is Zero else _dot(x, ty, dimension_numbers)
    elif type(ty) is Zero:
        t = _dot(tx, y, dimension_numbers)
    else:
        t = add_tangents(_dot(tx, y, dimension_numbers), _dot(x, ty, dimension_numbers))
    return out, t


def _shift(dims, at):
    return tuple(d + 1 if d >= at else d for d in dims)


def _dot_batch(vals, dims, *, dimension_numbers, preferred_element_type=None):
    (x, y), (dx, dy) = vals, dims
    (lc, rc), (lb, rb) = dimension_numbers
    if dx is not None and dy is not None:
        x, y = moveaxis(x, dx, 0), moveaxis(y, dy, 0)
        dn = ((_shift(lc, 0), _shift(rc, 0)), ((0,) + _shift(lb, 0), (0,) + _shift(rb, 0)))
        return _dot(x, y, dn), 0
    if dx is not None:
        # the batch axis is a free axis of x: find where it lands in the output
        dn = ((_shift(lc, dx), rc), (_shift(lb, dx), rb))
        xf = _free(get_aval(x).ndim, dn[0][0], dn[1][0])
        return _dot(x, y, dn), len(lb) + xf.index(dx)
    dn = ((lc, _shift(rc, dy)), (lb, _shift(rb, dy)))
    yf = _free(get_aval(y).ndim, dn[0][1], dn[1][1])
    xa = get_aval(x)
    return _dot(x, y, dn), len(lb) + len(_free(xa.ndim, lc, lb)) + yf.index(dy)


def _dot_test_args(rng, dtype, params):
    """Operands for ``params``' dimension numbers: batch axes of size 2, contracted ones of 4,
    free ones of 3 (x) and 5 (y)."""
    (lc, rc), (lb, rb) = params["dimension_numbers"]

    def shape(contract, batch, free):
        rank = len(contract) + len(batch) + 1
        return tuple(2 if i in batch else 4 if i in contract else free for i in range(rank))
    return [rand_array(rng, shape(lc, lb, 3), dtype), rand_array(rng, shape(rc, rb, 5), dtype)]


dot_general_p = Primitive("dot_general", impl=_dot_impl, abstract_eval=_dot_abstract,
                          jvp=_dot_jvp, transpose=_dot_transpose, batch=_dot_batch,
                          lowering=_lw.DOT_GENERAL, test_args=_dot_test_args,
                          test_params=({"dimension_numbers": (((1,), (0,)), ((), ()))},
                                       {"dimension_numbers": (((2,), (1,)), ((0,), (0,)))},
                                       {"dimension_numbers": (((0,), (1,)), ((), ()))}))


def dot_general(x, y, dimension_numbers, preferred_element_type=None):
    """General contraction; see the module docstring. With ``preferred_element_type`` the
    operands are converted to that dtype first, so the product accumulates and returns in it
    (``lax.dot_general``'s meaning of the argument)."""
    (lc, rc), (lb, rb) = dimension_numbers
    dn = ((tuple(int(a) for a in lc), tuple(int(a) for a in rc)),
          (tuple(int(a) for a in lb), tuple(int(a) for a in rb)))
    if preferred_element_type is not None:
        x = ew.convert_element_type(x, preferred_element_type)
        y = ew.convert_element_type(y, preferred_element_type)
    return dot_general_p.bind(x, y, dimension_numbers=dn)


# ---------------------------------------------------------------------------------------------
# Helpers for the matrix rules: funcad ops on stacks of matrices (..., m, n)

def mT(x):
    """Swap the last two axes (the matrix transpose of every matrix in a stack)."""
    nd = get_aval(x).ndim
    return sh.transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def mm(a, b):
    """Matrix product of stacks ``(..., m, k) @ (..., k, n)`` with equal leading axes."""
    nd = get_aval(a).ndim
    batch = tuple(range(nd - 2))
    return _dot(a, b, (((nd - 1,), (nd - 2,)), (batch, batch)))


def tri_mask(shape, k=0):
    """Bool mask of ``shape``, True on and below diagonal ``k`` of the last two axes."""
    nd = len(shape)
    rows = sh.broadcasted_iota(int64, shape, nd - 2)
    cols = sh.broadcasted_iota(int64, shape, nd - 1)
    return bi.ge(bi.add(rows, k) if k else rows, cols)


def tril(x, k=0):
    """NumPy's ``tril`` on the last two axes, as a select (linear in ``x``)."""
    a = get_aval(x)
    return ew.select_n(tri_mask(a.shape, k), sh.full(a.shape, 0, a.dtype), x)


def triu(x, k=0):
    a = get_aval(x)
    return ew.select_n(tri_mask(a.shape, k - 1), x, sh.full(a.shape, 0, a.dtype))


def sym_from_triangle(t, lower=True):
    """The symmetric matrix that shares the lower (or upper) triangle of ``t``.

    LAPACK, and so NumPy, reads only one triangle of the input of cholesky and eigh; this is
    the tangent such a factorization sees, so derivatives agree with finite differences of
    NumPy's own function in every direction."""
    if lower:
        return bi.add(tril(t), mT(tril(t, -1)))
    return bi.add(triu(t), mT(triu(t, 1)))


def check_float(name, *avals):
    for a in avals:
        if a.dtype.kind != "f":
            raise TypeError(f"lax.{name} needs floating-point operands, got {a.dtype}; convert "
                            f"with .astype(float), or use funcad.numpy.linalg, which converts "
                            f"as NumPy does")


def check_square(name, a):
    check_float(name, a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise TypeError(f"lax.{name} needs a square matrix or a stack of them, shape "
                        f"(..., n, n); got shape {a.shape}")


def matrix_batch(prim):
    """Batch rule of a one-operand primitive that maps over leading axes: keep a leading batch
    axis where it is, move one that sits among the matrix axes to the front (give it as
    ``batch=per_primitive(matrix_batch)``)."""
    def batch(vals, dims, **params):
        (x,), (d,) = vals, dims
        if d > get_aval(x).ndim - 3:
            x, d = moveaxis(x, d, 0), 0
        out = prim.bind(x, **params)
        return (out, [d] * len(out)) if prim.multiple_results else (out, d)
    return batch


def spd_matrix(rng, dtype, n=3):
    """A well-conditioned symmetric positive definite matrix (for test_args)."""
    g = rng.standard_normal((n, n))
    return (g @ g.T + n * np.eye(n)).astype(dtype)


def well_conditioned(rng, dtype, n=3):
    """A matrix with a dominant diagonal: comfortably invertible, and so are its triangles."""
    return (rng.standard_normal((n, n)) + 2 * n * np.eye(n)).astype(dtype)


# ---------------------------------------------------------------------------------------------
# solve and triangular_solve: x = op(A)⁻¹ b, b of shape (..., n, k); linear in b

def _solve_abstract(name):
    def abstract_eval(a, b, **params):
        check_square(name, a)
        check_float(name, b)
        if a.dtype != b.dtype:
            raise TypeError(f"lax.{name} needs operands of one dtype, got {a.dtype} and "
                            f"{b.dtype}; fnp.linalg.solve promotes as NumPy does")
        if b.ndim != a.ndim or b.shape[:-2] != a.shape[:-2] or b.shape[-2] != a.shape[-1]:
            raise TypeError(f"lax.{name}: b must have shape (..., n, k) with the leading axes "
                            f"of a (..., n, n); got a of shape {a.shape} and b of shape "
                            f"{b.shape}. fnp.linalg.solve broadcasts and accepts vectors")
        return b
    return abstract_eval


def _solve_batch(prim):
    def batch(vals, dims, **params):
        (a, b), (da, db) = vals, dims
        if da is None:
            # One matrix for the whole batch: fold the batch into the columns of b, so the
            # matrix is factorized once.
            r = get_aval(b).ndim - 1
            b = moveaxis(b, db, r - 1)  # (..., n, B, k)
            shape = get_aval(b).shape
            x = prim.bind(a, sh.reshape(b, shape[:-2] + (shape[-2] * shape[-1],)), **params)
            return sh.reshape(x, shape), r - 1
        a = moveaxis(a, da, 0)
        return prim.bind(a, bdim_to_front(b, db, get_aval(a).shape[0]), **params), 0
    return batch


def _rhs_minus(tb, ta_x):
    """``tb - ta_x`` where either may be absent (Zero / None)."""
    if ta_x is None:
        return tb
    return ew.neg(ta_x) if type(tb) is Zero else bi.sub(tb, ta_x)


def _solve_jvp(primals, tangents):
    (a, b), (ta, tb) = primals, tangents
    x = solve(a, b)
    rhs = _rhs_minus(tb, None if type(ta) is Zero else mm(ta, x))
    return x, solve(a, rhs)


def _solve_transpose(ct, a, b):
    if _undef(a):
        raise TypeError("lax.solve: cannot transpose with respect to the matrix a (the "
                        "solution is not linear in it)")
    return [None, solve(mT(a), instantiate(ct))]


solve_p = Primitive("solve", impl=lambda a, b: np.linalg.solve(a, b),
                    abstract_eval=_solve_abstract("solve"), jvp=_solve_jvp,
                    transpose=_solve_transpose, linear_args=(1,),
                    batch=per_primitive(_solve_batch), lowering=_lw.SOLVE,
                    test_dtypes=("float64",),
                    test_args=lambda rng, dtype: (well_conditioned(rng, dtype),
                                                  rng.standard_normal((3, 2)).astype(dtype)))


def solve(a, b):
    """``A⁻¹ b`` for ``a`` of shape (..., n, n) and ``b`` of shape (..., n, k)."""
    return solve_p.bind(a, b)


def _tri_impl(a, b, *, lower, transpose_a):
    t = np.tril(a) if lower else np.triu(a)
    if transpose_a:
        t = np.swapaxes(t, -1, -2)
    return np.linalg.solve(t, b)


def _tri_jvp(primals, tangents, *, lower, transpose_a):
    (a, b), (ta, tb) = primals, tangents
    kw = dict(lower=lower, transpose_a=transpose_a)
    x = triangular_solve(a, b, **kw)
    ta_x = None
    if type(ta) is not Zero:
        t = tril(ta) if lower else triu(ta)
        ta_x = mm(mT(t) if transpose_a else t, x)
    return x, triangular_solve(a, _rhs_minus(tb, ta_x), **kw)


def _tri_transpose(ct, a, b, *, lower, transpose_a):
    if _undef(a):
        raise TypeError("lax.triangular_solve: cannot transpose with respect to the matrix a "
                        "(the solution is not linear in it)")
    return [None, triangular_solve(a, instantiate(ct), lower, not transpose_a)]


triangular_solve_p = Primitive(
    "triangular_solve", impl=_tri_impl, abstract_eval=_solve_abstract("triangular_solve"),
    jvp=_tri_jvp, transpose=_tri_transpose, linear_args=(1,),
    batch=per_primitive(_solve_batch), lowering=_lw.TRIANGULAR_SOLVE, test_dtypes=("float64",),
    test_args=lambda rng, dtype: (well_conditioned(rng, dtype),
                                  rng.standard_normal((3, 2)).astype(dtype)),
    test_params=tuple({"lower": lo, "transpose_a": tr} for lo in (True, False)
                      for tr in (False, True)))


def triangular_solve(a, b, lower=True, transpose_a=False):
    """Solve ``op(T) x = b`` where ``T`` is the lower (or upper) triangle of ``a``, diagonal
    included (the other triangle is never read), and ``op`` transposes if ``transpose_a``."""
    return triangular_solve_p.bind(a, b, lower=bool(lower), transpose_a=bool(transpose_a))


# ---------------------------------------------------------------------------------------------
# inv, det, slogdet

def _square_abstract(name):
    def abstract_eval(a):
        check_square(name, a)
        return a
    return abstract_eval


def _inv_jvp(primals, tangents):
    (a,), (ta,) = primals, tangents
    ainv = inv(a)
    return ainv, ew.neg(mm(mm(ainv, ta), ainv))


inv_p = Primitive("inv", impl=lambda a: np.linalg.inv(a), abstract_eval=_square_abstract("inv"),
                  jvp=_inv_jvp, batch=per_primitive(matrix_batch), lowering=_lw.INV,
                  test_dtypes=("float64",),
                  test_args=lambda rng, dtype: (well_conditioned(rng, dtype),))


def inv(a):
    """The inverse of each matrix of a stack (..., n, n)."""
    return inv_p.bind(a)


def _det_abstract(name):
    def abstract_eval(a):
        check_square(name, a)
        return a.update(shape=a.shape[:-2])
    return abstract_eval


def _logdet_tangent(a, ta):
    """``tr(A⁻¹ dA)``, the tangent of log|det A|, as a sum of ``A⁻ᵀ ∘ dA``."""
    nd = get_aval(a).ndim
    return red.reduce_sum(bi.mul(mT(inv(a)), ta), (nd - 2, nd - 1))


#: Up to this size det's derivative is the cofactor matrix, exact at singular matrices; above
#: it, ``det(A) A⁻ᵀ`` (the cofactors cost n² determinants of size n - 1).
COFACTOR_MAX_N = 16


def cofactors(a):
    """The cofactor matrix of each matrix of ``a`` (..., n, n): ``C_ij = (-1)^(i+j)`` times the
    determinant of ``a`` without row i and column j. It is the gradient of ``det`` and the
    transposed adjugate, formed without an inverse, so it is exact at singular matrices; its
    own derivative is the cofactors of the minors, so every order stays exact."""
    aa = get_aval(a)
    n, nb = aa.shape[-1], aa.ndim - 2
    if n == 1:
        return sh.full(aa.shape, 1, aa.dtype)
    keep = np.array([[j for j in range(n) if j != i] for i in range(n)], np.int64)
    rows, cols = np.broadcast_arrays(keep[:, None, :, None], keep[None, :, None, :])
    idx = np.stack([rows, cols], axis=-1)                        # (n, n, n-1, n-1, 2)
    front = sh.transpose(a, (nb, nb + 1) + tuple(range(nb)))     # (n, n, *batch)
    minors = gather(front, idx)                                  # (n, n, n-1, n-1, *batch)
    minors = sh.transpose(minors, tuple(range(4, 4 + nb)) + (0, 1, 2, 3))
    signs = np.where(np.add.outer(np.arange(n), np.arange(n)) % 2, -1.0, 1.0).astype(aa.dtype)
    return bi.mul(det(minors), sh.broadcast_in_dim(signs, aa.shape, (nb, nb + 1)))


def _det_jvp(primals, tangents):
    (a,), (ta,) = primals, tangents
    d = det(a)
    nd = get_aval(a).ndim
    if get_aval(a).shape[-1] <= COFACTOR_MAX_N:
        return d, red.reduce_sum(bi.mul(cofactors(a), ta), (nd - 2, nd - 1))
    _refuse_singular("det", d, f"for matrices up to {COFACTOR_MAX_N}x{COFACTOR_MAX_N} it is the "
                     f"cofactor matrix (lax.cofactors), exact there")
    return d, bi.mul(d, _logdet_tangent(a, ta))


def _concrete(x):
    """The value of ``x`` when it is known (eagerly), else None."""
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return np.asarray(x)
    cv = getattr(x, "concrete_value", None)
    return None if cv is None else cv()


def _refuse_singular(name, d, why):
    """Raise, naming ``name``, when a known determinant ``d`` is zero: the inverse the rule
    needs does not exist (under jit the values are unknown and the result is inf or NaN)."""
    v = _concrete(d)
    if v is not None and np.any(np.asarray(v) == 0):
        raise ValueError(f"lax.{name}: derivative at a singular matrix (determinant 0): {why}")


det_p = Primitive("det", impl=lambda a: np.linalg.det(a), abstract_eval=_det_abstract("det"),
                  jvp=_det_jvp, batch=per_primitive(matrix_batch), lowering=_lw.DET,
                  test_dtypes=("float64",),
                  test_args=lambda rng, dtype: (well_conditioned(rng, dtype),))


def det(a):
    """The determinant of each matrix of a stack (..., n, n)."""
    return det_p.bind(a)


def _slogdet_abstract(a):
    out = _det_abstract("slogdet")(a)
    return [out, out]


def _slogdet_jvp(primals, tangents):
    (a,), (ta,) = primals, tangents
    sign, logdet = slogdet(a)
    _refuse_singular("slogdet", sign, "log|det| is -inf there and has no derivative; use det "
                     "(whose gradient is the cofactor matrix) or move off the singular matrix")
    nd = get_aval(a).ndim
    if get_aval(a).shape[-1] <= COFACTOR_MAX_N:   # no inverse: inf or NaN under jit, as JAX
        t = bi.div(red.reduce_sum(bi.mul(cofactors(a), ta), (nd - 2, nd - 1)), det(a))
    else:
        t = _logdet_tangent(a, ta)
    return [sign, logdet], [Zero(get_aval(sign)), t]


slogdet_p = Primitive("slogdet", impl=lambda a: list(np.linalg.slogdet(a)),
                      abstract_eval=_slogdet_abstract, jvp=_slogdet_jvp, multiple_results=True,
                      batch=per_primitive(matrix_batch), lowering=_lw.SLOGDET,
                      test_dtypes=("float64",),
                      test_args=lambda rng, dtype: (well_conditioned(rng, dtype),))


def slogdet(a):
    """``[sign, log|det a|]`` of each matrix of a stack (..., n, n)."""
    return slogdet_p.bind(a)
