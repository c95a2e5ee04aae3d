"""``fnp.fft`` against ``numpy.fft``: every function over shapes, ``n``/``s``, axes and norms,
traced (``jit``, ``vmap``) and differentiated (``grad`` of a real loss, against central
differences). The ``fft`` primitive's own rules (jvp, transpose, batching, jit, second order)
are driven by the generic harness in tests/test_primitives.py and tests/test_jit.py.

``grad`` of a real loss of a complex input follows JAX: ``dL/dRe(z) - i dL/dIm(z)``.
"""
import os
import warnings

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.primitives import fft as fft_mod

RNG = np.random.default_rng(0)
NORMS = (None, "ortho", "forward")


def _real(shape):
    return RNG.normal(size=shape)


def _cplx(shape):
    return RNG.normal(size=shape) + 1j * RNG.normal(size=shape)


# (function name, input maker, shape, keyword arguments)
CASES = []
for norm in NORMS:
    kw = {} if norm is None else {"norm": norm}
    CASES += [
        ("fft", _cplx, (8,), kw), ("fft", _real, (6,), dict(kw, n=9)),
        ("fft", _cplx, (4, 6), dict(kw, n=4, axis=0)),
        ("ifft", _cplx, (7,), kw), ("ifft", _cplx, (3, 5), dict(kw, n=8)),
        ("rfft", _real, (8,), kw), ("rfft", _real, (5, 6), dict(kw, n=7, axis=0)),
        ("irfft", _cplx, (5,), kw), ("irfft", _cplx, (5,), dict(kw, n=9)),
        ("irfft", _cplx, (4, 3), dict(kw, n=6, axis=0)),
        ("hfft", _cplx, (5,), kw), ("hfft", _cplx, (2, 4), dict(kw, n=7)),
        ("ihfft", _real, (8,), kw), ("ihfft", _real, (3, 7), dict(kw, n=6, axis=0)),
        ("fft2", _cplx, (4, 6), kw), ("ifft2", _cplx, (2, 3, 4), dict(kw, s=(4, 3))),
        ("rfft2", _real, (4, 6), kw), ("irfft2", _cplx, (4, 4), dict(kw, s=(3, 6))),
        ("fftn", _cplx, (2, 3, 4), kw), ("fftn", _real, (3, 4, 5), dict(kw, axes=(0, 2))),
        ("ifftn", _cplx, (3, 4), dict(kw, s=(5, 2), axes=(1, 0))),
        ("rfftn", _real, (2, 3, 4), kw), ("rfftn", _real, (3, 4, 5), dict(kw, axes=(2, 0))),
        ("irfftn", _cplx, (3, 4, 3), kw),
        ("irfftn", _cplx, (3, 4), dict(kw, s=(5, 7), axes=(0, 1))),
    ]
CASES += [("fftn", _cplx, (3, 4), {"axes": (1, 1)}),       # repeated axes, as NumPy allows
          ("rfftn", _real, (3, 4), {"axes": (0, 1, 0)}),
          ("fft", _cplx, (6,), {"axis": -1, "n": 3})]
IDS = [f"{name}-{shape}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
       for name, _, shape, kw in CASES]
ARGS = {i: make(shape) for i, (_, make, shape, _) in enumerate(CASES)}


def _pair(i):
    name, _, _, kw = CASES[i]
    return (lambda x: getattr(fnp.fft, name)(x, **kw),
            lambda x: getattr(np.fft, name)(x, **kw), ARGS[i])


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), b, rtol=tol, atol=tol * (1 + np.abs(b).max()))


def _real_loss(y):
    # a real loss of a real or complex output, with no symmetry that would hide a sign
    re, im = (lax.real(y), lax.imag(y)) if np.iscomplexobj(y) else (y, 0.0 * y)
    w = np.linspace(0.5, 1.5, re.size).reshape(re.shape)
    return fnp.sum(w * re * re + 0.7 * im * im * im + 0.3 * re * im)


