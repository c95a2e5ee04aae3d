"""The discrete Fourier transform: one primitive, ``fft``, as JAX's ``lax.fft``.

``fft_p`` transforms the trailing ``len(fft_lengths)`` axes of its operand; leading axes are a
batch (so ``vmap`` only moves the batch axis to the front). ``fft_type`` is one of

=========  =========================  =============================================
type       operand (trailing axes)    result
=========  =========================  =============================================
``fft``    complex, ``fft_lengths``   complex, ``fft_lengths``: ``np.fft.fftn``
``ifft``   complex, ``fft_lengths``   complex: ``np.fft.ifftn`` (scaled by ``1/N``)
``rfft``   real, ``fft_lengths``      complex, last axis ``n // 2 + 1``: ``rfftn``
``irfft``  complex, last ``n//2+1``   real, ``fft_lengths``: ``irfftn``
=========  =========================  =============================================

with ``N = prod(fft_lengths)``. ``funcad.numpy.fft`` builds NumPy's 18 functions from it (axes
moved to the end, ``n``/``s`` by padding or slicing, ``norm`` by a scale).

Every type is linear, so the jvp is derived. The transposes are with respect to the bilinear
pairing ``Re(sum(ct * y))`` (JAX's convention for complex values, no conjugation):

- ``fft`` and ``ifft``: the DFT matrix is symmetric, so each is its own transpose.
- ``irfft``: ``y = Re(sum_j c_j z_j e^{+2 pi i j.k/n}) / N`` (sum over the half spectrum) with
  the Hermitian weights ``c_j = 2`` for the frequencies standing for a conjugate pair too, 1
  for the last axis's ``j = 0`` (and ``n/2`` for even ``n``), whose imaginary parts irfft
  ignores (so does the formula). Its transpose is ``conj(rfft(ct) * c / N)``.
- ``rfft``: ``rfft(x) = fft(x)[..., :n//2+1]`` for real ``x``, so its transpose is
  ``Re(fft(pad(ct)))`` (JAX's way: a full complex transform), which the formula above writes
  as ``N * irfft(conj(ct) / c)``: one half-size transform, as fast as the forward one.

jit: Numba has no FFT. With the ``rocket-fft`` package installed (``pip install
funcad[fft]``), Numba compiles ``np.fft.fftn`` and friends natively (DUCC0, the library under
``scipy.fft``), and the generated code calls them; without it, the generated code calls
NumPy's FFT in an object-mode block (correct, ~5 us slower per call; funcad warns once).
"""
from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np

from funcad.core import Primitive, ShapedArray, get_aval
from funcad.lowering import Opaque
from funcad.primitives import elementwise as ew, binary as bi, shape as sh
from funcad.primitives._family import rand_array
from funcad.rule_util import bdim_to_front, instantiate

__all__ = ["fft_p", "fft", "FFT_TYPES"]

FFT_TYPES = ("fft", "ifft", "rfft", "irfft")
_REAL = {np.dtype(np.complex128): np.dtype(np.float64),
         np.dtype(np.complex64): np.dtype(np.float32)}
_COMPLEX = {v: k for k, v in _REAL.items()}


