"""Linear algebra: fnp products (dot, matmul, einsum, ...), fnp.linalg and the linalg primitives.

Values are compared with NumPy on both paths: eager (NumPy's own function) and traced (the
function staged with make_jaxpr, then the jaxpr evaluated), derivatives with central finite
differences (forward and reverse mode, and second order through the jvp), vmap with a loop.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.primitives import decompositions
from funcad.tree_util import tree_leaves

RNG = np.random.default_rng(0)


def rand(*shape, dtype=np.float64, seed=None):
    rng = RNG if seed is None else np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype)


def spd(n, *lead, seed=None):
    g = rand(*lead, n, n, seed=seed)
    return g @ np.swapaxes(g, -1, -2) + n * np.eye(n)


def well_conditioned(n, *lead, seed=None):
    return rand(*lead, n, n, seed=seed) + 2 * n * np.eye(n)


def traced(f, *args):
    """``f`` staged to a jaxpr and the jaxpr evaluated: the funcad path, never NumPy's."""
    closed = funcad.make_jaxpr(f)(*args)
    return closed(*tree_leaves(args))


def assert_like_numpy(f, np_f, *args, rtol=1e-10, atol=1e-10):
    """Both paths of ``f`` give ``np_f``'s values and dtypes."""
    expected = tree_leaves(np_f(*args))
    for got in (tree_leaves(f(*args)), traced(f, *args)):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert np.asarray(g).dtype == np.asarray(e).dtype
            np.testing.assert_allclose(np.asarray(g), e, rtol=rtol, atol=atol)


# --- a small derivative checker -------------------------------------------------------------

def _dot(a, b):
    return sum(float(np.sum(np.asarray(x) * np.asarray(y)))
               for x, y in zip(tree_leaves(a), tree_leaves(b)))


def _fd(f, args, ts, eps):
    plus = f(*[a + eps * t for a, t in zip(args, ts)])
    minus = f(*[a - eps * t for a, t in zip(args, ts)])
    return [(np.asarray(p) - np.asarray(m)) / (2 * eps)
            for p, m in zip(tree_leaves(plus), tree_leaves(minus))]


def check_grads(f, args, order=1, eps=1e-5, rtol=1e-5, atol=1e-6, seed=1):
    """jvp against central differences in a random direction, vjp by the dot-product identity
    ``<ct, J t> == <Jᵀ ct, t>``; with order 2, the same for the jvp in a fixed direction."""
    rng = np.random.default_rng(seed)
    args = [np.asarray(a, np.float64) for a in args]
    ts = [rng.standard_normal(a.shape) for a in args]
    _, t_out = funcad.jvp(f, args, ts)
    for got, want in zip(tree_leaves(t_out), _fd(f, args, ts, eps)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol)
    out, pullback = funcad.vjp(f, *args)
    ct = funcad.tree_util.tree_map(lambda o: rng.standard_normal(np.shape(o)), out)
    np.testing.assert_allclose(_dot(ct, t_out), _dot(pullback(ct), ts), rtol=1e-8, atol=1e-8)
    if order > 1:
        us = [rng.standard_normal(a.shape) for a in args]
        check_grads(lambda *a: funcad.jvp(f, a, us)[1], args, order - 1, eps, rtol, atol,
                    seed + 1)


# --- products --------------------------------------------------------------------------------

PRODUCT_CASES = [
    ("dot", (), (3,)), ("dot", (3,), (3,)), ("dot", (2, 3), (3,)), ("dot", (3,), (3, 4)),
    ("dot", (2, 3), (3, 4)), ("dot", (2, 5, 3), (4, 3, 2)),
    ("matmul", (3,), (3,)), ("matmul", (2, 3), (3,)), ("matmul", (3,), (3, 4)),
    ("matmul", (2, 3), (3, 4)), ("matmul", (5, 2, 3), (3, 4)), ("matmul", (2, 3), (5, 3, 4)),
    ("matmul", (5, 1, 2, 3), (4, 3, 2)), ("matmul", (3,), (5, 3, 2)),
    ("matmul", (5, 2, 3), (3,)),
    ("inner", (3,), (3,)), ("inner", (2, 3), (4, 3)), ("inner", (), (2, 3)),
    ("outer", (3,), (4,)), ("outer", (2, 2), (3,)),
    ("vdot", (2, 3), (3, 2)),
]