def _np_grad(f, x, h=1e-6):
    """JAX's gradient by central differences: d/dRe - i d/dIm for complex inputs."""
    g = np.zeros(x.shape, complex if np.iscomplexobj(x) else float)
    for idx in np.ndindex(x.shape):
        for unit in ((1.0, 1j) if np.iscomplexobj(x) else (1.0,)):
            e = np.zeros(x.shape, x.dtype)
            e[idx] = unit
            d = (f(x + h * e) - f(x - h * e)) / (2 * h)
            g[idx] += d if unit == 1.0 else -1j * d
    return g


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_eager_matches_numpy(i):
    f, ref, x = _pair(i)
    out = f(x)
    want = ref(x)
    assert np.asarray(out).dtype == want.dtype and np.shape(out) == want.shape
    _close(out, want)
    # the traced path, run eagerly under a transformation (jvp with a zero tangent)
    primal, _ = funcad.jvp(f, (x,), (np.zeros_like(x),))
    _close(primal, want)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_jit_vmap_grad(i):
    f, ref, x = _pair(i)
    xs = np.stack([x, 2 * x + 1])
    _close(funcad.vmap(f)(xs), np.stack([ref(xs[0]), ref(xs[1])]))
    loss = lambda v: _real_loss(f(v))   # noqa: E731
    want = _np_grad(lambda v: float(_real_loss(ref(v))), x)
    _close(funcad.grad(loss)(x), want, 1e-6)
    val, g = funcad.jit(lambda v: (f(v), funcad.grad(loss)(v)))(x)
    _close(val, ref(x))
    _close(g, want, 1e-6)


def test_single_precision_kept():
    x = RNG.normal(size=8).astype(np.float32)
    for name, arg in (("fft", x), ("rfft", x), ("irfft", x[:5].astype(np.complex64)),
                      ("hfft", x[:5]), ("ihfft", x), ("fftn", x)):
        want = getattr(np.fft, name)(arg)
        got = funcad.jit(getattr(fnp.fft, name))(arg)
        assert got.dtype == want.dtype, name
        _close(got, want, 1e-5)


