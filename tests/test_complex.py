"""Complex numbers: JAX's derivative conventions, holomorphic Jacobians, the errors, check_grads
with complex inputs, jit and vmap of complex programs, complex control-flow carries.

The generic harness (tests/test_primitives.py, tests/test_jit.py) drives every primitive that
takes complex inputs; this file pins the conventions. Reference values were computed with
``jax`` 0.10.2 (x64) and are stored here, so the checks run without JAX; where JAX is
installed they are recomputed as well.
"""
import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import grad, jacfwd, jacrev, jit, jvp, lax, vjp, vmap
from funcad.testing import check_grads, check_vmap

Z0 = 0.7 - 1.3j
A = np.array([[1 + 2j, 0.5 - 1j], [2 - 0.5j, -1 + 0.25j]])
B = np.array([1 - 1j, 0.5 + 2j])
Z = np.array([0.3 + 0.1j, -0.2 + 0.7j])


def _loss_lsq(z):
    return fnp.sum(fnp.abs(A @ z - B) ** 2)


# name -> (function, argument, kwargs of grad, the value jax.grad gives)
GRADS = {
    "abs2": (lambda z: fnp.abs(z) ** 2, 3 + 4j, {}, 6 - 8j),
    "sin_conj": (lambda z: fnp.real(fnp.sin(z) * fnp.conj(z)), Z0, {},
                 0.9025382452789841 + 4.0245539983779635j),
    "holomorphic": (lambda z: z ** 3 + fnp.sin(z), Z0, {"holomorphic": True},
                    -2.092561649126858 - 4.365871994202237j),
    "least_squares": (_loss_lsq, Z, {}, np.array([11.8 + 4.925j, -6.5 - 6.9625j])),
    "angle_vdot": (lambda z: fnp.sum(fnp.angle(z) * fnp.abs(z)) + fnp.vdot(z, z).real, Z, {},
                   np.array([0.5890116110777498 - 1.250429757082043j,
                             -1.8695096824503157 - 2.903228943935845j])),
    "real_input": (lambda x: fnp.sum(fnp.abs(fnp.exp(1j * x) * (x + 2j)) ** 2),
                   np.array([0.5, 1.0, -0.3]), {}, np.array([1.0, 2.0, -0.6])),
    "fori_carry": (lambda z: lax.fori_loop(0, 3, lambda i, c: c * z + 1j, z).real, Z0, {},
                   -10.223999999999998 + 3.544000000000002j),
}


@pytest.mark.parametrize("name", sorted(GRADS))
def test_grad_matches_jax(name):
    f, z, kw, want = GRADS[name]
    got = grad(f, **kw)(z)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(jit(grad(f, **kw))(z), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(GRADS))
