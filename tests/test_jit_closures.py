"""Arrays a jitted function closes over are captured by value when it is traced (JAX's rule,
issue 11 part 5): a change made to the caller's array afterwards is not seen, whatever the
array's layout. A new trace (a new signature) captures the array's value at that time."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp

LAYOUTS = {
    "contiguous": lambda: np.arange(1.0, 7.0),
    "strided view": lambda: np.arange(1.0, 13.0)[::2],
    "transposed": lambda: np.arange(1.0, 7.0).reshape(2, 3).T.copy().T,
    "fortran": lambda: np.asfortranarray(np.arange(1.0, 7.0).reshape(2, 3)),
    "0-d": lambda: np.array(3.0),
    "read-only": lambda: _read_only(np.arange(1.0, 7.0)),
    "int": lambda: np.arange(6),
}


def _read_only(a):
    a.flags.writeable = False
    return a


def _mutate(a):
    if not a.flags.writeable:
        a.flags.writeable = True
    a[...] = a * 10 + 1


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("transform", ["call", "grad", "vmap"])
def test_closed_over_array_is_captured_at_trace_time(layout, transform):
    c = LAYOUTS[layout]()
    captured = np.array(c)   # what the first trace sees
    x = np.ones(c.shape)

    @funcad.jit
    def f(x):
        return fnp.sum(fnp.sin(x) * c)

    def run():
        if transform == "call":
            return f(x)
        if transform == "grad":
            return funcad.grad(f)(x)
        return funcad.vmap(f)(np.stack([x, 2 * x]))

    def expect(cv):
        if transform == "call":
            return np.sum(np.sin(x) * cv)
        if transform == "grad":
            return np.cos(x) * cv
        return np.array([np.sum(np.sin(x) * cv), np.sum(np.sin(2 * x) * cv)])

    np.testing.assert_allclose(run(), expect(captured))
    _mutate(c)
    assert not np.array_equal(c, captured)
    np.testing.assert_allclose(run(), expect(captured))   # the traced value, not the new one


def test_a_new_signature_captures_the_value_at_its_own_trace():
    c = np.array([1.0, 2.0, 3.0])
    f = funcad.jit(lambda x: x * c)
    np.testing.assert_allclose(f(np.ones(3)), [1.0, 2.0, 3.0])
    c[:] = 5.0
    np.testing.assert_allclose(f(np.ones(3)), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(f(np.ones((2, 3))), np.full((2, 3), 5.0))   # retraced now


def test_the_caller_array_is_never_written():
    c = np.arange(4.0)[::2]
    before = c.copy()
    f = funcad.jit(lambda x: x * c + 1.0)
    f(np.ones(2))
    np.testing.assert_array_equal(c, before)
