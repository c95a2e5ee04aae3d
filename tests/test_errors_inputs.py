"""Inputs funcad cannot take get clear errors (issue 11, part 9), each checked for its
message: bad ``argnums``, a transformation of something that is not a function, a
``static_argnames`` entry naming no parameter, strings in a jitted function's output or in a
loop carry, Python ints beyond int64, masked arrays, float tangents for integer primals; and
functions whose names are not ASCII identifiers simply work under ``jit``."""
import functools

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax

ARGNUM_TRANSFORMS = {"grad": funcad.grad, "value_and_grad": funcad.value_and_grad,
                     "jacfwd": funcad.jacfwd, "jacrev": funcad.jacrev,
                     "hessian": funcad.hessian}


def two_args(x, y):
    return fnp.sum(x * y)


# ---------------------------------------------------------------------------------------------
# argnums

@pytest.mark.parametrize("who", sorted(ARGNUM_TRANSFORMS))
@pytest.mark.parametrize("argnums", [1.0, "0", (0, 1.0), (), True])
def test_argnums_of_the_wrong_type_fail_when_the_transformation_is_made(who, argnums):
    with pytest.raises(TypeError, match=rf"{who}\(two_args\): argnums must be an int or a "
                                        rf"non-empty tuple of ints.*argnums=1"):
        ARGNUM_TRANSFORMS[who](two_args, argnums=argnums)


@pytest.mark.parametrize("who", sorted(ARGNUM_TRANSFORMS))
def test_repeated_argnums_are_rejected(who):
    with pytest.raises(ValueError, match=rf"{who}\(two_args\): argnums \(0, 0\) repeats 0.*"
                                         r"Remove the duplicate"):
        ARGNUM_TRANSFORMS[who](two_args, argnums=(0, 0))


def test_argnums_naming_one_argument_twice_by_sign_are_rejected_at_the_call():
    g = funcad.grad(two_args, argnums=(1, -1))
    with pytest.raises(ValueError, match=r"grad\(two_args\): argnums \(1, -1\) names the same "
                                         r"argument twice.*2 positional"):
        g(np.ones(2), np.ones(2))


def test_distinct_argnums_still_give_each_gradient():
    x, y = np.arange(1.0, 4.0), np.arange(4.0, 7.0)
    gx, gy = funcad.grad(two_args, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(gx, y)
    np.testing.assert_allclose(gy, x)


# ---------------------------------------------------------------------------------------------
# not a function

@pytest.mark.parametrize("who", ["grad", "value_and_grad", "jacfwd", "jacrev", "hessian",
                                 "vmap", "make_jaxpr", "linearize", "vjp"])
def test_transforming_something_that_is_not_callable(who):
    with pytest.raises(TypeError, match=rf"{who}: expected a function to transform, got 42 "
                                        rf"of type int.*{who}\(f\)\(x\), not {who}\(f\(x\)\)"):
        t = getattr(funcad, who)
        t(42, 1.0) if who in ("linearize", "vjp") else t(42)


def test_jvp_of_something_that_is_not_callable():
    with pytest.raises(TypeError, match=r"jvp: expected a function to transform, got 42"):
        funcad.jvp(42, (1.0,), (1.0,))


# ---------------------------------------------------------------------------------------------
# jit's static_argnames

def scaled(x, factor=2.0, *, mode="sum"):
    return x * factor


def test_static_argnames_entry_that_names_no_parameter():
    with pytest.raises(ValueError, match=r"jit\(scaled\): static_argnames entry 'factr' names "
                                         r"no parameter of scaled.*\['x', 'factor', 'mode'\].*"
                                         r"Fix the spelling"):
        funcad.jit(scaled, static_argnames=("factr",))


def test_static_argnames_that_name_parameters_work():
    f = funcad.jit(scaled, static_argnames=("factor", "mode"))
    np.testing.assert_allclose(f(np.ones(3), factor=3.0, mode="max"), 3.0 * np.ones(3))


def test_static_argnames_are_free_when_the_function_takes_kwargs():
    def f(x, **options):
        return x * options.get("k", 1.0)
    np.testing.assert_allclose(funcad.jit(f, static_argnames="k")(np.ones(2), k=4.0), 4.0)


def test_static_argnames_must_be_strings():
    with pytest.raises(TypeError, match=r"jit\(scaled\): static_argnames must be strings, "
                                        r"got 1"):
        funcad.jit(scaled, static_argnames=(1,))


# ---------------------------------------------------------------------------------------------
# strings in outputs and carries

def labelled(x):
    return {"value": (x, "metres")}


def greeting(x):
    return "hello"


def test_jit_of_a_function_returning_a_string():
    with pytest.raises(TypeError, match=r"jit\(greeting\): in the output of greeting, out is "
                                        r"a str \('hello'\), not an array.*outside jit"):
        funcad.jit(greeting)(1.0)


def test_jit_output_with_a_string_inside_names_its_path():
    with pytest.raises(TypeError, match=r"jit\(labelled\): in the output of labelled, "
                                        r"out\['value'\]\[1\] is a str \('metres'\)"):
        funcad.jit(labelled)(np.ones(2))


@pytest.mark.parametrize("run", [lambda f: f, funcad.jit], ids=["eager", "jit"])
def test_strings_in_loop_carries_name_the_loop_and_the_path(run):
    body = lambda c: (c[0] + 1, c[1])  # noqa: E731
    with pytest.raises(TypeError, match=r"lax\.while_loop: init_val\[1\] is a str \('s'\)"):
        run(lambda x: lax.while_loop(lambda c: c[0] < 3, body, (x, "s")))(0.0)
    with pytest.raises(TypeError, match=r"lax\.fori_loop: init_val\['tag'\] is a str"):
        run(lambda x: lax.fori_loop(0, 3, lambda i, c: c, {"a": x, "tag": "s"}))(0.0)
    with pytest.raises(TypeError, match=r"lax\.scan: init\[1\] is a str"):
        run(lambda x: lax.scan(lambda c, y: (c, y), (x, "s"), np.ones(3)))(0.0)


def test_a_loop_body_returning_a_string_is_named():
    def step(c):
        return (c[0] + 1, "done")
    with pytest.raises(TypeError, match=r"lax\.while_loop: in the result of step, out\[1\] "
                                        r"is a str \('done'\)"):
        funcad.jit(lambda x: lax.while_loop(lambda c: c[0] < 3, step, (x, 1.0)))(0.0)


# ---------------------------------------------------------------------------------------------
# Python ints beyond int64

OVERFLOW = r"Python int {} does not fit in int64.*Use a float instead"


@pytest.mark.parametrize("stage", ["jit", "make_jaxpr"])
def test_python_int_argument_beyond_int64(stage):
    with pytest.raises(OverflowError, match=OVERFLOW.format(2 ** 70)):
        getattr(funcad, stage)(lambda x: x + 1)(2 ** 70)


@pytest.mark.parametrize("stage", ["jit", "make_jaxpr"])
def test_python_int_constant_beyond_int64(stage):
    with pytest.raises(OverflowError, match=OVERFLOW.format(2 ** 63)):
        getattr(funcad, stage)(lambda x: x + 2 ** 63)(np.int64(1))
    with pytest.raises(OverflowError, match=OVERFLOW.format(-2 ** 70)):
        getattr(funcad, stage)(lambda x: x * -2 ** 70)(3)


def test_python_ints_at_the_edges_of_int64_still_work():
    hi, lo = 2 ** 63 - 1, -2 ** 63
    assert int(funcad.jit(lambda x: x - 1)(hi)) == hi - 1
    assert int(funcad.jit(lambda x: x + 0)(np.int64(lo))) == lo
    # a big int with a float operand is a float, as in NumPy
    assert float(funcad.jit(lambda x: x + 2 ** 70)(1.0)) == 1.0 + 2.0 ** 70


# ---------------------------------------------------------------------------------------------
# masked arrays

MASKED = r"masked array.*would silently drop the mask.*filled"


@pytest.mark.parametrize("transform", [
    lambda f, x: funcad.grad(lambda v: fnp.sum(f(v)))(x),
    lambda f, x: funcad.jit(f)(x),
    lambda f, x: funcad.vmap(f)(x),
    lambda f, x: funcad.jvp(f, (x,), (np.ones(3),)),
    lambda f, x: funcad.make_jaxpr(f)(x),
], ids=["grad", "jit", "vmap", "jvp", "make_jaxpr"])
def test_masked_arrays_are_refused(transform):
    x = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match=MASKED):
        transform(lambda v: v * v, x)