def test_grad_matches_jax_live(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    f, z, kw, want = GRADS[name]
    # the same functions in jax.numpy (funcad.numpy's names are NumPy's, as are JAX's)
    jf = {"abs2": lambda z: jnp.abs(z) ** 2,
          "sin_conj": lambda z: jnp.real(jnp.sin(z) * jnp.conj(z)),
          "holomorphic": lambda z: z ** 3 + jnp.sin(z),
          "least_squares": lambda z: jnp.sum(jnp.abs(A @ z - B) ** 2),
          "angle_vdot": lambda z: (jnp.sum(jnp.angle(z) * jnp.abs(z))
                                   + jnp.vdot(z, z).real),
          "real_input": lambda x: jnp.sum(jnp.abs(jnp.exp(1j * x) * (x + 2j)) ** 2),
          "fori_carry": lambda z: jax.lax.fori_loop(0, 3, lambda i, c: c * z + 1j, z).real,
          }[name]
    np.testing.assert_allclose(np.asarray(jax.grad(jf, **kw)(z)), want, rtol=1e-12, atol=1e-12)


def test_grad_convention_worked_example():
    # f(x + iy) = x**2 + y**2: df/dx = 2x, df/dy = 2y, and grad is df/dx - i df/dy
    z = 3 + 4j
    g = grad(lambda z: fnp.real(z * fnp.conj(z)))(z)
    assert g == pytest.approx(6 - 8j) and g == pytest.approx(2 * np.conj(z))
    # gradient descent steps along conj(grad): |z|**2 shrinks
    z1 = z - 0.1 * np.conj(g)
    assert abs(z1) < abs(z)


def test_jvp_is_complex_linear_and_vjp_is_its_plain_transpose():
    f = lambda z: fnp.sin(z) * fnp.conj(z)  # noqa: E731  (not holomorphic)
    t = np.array([0.4 - 0.2j, 1.0 + 0.5j])
    _, jt = jvp(f, (Z,), (t,))
    _, jt2 = jvp(f, (Z,), (2.0 * t,))
    np.testing.assert_allclose(jt2, 2 * jt, rtol=1e-13)   # R-linear in the tangent
    fd = (f(Z + 1e-6 * t) - f(Z - 1e-6 * t)) / 2e-6
    np.testing.assert_allclose(jt, fd, rtol=1e-7)
    # <ct, J t> == <J^T ct, t> with the pairing Re(sum(a * b)), no conjugation (JAX's)
    ct = np.array([1.0 - 2.0j, 0.5 + 0.3j])
    (jct,) = vjp(f, Z)[1](ct)
    assert np.sum(ct * jt).real == pytest.approx(np.sum(jct * t).real, rel=1e-12)
    # the transposes of the linear primitives, as JAX states them
    (cx, cy) = vjp(lambda x, y: lax.complex_(x, y) * (2 - 1j), np.float64(1.5),
                   np.float64(-0.5))[1](np.complex128(1 + 2j))
    assert (float(cx), float(cy)) == (4.0, -3.0)
    (cz,) = vjp(lambda z: lax.real(z) * 3 + lax.imag(z) * 5, np.complex128(Z0))[1](1.0)
    assert complex(cz) == 3 - 5j


def test_holomorphic_jacobians_match_derivative():
    f = lambda z: fnp.log(z) * z  # noqa: E731
    want = np.diag(np.log(Z) + 1)  # d/dz z log z
    for jac in (jacfwd, jacrev, funcad.jacobian):
        np.testing.assert_allclose(jac(f, holomorphic=True)(Z), want, rtol=1e-13)
    h = funcad.hessian(lambda z: fnp.sum(fnp.log(z) * z), holomorphic=True)(Z)
    np.testing.assert_allclose(h, np.diag(1 / Z), rtol=1e-13)
    # jax.hessian(..., holomorphic=True) at Z
    np.testing.assert_allclose(np.diag(h), [2.9999999999999996 - 1.0000000000000002j,
                                            -0.3773584905660379 - 1.3207547169811322j],
                               rtol=1e-13)


def test_jacobians_of_real_functions_of_complex_inputs():
    # jacrev rows follow grad's convention (jax.jacrev's values at Z)
    j = jacrev(lambda z: fnp.abs(fnp.exp(z)))(Z)
    np.testing.assert_allclose(j, np.diag([1.3498588075760032, 0.8187307530779818]),
                               atol=1e-15)
    # jacfwd of a complex output of real inputs is a complex Jacobian
    np.testing.assert_allclose(jacfwd(lambda x: x * 1j)(np.array([3.0])), [[1j]])


@pytest.mark.parametrize("run, match", [
    (lambda: grad(lambda z: z ** 2)(3 + 4j), r"grad requires real-valued outputs.*"
                                             r"holomorphic=True.*funcad\.vjp"),
    (lambda: funcad.value_and_grad(lambda z: z * 2)(1j), r"value_and_grad requires "
                                                         r"real-valued.*holomorphic=True"),
    (lambda: grad(lambda z: z ** 2, holomorphic=True)(3.0), r"grad with holomorphic=True "
                                                           r"requires inputs with complex"),
    (lambda: grad(lambda z: fnp.abs(z), holomorphic=True)(3j), r"holomorphic=True requires "
                                                              r"outputs with complex dtype"),
    (lambda: jacfwd(lambda z: z ** 2)(Z), r"jacfwd requires real-valued inputs.*"
                                          r"holomorphic=True.*funcad\.jvp"),
    (lambda: jacfwd(lambda z: fnp.abs(z), holomorphic=True)(Z), r"jacfwd with "
                                                                r"holomorphic=True requires "
                                                                r"outputs"),
    (lambda: jacrev(lambda z: z ** 2)(Z), r"jacrev requires real-valued outputs"),
    (lambda: jacrev(lambda x: x * 1j)(np.array([3.0])), r"jacrev requires real-valued out"),
    (lambda: jacrev(lambda x: x * 1j, holomorphic=True)(np.array([3.0])),
     r"jacrev with holomorphic=True requires inputs"),
    (lambda: funcad.hessian(lambda z: fnp.sum(z * z))(Z), r"jacfwd requires real-valued"),
])
def test_complex_derivative_errors(run, match):
    with pytest.raises(TypeError, match=match):
        run()


@pytest.mark.parametrize("run, match", [
    (lambda: jit(lambda z: lax.lt(z, z))(Z), r"lax\.lt does not accept dtype complex128"),
    (lambda: jit(lambda z: fnp.argmax(z))(Z), r"lax\.argmax does not accept.*complex"),
    (lambda: jit(lambda z: fnp.sort(z))(Z), r"lax\.sort: complex keys"),
    (lambda: jit(lambda z: lax.floor(z))(Z), r"lax\.floor does not accept dtype complex"),
    (lambda: jit(lambda z: z.at[0].max(1j))(Z), r"lax\.scatter: mode='max'.*complex"),
    (lambda: jit(lambda z: fnp.real_if_close(z))(Z), r"fnp\.real_if_close.*traced complex"),
    (lambda: jit(lax.real)(np.ones(2)), r"lax\.real does not accept dtype float64"),
    (lambda: jit(lax.complex_)(Z, Z), r"lax\.complex does not accept dtype complex128"),
])
def test_primitives_without_complex_raise(run, match):
    with pytest.raises(TypeError, match=match):
        run()


def test_check_grads_with_complex_inputs():
    check_grads(lambda z, w: fnp.sin(z) * fnp.conj(w) + fnp.exp(z * w), (Z, Z[::-1]), order=2)
    check_grads(lambda z: fnp.abs(z) ** 3 + fnp.angle(z), (Z,), order=2)
    check_grads(lambda x: fnp.exp(1j * x) * x, (np.array([0.5, -1.2]),), order=2)


def test_check_grads_catches_a_wrong_complex_rule():
    # conj where the plain transpose belongs: the vjp-jvp identity fails
    bad = funcad.custom_vjp(lambda z: z * (2 + 1j))
    bad.defvjp(lambda z: (z * (2 + 1j), None), lambda _, ct: (ct * (2 - 1j),))
    with pytest.raises(AssertionError, match="VJP"):
        check_grads(bad, (Z,), order=1, modes=("rev",))


def test_promotion_and_weak_complex_scalars():
    x32 = np.ones(3, np.float32)
    out = jit(lambda a: a * 1j)(x32)
    assert out.dtype == np.complex64 and np.allclose(out, 1j)
    assert jit(lambda a: a + 1j)(np.ones(2, np.int32)).dtype == np.complex128
    assert jit(lambda a: a * 2.0)(Z.astype(np.complex64)).dtype == np.complex64
    assert jit(lambda a, b: a + b)(x32[:2], Z.astype(np.complex64)).dtype == np.complex64
    assert jit(lambda a, b: a + b)(np.ones(2), Z.astype(np.complex64)).dtype == np.complex128
    assert str(funcad.make_jaxpr(lambda a: a * 1j)(x32)).count("c64[3]") >= 2


def test_functions_match_numpy_eager_and_jitted():
    z = np.array([[1 + 2j, -3 + 0.5j], [0.25 - 1j, 2 + 0j]])
    x = np.array([-1.0, 0.0, 2.0])
    cases = [(fnp.real, np.real, z), (fnp.imag, np.imag, z), (fnp.conj, np.conj, z),
             (fnp.conjugate, np.conjugate, z), (fnp.angle, np.angle, z), (fnp.abs, np.abs, z),
             (fnp.iscomplex, np.iscomplex, z), (fnp.isreal, np.isreal, z),
             (lambda a: fnp.angle(a, deg=True), lambda a: np.angle(a, deg=True), z),
             (fnp.angle, np.angle, x), (fnp.imag, np.imag, x), (fnp.real, np.real, x),
             (fnp.iscomplex, np.iscomplex, x), (fnp.sign, np.sign, z),
             (lambda a: fnp.vdot(a, a[::-1]), lambda a: np.vdot(a, a[::-1]), z),
             (lambda a: fnp.max(a, axis=0), lambda a: np.max(a, axis=0), z),
             (fnp.mean, np.mean, z), (fnp.var, np.var, z), (fnp.prod, np.prod, z)]
    for f, ref, a in cases:
        want = ref(a)
        for got in (f(a), jit(f)(a), vmap(f)(a[None])[0]):
            assert np.asarray(got).dtype == np.asarray(want).dtype, f
            np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    assert fnp.iscomplexobj(z) and not fnp.isrealobj(z) and fnp.isrealobj(x)
    assert fnp.real_if_close(z + 0 * 1j).dtype == np.complex128
    assert fnp.real_if_close(np.array([1 + 1e-20j])).dtype == np.float64


def test_tracer_methods():
    def f(z):
        assert fnp.iscomplexobj(z) and np.iscomplexobj(z)
        return z.real * 2 + z.imag, z.conj(), z.conjugate() * z
    for got, want in zip(jit(f)(Z), f(Z)):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    g = grad(lambda z: fnp.sum(z.real ** 2 - z.imag))(Z)
    np.testing.assert_allclose(g, 2 * Z.real + 1j, rtol=1e-15)


def test_control_flow_carries():
    w = np.array([0.9 + 0.3j, -0.5 + 0.8j])

    def scan_f(z):
        def body(c, x):
            c = c * x + 1j
            return c, c.real
        return lax.scan(body, z, fnp.stack([w, w * 2, w.conj()]))

    def while_f(z):
        return lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * w + 0.5j, c[1] + 1),
                              (z, 0))[0]

    def cond_f(z):
        return lax.cond(fnp.sum(fnp.abs(z)) > 1, lambda a: a * 1j, lambda a: fnp.conj(a), z)

    def loop_ref(z):   # scan by hand
        cs, ys = z, []
        for x in (w, w * 2, w.conj()):
            cs = cs * x + 1j
            ys.append(cs.real)
        return cs, np.stack(ys)

    for f in (scan_f, while_f, cond_f):
        out, ref = jit(f)(Z), f(Z)
        for g_, r in zip(funcad.tree_util.tree_flatten(out)[0],
                         funcad.tree_util.tree_flatten(ref)[0]):
            np.testing.assert_allclose(g_, r, rtol=1e-14)
        check_grads(f, (Z,), order=2)
        check_vmap(f, (np.stack([Z, Z * 1j, Z + 1]),), in_axes=0)
    for g_, r in zip(scan_f(Z), loop_ref(Z)):
        np.testing.assert_allclose(g_, r, rtol=1e-14)


