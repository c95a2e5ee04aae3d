"""User mistakes get clear errors: the right exception type, naming the function, the argument
and the way out. Each test asserts on the message content."""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import grad, jacrev, jvp, lax, make_jaxpr, vjp, vmap


def loss(x):
    return x * 2.0


def two_args(x, y):
    return fnp.sum(x * y)


# ---------------------------------------------------------------------------------------------
# grad and friends

def test_grad_of_non_scalar_output():
    with pytest.raises(TypeError) as e:
        grad(loss)(np.ones(3))
    msg = str(e.value)
    for part in ("loss", "scalar", "(3,)", "jacrev", "vjp"):
        assert part in msg


def test_grad_of_pytree_output():
    with pytest.raises(TypeError, match=r"scalar output.*tuple.*jacrev or vjp.*has_aux"):
        grad(lambda x: (fnp.sum(x), x))(np.ones(3))


def test_grad_with_respect_to_int_input():
    with pytest.raises(TypeError) as e:
        grad(two_args, argnums=1)(np.ones(3), np.arange(3))
    msg = str(e.value)
    for part in ("argument 1", "two_args", "int64", "float", "allow_int"):
        assert part in msg


def test_grad_of_int_output():
    with pytest.raises(TypeError, match="float output.*int64"):
        grad(lambda x: fnp.sum(x).astype(np.int64), allow_int=True)(np.ones(3))


@pytest.mark.parametrize("transform", [grad, jacrev, funcad.jacfwd, funcad.value_and_grad])
@pytest.mark.parametrize("argnums", [2, (0, 5), -3])
def test_argnums_out_of_range(transform, argnums):
    with pytest.raises(ValueError) as e:
        transform(two_args, argnums=argnums)(np.ones(2), np.ones(2))
    msg = str(e.value)
    for part in ("argnums", repr(argnums), "two_args", "2 positional", "[-2, 2)"):
        assert part in msg


def test_has_aux_without_a_pair():
    with pytest.raises(TypeError, match=r"has_aux=True requires loss to return a pair "
                                        r"\(output, aux\); it returned an array"):
        grad(loss, has_aux=True)(1.0)


# ---------------------------------------------------------------------------------------------
# vjp and jvp inputs

def test_vjp_cotangent_of_wrong_shape():
    _, f_vjp = vjp(loss, np.ones(3))
    with pytest.raises(ValueError) as e:
        f_vjp(np.ones(4))
    msg = str(e.value)
    for part in ("vjp of loss", "(4,)", "(3,)", "shape"):
        assert part in msg


def test_vjp_cotangent_of_wrong_dtype():
    _, f_vjp = vjp(loss, np.ones(3))
    with pytest.raises(TypeError, match=r"vjp of loss.*float32.*float64.*astype\(float64\)"):
        f_vjp(np.ones(3, np.float32))


def test_vjp_cotangent_of_wrong_structure():
    _, f_vjp = vjp(lambda x: {"a": x, "b": x}, np.ones(3))
    with pytest.raises(ValueError) as e:
        f_vjp((np.ones(3), np.ones(3)))
    msg = str(e.value)
    assert "structure" in msg and "{'a': *, 'b': *}" in msg and "(*, *)" in msg


def test_jvp_mismatched_pytrees_names_both_structures():
    with pytest.raises(ValueError) as e:
        jvp(lambda d: d["x"], ({"x": np.ones(2)},), ({"y": np.ones(2)},))
    msg = str(e.value)
    assert "{'x': *}" in msg and "{'y': *}" in msg and "same tree structure" in msg


def test_jvp_tangent_of_wrong_shape_or_dtype():
    with pytest.raises(ValueError, match=r"tangent for primal input 0 has shape \(3,\).*"
                                         r"primal has shape \(2,\)"):
        jvp(loss, (np.ones(2),), (np.ones(3),))
    with pytest.raises(TypeError, match="tangent for primal input 0 has dtype float32.*float64"):
        jvp(loss, (np.ones(2),), (np.ones(2, np.float32),))


def test_jvp_primals_not_a_tuple():
    with pytest.raises(TypeError, match=r"tuples or lists.*jvp\(f, \(x,\), \(t,\)\)"):
        jvp(loss, np.ones(2), np.ones(2))


# ---------------------------------------------------------------------------------------------
# Escaped tracers and abstract values

def _leak(transform, **kw):
    box = []

    def f(x):
        box.append(x)
        return fnp.sum(x * 1.0)

    if transform is jvp:
        jvp(f, (np.ones(3),), (np.ones(3),))
    else:
        transform(f, **kw)(np.ones(3))
    return box[0]


@pytest.mark.parametrize("transform, name", [(grad, "grad"), (vmap, "vmap"),
                                             (make_jaxpr, "make_jaxpr"), (jvp, "jvp"),
                                             (jacrev, "jacrev")])
def test_leaked_tracer_names_the_transformation(transform, name):
    leaked = _leak(transform)
    with pytest.raises(funcad.UnexpectedTracerError) as e:
        fnp.sin(leaked) + 1.0
    msg = str(e.value)
    assert f"`{name}`" in msg and "Return the value" in msg
    # used inside another, live transformation: still caught
    with pytest.raises(funcad.UnexpectedTracerError, match=f"`{name}`"):
        grad(lambda y: fnp.sum(y * leaked))(np.ones(3))
    with pytest.raises(funcad.UnexpectedTracerError, match=f"`{name}`"):
        make_jaxpr(lambda y: y + leaked)(np.ones(3))