# ---------------------------------------------------------------------------------------------
# jvp tangents for integer primals

@pytest.mark.parametrize("who", ["jvp", "linearize"])
def test_float_tangent_for_an_int_primal(who):
    f = lambda x, n: x * n  # noqa: E731
    with pytest.raises(TypeError, match=rf"{who}: primal input 1 has non-float dtype int64 but "
                                        rf"its tangent has dtype float64.*zeros_like"):
        if who == "jvp":
            funcad.jvp(f, (2.0, 3), (1.0, 1.0))
        else:
            funcad.linearize(f, 2.0, 3)[1](1.0, 1.0)


# ---------------------------------------------------------------------------------------------
# names that are not ASCII identifiers

def _named(name):
    def f(x):
        return fnp.sin(x) * 2.0 + 1.0
    f.__name__ = f.__qualname__ = name
    return f


@pytest.mark.parametrize("name", ["f²", "ﬁ", "<lambda>", "a-b", "class", "ρ_1", "", "1x"])
def test_jit_of_functions_with_any_name(name):
    x = np.linspace(0.0, 1.0, 5)
    f = funcad.jit(_named(name))
    np.testing.assert_allclose(f(x), np.sin(x) * 2.0 + 1.0)
    lowered = f.lower(x)
    assert lowered.fn_name.isascii() and lowered.fn_name.isidentifier()
    assert f"def {lowered.fn_name}(" in lowered.source


def test_jit_of_a_partial_and_of_two_names_that_sanitize_alike():
    x = np.arange(3.0)
    p = funcad.jit(functools.partial(lambda a, v: a * v, 2.0))
    np.testing.assert_allclose(p(x), 2.0 * x)
    f3 = lambda v: v - 1.0  # noqa: E731
    f3.__name__ = "f³"   # "f²" and "f³" both become jit_f_: each must still run its own code
    np.testing.assert_allclose(funcad.jit(_named("f²"))(x), np.sin(x) * 2.0 + 1.0)
    np.testing.assert_allclose(funcad.jit(f3)(x), x - 1.0)


def test_masked_arrays_are_refused_as_closed_over_constants():
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match=MASKED):
        funcad.grad(lambda x: fnp.sum(x * m))(np.ones(3))
    with pytest.raises(TypeError, match=MASKED):
        funcad.jit(lambda x: x * m)(np.ones(3))