def test_jit_of_complex_programs_and_exact_math():
    def f(z):
        return fnp.sum(fnp.exp(z) * fnp.sin(z) / (1 + z * z) + fnp.sqrt(z) ** 3
                       + fnp.tanh(z).conj() + fnp.log(z) ** 2)
    zs = (np.arange(64.0) / 16 - 2) + 1j * (np.arange(64.0)[::-1] / 32 - 1)
    want = f(zs)
    np.testing.assert_allclose(jit(f)(zs), want, rtol=1e-13)
    funcad.config.update("exact_math", True)
    try:
        np.testing.assert_allclose(jit(f)(zs), want, rtol=1e-13)
    finally:
        funcad.config.update("exact_math", False)
    src = jit(f).lower(zs).source
    assert "cmath." in src and "import cmath" in src
    for kernel in ("fsin", "fexp", "flog", "ftanh"):
        assert kernel not in src, f"fast kernel {kernel} used on complex values"
    # complex64 keeps its dtype through jit, and real parts of complex64 are float32
    z32 = zs.astype(np.complex64)
    out = jit(lambda z: (fnp.sin(z) * 2 + 1j, fnp.abs(z), z.real))(z32)
    assert [o.dtype for o in out] == [np.complex64, np.float32, np.float32]
    np.testing.assert_allclose(out[0], np.sin(z32) * 2 + 1j, rtol=2e-6)
    # matrix products of complex arrays
    m = (np.arange(12.0).reshape(3, 4) + 1j * np.arange(12.0)[::-1].reshape(3, 4)) / 7
    np.testing.assert_allclose(jit(lambda a: a @ a.T.conj())(m), m @ m.T.conj(), rtol=1e-14)


