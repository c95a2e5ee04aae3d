"""Vectorizable float64 scalar math for generated loops.

Why this exists: the llvmlite wheels on PyPI ship no vector math library (no SVML), so Numba
lowers ``math.sin``/``math.exp``/... to scalar libm calls, and a loop containing one of them
does not vectorize. XLA instead emits polynomial approximations that LLVM can vectorize. The
functions here do the same: straight-line float64 code (no branches, no libm calls; special
cases are handled by selects at the end) that LLVM inlines into the caller's loop and turns
into SIMD code.

How they are built (the usual recipe, coefficients fitted for this file by a Remez exchange):
  1. argument reduction with an exact first step (``fma`` with a full-precision constant, or
     Cody–Waite), e.g. ``exp(x) = 2**k * exp(r)`` with ``|r| <= ln2/2``;
  2. a minimax polynomial on the reduced range, evaluated by Horner's rule with ``fma``;
  3. reconstruction by integer arithmetic on the exponent bits;
  4. selects for nan, +-inf, +-0.0, overflow, underflow and subnormal inputs/results.

Accuracy (measured against an 80-bit long-double reference, see tests/test_fastmath.py):
every function is within ``MAX_ULP`` units in the last place over its whole domain,
including subnormals, infinities and the overflow/underflow boundaries; nan gives nan and
the sign of zero is kept where libm keeps it. ``fsin``/``fcos`` reduce exactly for
``|x| <= TRIG_MAX``; above it see their docstrings.

How to use from generated code: ``from funcad.codegen.fastmath import fsin, fexp, ...`` and
call them in loops compiled with ``error_model='numpy'``. They are plain ``numba.njit``
functions compiled *without* fast-math flags: LLVM inlines them into the caller (which may use
``reassoc``/``contract``) and the caller's flags do not leak into them, so the careful
operation order here (exact reductions, error terms) survives. ``numba.njit(inline='always')``
would inline at the Numba IR level and give them the caller's flags; we measured no speed
difference, so we keep the safer plain form.

``fma`` is ``llvm.fma``: one instruction on x86-64 with FMA3 (every CPU since ~2013); on a CPU
without it LLVM calls libm's exact ``fma``, which keeps the results but loses the speed.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

__all__ = ["fexp", "fexpm1", "fexp2", "flog", "flog1p", "fsin", "fcos", "ftanh",
           "flogistic", "fatan", "MAX_ULP", "TRIG_MAX"]

MAX_ULP = 4          # the bound the tests assert for every function
TRIG_MAX = 2.0**30   # fsin/fcos reduce exactly (to within 1 ulp) for |x| <= TRIG_MAX

_INF = math.inf
_NAN = math.nan


# --- LLVM building blocks ------------------------------------------------------------------
@intrinsic
def _fma(typingctx, a, b, c):
    """a*b + c with a single rounding (llvm.fma)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return sig, codegen


