"""Bugs the differential fuzzer (tests/fuzz.py) found, each as the smallest program showing it.

A bug in an area another part of issue 11 owns is marked ``xfail(strict=True)`` with the part
that fixes it, so that the fix turns the test green visibly (and must remove the mark).
"""
import numpy as np
import pytest

import funcad.numpy as fnp
import fuzz


def _scatter_multiply(idx):
    def f(x, v):
        return fnp.at(x)[np.array(idx)].multiply(v)
    return f


@pytest.mark.parametrize("idx", [[0, 1, 2], [0, 2, 2]], ids=["unique", "duplicates"])
def test_scatter_multiply_derivatives_at_a_zero_update(idx):
    # the derivative rule of .at[].multiply divided by the update (NaN where it is 0); it
    # multiplies the other updates now (issue 11 part 3)
    # found as: v1 = v0 - v0; v4 = fnp.at(v3)[np.array([0, 2, 2])].multiply(0.5 * v1)
    f = _scatter_multiply(idx)
    x, v = np.array([0.5, 1.0, 2.0]), np.zeros(3)
    y = f(x, v)
    rng = np.random.default_rng(0)
    assert fuzz.check_jvp_fd(f, [x, v], y, rng) == "ok"
    fuzz.check_vjp_identity(f, [x, v], rng)


@pytest.mark.parametrize("idx", [[0, 1, 2], [0, 2, 2]], ids=["unique", "duplicates"])
def test_scatter_multiply_derivatives_at_a_nonzero_update(idx):
    # the same program away from 0 agrees: the bug is the point v == 0 only
    f = _scatter_multiply(idx)
    x, v = np.array([0.5, 1.0, 2.0]), np.array([0.7, -1.3, 0.4])
    rng = np.random.default_rng(0)
    assert fuzz.check_jvp_fd(f, [x, v], f(x, v), rng) == "ok"
    fuzz.check_vjp_identity(f, [x, v], rng)