def test_fast_math_kernels_stay_real():
    # a real sin beside a complex one in one loop: the real one may use the kernel, the
    # complex one calls cmath (the blocked sin/cos loop counts only real sin/cos)
    def f(x, z):
        return fnp.sin(x) + fnp.sin(z).real
    x = np.linspace(-3, 3, 64)
    low = jit(f).lower(x, x + 1j)
    assert "cmath.sin" in low.source
    np.testing.assert_allclose(jit(f)(x, x + 1j), f(x, x + 1j), rtol=1e-12, atol=1e-14)


def test_custom_vjp_complex_cotangent_of_a_real_input_is_refused():
    f = funcad.custom_vjp(lambda x: x * 2.0)
    f.defvjp(lambda x: (x * 2.0, None), lambda _, ct: (ct * (2 + 1j),))
    with pytest.raises(TypeError, match=r"c128.*f64\[2\].*complex one only for a complex"):
        grad(lambda x: fnp.sum(f(x)))(np.ones(2))
    # a real cotangent for a complex input is exact: converted
    g = funcad.custom_vjp(lambda z: z * 2.0)
    g.defvjp(lambda z: (z * 2.0, None), lambda _, ct: (fnp.real(ct) * 2.0,))
    np.testing.assert_allclose(grad(lambda z: fnp.sum(g(z)).real)(Z), [2.0, 2.0])