@pytest.mark.parametrize("name,sa,sb", PRODUCT_CASES)
def test_products_match_numpy(name, sa, sb):
    a, b = rand(*sa), rand(*sb)
    assert_like_numpy(getattr(fnp, name), getattr(np, name), a, b)


@pytest.mark.parametrize("name,sa,sb", PRODUCT_CASES)
def test_products_grads(name, sa, sb):
    check_grads(getattr(fnp, name), [rand(*sa), rand(*sb)], order=2)


@pytest.mark.parametrize("da,db", [(np.int32, np.float32), (np.int64, np.int32),
                                   (np.float32, np.float32), (np.bool_, np.bool_),
                                   (np.float32, np.float64)])
def test_product_dtypes(da, db):
    a, b = (rand(3, 4) > 0).astype(da), (rand(4, 2) > 0).astype(db)
    for name in ("dot", "matmul", "inner", "outer", "vdot"):
        y = b.T if name == "inner" else a.astype(db) if name == "vdot" else b
        assert_like_numpy(getattr(fnp, name), getattr(np, name), a, y)
    assert_like_numpy(lambda x, y: fnp.tensordot(x, y, 1), lambda x, y: np.tensordot(x, y, 1),
                      a, b)
    assert_like_numpy(lambda x, y: fnp.einsum("ij,jk->ik", x, y),
                      lambda x, y: np.einsum("ij,jk->ik", x, y), a, b)


def test_matmul_operator_on_tracers():
    a, b = rand(4, 2, 3), rand(3, 5)
    assert_like_numpy(lambda x, y: x @ y, np.matmul, a, b)
    assert_like_numpy(lambda x, y: x @ y, np.matmul, b.T, a[0].T)  # ndarray @ tracer
    assert_like_numpy(lambda x, y: x.dot(y), np.dot, a, b)
    g = funcad.grad(lambda x: fnp.sum(b.T @ x))(a[0].T)
    np.testing.assert_allclose(g, np.broadcast_to(b.sum(1)[:, None], (3, 2)))


@pytest.mark.parametrize("axes,sa,sb", [
    (0, (2, 3), (4,)), (1, (3, 4, 2), (2, 5)), (2, (3, 4, 2), (4, 2, 5)),
    (([1, 0], [0, 2]), (3, 4, 2), (4, 2, 3)), (((2,), (1,)), (3, 4, 2), (4, 2, 5)),
    ((-1, 0), (3, 4, 2), (2, 3))])
def test_tensordot(axes, sa, sb):
    a, b = rand(*sa), rand(*sb)
    assert_like_numpy(lambda x, y: fnp.tensordot(x, y, axes),
                      lambda x, y: np.tensordot(x, y, axes), a, b)
    check_grads(lambda x, y: fnp.tensordot(x, y, axes), [a, b])


@pytest.mark.parametrize("offset,axis1,axis2", [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (2, 1, 2),
                                                (-2, 2, 0), (5, 0, 1), (-4, 1, 2)])
def test_diagonal_and_trace(offset, axis1, axis2):
    a = rand(3, 4, 5)
    assert_like_numpy(lambda x: fnp.diagonal(x, offset, axis1, axis2),
                      lambda x: np.diagonal(x, offset, axis1, axis2), a)
    assert_like_numpy(lambda x: fnp.trace(x, offset, axis1, axis2),
                      lambda x: np.trace(x, offset, axis1, axis2), a)
    check_grads(lambda x: fnp.trace(x, offset, axis1, axis2), [a])
    i = np.arange(12, dtype=np.int32).reshape(3, 4)
    assert_like_numpy(fnp.trace, np.trace, i)  # small ints sum to int64, as np.sum


EINSUM_CASES = [
    ("ij,jk->ik", (2, 3), (3, 4)), ("ij,jk", (2, 3), (3, 4)), ("ij->ji", (2, 3)),
    ("ii->i", (3, 3)), ("ii", (3, 3)), ("iji->j", (3, 2, 3)), ("ij->", (2, 3)),
    ("i,i->", (4,), (4,)), ("i,j->ij", (2,), (3,)), ("bij,bjk->bik", (5, 2, 3), (5, 3, 4)),
    ("...ij,...jk->...ik", (5, 1, 2, 3), (4, 3, 2)), ("...ij,jk", (5, 2, 3), (3, 4)),
    ("ij,jk,kl->il", (2, 3), (3, 4), (4, 5)), ("ab,cd,bc->ad", (2, 3), (4, 5), (3, 4)),
    ("ij,ij->ij", (2, 1), (2, 3)), ("i,j,k", (2,), (3,), (2,)), ("Ba,aC", (2, 3), (3, 4)),
    ("ijk,kji->", (2, 3, 4), (4, 3, 2)), ("bii->bi", (2, 3, 3)), (" ij , jk -> ki ", (2, 3),
                                                                 (3, 4)),
    ("ab,a->", (3, 4), (3,)), ("...,...->...", (3, 1), (4,)),
]


