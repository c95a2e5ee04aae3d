"""Complex numbers in ``funcad.numpy``: parts, conjugates, angles and the dtype tests.

``real``, ``imag`` and ``conj`` bind the linear primitives of the same names (a real operand
is its own real part and conjugate, with a zero imaginary part, as in NumPy). Derivatives
follow JAX's convention (see docs/architecture.md, "Complex numbers"). ``iscomplexobj`` and
``isrealobj`` read only the dtype; ``real_if_close`` decides its result's dtype from the
values, so it needs concrete values: traced, it raises unless the input is already real.
"""
from __future__ import annotations

import numpy as np

from funcad import lax
from funcad.core import Tracer, get_aval
from funcad.numpy._util import eager, to_value
from funcad.numpy.ufuncs import _ufunc, scalar_like

__all__ = ["real", "imag", "conjugate", "conj", "angle", "iscomplexobj", "isrealobj", "iscomplex",
           "isreal",
           "real_if_close"]


def _is_complex(x) -> bool:
    return get_aval(x).dtype.kind == "c"


@eager(np.real)
def real(val):
    """``numpy.real``: the real part (a real array is returned as it is)."""
    val = to_value(val)
    return lax.real(val) if _is_complex(val) else val


@eager(np.imag)
def imag(val):
    """``numpy.imag``: the imaginary part (zeros of a real array's dtype)."""
    val = to_value(val)
    return lax.imag(val) if _is_complex(val) else scalar_like(0, val)


# a ufunc: declared by ufuncs' builder, which exports it from funcad.numpy.ufuncs
conjugate = _ufunc(np.conjugate, lambda x: lax.conj(x) if x.dtype.kind == "c" else x)
conj = conjugate


@eager(np.angle)
def angle(z, deg: bool = False):
    """``numpy.angle``: the argument ``atan2(imag, real)`` in radians (degrees with
    ``deg``); for real input 0 or pi. Integers and bools give float64."""
    z = to_value(z)
    if not _is_complex(z):
        z = lax.convert_element_type(z, np.float64) if z.dtype.kind != "f" else z
        a = lax.atan2(scalar_like(0, z), z)
    else:
        a = lax.atan2(lax.imag(z), lax.real(z))
    return lax.mul(a, 180.0 / np.pi) if deg else a


def iscomplexobj(x) -> bool:
    """``numpy.iscomplexobj``: is the dtype complex (the values are not looked at)."""
    if isinstance(x, Tracer):
        return x.aval.dtype.kind == "c"
    return bool(np.iscomplexobj(x))


def isrealobj(x) -> bool:
    """``numpy.isrealobj``: not :func:`iscomplexobj`."""
    return not iscomplexobj(x)


@eager(np.iscomplex)
def iscomplex(x):
    """``numpy.iscomplex``: elementwise, is the imaginary part nonzero."""
    x = to_value(x)
    if not _is_complex(x):
        return lax.full(get_aval(x).shape, False, np.bool_)
    im = lax.imag(x)
    return lax.ne(im, scalar_like(0, im))


@eager(np.isreal)
def isreal(x):
    """``numpy.isreal``: elementwise, is the imaginary part zero."""
    x = to_value(x)
    if not _is_complex(x):
        return lax.full(get_aval(x).shape, True, np.bool_)
    im = lax.imag(x)
    return lax.eq(im, scalar_like(0, im))


@eager(np.real_if_close)
def real_if_close(a, tol=100):
    """``numpy.real_if_close``: the real part when every imaginary part is within ``tol``
    machine epsilons of zero, else ``a``. The result's dtype depends on the values, so a
    traced complex ``a`` raises (a real one is returned as it is)."""
    a = to_value(a)
    if not _is_complex(a):
        return a
    raise TypeError(
        f"fnp.real_if_close of a traced complex value ({a.aval.str_short()}): whether the "
        f"result is real depends on the values, which are not known while tracing. Use "
        f"fnp.real(a) where the imaginary parts are known to be negligible, or keep a complex.")
