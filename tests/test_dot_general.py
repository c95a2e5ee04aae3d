"""dot_general beyond the generic primitive suite: every branch of its impl (the np.dot fast
path for vectors and matrices in each transposed form, the general transpose/reshape path,
vector-vector results) across dtypes, and its jvp, transpose and batching rules on the same
table, including the operand orders reverse mode picks so that x @ w needs no transpose."""
import numpy as np
import pytest

import funcad
from funcad import lax, testing

_DN = (((1,), (0,)), ((), ()))

# (x shape, y shape, dimension_numbers)
CASES = [
    ((3, 4), (4, 5), _DN),                                       # x @ y
    ((4, 3), (4, 5), (((0,), (0,)), ((), ()))),                  # x.T @ y
    ((3, 4), (5, 4), (((1,), (1,)), ((), ()))),                  # x @ y.T
    ((4, 3), (5, 4), (((0,), (1,)), ((), ()))),                  # x.T @ y.T
    ((3, 4), (4,), (((1,), (0,)), ((), ()))),                    # matrix-vector
    ((4, 3), (4,), (((0,), (0,)), ((), ()))),                    # x.T @ v
    ((4,), (4, 5), (((0,), (0,)), ((), ()))),                    # vector-matrix
    ((4,), (5, 4), (((0,), (1,)), ((), ()))),                    # v @ y.T
    ((4,), (4,), (((0,), (0,)), ((), ()))),                      # inner product: 0-d
    ((3,), (5,), (((), ()), ((), ()))),                          # outer product
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),        # batched matmul
    ((3, 4, 2), (4, 5), (((1,), (0,)), ((), ()))),               # contraction in the middle
    ((2, 3, 4), (4, 2, 5), (((2, 0), (0, 1)), ((), ()))),        # two contractions, reordered
    ((3, 2, 4), (4, 5, 2), (((2,), (0,)), ((1,), (2,)))),        # batch axis in the middle
]
_IDS = [f"{xs}x{ys}-{dn[0]}-{dn[1]}" for xs, ys, dn in CASES]


def _reference(x, y, dimension_numbers):
    """dot_general spelled as np.einsum: batch axes, then x's free axes, then y's."""
    (lc, rc), (lb, rb) = dimension_numbers
    letters = iter("abcdefghijklmnop")
    xl = [next(letters) for _ in range(x.ndim)]
    yl = [next(letters) for _ in range(y.ndim)]
    for a, b in list(zip(lc, rc)) + list(zip(lb, rb)):
        yl[b] = xl[a]
    out = ([xl[a] for a in lb] + [xl[i] for i in range(x.ndim) if i not in lc + lb]
           + [yl[i] for i in range(y.ndim) if i not in rc + rb])
    return np.einsum(f"{''.join(xl)},{''.join(yl)}->{''.join(out)}", x, y)


def _operands(xs, ys, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return testing.rand_array(rng, xs, dtype), testing.rand_array(rng, ys, dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int32"])
@pytest.mark.parametrize("xs,ys,dn", CASES, ids=_IDS)
def test_eager_matches_einsum_and_keeps_dtype(xs, ys, dn, dtype):
    x, y = _operands(xs, ys, dtype)
    out = lax.dot_general(x, y, dn)
    ref = _reference(x, y, dn)
    assert type(out) is np.ndarray  # also for the 0-d inner product, not a NumPy scalar
    assert out.dtype == np.dtype(dtype) and out.shape == ref.shape
    if np.dtype(dtype).kind == "i":
        np.testing.assert_array_equal(out, ref)
    else:
        tol = 1e-5 if dtype == "float32" else 1e-13
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("xs,ys,dn", CASES, ids=_IDS)
def test_staged_agrees_with_abstract_eval(xs, ys, dn):
    x, y = _operands(xs, ys, "float64")
    testing.check_staged(lambda a, b: lax.dot_general(a, b, dn), (x, y))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("xs,ys,dn", CASES, ids=_IDS)
def test_grads_to_second_order(xs, ys, dn, dtype):
    x, y = _operands(xs, ys, dtype, seed=1)
    testing.check_grads(lambda a, b: lax.dot_general(a, b, dn), (x, y), order=2)


@pytest.mark.parametrize("xs,ys,dn", CASES, ids=_IDS)
def test_grad_with_one_constant_operand(xs, ys, dn):
    # one tangent is a symbolic Zero in the jvp; the transpose sees one linear operand
    x, y = _operands(xs, ys, "float64", seed=2)
    testing.check_grads(lambda b: lax.dot_general(x, b, dn), (y,), order=1)
    testing.check_grads(lambda a: lax.dot_general(a, y, dn), (x,), order=1)


def _insert(shape, axis, size=2):
    return shape[:axis] + (size,) + shape[axis:]


@pytest.mark.parametrize("xs,ys,dn", CASES, ids=_IDS)
@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (-1, None), (0, -1)])
def test_vmap_matches_loop(xs, ys, dn, in_axes):
    ax, ay = in_axes
    bx = xs if ax is None else _insert(xs, ax % (len(xs) + 1))
    by = ys if ay is None else _insert(ys, ay % (len(ys) + 1))
    x, y = _operands(bx, by, "float64", seed=3)
    testing.check_vmap(lambda a, b: lax.dot_general(a, b, dn), (x, y), in_axes)


def _backward_prims(f, *args):
    """Names of the primitives of f's backward pass with respect to all of ``args``."""
    y = f(*args)

    def pullback(*a):
        return funcad.vjp(f, *a[:-1])[1](a[-1])
    jaxpr = funcad.make_jaxpr(pullback)(*args, np.ones_like(y))
    return [e.prim.name for e in jaxpr.jaxpr.eqns]


def test_reverse_mode_of_matrix_products_needs_no_transpose():
    # x @ w: ct @ w.T and x.T @ ct are each one dot_general in the right operand order
    x, w = _operands((3, 4), (4, 5), "float64")
    names = _backward_prims(lambda a, b: lax.dot_general(a, b, _DN), x, w)
    assert names.count("dot_general") == 2 and "transpose" not in names, names
    # a contraction in the middle of x does need its cotangent's axes put back in order
    x3, w3 = _operands((3, 4, 2), (4, 5), "float64")
    dn = (((1,), (0,)), ((), ()))
    names = _backward_prims(lambda a, b: lax.dot_general(a, b, dn), x3, w3)
    assert "transpose" in names, names


def test_preferred_element_type_sets_the_accumulation_and_result_dtype():
    dn = (((1,), (0,)), ((), ()))
    x = np.arange(6, dtype=np.int32).reshape(2, 3)
    y = np.full((3, 4), 0.5, np.float32)
    got = lax.dot_general(x, y, dn, preferred_element_type=np.float64)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, x.astype(np.float64) @ y.astype(np.float64))
    # the gradient comes back in the operand's own dtype
    g = funcad.grad(lambda a: lax.dot_general(a, y, dn, preferred_element_type=np.float64)
                    .sum())(y.T.copy())
    assert g.dtype == np.float32