def _fft_abstract(x, *, fft_type, fft_lengths):
    k = len(fft_lengths)
    where = f"lax.fft (fft_type={fft_type!r}, fft_lengths={fft_lengths})"
    if fft_type not in FFT_TYPES:
        raise TypeError(f"{where}: fft_type must be one of {FFT_TYPES}")
    if not 1 <= k <= x.ndim:
        raise TypeError(f"{where}: needs 1 to {x.ndim} lengths for an operand of rank "
                        f"{x.ndim}, got {k}")
    if any(n < 1 for n in fft_lengths):
        raise TypeError(f"{where}: every length must be at least 1")
    lead, trail = x.shape[:-k], tuple(x.shape[-k:])
    real_in = fft_type == "rfft"
    if real_in and x.dtype not in _COMPLEX:
        raise TypeError(f"{where}: the operand must be float32 or float64, got {x.dtype}")
    if not real_in and x.dtype not in _REAL:
        raise TypeError(f"{where}: the operand must be complex64 or complex128, got "
                        f"{x.dtype}; convert it first (fnp.fft.* does)")
    want = fft_lengths
    if fft_type == "irfft":
        want = fft_lengths[:-1] + (fft_lengths[-1] // 2 + 1,)
    if trail != want:
        raise TypeError(f"{where}: the trailing axes of the operand must be {want}, got "
                        f"{x.str_short()}")
    if fft_type == "rfft":
        return ShapedArray(lead + fft_lengths[:-1] + (fft_lengths[-1] // 2 + 1,),
                           _COMPLEX[x.dtype])
    if fft_type == "irfft":
        return ShapedArray(lead + fft_lengths, _REAL[x.dtype])
    return ShapedArray(x.shape, x.dtype)


def _fft_impl(x, *, fft_type, fft_lengths):
    _fft_abstract(get_aval(x), fft_type=fft_type, fft_lengths=fft_lengths)   # NumPy would pad
    axes = tuple(range(x.ndim - len(fft_lengths), x.ndim))
    if fft_type == "fft":
        out, dt = np.fft.fftn(x, axes=axes), x.dtype
    elif fft_type == "ifft":
        out, dt = np.fft.ifftn(x, axes=axes), x.dtype
    elif fft_type == "rfft":
        out, dt = np.fft.rfftn(x, axes=axes), _COMPLEX[x.dtype]
    else:
        out, dt = np.fft.irfftn(x, s=fft_lengths, axes=axes), _REAL[x.dtype]
    return np.asarray(out, dt)


def _hermitian_weights(n: int, m: int) -> np.ndarray:
    """1 for the frequencies the half-spectrum holds alone (0, and n/2 for even n), 2 for
    those standing for a conjugate pair too."""
    w = np.full(m, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def _weighted(spec, fft_lengths, invert: bool):
    """``spec * c / N`` (``N / c`` when ``invert``), broadcast along the last axis."""
    a = get_aval(spec)
    w = _hermitian_weights(fft_lengths[-1], a.shape[-1]) / math.prod(fft_lengths)
    w = sh.broadcast_in_dim((1 / w if invert else w).astype(a.dtype), a.shape, (a.ndim - 1,))
    return bi.mul(spec, w)


def _fft_transpose(ct, x, *, fft_type, fft_lengths):
    ct = instantiate(ct)
    if fft_type in ("fft", "ifft"):   # symmetric matrices
        return [fft(ct, fft_type, fft_lengths)]
    if fft_type == "rfft":   # Re(fft(pad(ct))) is N * irfft(conj(ct) / c)
        return [fft(_weighted(ew.conj(ct), fft_lengths, True), "irfft", fft_lengths)]
    return [ew.conj(_weighted(fft(ct, "rfft", fft_lengths), fft_lengths, False))]


def _fft_batch(vals, dims, *, fft_type, fft_lengths):
    (x,), (d,) = vals, dims
    x = bdim_to_front(x, d, None)
    return fft(x, fft_type, fft_lengths), 0


# -- jit ----------------------------------------------------------------------------------------

def rocket_fft_available() -> bool:
    """Is ``rocket-fft`` installed (Numba then compiles ``np.fft``; funcad's extra ``fft``)?"""
    return importlib.util.find_spec("rocket_fft") is not None


_NUMPY_CALL = {"fft": "np.fft.fftn({x}, None, {axes})", "ifft": "np.fft.ifftn({x}, None, {axes})",
               "rfft": "np.fft.rfftn({x}, None, {axes})", "irfft": "np.fft.irfftn({x}, {s}, {axes})"}
_warned = []


class FFTPerformanceWarning(UserWarning):
    """jit of an FFT without rocket-fft: the generated code calls NumPy in object mode."""


def _fft_rule(ctx, eqn):
    """One call of ``np.fft.*n`` over the trailing axes: compiled by rocket-fft when it is
    installed, else NumPy's, called from an object-mode block."""
    (x,), (o,) = eqn.inputs, eqn.outvars
    p = eqn.params
    k, r = len(p["fft_lengths"]), x.aval.ndim
    axes = "(" + ", ".join(str(a) for a in range(r - k, r)) + ("," if k == 1 else "") + ")"
    call = _NUMPY_CALL[p["fft_type"]].format(x=ctx.name(x), axes=axes,
                                              s=ctx.shape(p["fft_lengths"]))
    out, dt = ctx.out(o), np.dtype(o.aval.dtype)
    if rocket_fft_available():
        ctx.em.line(f"{out} = {call}")
    else:
        if not _warned:
            _warned.append(True)
            warnings.warn("funcad.jit: rocket-fft is not installed, so jitted FFTs call NumPy "
                          "through Numba's object mode (a few microseconds more per call). "
                          "Install it with `pip install funcad[fft]` (or `pip install "
                          "rocket-fft`).", FFTPerformanceWarning, stacklevel=2)
        ctx.import_module("numba")
        layout = ", ".join([":"] * (r - 1) + ["::1"])
        with ctx.em.block(f'with numba.objmode({out}="{dt.name}[{layout}]"):'):
            ctx.em.line(f"{out} = np.ascontiguousarray({call}, np.{dt.name})")
    ctx.fresh_arrays.add(o)


# -- generic tests ---------------------------------------------------------------------------

_TEST_PARAMS = ({"fft_type": "fft", "fft_lengths": (8,)},
                {"fft_type": "ifft", "fft_lengths": (3, 5)},
                {"fft_type": "rfft", "fft_lengths": (8,)},
                {"fft_type": "rfft", "fft_lengths": (3, 5)},
                {"fft_type": "irfft", "fft_lengths": (8,)},
                {"fft_type": "irfft", "fft_lengths": (3, 7)})


def _fft_test_args(rng, dtype, params):
    n = params["fft_lengths"]
    dt = np.dtype(dtype)
    if params["fft_type"] == "rfft":   # real operands of the complex dtype's precision
        return [rand_array(rng, (2,) + n, _REAL.get(dt, dt))]
    shape = n[:-1] + (n[-1] // 2 + 1,) if params["fft_type"] == "irfft" else n
    re, im = rand_array(rng, (2,) + shape), rand_array(rng, (2,) + shape)
    return [(re + 1j * im).astype(_COMPLEX.get(dt, dt))]


fft_p = Primitive("fft", impl=_fft_impl, abstract_eval=_fft_abstract, linear=True,
                  transpose=_fft_transpose, batch=_fft_batch,
                  lowering=Opaque(_fft_rule, fresh=True), test_args=_fft_test_args,
                  test_dtypes=("complex128", "complex64"), test_params=_TEST_PARAMS)


def fft(x, fft_type, fft_lengths):
    """The DFT over the trailing ``len(fft_lengths)`` axes (``lax.fft``).

    Parameters
    ----------
    x : array
        Complex for ``"fft"``, ``"ifft"``, ``"irfft"`` (half spectrum on the last axis); real
        for ``"rfft"``.
    fft_type : {"fft", "ifft", "rfft", "irfft"}
        Also accepted: JAX's ``FftType`` members (by name) and upper case.
    fft_lengths : sequence of int
        The lengths of the transformed axes (of the real signal for rfft/irfft).
    """
    name = getattr(fft_type, "name", fft_type)
    if not isinstance(name, str) or name.lower() not in FFT_TYPES:
        raise ValueError(f"lax.fft: fft_type must be one of {FFT_TYPES}, got {fft_type!r}")
    return fft_p.bind(x, fft_type=name.lower(), fft_lengths=tuple(int(n) for n in fft_lengths))