@pytest.mark.parametrize("spec_shapes", EINSUM_CASES, ids=lambda c: c[0])
def test_einsum(spec_shapes):
    spec, *shapes = spec_shapes
    ops = [rand(*s) for s in shapes]
    assert_like_numpy(lambda *xs: fnp.einsum(spec, *xs), lambda *xs: np.einsum(spec, *xs),
                      *ops)
    check_grads(lambda *xs: fnp.einsum(spec, *xs), ops)


def test_einsum_interleaved_and_contraction_order():
    a, b = rand(2, 3), rand(3)
    assert_like_numpy(lambda x, y: fnp.einsum(x, [0, 1], y, [1], [0]),
                      lambda x, y: np.einsum(x, [0, 1], y, [1], [0]), a, b)
    # a chain given out of order is still contracted pairwise, never as an outer product
    x, y, z = rand(30, 40), rand(50, 60), rand(40, 50)
    closed = funcad.make_jaxpr(lambda p, q, r: fnp.einsum("ab,cd,bc->ad", p, q, r))(x, y, z)
    for eqn in closed.eqns:
        assert all(v.aval.size <= 30 * 60 for v in eqn.outvars), str(closed)


@given(st.lists(st.integers(1, 3), min_size=0, max_size=2),
       st.lists(st.integers(1, 3), min_size=0, max_size=2),
       st.integers(1, 3), st.integers(1, 3), st.integers(1, 3))
def test_matmul_broadcasting_property(lead_a, lead_b, m, k, n):
    # make the leading shapes broadcastable: where they differ, one of them is 1
    la, lb = list(lead_a), list(lead_b)
    for i in range(1, min(len(la), len(lb)) + 1):
        if la[-i] != lb[-i]:
            lb[-i] = 1
    a, b = rand(*la, m, k, seed=m), rand(*lb, k, n, seed=n)
    assert_like_numpy(fnp.matmul, np.matmul, a, b)


# --- fnp.linalg values ------------------------------------------------------------------------

def test_solve_numpy2_semantics():
    a = well_conditioned(3, 2)
    cases = [(a, rand(3)), (a[0], rand(3)), (a, rand(3, 4)), (a, rand(5, 1, 3, 4)),
             (a[0], rand(5, 3, 2)), (a.astype(np.float32), rand(3).astype(np.float32)),
             (np.eye(3, dtype=np.int64) * 2, np.arange(3))]
    for x, y in cases:
        assert_like_numpy(fnp.linalg.solve, np.linalg.solve, x, y, rtol=1e-5)


@pytest.mark.parametrize("name", ["inv", "det", "slogdet"])
@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
def test_square_functions(name, lead):
    a = well_conditioned(3, *lead)
    assert_like_numpy(getattr(fnp.linalg, name), getattr(np.linalg, name), a, rtol=1e-9)
    f32 = a.astype(np.float32)
    assert_like_numpy(getattr(fnp.linalg, name), getattr(np.linalg, name), f32, rtol=1e-4,
                      atol=1e-5)


def test_result_tuples_like_numpy():
    a = spd(3)
    sign, logabsdet = fnp.linalg.slogdet(-a)
    assert sign == -1 and np.isclose(logabsdet, np.log(np.linalg.det(a)))
    res = funcad.vmap(fnp.linalg.slogdet)(np.stack([a, -a]))
    np.testing.assert_allclose(res.sign, [1, -1])
    res = funcad.vmap(fnp.linalg.eigh)(a[None])
    assert type(res).__name__ == "EighResult" and res.eigenvalues.shape == (1, 3)
    w, v = res
    np.testing.assert_allclose((v[0] * w[0]) @ v[0].T, a, rtol=1e-10)
    res = funcad.vmap(fnp.linalg.qr)(rand(2, 4, 3))
    assert res.Q.shape == (2, 4, 3) and res.R.shape == (2, 3, 3)


