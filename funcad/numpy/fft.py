"""``fnp.fft``: NumPy's ``np.fft`` (all 18 functions) over the one ``fft`` primitive.

Outside transformations each function is NumPy's own. Under one, the transformed axes are
moved to the end (the primitive works on trailing axes), each is cut or zero-padded to its
length (``n``, ``s``), one ``lax.fft`` runs over all of them, ``norm`` is a real scale, and
the axes go back. Inputs convert as NumPy's do: float32 gives complex64, other reals and ints
complex128; the real transforms (``rfft*``, ``ihfft``) refuse complex input with NumPy's
TypeError. Repeated axes (which NumPy allows in ``fftn``) are transformed one after the other,
as NumPy does. ``fftfreq``, ``rfftfreq``, ``fftshift`` and ``ifftshift`` compose other
functions (the sample spacing ``d`` may be traced).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from funcad import lax
from funcad.core import get_aval
from funcad.numpy._util import canonical_axis, eager, to_value
from funcad.numpy.shape import roll as _roll

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")
_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _check_norm(norm):
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward","ortho" or '
                         f'"forward".')
    return norm


def _scale(norm, total: int, inverse: bool) -> float:
    """The factor applied after the primitive (unscaled forward, 1/N inverse)."""
    if norm == "ortho":
        return math.sqrt(total) if inverse else 1 / math.sqrt(total)
    if norm == "forward":
        return float(total) if inverse else 1 / total
    return 1.0


def _convert(who, x, kind):
    """``x`` in the dtype the transform computes in: complex, or real for ``"real"``."""
    x = to_value(x)
    dt = get_aval(x).dtype
    if kind == "real":
        if dt.kind == "c":
            raise TypeError(f"fnp.fft.{who}: the input must be real, got {dt}; NumPy's "
                            f"np.fft.{who} refuses complex input too. Take fnp.real(x) first, "
                            f"or use fnp.fft.fft for the full spectrum.")
        want = np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)
    else:
        want = np.dtype(np.complex64) if dt in (np.float32, np.complex64) else \
            np.dtype(np.complex128)
    return x if dt == want else lax.convert_element_type(x, want)


def _resize(x, axis: int, n: int):
    """``x`` cut or zero-padded to length ``n`` along ``axis``."""
    a = get_aval(x)
    m = a.shape[axis]
    if n == m:
        return x
    if n < m:
        return lax.slice_(x, (0,) * a.ndim, a.shape[:axis] + (n,) + a.shape[axis + 1:])
    cfg = [(0, 0, 0)] * a.ndim
    cfg[axis] = (0, n - m, 0)
    return lax.pad(x, np.zeros((), a.dtype), tuple(cfg))


def _transform(who, x, axes, lengths, fft_type, norm):
    """One primitive over ``axes`` (distinct, canonical): ``lengths`` are the transform's
    (the real signal's for rfft/irfft)."""
    for n in lengths:
        if n < 1:
            raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    x = _convert(who, x, "real" if fft_type == "rfft" else "complex")
    nd = get_aval(x).ndim
    k = len(axes)
    perm = [d for d in range(nd) if d not in axes] + list(axes)
    moved = perm != list(range(nd))
    if moved:
        x = lax.transpose(x, tuple(perm))
    for j, n in enumerate(lengths):
        if fft_type == "irfft" and j == k - 1:
            n = n // 2 + 1
        x = _resize(x, nd - k + j, n)
    y = lax.fft(x, fft_type, tuple(lengths))
    c = _scale(norm, math.prod(lengths), fft_type in ("ifft", "irfft"))
    if c != 1.0:
        y = lax.mul(y, np.asarray(c, get_aval(y).dtype))
    if moved:
        y = lax.transpose(y, tuple(int(i) for i in np.argsort(perm)))
    return y


def _nd_args(who, a, s, axes, real_inverse):
    """NumPy's ``_cook_nd_args``: the lengths and (canonical) axes of an n-d transform."""
    shape = get_aval(a).shape
    if axes is not None:
        axes = [canonical_axis(f"fnp.fft.{who}", d, len(shape)) for d in axes]
    shapeless = s is None
    if shapeless:
        s = list(shape) if axes is None else [shape[d] for d in axes]
    s = list(s)
    if axes is None:
        axes = [canonical_axis(f"fnp.fft.{who}", d, len(shape)) for d in range(-len(s), 0)]
    if len(s) != len(axes):
        raise ValueError("Shape and axes have different lengths.")
    if real_inverse and shapeless and s:
        s[-1] = (shape[axes[-1]] - 1) * 2
    return [shape[d] if n is None else operator.index(n) for n, d in zip(s, axes)], axes


def _c2c_nd(who, a, s, axes, norm, fft_type):
    a = to_value(a)
    s, axes = _nd_args(who, a, s, axes, False)
    if not axes:
        return a
    if len(set(axes)) == len(axes):
        return _transform(who, a, axes, s, fft_type, norm)
    for n, d in reversed(list(zip(s, axes))):   # repeated axes: one at a time, as NumPy
        a = _transform(who, a, [d], [n], fft_type, norm)
    return a


def _one_axis(who, a, n, axis, fft_type, norm, default_n=None):
    a = to_value(a)
    shape = get_aval(a).shape
    if not shape:
        raise IndexError(f"fnp.fft.{who}: a 0-d array has no axis {axis} to transform")
    d = canonical_axis(f"fnp.fft.{who}", axis, len(shape))
    if n is None:
        n = default_n(shape[d]) if default_n else shape[d]
    return _transform(who, a, [d], [operator.index(n)], fft_type, _check_norm(norm))


def _half_to_full(m: int) -> int:
    return 2 * (m - 1)


@eager(np.fft.fft)
def fft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.fft``: the 1-d DFT along ``axis``, cut or zero-padded to ``n``."""
    _no_out("fft", out)
    return _one_axis("fft", a, n, axis, "fft", norm)


@eager(np.fft.ifft)
def ifft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.ifft``: the inverse of :func:`fft`."""
    _no_out("ifft", out)
    return _one_axis("ifft", a, n, axis, "ifft", norm)


@eager(np.fft.rfft)
def rfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.rfft``: the DFT of real input, the ``n // 2 + 1`` non-negative
    frequencies."""
    _no_out("rfft", out)
    return _one_axis("rfft", a, n, axis, "rfft", norm)


@eager(np.fft.irfft)
def irfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.irfft``: the inverse of :func:`rfft`; ``n`` defaults to
    ``2 * (m - 1)``."""
    _no_out("irfft", out)
    return _one_axis("irfft", a, n, axis, "irfft", norm, _half_to_full)


@eager(np.fft.hfft)
def hfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.hfft``: the DFT of a Hermitian-symmetric signal given by its first half
    (a real spectrum): ``irfft(conj(a), n)`` with the norm's direction swapped."""
    _no_out("hfft", out)
    a = _convert("hfft", a, "complex")
    return _one_axis("hfft", lax.conj(a), n, axis, "irfft", _SWAP[_check_norm(norm)],
                     _half_to_full)


@eager(np.fft.ihfft)
def ihfft(a, n=None, axis=-1, norm=None, out=None):
    """``numpy.fft.ihfft``: the inverse of :func:`hfft`: ``conj(rfft(a, n))`` with the
    norm's direction swapped."""
    _no_out("ihfft", out)
    return lax.conj(_one_axis("ihfft", a, n, axis, "rfft", _SWAP[_check_norm(norm)]))


@eager(np.fft.fftn)
def fftn(a, s=None, axes=None, norm=None, out=None):
    """``numpy.fft.fftn``: the n-d DFT over ``axes`` (all by default), lengths ``s``."""
    _no_out("fftn", out)
    return _c2c_nd("fftn", a, s, axes, _check_norm(norm), "fft")


@eager(np.fft.ifftn)
def ifftn(a, s=None, axes=None, norm=None, out=None):
    """``numpy.fft.ifftn``: the inverse of :func:`fftn`."""
    _no_out("ifftn", out)
    return _c2c_nd("ifftn", a, s, axes, _check_norm(norm), "ifft")


@eager(np.fft.rfftn)
def rfftn(a, s=None, axes=None, norm=None, out=None):
    """``numpy.fft.rfftn``: the n-d DFT of real input, halved along the last axis."""
    _no_out("rfftn", out)
    norm = _check_norm(norm)
    a = to_value(a)
    s, axes = _nd_args("rfftn", a, s, axes, False)
    if not axes:
        raise ValueError("fnp.fft.rfftn: at least one axis must be transformed (axes=())")
    if len(set(axes)) == len(axes):
        return _transform("rfftn", a, axes, s, "rfft", norm)
    a = _transform("rfftn", a, axes[-1:], s[-1:], "rfft", norm)
    return _c2c_nd("rfftn", a, s[:-1], axes[:-1], norm, "fft")


@eager(np.fft.irfftn)
def irfftn(a, s=None, axes=None, norm=None, out=None):
    """``numpy.fft.irfftn``: the inverse of :func:`rfftn`; the last length defaults to
    ``2 * (m - 1)``."""
    _no_out("irfftn", out)
    norm = _check_norm(norm)
    a = to_value(a)
    s, axes = _nd_args("irfftn", a, s, axes, True)
    if not axes:
        raise ValueError("fnp.fft.irfftn: at least one axis must be transformed (axes=())")
    if len(set(axes)) == len(axes):
        return _transform("irfftn", a, axes, s, "irfft", norm)
    a = _c2c_nd("irfftn", a, s[:-1], axes[:-1], norm, "ifft")
    return _transform("irfftn", a, axes[-1:], s[-1:], "irfft", norm)


@eager(np.fft.fft2)
def fft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``numpy.fft.fft2``: :func:`fftn` over the last two axes."""
    return fftn(a, s, axes, norm, out)


@eager(np.fft.ifft2)
def ifft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``numpy.fft.ifft2``: :func:`ifftn` over the last two axes."""
    return ifftn(a, s, axes, norm, out)


@eager(np.fft.rfft2)
def rfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``numpy.fft.rfft2``: :func:`rfftn` over the last two axes."""
    return rfftn(a, s, axes, norm, out)


@eager(np.fft.irfft2)
def irfft2(a, s=None, axes=(-2, -1), norm=None, out=None):
    """``numpy.fft.irfft2``: :func:`irfftn` over the last two axes."""
    return irfftn(a, s, axes, norm, out)


def _no_out(who, out):
    if out is not None:
        raise TypeError(f"fnp.fft.{who}: out= is not supported on traced values (they are "
                        f"immutable); use the returned array")


def _check_device(who, device):
    if device not in (None, "cpu"):
        raise ValueError(f"fnp.fft.{who}: device must be None or 'cpu', got {device!r}")


def _integer(who, n):
    try:
        return operator.index(n)
    except TypeError:
        raise TypeError(f"fnp.fft.{who}: n must be a known integer (it fixes the result's "
                        f"shape), got {type(n).__name__}; pass it as a static argument") \
            from None


def fftfreq(n, d=1.0, device=None):
    """``numpy.fft.fftfreq``: the sample frequencies of an ``n``-point DFT with sample
    spacing ``d`` (``d`` may be traced; ``n`` fixes the shape)."""
    n = _integer("fftfreq", n)
    _check_device("fftfreq", device)
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return k * (1.0 / (n * d))


def rfftfreq(n, d=1.0, device=None):
    """``numpy.fft.rfftfreq``: the non-negative sample frequencies of :func:`rfft`."""
    n = _integer("rfftfreq", n)
    _check_device("rfftfreq", device)
    return np.arange(0, n // 2 + 1) * (1.0 / (n * d))


def _shift(x, axes, sign):
    x = to_value(x)
    shape = get_aval(x).shape
    if axes is None:
        axes = tuple(range(len(shape)))
    if isinstance(axes, (int, np.integer)):
        return _roll(x, sign * (shape[axes] // 2), int(axes))
    axes = tuple(operator.index(d) for d in axes)
    if not axes:
        return x
    return _roll(x, tuple(sign * (shape[d] // 2) for d in axes), axes)


def fftshift(x, axes=None):
    """``numpy.fft.fftshift``: the zero frequency moved to the centre (along ``axes``, all by
    default)."""
    return _shift(x, axes, 1)


def ifftshift(x, axes=None):
    """``numpy.fft.ifftshift``: the inverse of :func:`fftshift`."""
    return _shift(x, axes, -1)
