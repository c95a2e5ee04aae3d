"""funcad.numpy shape and creation functions against NumPy, eagerly and traced; vmap against
a loop for a representative subset."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import funcad
import funcad.numpy as fnp
from funcad.testing import check_vmap

from test_numpy import DTYPES, assert_same, sample, traced

A = np.arange(24.0).reshape(2, 3, 4)
B = np.arange(6, dtype=np.int32).reshape(2, 3)
V = np.arange(5.0)

# (name, array arguments, static keyword arguments)
CASES = [
    ("reshape", (A,), dict(shape=(4, -1))), ("reshape", (A,), dict(shape=24)),
    ("ravel", (A,), {}), ("transpose", (A,), {}), ("transpose", (A,), dict(axes=(1, 0, 2))),
    ("transpose", (A,), dict(axes=(-1, 0, 1))), ("swapaxes", (A,), dict(axis1=0, axis2=-1)),
    ("moveaxis", (A,), dict(source=0, destination=-1)),
    ("moveaxis", (A,), dict(source=(0, 1), destination=(2, 0))),
    ("expand_dims", (A,), dict(axis=1)), ("expand_dims", (A,), dict(axis=(0, -1))),
    ("squeeze", (A[:1, :, :1],), {}), ("squeeze", (A[:1, :, :1],), dict(axis=-1)),
    ("broadcast_to", (V,), dict(shape=(3, 5))), ("broadcast_to", (B[:, :1],), dict(shape=(2, 4))),
    ("flip", (A,), {}), ("flip", (A,), dict(axis=1)), ("flip", (A,), dict(axis=(0, 2))),
    ("fliplr", (B,), {}), ("flipud", (B,), {}),
    ("roll", (A,), dict(shift=2)), ("roll", (A,), dict(shift=-1, axis=1)),
    ("roll", (A,), dict(shift=(1, 5), axis=(0, 2))), ("roll", (A,), dict(shift=7, axis=-1)),
    ("roll", (A,), dict(shift=(1, 2), axis=(1, 1))),
    ("tile", (B,), dict(reps=2)), ("tile", (B,), dict(reps=(2, 1, 3))),
    ("tile", (V,), dict(reps=(2, 2))), ("repeat", (B,), dict(repeats=2)),
    ("repeat", (B,), dict(repeats=3, axis=1)), ("repeat", (B,), dict(repeats=[1, 0, 2], axis=1)),
    ("repeat", (V,), dict(repeats=[2, 0, 1, 3, 1])),
    ("atleast_1d", (np.float64(3.0),), {}), ("atleast_2d", (V,), {}),
    ("atleast_3d", (V,), {}), ("atleast_3d", (B,), {}), ("atleast_3d", (A,), {}),
    ("take", (A,), dict(indices=np.array([[0, 2], [1, 1]]), axis=1)),
    ("take", (A,), dict(indices=np.array([3, 0, 23]))),
    ("take", (A,), dict(indices=np.array([-1, 5]), axis=2, mode="clip")),
    ("take", (A,), dict(indices=np.array([-1, 5]), axis=2, mode="wrap")),
]


def _run(name, args, kw):
    return getattr(fnp, name)(*args, **kw)


@pytest.mark.parametrize("name,args,kw", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_shape_functions_match_numpy(name, args, kw):
    ref = np.asarray(getattr(np, name)(*args, **kw))
    assert_same(_run(name, args, kw), ref, f"fnp.{name} eager")
    assert_same(traced(lambda *a: _run(name, a, kw), *args), ref, f"fnp.{name} traced")


def test_joining():
    x, y = A[0], A[1] * 2
    v = V.astype(np.float32)
    for name, arrays, kw in [
            ("concatenate", (x, y), dict(axis=1)), ("concatenate", (x, y), dict(axis=None)),
            ("concatenate", (x[:, :3], B), {}), ("stack", (x, y), dict(axis=-1)),
            ("stack", (x[:2, :3], B), {}), ("vstack", (x, y, x[0]), {}), ("vstack", (v, v), {}),
            ("hstack", (x, y), {}), ("hstack", (v, V), {}), ("dstack", (x, y), {}),
            ("column_stack", (v, v), {}), ("column_stack", (x, v[:3]), {})]:
        ref = getattr(np, name)(list(arrays), **kw)
        assert_same(getattr(fnp, name)(list(arrays), **kw), ref, f"{name} eager")
        assert_same(traced(lambda *a: getattr(fnp, name)(list(a), **kw), *arrays), ref,
                    f"{name} traced")
    # a traced array stands for the list along its first axis
    assert_same(traced(lambda a: fnp.concatenate(a, axis=0), A), np.concatenate(A, axis=0))
    assert_same(traced(lambda a: fnp.stack(a, axis=1), A), np.stack(A, axis=1))


def test_splitting():
    for name, arg, kw in [("split", 2, dict(axis=0)), ("split", 4, dict(axis=-1)),
                          ("split", [1, 3], dict(axis=2)), ("split", [-2, 10], dict(axis=1)),
                          ("array_split", 3, dict(axis=2)), ("array_split", [2, 1], {}),
                          ("hsplit", 3, {}), ("vsplit", [1], {})]:
        refs = getattr(np, name)(A, arg, **kw)
        outs = traced(lambda a: tuple(getattr(fnp, name)(a, arg, **kw)), A)
        outs = outs if isinstance(outs, tuple) else (outs,)
        assert len(outs) == len(refs), name
        for o, r in zip(outs, refs):
            assert_same(o, r, f"{name}({arg})")
    with pytest.raises(ValueError, match="equal division"):
        funcad.make_jaxpr(lambda a: fnp.split(a, 3, axis=2))(A)


def test_broadcast_arrays_and_shapes():
    refs = np.broadcast_arrays(V, B[:, :1, None])
    outs = traced(lambda a, b: fnp.broadcast_arrays(a, b), V, B[:, :1, None])
    for o, r in zip(outs, refs):
        assert_same(o, r)
    assert fnp.broadcast_shapes((2, 1), (3,)) == (2, 3)
    assert fnp.shape(A) == (2, 3, 4) and fnp.ndim(A) == 3 and fnp.size(A) == 24


def test_traced_roll_shift():
    for s in (0, 3, -2, 11):
        assert_same(traced(lambda a, k: fnp.roll(a, k, axis=2), A, np.int64(s)),
                    np.roll(A, s, axis=2), f"roll by traced {s}")
        assert_same(traced(lambda a, k: fnp.roll(a, k), A, np.int64(s)), np.roll(A, s))


def test_repeat_needs_concrete_counts():
    with pytest.raises(funcad.ConcretizationError, match="fnp.repeat"):
        funcad.make_jaxpr(lambda a, r: fnp.repeat(a, r))(V, np.array([1, 2, 0, 1, 1]))


def test_shape_errors():
    with pytest.raises(ValueError, match="cannot reshape.*size 24.*\\(5, -1\\)|\\(5, -1\\)"):
        funcad.make_jaxpr(lambda a: fnp.reshape(a, (5, -1)))(A)
    with pytest.raises(ValueError, match=r"fnp.broadcast_to.*\(2, 3, 4\).*\(3, 4\)"):
        funcad.make_jaxpr(lambda a: fnp.broadcast_to(a, (3, 4)))(A)
    with pytest.raises(ValueError, match=r"fnp.concatenate.*\(3, 4\).*\(2, 3\)"):
        funcad.make_jaxpr(lambda a, b: fnp.concatenate([a, b]))(A[0], B)
    with pytest.raises(ValueError, match="fnp.stack.*same shape"):
        funcad.make_jaxpr(lambda a, b: fnp.stack([a, b]))(A[0], B)
    with pytest.raises(ValueError, match="fnp.squeeze"):
        funcad.make_jaxpr(lambda a: fnp.squeeze(a, 0))(A)


@given(st.data())
def test_random_transposes_and_flips(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True).map(tuple))
    shift = data.draw(st.integers(-5, 5))
    x = sample(np.random.default_rng(0), data.draw(st.sampled_from(DTYPES)), shape)
    assert_same(traced(lambda a: fnp.transpose(a, perm), x), np.transpose(x, perm))
    assert_same(traced(lambda a: fnp.flip(a, axes), x), np.flip(x, axes))
    assert_same(traced(lambda a: fnp.roll(a, shift, axis=perm[0]), x),
                np.roll(x, shift, axis=perm[0]))


def test_vmap_matches_loop():
    x = np.arange(60.0).reshape(3, 4, 5)
    check_vmap(lambda a: fnp.reshape(a, (-1, 2)), (x,), 0)
    check_vmap(lambda a: fnp.transpose(a), (x,), 1)
    check_vmap(lambda a, b: fnp.concatenate([a, b], axis=0), (x, x[..., 0]), (2, None))
    check_vmap(lambda a: fnp.stack([a, 2 * a], axis=-1), (x,), 1)
    check_vmap(lambda a: fnp.tile(a, (2, 1)), (x,), 0)
    check_vmap(lambda a: fnp.repeat(a, [1, 2, 0], axis=0), (x,), 2)
    check_vmap(lambda a: fnp.roll(a, 2, axis=0), (x,), 1)
    check_vmap(lambda a, k: fnp.roll(a, k, axis=0), (x, np.array([0, 1, -3])), (0, 0))
    check_vmap(lambda a: fnp.flip(a, 1), (x,), 0)
    check_vmap(lambda a: fnp.split(a, [1, 3], axis=1)[1], (x,), 0)


# ---------------------------------------------------------------------------------------------
# Creation

def test_creation_matches_numpy():
    for name, args, kw in [("zeros", ((2, 3),), {}), ("ones", (4,), dict(dtype=np.int32)),
                           ("full", ((2,), 1.5), {}), ("full", ((2, 2), 3), {}),
                           ("eye", (3,), dict(k=1)), ("identity", (2,), dict(dtype=bool)),
                           ("arange", (5,), {}), ("arange", (1, 2, 0.25), {}),
                           ("linspace", (0, 1, 5), {}), ("tri", (3, 4), {})]:
        assert_same(getattr(fnp, name)(*args, **kw), getattr(np, name)(*args, **kw), name)
    for name in ("zeros_like", "ones_like", "empty_like"):
        out = traced(lambda a: getattr(fnp, name)(a), B)
        assert out.shape == B.shape and out.dtype == B.dtype
    assert_same(traced(lambda a: fnp.full_like(a, 2.5), V), np.full_like(V, 2.5))
    assert_same(traced(lambda a: fnp.full_like(B, a), np.float64(2.0)), np.full_like(B, 2))
    assert_same(traced(lambda a: fnp.full((2, 2), a), np.float32(1.5)),
                np.full((2, 2), 1.5, np.float32))


def test_array_of_traced_values():
    x = np.float64(1.5)
    assert_same(traced(lambda a: fnp.array([a, 2.0, a * 2]), x), np.array([1.5, 2.0, 3.0]))
    assert_same(traced(lambda a: fnp.array([[a, a], [a, 1]]), x), np.array([[1.5, 1.5],
                                                                           [1.5, 1.0]]))
    assert_same(traced(lambda a: fnp.asarray(a, dtype=np.int32), V), V.astype(np.int32))
    assert_same(traced(lambda a: fnp.array(a, ndmin=3), V), np.array(V, ndmin=3))


def test_linspace_traced_endpoints():
    for start, stop, kw in [(0.0, 1.0, {}), (-2.0, 3.0, dict(num=7, endpoint=False)),
                            (1.0, 1.0, dict(num=1)),
                            (np.array([0.0, 1.0]), np.array([1.0, 3.0]), dict(num=4, axis=1)),
                            (np.float32(0), np.float32(2), dict(num=5))]:
        ref = np.linspace(start, stop, **kw)
        assert_same(traced(lambda a, b: fnp.linspace(a, b, **kw), np.asarray(start),
                           np.asarray(stop)), ref, f"linspace({start}, {stop}, {kw})")


def test_tril_triu_meshgrid():
    m = np.arange(12.0).reshape(3, 4)
    for k in (-1, 0, 2):
        assert_same(traced(lambda a: fnp.tril(a, k), m), np.tril(m, k))
        assert_same(traced(lambda a: fnp.triu(a, k), m), np.triu(m, k))
    for indexing in ("xy", "ij"):
        refs = np.meshgrid(V, V[:3], indexing=indexing)
        outs = traced(lambda a, b: fnp.meshgrid(a, b, indexing=indexing), V, V[:3])
        for o, r in zip(outs, refs):
            assert_same(o, r, f"meshgrid {indexing}")


def test_arange_needs_concrete_bounds():
    with pytest.raises(funcad.ConcretizationError, match="fnp.arange"):
        funcad.make_jaxpr(lambda n: fnp.arange(n))(np.int64(3))