@pytest.mark.parametrize("lead", [(), (2,)])
def test_decompositions_match_numpy(lead):
    s = spd(4, *lead)
    assert_like_numpy(fnp.linalg.cholesky, np.linalg.cholesky, s)
    assert_like_numpy(lambda x: fnp.linalg.cholesky(x, upper=True),
                      lambda x: np.linalg.cholesky(x, upper=True), s)
    assert_like_numpy(fnp.linalg.eigh, np.linalg.eigh, s)
    assert_like_numpy(lambda x: fnp.linalg.eigh(x, "U"), lambda x: np.linalg.eigh(x, "U"), s)
    assert_like_numpy(fnp.linalg.eigvalsh, np.linalg.eigvalsh, s)
    for shape in [(4, 3), (3, 3), (3, 5)]:
        a = rand(*lead, *shape)
        assert_like_numpy(fnp.linalg.qr, np.linalg.qr, a)
        assert_like_numpy(lambda x: fnp.linalg.qr(x, "r"), lambda x: np.linalg.qr(x, "r"), a)


def test_cholesky_and_eigh_read_one_triangle():
    s = spd(3)
    junk = s + np.triu(rand(3, 3), 1)  # only the upper triangle changes
    np.testing.assert_allclose(traced(fnp.linalg.cholesky, junk)[0], np.linalg.cholesky(s))
    np.testing.assert_allclose(traced(fnp.linalg.eigvalsh, junk)[0], np.linalg.eigvalsh(s))


NORM_CASES = [
    ((5,), None, None), ((5,), 1, None), ((5,), np.inf, 0), ((5,), -np.inf, None),
    ((5,), 0, None), ((5,), 3, None), ((5,), 0.5, -1), ((5,), 2, None),
    ((3, 4), None, None), ((3, 4), "fro", None), ((3, 4), 1, None), ((3, 4), -1, None),
    ((3, 4), np.inf, None), ((3, 4), -np.inf, None), ((3, 4), 2, None), ((3, 4), -2, None),
    ((3, 4), "nuc", None), ((2, 3, 4), None, None), ((2, 3, 4), None, 1),
    ((2, 3, 4), 2, (2, 0)), ((2, 3, 4), "nuc", (1, 2)), ((2, 3, 4), 1, (2, 1)),
    ((2, 3, 4), np.inf, (0, 2)), ((2, 3, 4), 3, (1,)),
]