def test_norms_and_classes_of_complex_arrays():
    z = np.array([1.25 + 2.5j, -3.5 - 0.25j, 0.01j, complex(np.inf, 1.0)])
    for f, ref in [(fnp.isinf, np.isinf), (fnp.isfinite, np.isfinite), (fnp.isnan, np.isnan),
                   (lambda a: fnp.isclose(a, a + 1e-9), lambda a: np.isclose(a, a + 1e-9))]:
        np.testing.assert_array_equal(jit(f)(z), ref(z))
    v, m = z[:3], np.outer(z[:3], z[:3].conj() + 1)
    for x, ord_ in [(v, None), (v, 1), (v, 3), (v, np.inf), (m, None), (m, "fro"), (m, 1),
                    (m, -np.inf)]:
        np.testing.assert_allclose(jit(lambda a: fnp.linalg.norm(a, ord_))(x),
                                   np.linalg.norm(x, ord_), rtol=1e-14)
    np.testing.assert_allclose(grad(fnp.linalg.norm)(v), v.conj() / np.linalg.norm(v),
                               rtol=1e-14)
    with pytest.raises(TypeError, match=r"fnp\.linalg\.norm: ord=2 of a complex matrix"):
        jit(lambda a: fnp.linalg.norm(a, 2))(m)


def test_lax_refuses_a_complex_scalar_with_a_real_operand():
    with pytest.raises(TypeError, match=r"lax: the Python complex 1j cannot take the dtype of "
                                        r"a float64 operand.*funcad\.numpy"):
        lax.mul(np.ones(2), 1j)
    np.testing.assert_allclose(lax.mul(Z, 1j), Z * 1j)
    np.testing.assert_allclose(fnp.array([1j, 2]), [1j, 2])
    # JAX's spelling
    assert lax.complex is lax.complex_
    np.testing.assert_array_equal(jit(lax.complex)(np.ones(2), -np.ones(2)), [1 - 1j, 1 - 1j])


def test_compositions_of_transformations():
    def loss(z, w):
        return fnp.sum(fnp.abs(fnp.exp(z * w) - 1j) ** 2)

    ws = np.array([0.5 + 0.1j, -0.3 + 0.8j, 1.0 - 0.2j])
    g = jit(vmap(grad(loss), in_axes=(None, 0)))(Z, ws)
    for k, w in enumerate(ws):   # against central differences in x and y: df/dx - i df/dy
        for j in range(2):
            e = np.zeros(2, complex)
            e[j] = 1e-6
            dx = (loss(Z + e, w) - loss(Z - e, w)) / 2e-6
            dy = (loss(Z + 1j * e, w) - loss(Z - 1j * e, w)) / 2e-6
            assert g[k, j] == pytest.approx(dx - 1j * dy, rel=1e-7, abs=1e-8)
    # second order: grad of a real function of grad's real part
    h = grad(lambda z: fnp.real(grad(loss)(z, ws[0])[0]))(Z)
    np.testing.assert_allclose(jit(grad(lambda z: fnp.real(grad(loss)(z, ws[0])[0])))(Z), h,
                               rtol=1e-12)
