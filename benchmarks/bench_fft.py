"""FFTs under jit(grad): a spectral misfit of a real signal of n = 2**16 samples.

    loss(x) = 0.5 * sum(|rfft(x) - Y|**2)       (a half spectrum Y)

Its gradient takes two transforms: the forward ``rfft`` and its transpose, which funcad writes
as one ``irfft`` (``funcad/primitives/fft.py``). Variants:

* ``numpy rfft + hand-written adjoint``: the baseline, ``X = rfft(x)``, then
  ``n * irfft((X - Y) / c)`` with the Hermitian weights ``c`` (1 at 0 and n/2, 2 elsewhere);
* ``funcad.jit(funcad.grad)``: the generated code calls rocket-fft's compiled FFT when it is
  installed, and, for comparison, NumPy's through object mode (what funcad falls back to
  without rocket-fft); the n = 64 case also gives each one's first call (trace and compile,
  in an empty cache directory; the first compile in a process also imports rocket-fft);
* ``jax.jit(jax.grad)`` when JAX is installed.

A second case times one transform alone (NumPy's ``rfft`` against a jitted ``fnp.fft.rfft``),
and a third the same gradient at n = 64, where the cost of calling out dominates.
Goal (issue 12): within 1.2x of NumPy's FFT time per transform, at least as fast as JAX.

    python -m benchmarks.run fft
"""
from __future__ import annotations

import contextlib
import tempfile
import time
import warnings

import numpy as np

import funcad
import funcad.numpy as fnp
from benchmarks.harness import Case
from benchmarks.optional import optional_import
from funcad.primitives import fft as fft_mod


def loss(m, y):
    """The misfit written with the NumPy-like module ``m``."""
    def f(x):
        r = m.fft.rfft(x) - y
        return 0.5 * m.sum(m.real(r) ** 2 + m.imag(r) ** 2)
    return f


def numpy_grad(y):
    def g(x):
        n = x.shape[-1]
        r = np.fft.rfft(x) - y
        c = np.full(r.shape[-1], 2.0)
        c[0] = 1.0
        if n % 2 == 0:
            c[-1] = 1.0
        return n * np.fft.irfft(r / c, n)
    return g


@contextlib.contextmanager
def _backend(objmode: bool):
    """Lower FFTs through NumPy in object mode (as without rocket-fft) when ``objmode``, in a
    fresh cache directory, so the first call's time is a whole compile."""
    saved, old_dir = fft_mod.rocket_fft_available, funcad.config.cache_dir
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings():
        warnings.simplefilter("ignore", fft_mod.FFTPerformanceWarning)
        funcad.config.update("cache_dir", d)
        funcad.clear_caches()   # the same source compiled for another n is in memory
        if objmode:
            fft_mod.rocket_fft_available = lambda: False
        try:
            yield
        finally:
            fft_mod.rocket_fft_available = saved
            funcad.config.update("cache_dir", old_dir)


def _compiled(make, x, objmode):
    """``make()`` jitted and called once under the backend: (the callable, seconds)."""
    with _backend(objmode):
        fn = funcad.jit(make())
        t0 = time.perf_counter()
        fn(x)
        return fn, time.perf_counter() - t0


def _grad_case(n, jax):
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = np.fft.rfft(rng.normal(size=n))
    ref = numpy_grad(y)(x)
    # the hand-written adjoint itself, against central differences in one direction
    v, h = rng.normal(size=n), 1e-6
    fd = (loss(np, y)(x + h * v) - loss(np, y)(x - h * v)) / (2 * h)
    np.testing.assert_allclose(np.dot(ref, v), fd, rtol=1e-6)
    v = {"numpy rfft + hand-written adjoint": lambda g=numpy_grad(y): g(x)}
    compile_times = {}
    for objmode in ((False, True) if fft_mod.rocket_fft_available() else (True,)):
        label = "NumPy in object mode" if objmode else "rocket-fft"
        gf, t = _compiled(lambda: funcad.grad(loss(fnp, y)), x, objmode)
        np.testing.assert_allclose(gf(x), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
        v[f"funcad.jit(funcad.grad) ({label})"] = lambda gf=gf: gf(x)
        compile_times[f"first call, trace + compile ({label})"] = t
    if jax:
        import jax.numpy as jnp
        gj = jax.jit(jax.grad(loss(jnp, jnp.asarray(y))))
        np.testing.assert_allclose(gj(x), ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
        v["jax.jit(jax.grad)"] = lambda: gj(x).block_until_ready()
    c = Case(f"jit(grad) of 0.5*sum(|rfft(x) - Y|^2), n={n}", v,
             "numpy rfft + hand-written adjoint", "two transforms per gradient")
    c.fixed = compile_times if n < 2 ** 10 else {}
    return c


def cases():
    jax = optional_import("jax", x64=True)
    out = [_grad_case(2 ** 16, jax)]
    x = np.random.default_rng(1).normal(size=2 ** 16)
    rf = funcad.jit(fnp.fft.rfft)
    np.testing.assert_allclose(rf(x), np.fft.rfft(x), rtol=1e-12, atol=1e-9)
    v = {"numpy rfft": lambda: np.fft.rfft(x), "funcad.jit(fnp.fft.rfft)": lambda: rf(x)}
    if jax:
        import jax.numpy as jnp
        rj = jax.jit(jnp.fft.rfft)
        v["jax.jit(jnp.fft.rfft)"] = lambda: rj(x).block_until_ready()
    out.append(Case("one rfft, n=2**16", v, "numpy rfft"))
    out.append(_grad_case(64, jax))
    return out