@pytest.mark.parametrize("shape,ord,axis", NORM_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(shape, ord, axis, keepdims):
    x = rand(*shape)
    assert_like_numpy(lambda y: fnp.linalg.norm(y, ord, axis, keepdims),
                      lambda y: np.linalg.norm(y, ord, axis, keepdims), x)
    if not keepdims and ord != 0:
        check_grads(lambda y: fnp.linalg.norm(y, ord, axis), [x], rtol=1e-4)


def test_array_api_spellings():
    x = rand(2, 3, 4)
    assert_like_numpy(fnp.linalg.matrix_transpose, np.linalg.matrix_transpose, x)
    assert_like_numpy(lambda y: fnp.linalg.trace(y, offset=1),
                      lambda y: np.linalg.trace(y, offset=1), x)
    assert_like_numpy(fnp.linalg.diagonal, np.linalg.diagonal, x)
    assert_like_numpy(lambda y: fnp.linalg.matrix_norm(y, ord="nuc"),
                      lambda y: np.linalg.matrix_norm(y, ord="nuc"), x)
    for axis in (None, 1, (0, 2)):
        assert_like_numpy(lambda y: fnp.linalg.vector_norm(y, axis=axis, ord=3),
                          lambda y: np.linalg.vector_norm(y, axis=axis, ord=3), x)
    assert_like_numpy(fnp.linalg.outer, np.linalg.outer, x[0, 0], x[1, 1])


# --- derivatives ------------------------------------------------------------------------------

def _sym(f):
    """A function of a symmetric matrix, fed its symmetric part (so every direction counts)."""
    return lambda a: f((a + fnp.swapaxes(a, -1, -2)) / 2)


GRAD_CASES = {
    "logdet": (lambda a: fnp.linalg.slogdet(a)[1], lambda: [well_conditioned(3)]),
    "det": (fnp.linalg.det, lambda: [well_conditioned(3, 2)]),
    "inv": (fnp.linalg.inv, lambda: [well_conditioned(3)]),
    "solve": (lambda a, b: fnp.sum(fnp.linalg.solve(a, b)),
              lambda: [well_conditioned(3, 2), rand(3)]),
    "solve_matrix": (fnp.linalg.solve, lambda: [well_conditioned(3), rand(2, 3, 2)]),
    "cholesky": (lambda a: fnp.sum(fnp.linalg.cholesky(a)), lambda: [spd(3)]),
    "cholesky_upper": (lambda a: fnp.linalg.cholesky(a, upper=True), lambda: [spd(3, 2)]),
    "cholesky_sym": (_sym(fnp.linalg.cholesky), lambda: [spd(3)]),
    "eigvalsh": (fnp.linalg.eigvalsh, lambda: [spd(4)]),
    "eigh_U": (lambda a: fnp.linalg.eigh(a, "U")[0], lambda: [spd(3)]),
    # eigenvectors up to sign: projectors v v^T and a reconstruction
    "eigh_vectors": (lambda a: (lambda w, v: (v * fnp.exp(w)[None, :]) @ v.T)(
        *fnp.linalg.eigh(a)), lambda: [spd(3)]),
    "eigh_sym": (_sym(lambda a: fnp.linalg.eigh(a)[1] ** 2), lambda: [spd(3)]),
    "qr_tall": (fnp.linalg.qr, lambda: [rand(4, 3)]),
    "qr_square": (fnp.linalg.qr, lambda: [rand(3, 3)]),
    "qr_wide": (fnp.linalg.qr, lambda: [rand(2, 4)]),
    "qr_batched": (lambda a: fnp.linalg.qr(a, "r"), lambda: [rand(2, 3, 2)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grads_match_finite_differences(name):
    f, make = GRAD_CASES[name]
    check_grads(f, make(), order=2, rtol=1e-4, atol=1e-5)


def test_grad_of_logdet_is_inverse_transpose():
    a = well_conditioned(4)
    g = funcad.grad(lambda x: fnp.linalg.slogdet(x)[1])(a)
    np.testing.assert_allclose(g, np.linalg.inv(a).T, rtol=1e-10)
    g = funcad.grad(lambda x: fnp.linalg.det(x))(a)
    np.testing.assert_allclose(g, np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-9)


def test_hessian_of_logdet():
    a = spd(3)
    h = funcad.hessian(lambda x: fnp.linalg.slogdet(x)[1])(a)
    ainv = np.linalg.inv(a)
    # d²/dA² log det A [E, F] = -tr(A⁻¹ E A⁻¹ F)
    np.testing.assert_allclose(h, -np.einsum("li,jk->ijkl", ainv, ainv), rtol=1e-8,
                               atol=1e-12)


def test_triangular_solve_primitive_grads():
    a, b = well_conditioned(3), rand(3, 2)
    for lower in (True, False):
        for tr in (False, True):
            check_grads(lambda x, y: lax.triangular_solve(x, y, lower, tr), [a, b], order=2)
            np.testing.assert_allclose(lax.triangular_solve(a, b, lower, tr),
                                       np.linalg.solve((np.tril if lower else np.triu)(a).T
                                                       if tr else
                                                       (np.tril if lower else np.triu)(a), b))


# --- vmap -------------------------------------------------------------------------------------

VMAP_CASES = [
    (fnp.linalg.solve, (0, 0), lambda: [well_conditioned(3, 4), rand(4, 3, 2)]),
    (fnp.linalg.solve, (None, 0), lambda: [well_conditioned(3), rand(4, 3, 2)]),
    (fnp.linalg.solve, (None, 1), lambda: [well_conditioned(3), rand(3, 4)]),
    (fnp.linalg.solve, (2, None), lambda: [np.moveaxis(well_conditioned(3, 4), 0, 2),
                                           rand(3)]),
    (fnp.linalg.inv, (1,), lambda: [np.moveaxis(well_conditioned(3, 4), 0, 1)]),
    (fnp.linalg.det, (0,), lambda: [well_conditioned(3, 4, 2)]),
    (fnp.linalg.cholesky, (0,), lambda: [spd(3, 4)]),
    (fnp.linalg.eigh, (0,), lambda: [spd(3, 4)]),
    (fnp.linalg.qr, (2,), lambda: [rand(4, 3, 2)]),
    (fnp.matmul, (0, None), lambda: [rand(4, 2, 3), rand(3)]),
    (fnp.matmul, (None, 2), lambda: [rand(2, 3), rand(3, 5, 4)]),
    (fnp.dot, (1, 0), lambda: [rand(2, 4, 3), rand(4, 3, 5)]),
    (lambda a, b: fnp.einsum("ij,jk->k", a, b), (0, 1), lambda: [rand(4, 2, 3),
                                                               rand(3, 4, 5)]),
    (lambda a: fnp.diagonal(a, 1), (2,), lambda: [rand(3, 4, 5)]),
    (funcad.grad(lambda a: fnp.linalg.slogdet(a)[1]), (0,), lambda: [well_conditioned(3, 4)]),
    (funcad.grad(lambda a: fnp.sum(fnp.linalg.cholesky(a))), (0,), lambda: [spd(3, 2)]),
]


@pytest.mark.parametrize("case", range(len(VMAP_CASES)))
def test_vmap_matches_loop(case):
    f, in_axes, make = VMAP_CASES[case]
    args = make()
    size = next(a.shape[ax] for a, ax in zip(args, in_axes) if ax is not None)
    got = funcad.vmap(f, in_axes=in_axes)(*args)
    for i in range(size):
        one = [a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, in_axes)]
        for g, e in zip(tree_leaves(got), tree_leaves(f(*one))):
            np.testing.assert_allclose(np.asarray(g)[i], e, rtol=1e-9, atol=1e-12)


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["inv", "det", "slogdet", "cholesky", "eigh", "solve"])
def test_non_square_is_a_linalg_error(name):
    a = rand(2, 3)
    args = (a, rand(2)) if name == "solve" else (a,)
    f = getattr(fnp.linalg, name)
    for run in (f, lambda *xs: traced(f, *xs)):
        with pytest.raises(np.linalg.LinAlgError, match="square"):
            run(*args)
    with pytest.raises(np.linalg.LinAlgError, match="two-dimensional"):
        traced(f, rand(3), *args[1:])


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"fnp.matmul.*\(2, 3\).*\(4, 5\)"):
        traced(fnp.matmul, rand(2, 3), rand(4, 5))
    with pytest.raises(ValueError, match=r"fnp.matmul: operand 0 is a scalar"):
        traced(fnp.matmul, np.float64(2.0), rand(4, 5))
    with pytest.raises(ValueError, match=r"fnp.dot.*\(2, 3\).*\(2,\)"):
        traced(fnp.dot, rand(2, 3), rand(2))
    with pytest.raises(ValueError, match=r"fnp.linalg.solve.*\(2,\).*\(3, 3\)"):
        traced(fnp.linalg.solve, well_conditioned(3), rand(2))
    with pytest.raises(ValueError, match="fnp.tensordot: shape-mismatch"):
        traced(lambda x, y: fnp.tensordot(x, y, 1), rand(2, 3), rand(2, 3))


@pytest.mark.parametrize("spec,shapes,msg", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "sizes 3 and 4"), ("ij->ik", [(2, 3)], "'k'"),
    ("ij,jk", [(2, 3)], "2 operands"), ("ijk", [(2, 3)], "subscripts 'ijk' name 3"),
    ("i1", [(2, 3)], "invalid subscript"), ("...i->i", [(2, 3)], "\\.\\.\\."),
    ("ij->ii", [(2, 3)], "repeat"),
])
def test_einsum_errors(spec, shapes, msg):
    with pytest.raises(ValueError, match=msg):
        traced(lambda *xs: fnp.einsum(spec, *xs), *[rand(*s) for s in shapes])


