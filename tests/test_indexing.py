"""Indexing traced values (``x[idx]``) and functional updates (``x.at[idx]``) against NumPy:
values, shapes and NumPy's placement of advanced-index axes; index arrays both concrete and
traced; gradients and vmap."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import funcad
import funcad.numpy as fnp
from funcad.testing import check_grads, check_vmap

from test_numpy import assert_same, traced

X = np.arange(120.0).reshape(4, 5, 6)
I0 = np.array([0, 3, -1])
I1 = np.array([[1], [3]])

EXAMPLES = [
    1, -1, (1, 2), (-1, -2, -3), slice(None), slice(1, 3), slice(None, None, 2),
    slice(None, None, -1), (slice(3, 0, -2), slice(None, None, -3)), (Ellipsis, 1),
    (1, Ellipsis), (None,), (None, 1, None), (Ellipsis, None), (slice(1, 2), None, Ellipsis, 0),
    (slice(5, 10),), (slice(-2, None), slice(-100, 100)), (), Ellipsis,
    I0, (I0, I0), (I0, slice(None), I0), (slice(None), I0), (slice(None), I0, I1),
    (I1, I0), (I1, slice(None), I0), (1, slice(None), I0), (slice(None), 1, I0),
    (I0, 1), (I0, None, I0), (None, I0, I0), (Ellipsis, I0), (I0, Ellipsis, I1),
    (slice(None, None, -1), I0), ([0, 1], [2, 3]), ([[0], [1]], slice(1, 3), 2),
    np.array(2), (np.int32(1), np.int64(-1)), (I0[:, None], I1[0], slice(None)),
    X[:, 0, 0] > 30, X[:, :, 0] > 30, (slice(None), X[0, :, 0] > 10), (X > 50),
    (X[:, 0, 0] > 30, slice(None), I0[:1]), (Ellipsis, np.array([True, False] * 3)),
]


def _ids(examples):
    return [f"ex{i}" for i in range(len(examples))]


def _traced_index(idx):
    """The index with its integer arrays as traced arguments."""
    leaves = []

    def strip(i):
        if isinstance(i, np.ndarray) and i.dtype.kind in "iu" and i.ndim > 0:
            leaves.append(i)
            return None
        return i

    items = idx if isinstance(idx, tuple) else (idx,)
    template = [strip(i) for i in items]

    def rebuild(args):
        it = iter(args)
        out = tuple(next(it) if t is None and isinstance(i, np.ndarray) else t
                    for t, i in zip(template, items))
        return out if isinstance(idx, tuple) else out[0]

    return leaves, rebuild


@pytest.mark.parametrize("idx", EXAMPLES, ids=_ids(EXAMPLES))
def test_getitem_matches_numpy(idx):
    ref = X[idx]
    assert_same(traced(lambda a: a[idx], X), ref, f"x[{idx!r}] concrete index")
    assert_same(fnp.at(X)[idx].get(), ref, f"fnp.at(x)[{idx!r}].get()")
    leaves, rebuild = _traced_index(idx)
    if leaves:
        out = traced(lambda a, *ix: a[rebuild(ix)], X, *leaves)
        assert_same(out, ref, f"x[{idx!r}] traced index arrays")


UPDATES = [1, (1, 2), slice(None, None, 2), (slice(None), I0), (I0, slice(1, 4), I0),
           (Ellipsis, -1), (None, 2), X > 60, (I1, 0, I0[:2]), (slice(3, 0, -1), 1),
           (np.array([1, 1, 2]),)]


@pytest.mark.parametrize("idx", UPDATES, ids=_ids(UPDATES))
def test_at_updates_match_numpy(idx):
    shape = X[idx].shape
    v = np.linspace(-3.0, 3.0, int(np.prod(shape))).reshape(shape) if shape else -7.5
    for mode, ufunc in [("set", None), ("add", np.add), ("multiply", np.multiply),
                        ("min", np.minimum), ("max", np.maximum)]:
        ref = X.copy()
        if ufunc is None:
            ref[idx] = v
        else:
            ufunc.at(ref, idx, v)
        out = traced(lambda a, b: getattr(a.at[idx], mode)(b), X, np.asarray(v))
        assert_same(out, ref, f"x.at[{idx!r}].{mode}")
        assert_same(getattr(fnp.at(X)[idx], mode)(v), ref, f"fnp.at(x)[{idx!r}].{mode}")
    # a scalar update broadcasts
    ref = X.copy()
    ref[idx] = 2.0
    assert_same(traced(lambda a: a.at[idx].set(2.0), X), ref, "scalar update")


def test_repeated_indices():
    x = np.zeros(4)
    i = np.array([1, 1, 3, 1])
    v = np.array([1.0, 2.0, 3.0, 4.0])
    out = traced(lambda a, j, b: a.at[j].add(b), x, i, v)
    ref = x.copy()
    np.add.at(ref, i, v)
    assert_same(out, ref)
    out = traced(lambda a, j, b: a.at[j].set(b), x, i, v)
    assert_same(out, np.array([0.0, 4.0, 0.0, 3.0]))  # the last write wins
    assert_same(traced(lambda a: a.at[i].subtract(1.0), x), np.array([0.0, -3, 0, -1]))
    assert_same(traced(lambda a: a.at[1].divide(4.0), x + 2), np.array([2.0, 0.5, 2, 2]))


def test_input_not_modified_and_dtype_kept():
    x = np.arange(5, dtype=np.int32)
    out = fnp.at(x)[1:3].set(9.7)
    np.testing.assert_array_equal(x, np.arange(5))
    assert_same(out, np.array([0, 9, 9, 3, 4], np.int32))


@st.composite
def basic_and_advanced(draw):
    """An index for an array of shape (4, 5, 6): per axis an int, a slice or an int array
    (arrays of mutually broadcastable shapes), with Nones and one Ellipsis sprinkled in."""
    adv_shape = draw(st.sampled_from([(), (2,), (3, 1), (2, 3)]))
    items = []
    for n in (4, 5, 6):
        kind = draw(st.sampled_from(["int", "slice", "array", "skip"]))
        if kind == "int":
            items.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            items.append(slice(draw(st.none() | st.integers(-n - 1, n + 1)),
                               draw(st.none() | st.integers(-n - 1, n + 1)),
                               draw(st.none() | st.sampled_from([-3, -2, -1, 1, 2, 3]))))
        elif kind == "array":
            shape = tuple(draw(st.sampled_from([1, s])) for s in adv_shape)
            seed = draw(st.integers(0, 999))
            items.append(np.random.default_rng(seed).integers(-n, n, shape))
        else:
            items.append(slice(None))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    if draw(st.booleans()):
        k = draw(st.integers(0, len(items) - 1))
        if items[k] == slice(None):
            items[k] = Ellipsis
    return tuple(items)


@given(basic_and_advanced())
def test_random_indices_match_numpy(idx):
    ref = X[idx]
    assert_same(traced(lambda a: a[idx], X), ref, f"x[{idx!r}]")
    leaves, rebuild = _traced_index(idx)
    if leaves:
        assert_same(traced(lambda a, *ix: a[rebuild(ix)], X, *leaves), ref, f"x[{idx!r}]")
    ref2 = X.copy()
    np.add.at(ref2, idx, 1.0)
    assert_same(traced(lambda a: a.at[idx].add(1.0), X), ref2, f"x.at[{idx!r}].add")


def test_traced_integer_scalars():
    for i in (0, 2, -1, -4):
        assert_same(traced(lambda a, j: a[j], X, np.int64(i)), X[i])
        assert_same(traced(lambda a, j: a[1:, j, ::2], X, np.int32(i)), X[1:, i, ::2])
        assert_same(traced(lambda a, j: a[j, I0], X, np.int64(i)), X[i, I0])
        ref = X.copy()
        ref[:, i] = 0.0
        assert_same(traced(lambda a, j: a.at[:, j].set(0.0), X, np.int64(i)), ref)


def test_take_along_axis():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5))
    for axis in (0, 1, -1):
        idx = np.argsort(x, axis=axis)
        assert_same(traced(lambda a, i: fnp.take_along_axis(a, i, axis), x, idx),
                    np.take_along_axis(x, idx, axis))
    i = rng.integers(0, 5, (3, 1, 2))  # broadcasting the other axes
    assert_same(traced(lambda a, j: fnp.take_along_axis(a, j, 2), x, i),
                np.take_along_axis(x, i, 2))
    flat = np.array([0, 7, 59])
    assert_same(traced(lambda a: fnp.take_along_axis(a, flat, None), x),
                np.take_along_axis(x, flat, None))


def test_indexing_errors():
    with pytest.raises(IndexError, match="too many indices"):
        traced(lambda a: a[0, 0, 0, 0], X)
    with pytest.raises(IndexError, match="out of bounds"):
        traced(lambda a: a[4], X)
    with pytest.raises(IndexError, match="out of bounds"):
        traced(lambda a: a[:, [0, 5]], X)
    with pytest.raises(IndexError, match="single ellipsis"):
        traced(lambda a: a[..., 0, ...], X)
    with pytest.raises(IndexError, match="boolean index did not match"):
        traced(lambda a: a[np.ones(3, bool)], X)
    with pytest.raises(IndexError, match="could not be broadcast"):
        traced(lambda a: a[I0, np.array([0, 1])], X)
    with pytest.raises(IndexError, match="integer"):
        traced(lambda a: a[np.array([0.5])], X)
    with pytest.raises(ValueError, match=r"cannot broadcast the update of shape \(4,\)"):
        traced(lambda a: a.at[0].set(np.ones(4)), X)


def test_traced_boolean_mask_error_says_what_to_do():
    with pytest.raises(IndexError, match=r"traced mask.*fnp.where\(mask, x, 0\)"):
        funcad.make_jaxpr(lambda a: a[a > 0])(X)
    with pytest.raises(funcad.ConcretizationError):
        funcad.make_jaxpr(lambda a: a.at[a > 0].set(0.0))(X)
    # under grad the mask's values are known: it works
    g = funcad.grad(lambda a: fnp.sum(a[a > 60.0] ** 2))(X)
    np.testing.assert_allclose(g, np.where(X > 60, 2 * X, 0))


# ---------------------------------------------------------------------------------------------
# Derivatives and batching

def test_indexing_gradients():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5))
    v = rng.standard_normal((2, 5))
    check_grads(lambda a: a[1:3, ::-2], (x,), order=2)
    check_grads(lambda a: a[[0, 2, 2], 1:], (x,), order=2)
    check_grads(lambda a: a[[[0], [3]], [1, 4]], (x,), order=1)
    check_grads(lambda a: a[None, ..., -1], (x,), order=1)
    check_grads(lambda a: a[a[:, 0] > 0], (x,), order=1)
    check_grads(lambda a, b: fnp.at(a)[[1, 3]].set(b), (x, v), order=2)
    check_grads(lambda a, b: fnp.at(a)[[1, 1]].add(b), (x, v), order=2)
    check_grads(lambda a, b: fnp.at(a)[[0, 3]].multiply(b), (x, v), order=1)
    check_grads(lambda a, b: fnp.at(a)[::2].max(b), (x, v), order=1)
    check_grads(lambda a, b: fnp.at(a)[1:3].min(b), (x, v), order=1)
    check_grads(lambda a: fnp.take_along_axis(a, np.argsort(x, axis=1), 1), (x,), order=1)


def test_traced_index_gradient_wrt_values():
    x = np.arange(6.0)
    g = funcad.grad(lambda a, i: fnp.sum(a[i] ** 2))(x, np.array([1, 1, 4]))
    np.testing.assert_allclose(g, [0, 4, 0, 0, 8, 0])


def test_vmap_indexing():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 5))
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    check_vmap(lambda a: a[1:, ::-1], (x,), 0)
    check_vmap(lambda a: a[:, [0, 2, 4]], (x,), 1)
    check_vmap(lambda a, i: a[i], (x, idx), (0, 0))
    check_vmap(lambda a, i: a[i, 2:], (x.transpose(1, 2, 0), idx), (2, 0))
    check_vmap(lambda a, i: a[:, i[0]], (x, idx), (0, 0))
    check_vmap(lambda a, j: a[j], (x, np.array([0, 3, 1])), (0, 0))
    check_vmap(lambda a, i: fnp.at(a)[i].set(0.0), (x, idx), (0, 0))
    b = rng.standard_normal((4, 2, 3))
    check_vmap(lambda a, i, u: fnp.at(a)[:, i].add(u), (x, idx, b), (0, 0, 2))