@pytest.mark.parametrize("n", [1, 2, 7, 8])
@pytest.mark.parametrize("d", [1.0, 0.25])
def test_fftfreq_rfftfreq(n, d):
    _close(fnp.fft.fftfreq(n, d), np.fft.fftfreq(n, d))
    _close(fnp.fft.rfftfreq(n, d), np.fft.rfftfreq(n, d))
    _close(funcad.jit(lambda s: fnp.fft.fftfreq(n, s))(d), np.fft.fftfreq(n, d))
    # the spacing is differentiable: d/dd (k / (n d)) = -k / (n d^2)
    g = funcad.grad(lambda s: fnp.sum(fnp.fft.rfftfreq(n, s) * np.arange(n // 2 + 1)))(d)
    _close(g, -np.sum(np.fft.rfftfreq(n, 1.0) * np.arange(n // 2 + 1)) / d ** 2)


SHIFTS = [((5,), None), ((5,), 0), ((5,), ()), ((4, 7), None), ((4, 7), 1), ((4, 7), (0, 1)),
          ((4, 7), (1,)), ((3, 4, 5), None), ((3, 4, 5), (2, 0)), ((3, 4, 5), -1)]


@pytest.mark.parametrize("shape,axes", SHIFTS)
def test_fftshift(shape, axes):
    x = RNG.normal(size=shape)
    for name in ("fftshift", "ifftshift"):
        want = getattr(np.fft, name)(x, axes=axes)
        _close(getattr(fnp.fft, name)(x, axes=axes), want)
        _close(funcad.jit(lambda v: getattr(fnp.fft, name)(v, axes=axes))(x), want)
        # a permutation: the gradient of sum(w * shift(x)) is the inverse shift of w
        w = RNG.normal(size=shape)
        other = "ifftshift" if name == "fftshift" else "fftshift"
        g = funcad.grad(lambda v: fnp.sum(w * getattr(fnp.fft, name)(v, axes=axes)))(x)
        _close(g, getattr(np.fft, other)(w, axes=axes))


def test_all_numpy_names_exist():
    names = [n for n in dir(np.fft) if not n.startswith("_") and n != "test"]
    assert len(names) == 18 and set(names) == set(fnp.fft.__all__), names
    for n in names:
        assert getattr(fnp.fft, n).__doc__


def test_plain_numpy_on_tracers_dispatches():
    x = _cplx((6,))
    g = funcad.grad(lambda v: np.sum(lax.real(np.fft.fft(v, norm="ortho")) ** 2))(x)
    _close(g, funcad.grad(lambda v: fnp.sum(lax.real(fnp.fft.fft(v, norm="ortho")) ** 2))(x))


# -- jit backends --------------------------------------------------------------------------------

@pytest.mark.skipif(os.environ.get("CI") != "true", reason="rocket-fft is optional outside CI")
def test_ci_installs_rocket_fft():
    # the test extra declares rocket-fft, so CI's fresh environment must have it
    assert fft_mod.rocket_fft_available()


def test_integer_and_bool_inputs_convert_as_numpy():
    for x in (np.arange(6), np.arange(6) % 2 == 0):
        for name in ("fft", "rfft", "ihfft", "fftn"):
            want = getattr(np.fft, name)(x)
            got = funcad.jit(getattr(fnp.fft, name))(x)
            assert got.dtype == want.dtype, (name, x.dtype)
            _close(got, want)


def test_jit_source_names_its_backend():
    x = _cplx((4, 8))
    src = funcad.jit(lambda v: fnp.fft.fft(v)).lower(x).source
    if fft_mod.rocket_fft_available():
        assert "np.fft.fftn(" in src and "objmode" not in src
    else:
        assert "numba.objmode" in src


def test_object_mode_fallback(monkeypatch):
    """Without rocket-fft the generated code calls NumPy in object mode (and warns once)."""
    monkeypatch.setattr(fft_mod, "rocket_fft_available", lambda: False)
    monkeypatch.setattr(fft_mod, "_warned", [])
    x = _real((3, 10))

    def f(v):   # a function of its own: a fresh trace, lowered with the patched rule
        y = fnp.fft.rfft(v * 1.5)
        return fnp.fft.irfft(y * y, 10), fnp.fft.ifft2(fnp.fft.fft(y, axis=0))

    with pytest.warns(fft_mod.FFTPerformanceWarning, match="rocket-fft"):
        a, b = funcad.jit(f)(x)
    y = np.fft.rfft(x * 1.5)
    _close(a, np.fft.irfft(y * y, 10))
    _close(b, np.fft.ifft2(np.fft.fft(y, axis=0)))
    assert "numba.objmode" in funcad.jit(f).lower(x).source
    g = funcad.jit(funcad.grad(lambda v: fnp.sum(lax.real(fnp.fft.rfft(v)) ** 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # warned once per process only
        _close(g(x[0]), _np_grad(lambda v: np.sum(np.real(np.fft.rfft(v)) ** 2), x[0]), 1e-6)


# -- errors ----------------------------------------------------------------------------------------

def test_errors_name_the_function_and_fix():
    x = _cplx((4,))
    t = lambda f: funcad.jit(f)(x)   # noqa: E731  (the traced path)
    with pytest.raises(ValueError, match='Invalid norm value bad; should be "backward"'):
        t(lambda v: fnp.fft.fft(v, norm="bad"))
    with pytest.raises(ValueError, match=r"Invalid number of FFT data points \(0\)"):
        t(lambda v: fnp.fft.fft(v, n=0))
    with pytest.raises(TypeError, match="fnp.fft.rfft: the input must be real.*fnp.real"):
        t(lambda v: fnp.fft.rfft(v))
    with pytest.raises(ValueError, match="Shape and axes have different lengths"):
        t(lambda v: fnp.fft.fftn(v, s=(2, 2), axes=(0,)))
    with pytest.raises(np.exceptions.AxisError, match="fnp.fft.fft"):
        t(lambda v: fnp.fft.fft(v, axis=3))
    with pytest.raises(TypeError, match="out= is not supported"):
        t(lambda v: fnp.fft.fft(v, out=v))
    with pytest.raises(TypeError, match="fftfreq: n must be a known integer"):
        funcad.jit(lambda n: fnp.fft.fftfreq(n))(4)
    with pytest.raises(ValueError, match="device must be None or 'cpu'"):
        fnp.fft.rfftfreq(4, device="gpu")
    with pytest.raises(ValueError, match="lax.fft: fft_type must be one of"):
        lax.fft(x, "dct", (4,))
    with pytest.raises(TypeError, match=r"trailing axes of the operand must be \(5,\)"):
        lax.fft(x, "fft", (5,))
    with pytest.raises(TypeError, match="must be complex64 or complex128.*fnp.fft"):
        lax.fft(np.ones(4), "fft", (4,))


def test_lax_fft_accepts_jax_style_types():
    class FftType:   # stands for jax.lax.FftType
        def __init__(self, name):
            self.name = name
    x = _real((2, 6))
    _close(lax.fft(x, FftType("RFFT"), (6,)), np.fft.rfft(x))
    _close(lax.fft(np.fft.rfft(x), "IRFFT", [6]), x)