def test_primitive_errors_name_the_primitive():
    with pytest.raises(TypeError, match="lax.solve.*one dtype"):
        funcad.make_jaxpr(lax.solve)(np.eye(2), np.ones((2, 1), np.float32))
    with pytest.raises(TypeError, match="lax.cholesky needs floating-point"):
        funcad.make_jaxpr(decompositions.cholesky)(np.eye(2, dtype=np.int64))
    with pytest.raises(TypeError, match=r"lax.inv needs a square.*\(2, 3\)"):
        funcad.make_jaxpr(lax.inv)(rand(2, 3))
    with pytest.raises(TypeError, match="lax.triangular_solve: b must have shape"):
        funcad.make_jaxpr(lax.triangular_solve)(np.eye(2), np.ones(2))


@pytest.mark.parametrize("name", ["logdet", "solve_matrix", "cholesky", "eigh_vectors",
                                  "qr_tall", "qr_wide"])
def test_jacfwd_equals_jacrev(name):
    # jacrev maps the transposed jvp over cotangents: batching of every rule's tangent ops
    f, make = GRAD_CASES[name]
    args = make()
    argnums = tuple(range(len(args)))
    fwd = funcad.jacfwd(f, argnums)(*args)
    rev = funcad.jacrev(f, argnums)(*args)
    for a, b in zip(tree_leaves(fwd), tree_leaves(rev)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