@pytest.mark.parametrize("convert, what, exc", [
    (bool, "bool()", funcad.TracerBoolConversionError),
    (int, "int()", funcad.TracerIntegerConversionError),
    (float, "float()", funcad.ConcretizationError),
])
def test_python_conversion_of_abstract_tracer(convert, what, exc):
    with pytest.raises(exc) as e:
        make_jaxpr(lambda x: convert(x) + 1)(1.0)
    assert isinstance(e.value, funcad.ConcretizationError)
    msg = str(e.value)
    for part in (what, "make_jaxpr", "lax.cond", "static_argnums", "f64[]"):
        assert part in msg


def test_if_on_abstract_tracer():
    def relu(x):
        return x if x > 0 else 0.0 * x

    with pytest.raises(funcad.ConcretizationError, match=r"if.*lax\.cond.*static_argnums"):
        make_jaxpr(relu)(1.0)
    assert float(grad(relu)(2.0)) == 1.0  # concrete under grad: fine


def test_numpy_conversion_of_abstract_tracer():
    with pytest.raises(funcad.TracerArrayConversionError, match="funcad.numpy"):
        make_jaxpr(lambda x: np.asarray(x))(np.ones(2))


# ---------------------------------------------------------------------------------------------
# Unsupported dtypes

@pytest.mark.parametrize("value, shown", [
    (np.array([object()]), "object"),
    (np.ones(3, np.float16), "float16"),
    (np.ones(3, np.int8), "int8"),
    (np.array(["a", "b"]), "<U1"),
    (np.ones(3, np.clongdouble), "complex256"),
    ("abc", "str"),
])
@pytest.mark.parametrize("who", ["grad", "vmap", "make_jaxpr", "jvp", "fnp"])
def test_unsupported_dtypes_are_type_errors(value, shown, who):
    run = {
        "grad": lambda: grad(lambda x: fnp.sum(x))(value),
        "vmap": lambda: vmap(lambda x: x)(value),
        "make_jaxpr": lambda: make_jaxpr(lambda x: x)(value),
        "jvp": lambda: jvp(lambda x: x, (value,), (value,)),
        "fnp": lambda: fnp.sin(value),
    }[who]
    with pytest.raises(TypeError) as e:
        run()
    msg = str(e.value)
    if who == "fnp" and isinstance(value, np.ndarray) and value.dtype.kind == "U":
        return  # NumPy's own ufunc TypeError (the eager path); it does not name the dtype
    assert shown in msg, msg
    if who != "fnp" and isinstance(value, np.ndarray):
        assert "float64, float32, int64, int32" in msg and "astype" in msg


# ---------------------------------------------------------------------------------------------
# Shapes in fnp and lax

def test_fnp_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        fnp.add(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        grad(lambda x: fnp.sum(x + np.ones(4)))(np.ones(3))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        make_jaxpr(lambda x, y: x * y)(np.ones((2, 3)), np.ones(4))


def test_lax_is_strict_and_points_to_fnp():
    with pytest.raises(TypeError, match=r"lax\.add.*f64\[3\].*f32\[3\].*fnp"):
        make_jaxpr(lambda x, y: lax.add(x, y))(np.ones(3), np.ones(3, np.float32))


# ---------------------------------------------------------------------------------------------
# vmap axes

def test_vmap_inconsistent_sizes_names_each_argument():
    def f(a, b):
        return a + b

    with pytest.raises(ValueError) as e:
        vmap(f)(np.ones(3), np.ones(4))
    msg = str(e.value)
    for part in ("vmap(f)", "argument a has size 3", "argument b has size 4", "in_axes"):
        assert part in msg
    with pytest.raises(ValueError, match=r"argument d\['u'\] has size 3.*argument d\['v'\] "
                                         r"has size 5"):
        vmap(lambda d: d["u"], in_axes=({"u": 0, "v": 1},))(
            {"u": np.ones(3), "v": np.ones((2, 5))})


def test_vmap_in_axes_out_of_range():
    def f(a):
        return a

    with pytest.raises(ValueError) as e:
        vmap(f, in_axes=2)(np.ones((3, 4)))
    msg = str(e.value)
    for part in ("vmap(f)", "axis 2", "argument a", "rank 2"):
        assert part in msg
    with pytest.raises(ValueError, match="argument a, which is a scalar.*None"):
        vmap(f)(1.0)


def test_vmap_in_axes_pytree_not_matching():
    with pytest.raises(ValueError) as e:
        vmap(two_args, in_axes=({"x": 0}, 0))(np.ones(3), np.ones(3))
    msg = str(e.value)
    assert "vmap(two_args)" in msg and "in_axes" in msg and "{'x': *}" in msg
    with pytest.raises(ValueError, match=r"in_axes has 1 entries.*2 positional"):
        vmap(two_args, in_axes=(0,))(np.ones(3), np.ones(3))


def test_vmap_out_axes_none_for_a_batched_output():
    with pytest.raises(ValueError) as e:
        vmap(loss, out_axes=None)(np.ones(3))
    msg = str(e.value)
    for part in ("vmap(loss)", "out_axes is None", "depends on the mapped axis"):
        assert part in msg
    # unbatched outputs may use None
    out = vmap(lambda x: (x, fnp.ones(2)), out_axes=(0, None))(np.ones(3))
    assert out[1].shape == (2,)


def test_vmap_nothing_mapped_needs_axis_size():
    with pytest.raises(ValueError, match="axis_size"):
        vmap(loss, in_axes=None)(np.ones(3))
