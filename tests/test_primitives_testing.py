"""The checkers of funcad.testing must fail on wrong rules: each test plants one bug in an
unregistered primitive and expects the matching checker to catch it."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import funcad
import funcad.numpy as fnp
from funcad import lax, testing
from funcad.core import Primitive, per_primitive, primitives
from funcad.rule_util import linear_jvp, moveaxis

X = np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]])


def _unary(name, impl, jvp=None, **kw):
    return Primitive(name, impl=impl, abstract_eval=lambda x: x, register=False, jvp=jvp,
                     batch=per_primitive(lambda prim: lambda vals, dims: (prim.bind(vals[0]),
                                                                           dims[0])), **kw)


# a sin whose derivative is wrong by a factor
_bad_sin = _unary("bad_sin", np.sin,
                  lambda p, t: (lax.sin(p[0]), lax.mul(lax.mul(t[0], lax.cos(p[0])), 1.001)))

# a linear primitive (x -> 2x) whose transpose is wrong
_scale2 = _unary("scale2", lambda x: 2 * x, linear=True, jvp=per_primitive(linear_jvp),
                 transpose=lambda ct, x: [lax.mul(ct, 3.0)])

# cos whose own derivative is wrong: a sin built on it has a right first derivative only
_bad_cos = _unary("bad_cos", np.cos, lambda p, t: (lax.cos(p[0]), lax.mul(t[0], lax.sin(p[0]))))
_sin2 = _unary("sin2", np.sin, lambda p, t: (lax.sin(p[0]), lax.mul(t[0], _bad_cos.bind(p[0]))))

# a batch rule that forgets to say where the batch axis went
_rowsum = Primitive("rowsum", impl=lambda x: np.sum(x, axis=-1),
                    abstract_eval=lambda x: x.update(shape=x.shape[:-1]), register=False,
                    batch=lambda vals, dims: (_rowsum.bind(moveaxis(vals[0], dims[0], 0)), 1))

# an abstract_eval that claims the wrong dtype
_bad_dtype = Primitive("bad_dtype", impl=lambda x: x.astype(np.float32),
                       abstract_eval=lambda x: x, register=False)


def test_checkers_pass_on_correct_functions():
    f = lambda d, y: {"s": fnp.sin(d["a"]) * y, "t": fnp.sum(fnp.exp(d["a"]))}  # noqa: E731
    args = ({"a": X}, np.float64(1.5))
    testing.check_grads(f, args, order=2)
    testing.check_staged(f, args)
    testing.check_vmap(f, ({"a": X}, np.array([1.0, 2.0, 3.0])), ({"a": 1}, 0), {"s": 0,
                                                                                  "t": 0})


def test_check_jvp_catches_a_wrong_derivative():
    with pytest.raises(AssertionError, match="JVP: tangent vs central differences"):
        testing.check_grads(_bad_sin.bind, (X,), order=1, modes=("fwd",))
    with pytest.raises(AssertionError, match="VJP.*central differences"):
        testing.check_grads(_bad_sin.bind, (X,), order=1, modes=("rev",))


def test_check_vjp_catches_a_wrong_transpose():
    testing.check_grads(_scale2.bind, (X,), order=1, modes=("fwd",))
    with pytest.raises(AssertionError, match="not the transpose of the jvp"):
        testing.check_grads(_scale2.bind, (X,), order=1, modes=("rev",))


def test_order_two_catches_a_wrong_second_derivative():
    testing.check_grads(_sin2.bind, (X,), order=1)
    with pytest.raises(AssertionError, match="of JVP"):
        testing.check_grads(_sin2.bind, (X,), order=2, modes=("fwd",))
    with pytest.raises(AssertionError, match="of VJP"):
        testing.check_grads(_sin2.bind, (X,), order=2, modes=("rev",))


def test_check_vmap_catches_a_wrong_batch_rule():
    with pytest.raises(AssertionError, match="vmap"):
        testing.check_vmap(_rowsum.bind, (np.ones((4, 2, 3)),), 0)


def test_check_staged_and_abstract_eval_catch_a_wrong_dtype():
    with pytest.raises(AssertionError, match="bad_dtype: impl gives f32"):
        testing.check_abstract_eval(_bad_dtype, [X], {})
    with pytest.raises(AssertionError, match="bad_dtype: impl gives f32"):
        testing.check_staged(_bad_dtype.bind, (X,))


def test_check_zero_derivative_catches_a_nonzero_one():
    testing.check_zero_derivative(fnp.floor, (X,))
    with pytest.raises(AssertionError, match="not zero"):
        testing.check_zero_derivative(fnp.sin, (X,))


# ---------------------------------------------------------------------------------------------
# Inputs and cases

_WITH_DOMAIN = [p for p in sorted(primitives.values(), key=lambda p: p.name)
                if getattr(p, "domain", None)]


@pytest.mark.parametrize("prim", _WITH_DOMAIN, ids=lambda p: p.name)
@settings(max_examples=min(settings.default.max_examples, 5))
@given(data=st.data())
def test_arrays_for_respects_the_domain(prim, data):
    shapes = [(2, 3)] * len(prim.domain)
    for dtype in ("float64", "int64"):
        arrays = data.draw(testing.arrays_for(prim, shapes, dtype))
        for a, (lo, hi) in zip(arrays, prim.domain):
            assert a.shape == (2, 3) and a.dtype == dtype
            assert np.all(a >= np.floor(lo)) and np.all(a <= hi)


def test_rand_array_dtypes_and_ranges():
    rng = np.random.default_rng(0)
    f = testing.rand_array(rng, (50,), "float32", 0.1, 5.0)
    assert f.dtype == np.float32 and f.min() >= 0.1 and f.max() <= 5.0
    i = testing.rand_array(rng, (50,), "int32", -0.5, 2.0)
    assert i.dtype == np.int32 and set(np.unique(i)) <= {0, 1, 2}
    b = testing.rand_array(rng, (50,), "bool")
    assert b.dtype == np.bool_ and 0 < b.sum() < 50
    assert testing.rand_array(rng, (), "float64").shape == ()
    c = testing.rand_array(rng, (50,), "complex64", -1.0, 2.0)
    assert c.dtype == np.complex64 and c.real.min() >= -1 and c.imag.max() <= 2
    assert np.ptp(c.imag) > 1  # both parts are random


def test_primitive_cases_from_declarations():
    plain = Primitive("t_plain", impl=np.sin, abstract_eval=lambda x: x, register=False,
                      domain=((0.5, 1.0),), xfail={"vmap[float32]": "known", "jvp": "gap"})
    cases = testing.primitive_cases([plain])
    assert [c.dtype for c in cases] == ["float64", "float32", "int64", "int32", "bool",
                                        "complex128", "complex64"]
    assert all(c.args(np.random.default_rng(0))[0].shape == testing.DEFAULT_SHAPE
               for c in cases)
    f32 = next(c for c in cases if c.dtype == "float32")
    assert f32.xfail_reason("vmap") == "known" and f32.xfail_reason("jvp") == "gap"
    assert cases[0].xfail_reason("vmap") is None and cases[0].differentiable

    # keyword params it cannot guess: a visible UnsupportedCase with a reason
    needs = Primitive("t_needs", impl=lambda x, *, k: x, abstract_eval=lambda x, *, k: x,
                      register=False)
    (case,) = testing.primitive_cases([needs])
    assert isinstance(case, testing.UnsupportedCase) and "test_params" in case.reason

    # test_args that take (rng, dtype, params), with float-only dtypes kept by abstract_eval
    def args(rng, dtype, params):
        return [testing.rand_array(rng, (params["n"],), dtype)]

    def abstract(x, *, n):
        if x.dtype.kind != "f":
            raise TypeError("floats only")
        return x

    shaped = Primitive("t_shaped", impl=lambda x, *, n: x, abstract_eval=abstract,
                       register=False, test_args=args, test_params=({"n": 2}, {"n": 5}))
    cases = testing.primitive_cases([shaped])
    assert [(c.params["n"], c.dtype) for c in cases] == [
        (2, "float64"), (2, "float32"), (5, "float64"), (5, "float32")]
    assert cases[2].args(np.random.default_rng(0))[0].shape == (5,)


def test_every_registered_primitive_has_a_case():
    names = {c.prim.name for c in testing.primitive_cases()}
    assert names == set(primitives)
    assert funcad.core.primitives is primitives