@intrinsic
def _rint(typingctx, a):
    """Round to the nearest integer, ties to even (llvm.rint; vectorizes to vroundpd)."""
    sig = types.float64(types.float64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.rint", [ir.DoubleType()])
        return builder.call(fn, args)
    return sig, codegen


@intrinsic
def _bits(typingctx, a):
    """The IEEE-754 bit pattern of a float64, as an int64."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@intrinsic
def _from_bits(typingctx, a):
    """The float64 whose bit pattern is the int64 ``a``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return sig, codegen


_kernel = numba.njit(error_model="numpy", nogil=True)


@_kernel
def _pow2(k):
    """2.0**k for an int64 k in [-1022, 1023] (a normal number), by building the bits."""
    return _from_bits((k + 1023) << 52)


# --- exp family -------------------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453          # ln 2 rounded to double
_LN2_LO = 2.3190468138462996e-17   # ln 2 - _LN2
# expm1(r) = r + r**2 * E(r) on |r| <= ln2/2 (relative error 2**-61.7)
_E0 = 0.5
_E1 = 0.16666666666666677
_E2 = 0.04166666666666651
_E3 = 0.008333333333321683
_E4 = 0.0013888888888962429
_E5 = 0.00019841269885993048
_E6 = 2.4801587172462374e-05
_E7 = 2.7557244343942096e-06
_E8 = 2.755740267490967e-07
_E9 = 2.5108990365778622e-08
_E10 = 2.0875330098240948e-09


@_kernel
def _expm1_poly(r):
    p = _fma(_E10, r, _E9)
    p = _fma(p, r, _E8)
    p = _fma(p, r, _E7)
    p = _fma(p, r, _E6)
    p = _fma(p, r, _E5)
    p = _fma(p, r, _E4)
    p = _fma(p, r, _E3)
    p = _fma(p, r, _E2)
    p = _fma(p, r, _E1)
    p = _fma(p, r, _E0)
    return _fma(p, r * r, r)


@_kernel
def _exp_reduce(x):
    """k, r with x = k*ln2 + r, |r| <= ln2/2 (k integer-valued, nan-free for finite x)."""
    k = _rint(x * _LOG2E)
    r = _fma(-k, _LN2, x)       # exact: both operands are multiples of 2**-53 here
    r = _fma(-k, _LN2_LO, r)
    return k, r


@_kernel
def fexp(x):
    """exp(x) for float64, branch-free; within MAX_ULP ulp, incl. subnormal results."""
    # Clamp so that k stays in range; exp(-746) rounds to 0 and exp(710) to inf anyway.
    xc = -746.0 if x < -746.0 else x
    xc = 710.0 if xc > 710.0 else xc
    xc = 0.0 if xc != xc else xc
    k, r = _exp_reduce(xc)
    ki = int(k)
    k1 = ki >> 1                   # two factors keep every scale normal, so results near
    y = (1.0 + _expm1_poly(r)) * _pow2(k1)   # the overflow/underflow edge round only once
    y = y * _pow2(ki - k1)
    return y if x == x else x


@_kernel
def fexpm1(x):
    """exp(x) - 1 for float64, accurate near 0; within MAX_ULP ulp."""
    xc = -60.0 if x < -60.0 else x     # expm1(-60) rounds to -1
    xc = 710.0 if xc > 710.0 else xc
    xc = 0.0 if xc != xc else xc
    k, r = _exp_reduce(xc)
    p = _expm1_poly(r)
    ki = int(k)
    s = _pow2(ki if ki < 1024 else 1023)
    y = _fma(s, p, s - 1.0)            # 2**k * (1 + p) - 1
    y = y * 2.0 if ki > 1023 else y    # k == 1024: scale in two steps
    # |x| < 2**-54: expm1(x) rounds to x; this also keeps the sign of -0.0
    return x if (abs(x) < 5.551115123125783e-17) | (x != x) else y


# 2**r - 1 = r * Q(r) on |r| <= 1/2 (relative error 2**-58)
_Q0 = 0.6931471805599453
_Q1 = 0.2402265069591013
_Q2 = 0.055504108664820084
_Q3 = 0.009618129107594093
_Q4 = 0.0013333558146774902
_Q5 = 0.0001540353045715022
_Q6 = 1.5252733492936547e-05
_Q7 = 1.3215435261754028e-06
_Q8 = 1.0178199618895353e-07
_Q9 = 7.073787016308034e-09
_Q10 = 4.434768924760737e-10


@_kernel
def fexp2(x):
    """2**x for float64; exact for integer x; within MAX_ULP ulp."""
    xc = -1076.0 if x < -1076.0 else x
    xc = 1025.0 if xc > 1025.0 else xc
    xc = 0.0 if xc != xc else xc
    k = _rint(xc)
    r = xc - k                          # exact
    p = _fma(_Q10, r, _Q9)
    p = _fma(p, r, _Q8)
    p = _fma(p, r, _Q7)
    p = _fma(p, r, _Q6)
    p = _fma(p, r, _Q5)
    p = _fma(p, r, _Q4)
    p = _fma(p, r, _Q3)
    p = _fma(p, r, _Q2)
    p = _fma(p, r, _Q1)
    p = _fma(p, r, _Q0)
    ki = int(k)
    k1 = ki >> 1
    y = _fma(p, r, 1.0) * _pow2(k1)
    y = y * _pow2(ki - k1)
    return y if x == x else x


@_kernel
def ftanh(x):
    """tanh(x) = expm1(2|x|) / (expm1(2|x|) + 2) with the sign of x; within MAX_ULP ulp."""
    a = abs(x)
    a = 22.0 if a > 22.0 else a         # tanh(22) rounds to 1
    t = fexpm1(2.0 * a)
    return math.copysign(t / (t + 2.0), x)


@_kernel
def flogistic(x):
    """The logistic sigmoid 1 / (1 + exp(-x)), accurate in both tails; within MAX_ULP ulp."""
    e = fexp(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


# --- log family -------------------------------------------------------------------------------
_LN2_HI = 0.6931471803691238       # ln 2 to 32 bits: e * _LN2_HI is exact for |e| < 2**21
_LN2_HI_LO = 1.9082149292705877e-10
_SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
# log(1+f) = f - f**2/2 + s*(f**2/2 + R(z)), s = f/(2+f), z = s*s, R(z) = sum L_i z**i
# (absolute error of R 2**-58.5 on z <= (3 - 2*sqrt(2))**2)
_L1 = 0.6666666666666735
_L2 = 0.3999999999940748
_L3 = 0.28571428744142685
_L4 = 0.22222198378345936
_L5 = 0.18183575172284203
_L6 = 0.15313755585697164
_L7 = 0.14799067851995876


@_kernel
def _log1p_f(f, c):
    """log(1 + f) + c for |f| <= sqrt(2) - 1 and a small correction c (fdlibm's scheme)."""
    s = f / (2.0 + f)
    z = s * s
    R = _fma(_L7, z, _L6)
    R = _fma(R, z, _L5)
    R = _fma(R, z, _L4)
    R = _fma(R, z, _L3)
    R = _fma(R, z, _L2)
    R = _fma(R, z, _L1)
    R = R * z
    hfsq = 0.5 * f * f
    return f - (hfsq - _fma(s, hfsq + R, c))


@_kernel
def flog(x):
    """Natural log for float64: log(0) = -inf, log(x<0) = nan; within MAX_ULP ulp."""
    sub = x < 2.2250738585072014e-308            # subnormal (or <= 0): scale into normal range
    xs = x * 18014398509481984.0 if sub else x   # 2**54
    # split x = 2**e * m with m in [sqrt(1/2), sqrt(2)): exponent from the bits, offset so the
    # mantissa range is centred on 1
    t = _bits(xs) - _SQRT_HALF_BITS
    e = t >> 52
    m = _from_bits(_bits(xs) - (e << 52))
    ef = float(e) - (54.0 if sub else 0.0)
    y = _fma(ef, _LN2_HI, _log1p_f(m - 1.0, ef * _LN2_HI_LO))
    ok = (x > 0.0) & (x < _INF)
    special = -_INF if x == 0.0 else (_INF if x == _INF else _NAN)
    return y if ok else special


@_kernel
def flog1p(x):
    """log(1 + x) for float64, accurate near 0; within MAX_ULP ulp."""
    u = 1.0 + x
    ub = _bits(u) - _SQRT_HALF_BITS
    e = ub >> 52
    m = _from_bits(_bits(u) - (e << 52))
    e0 = e == 0
    # 1 + x rounds; when e == 0, f = x is exact, otherwise add the rounding error back as
    # (x - (u - 1)) / u (u - 1 is exact for u in [1/2, 2**53])
    f = x if e0 else m - 1.0
    c = 0.0 if e0 else (x - (u - 1.0)) / u
    ef = float(e)
    y = _fma(ef, _LN2_HI, _log1p_f(f, _fma(ef, _LN2_HI_LO, c)))
    ok = (x > -1.0) & (x < _INF)
    special = -_INF if x == -1.0 else (_INF if x == _INF else _NAN)
    y = y if ok else special
    return x if abs(x) < 5.551115123125783e-17 else y   # keeps -0.0


# --- trigonometric -----------------------------------------------------------------------------
_TWO_OVER_PI = 0.6366197723675814
_PIO2_1 = 1.5707963267948966       # pi/2 = _PIO2_1 + _PIO2_2 + _PIO2_3 + O(2**-160)
_PIO2_2 = 6.123233995736766e-17
_PIO2_3 = -1.4973849048591698e-33
_MAGIC = 6755399441055744.0        # 1.5 * 2**52: adding it to an integer-valued double puts
                                   # the integer in the low bits of the mantissa
# sin(r) = r + r**3 * S(z), cos(r) = 1 - z/2 + z**2 * C(z), z = r*r, |r| <= pi/4
_S0 = -0.1666666666666663
_S1 = 0.008333333333321891
_S2 = -0.00019841269829400755
_S3 = 2.755731355367446e-06
_S4 = -2.5050736835451316e-08
_S5 = 1.589557894771508e-10
_C0 = 0.04166666666666659
_C1 = -0.0013888888888872733
_C2 = 2.4801587288643916e-05
_C3 = -2.755731411779024e-07
_C4 = 2.0875692289647857e-09
_C5 = -1.1358084202025343e-11


@_kernel
def _sincos_reduced(x):
    """(sin r, cos r, q) with x = q*pi/2 + r (mod 2*pi), q in 0..3, for |x| <= TRIG_MAX."""
    k = _rint(x * _TWO_OVER_PI)
    # the first step is exact (see the tests' argument); the next two carry the rest of pi/2
    r = _fma(-k, _PIO2_1, x)
    r = _fma(-k, _PIO2_2, r)
    r = _fma(-k, _PIO2_3, r)
    q = _bits(k + _MAGIC) & 3
    z = r * r
    zlo = _fma(r, r, -z)
    s = _fma(_S5, z, _S4)
    s = _fma(s, z, _S3)
    s = _fma(s, z, _S2)
    s = _fma(s, z, _S1)
    s = _fma(s, z, _S0)
    s = _fma(r * z, s, r)
    c = _fma(_C5, z, _C4)
    c = _fma(c, z, _C3)
    c = _fma(c, z, _C2)
    c = _fma(c, z, _C1)
    c = _fma(c, z, _C0)
    c = _fma(z * z, c, _fma(-0.5, zlo, _fma(-0.5, z, 1.0)))
    return s, c, q


@_kernel
def fsin(x):
    """sin(x) for float64; within MAX_ULP ulp for |x| <= TRIG_MAX, nan for +-inf/nan."""
    s, c, q = _sincos_reduced(x)
    y = c if q & 1 else s
    y = -y if q & 2 else y
    y = x if abs(x) < 1.4901161193847656e-08 else y    # sin(x) rounds to x; keeps -0.0
    return y if abs(x) < _INF else _NAN


@_kernel
def fcos(x):
    """cos(x) for float64; within MAX_ULP ulp for |x| <= TRIG_MAX, nan for +-inf/nan."""
    s, c, q = _sincos_reduced(x)
    y = s if q & 1 else c
    y = -y if (q + 1) & 2 else y
    return y if abs(x) < _INF else _NAN


# atan(u) = u + u**3 * A(z), z = u*u, |u| <= tan(pi/8) (relative error 2**-59.4)
_A0 = -0.333333333333332
_A1 = 0.19999999999953164
_A2 = -0.14285714280157566
_A3 = 0.11111110781686141
_A4 = -0.09090897711278936
_A5 = 0.07692059460983536
_A6 = -0.06663096206491087
_A7 = 0.05847836911196187
_A8 = -0.05039087343794472
_A9 = 0.03805946557530633
_A10 = -0.017902053729461298
_TAN_PI_8 = 0.41421356237309503
_TAN_3PI_8 = 2.414213562373095
_PIO4_HI = 0.7853981633974483
_PIO4_LO = 3.061616997868383e-17


@_kernel
def fatan(x):
    """atan(x) for float64 (odd, atan(+-inf) = +-pi/2); within MAX_ULP ulp."""
    a = abs(x)
    mid = a > _TAN_PI_8
    big = a > _TAN_3PI_8
    # one division covers the three ranges: u = a, (a-1)/(a+1) or -1/a
    num = -1.0 if big else (a - 1.0 if mid else a)
    den = a if big else (a + 1.0 if mid else 1.0)
    u = num / den
    n = 2.0 if big else (1.0 if mid else 0.0)        # offset n * pi/4
    z = u * u
    p = _fma(_A10, z, _A9)
    p = _fma(p, z, _A8)
    p = _fma(p, z, _A7)
    p = _fma(p, z, _A6)
    p = _fma(p, z, _A5)
    p = _fma(p, z, _A4)
    p = _fma(p, z, _A3)
    p = _fma(p, z, _A2)
    p = _fma(p, z, _A1)
    p = _fma(p, z, _A0)
    y = _fma(n, _PIO4_HI, u + _fma(u * z, p, n * _PIO4_LO))
    return math.copysign(y, x) if x == x else x
