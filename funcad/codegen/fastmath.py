"""Vectorizable float64 scalar math for generated loops.

Why this exists: the llvmlite wheels on PyPI ship no vector math library (no SVML), so Numba
lowers ``math.sin``/``math.exp``/... to scalar libm calls and a loop containing one does not
vectorize (LLVM at best vectorizes around it and calls libm lane by lane). XLA instead emits
polynomial approximations LLVM can vectorize. The kernels here do the same: straight-line
float64 code, no branches and no libm calls (special cases are selects at the end), that LLVM
inlines into the caller's loop and turns into SIMD code.

Recipe (coefficients fitted for this file by a Remez exchange, max relative error <= 2**-58):
  1. argument reduction whose first step is exact (``fma`` with a full-precision constant),
     e.g. ``exp(x) = 2**k * exp(r)`` with ``|r| <= ln2/2``;
  2. a minimax polynomial on the reduced range, Horner's rule with explicit ``fma``;
  3. reconstruction through the exponent bits (two scale factors near overflow/underflow);
  4. selects for nan, +-inf, +-0.0, overflow, underflow and subnormal inputs and results.

Accuracy, over each whole float64 domain incl. subnormals, +-inf, nan and the overflow and
underflow edges, against an 80-bit long double reference (tests/test_fastmath.py): max error
1.0 ulp fexp/fexp2, 0.8 flog/flog1p, 1.8 fexpm1, 2.4 ftanh, 2.1 flogistic, 1.5 fatan, 1.5
fsin/fcos (all x, incl. the double nearest a multiple of pi/2, where glibc's cos is 8 ulp off).
``MAX_ULP`` = 3 is the bound the tests assert. nan -> nan; the sign of zero is kept where libm
keeps it; results that NumPy gives as inf/0 are inf/0 here.

Speed (``s += f(x[i])`` over 10**6 float64, one core, vs the same loop with ``math.*``):
fexp 0.44 ms (6.9x), fexpm1 0.42 (17x), flog 0.61 (4.7x), flog1p 0.56 (20x), ftanh 0.53 (20x),
fatan 0.52 (15x), fsin/fcos 2.4 (6-8x), fsin_bounded/fcos_bounded 0.43 (29x).
``sum(sin(x)**2 + cos(x)*x - tanh(x))``: math.* 28 ms, fsin/fcos 3.9 ms, bounded kernels
1.1 ms, jax.jit float64 12-24 ms (XLA calls scalar sin/cos for float64).

sin and cos. Reducing ``x`` modulo pi/2 exactly needs ~1100 bits of pi for the largest doubles.
``fsin``/``fcos`` do it for every x, branch-free, with a Payne-Hanek table (``_reduce_full``):
correct everywhere, but the table gathers and double-double sums cost 5x the rest of the
kernel. ``fsin_bounded``/``fcos_bounded`` use a three-constant Cody-Waite reduction, exact for
``|x| <= TRIG_MAX`` (2**30) and wrong beyond. A per-element fallback inside the loop cannot work:
LLVM either executes the libm call for every lane (measured 16 ms, slower than no
vectorization) or refuses to vectorize the loop. So a code generator that wants the cheap path
runs a block with the bounded kernels, or-reduces ``trig_out_of_range(x)`` alongside, and redoes
the (rare) flagged block with fsin/fcos; see "loop shape" below.

Reductions. ``s += ...`` vectorizes when the function is compiled with the ``reassoc`` flag
(compile.py's FASTMATH_FLAGS); a max/min reduction vectorizes only through ``fmaximum``/
``fminimum`` (llvm.maximum: nan-propagating like np.maximum; ``max(m, v)`` and
``v if v > m else m`` stay scalar with any flags). Recommended loop shape (B = 1024):

    s = -0.0                              # the additive identity: sum([-0.0]) is -0.0
    nb = n // B
    for b in range(nb):
        base = b * B
        acc = -0.0
        far = 0                           # only when the body uses fsin/fcos
        for j in range(B):                # constant trip count: vectorized and unrolled
            v = x[base + j]
            acc += fsin_bounded(v) ** 2 + fcos_bounded(v) * v
            far |= trig_out_of_range(v)
        if far:                           # rare: redo this block with full-range kernels
            acc = -0.0
            for j in range(B):
                v = x[base + j]
                acc += fsin(v) ** 2 + fcos(v) * v
        s += acc
    for i in range(nb * B, n):            # remainder, full-range kernels
        ...
    
Measured on 10**6: as fast as the plain loop (``s += x[i]``: 0.080 vs 0.073 ms; the sin/cos
expression 1.08 ms, 1.14 ms with ten huge elements), and as accurate as NumPy's pairwise sum
(relative error 2.4e-16 vs 6.2e-15 for the single loop, whose partial sums each see n/32
elements). Write the inner bound as a constant: ``range(b, min(b + B, n))`` is 4.5x slower.

Use from generated code: ``from funcad.codegen.fastmath import fsin, fexp, ...``, float64
arguments (compute float32 in float64 and round), in functions compiled with
``error_model='numpy'``. Every kernel is compiled with ``fastmath=False`` (otherwise Numba would
let it inherit the caller's flags, and ``reassoc`` would undo its exact error terms) and
``forceinline=True`` (LLVM's alwaysinline: fsin is too large for the default inline threshold,
and a call left in the loop blocks vectorization). ``inline='always'`` is not used: it inlines
at the Numba IR level, where the caller's flags would apply. ``fma`` is ``llvm.fma``: one
instruction on x86-64 with FMA3 and on arm64; elsewhere LLVM calls libm's exact ``fma``, slower
but with the same results.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["fexp", "fexpm1", "fexp2", "flog", "flog1p", "fsin", "fcos", "ftanh",
           "flogistic", "fatan", "fsin_bounded", "fcos_bounded", "trig_out_of_range",
           "fsin_far", "fcos_far",
           "fmaximum", "fminimum", "MAX_ULP", "TRIG_MAX"]

MAX_ULP = 3          # error bound of every kernel, asserted by tests/test_fastmath.py
TRIG_MAX = 2.0**30   # fsin_bounded/fcos_bounded are accurate for |x| <= TRIG_MAX

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


def _binary_intrinsic(llvm_name: str):
    """A float64 (a, b) -> float64 intrinsic calling the LLVM intrinsic ``llvm_name``."""
    @intrinsic
    def call(typingctx, a, b):
        sig = types.float64(types.float64, types.float64)

        def codegen(context, builder, signature, args):
            fnty = ir.FunctionType(ir.DoubleType(), [ir.DoubleType(), ir.DoubleType()])
            fn = cgutils.get_or_insert_function(builder.module, fnty, llvm_name)
            return builder.call(fn, args)
        return sig, codegen
    return call


_maximum = _binary_intrinsic("llvm.maximum.f64")   # IEEE 754-2019 maximum: nan-propagating
_minimum = _binary_intrinsic("llvm.minimum.f64")

# Every kernel is compiled strictly (fastmath=False stops Numba from inheriting the caller's
# flags) and marked alwaysinline, so LLVM inlines it into the caller's loop however long it is.
_kernel = numba.njit(error_model="numpy", fastmath=False, forceinline=True, nogil=True)


@_kernel
def fmaximum(a, b):
    """np.maximum for float64 scalars (nan if either is nan). Unlike ``max(m, v)``, a max
    reduction written as ``m = fmaximum(m, v)`` vectorizes, with or without fast-math flags."""
    return _maximum(a, b)


@_kernel
def fminimum(a, b):
    """np.minimum for float64 scalars (nan if either is nan); vectorizes like fmaximum."""
    return _minimum(a, b)


@_kernel
def _pow2(k):
    """2.0**k for an int64 k in [-1022, 1023] (a normal number), by building the bits."""
    return _from_bits((k + 1023) << 52)


@_kernel
def _horner(x, c):
    """c[0]*x**(n-1) + ... + c[n-1] by Horner's rule with fma (LLVM unrolls the loop and folds
    the constants; the same code as writing the fmas out)."""
    p = c[0]
    for i in range(1, len(c)):
        p = _fma(p, x, c[i])
    return p


# --- exp family -------------------------------------------------------------------------------
_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453          # ln 2 rounded to double
_LN2_LO = 2.3190468138462996e-17   # ln 2 - _LN2
# Polynomial coefficients, highest degree first (each fitted by a Remez exchange).
# expm1(r) = r + r**2 * E(r) on |r| <= ln2/2, relative error 2**-61.7
_E = (2.0875330098240948e-09, 2.5108990365778622e-08, 2.755740267490967e-07,
      2.7557244343942096e-06, 2.4801587172462374e-05, 0.00019841269885993048,
      0.0013888888888962429, 0.008333333333321683, 0.04166666666666651, 0.16666666666666677,
      0.5)
# 2**r - 1 = r * Q(r) on |r| <= 1/2, relative error 2**-58.0
_Q = (4.434768924760737e-10, 7.073787016308034e-09, 1.0178199618895353e-07,
      1.3215435261754028e-06, 1.5252733492936547e-05, 0.0001540353045715022,
      0.0013333558146774902, 0.009618129107594093, 0.055504108664820084, 0.2402265069591013,
      0.6931471805599453)


@_kernel
def _expm1_poly(r):
    return _fma(_horner(r, _E), r * r, r)


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


@_kernel
def fexp2(x):
    """2**x for float64; exact for integer x; within MAX_ULP ulp."""
    xc = -1076.0 if x < -1076.0 else x
    xc = 1025.0 if xc > 1025.0 else xc
    xc = 0.0 if xc != xc else xc
    k = _rint(xc)
    r = xc - k                          # exact
    ki = int(k)
    k1 = ki >> 1
    y = _fma(_horner(r, _Q), r, 1.0) * _pow2(k1)
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
# log(1+f) = f - f**2/2 + s*(f**2/2 + z*L(z)), s = f/(2+f), z = s*s <= (3 - 2*sqrt(2))**2,
# absolute error of z*L(z) 2**-58.5
_L = (0.14799067851995876, 0.15313755585697164, 0.18183575172284203, 0.22222198378345936,
      0.28571428744142685, 0.3999999999940748, 0.6666666666666735)


@_kernel
def _log1p_f(f, c):
    """log(1 + f) + c for |f| <= sqrt(2) - 1 and a small correction c (fdlibm's scheme)."""
    s = f / (2.0 + f)
    z = s * s
    R = _horner(z, _L) * z
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
# sin(r) = r + r**3 * S(z), cos(r) = 1 - z/2 + z**2 * C(z), z = r*r, |r| <= pi/4,
# relative errors 2**-57.9 and 2**-63.9
_S = (1.589557894771508e-10, -2.5050736835451316e-08, 2.755731355367446e-06,
      -0.00019841269829400755, 0.008333333333321891, -0.1666666666666663)
_C = (-1.1358084202025343e-11, 2.0875692289647857e-09, -2.755731411779024e-07,
      2.4801587288643916e-05, -0.0013888888888872733, 0.04166666666666659)
_MAGIC = 6755399441055744.0        # 1.5 * 2**52: adding it to an integer-valued double puts
                                   # that integer in the low bits of the mantissa
_TINY_SIN = 1.4901161193847656e-08  # 2**-26: below it sin(x) rounds to x and cos(x) to 1


@_kernel
def _sincos_poly(r, q, x):
    """sin(x) and cos(x) from x = q*pi/2 + r (mod 2*pi), |r| <= pi/4 (q may be any int)."""
    z = r * r
    zlo = _fma(r, r, -z)                  # z's rounding error, to keep 1 - z/2 exact-ish
    s = _fma(r * z, _horner(z, _S), r)
    c = _fma(z * z, _horner(z, _C), _fma(-0.5, zlo, _fma(-0.5, z, 1.0)))
    sin = c if q & 1 else s
    sin = -sin if q & 2 else sin
    cos = s if q & 1 else c
    cos = -cos if (q + 1) & 2 else cos
    finite = abs(x) < _INF
    sin = x if abs(x) < _TINY_SIN else sin          # also keeps the sign of -0.0
    return (sin if finite else _NAN), (cos if finite else _NAN)


# Bounded reduction (Cody-Waite with fma): k = rint(x*2/pi), r = x - k*pi/2 with pi/2 in three
# doubles. The first fma is exact (x and k*_PIO2_1 are multiples of 2**-53 and |r| < 1); the
# other two pieces carry pi/2 to ~160 bits, enough while k*2**-160 << the smallest |r| of any
# double, i.e. for |x| <= TRIG_MAX. Costs ~8 flops.
_TWO_OVER_PI = 0.6366197723675814
_PIO2_1 = 1.5707963267948966
_PIO2_2 = 6.123233995736766e-17
_PIO2_3 = -1.4973849048591698e-33


@_kernel
def _reduce_bounded(x):
    k = _rint(x * _TWO_OVER_PI)
    r = _fma(-k, _PIO2_1, x)
    r = _fma(-k, _PIO2_2, r)
    r = _fma(-k, _PIO2_3, r)
    return r, _bits(k + _MAGIC) & 3


# Full-range reduction (Payne-Hanek, branch-free). Write |x| = M * 2**E with M an integer in
# [2**52, 2**53). Because M is an integer, x*2/pi = M * F_E (mod 4) with F_E = 2**E * 2/pi mod 4,
# precomputed below for every exponent as four doubles (~210 bits). M*F_E is summed with exact
# two-products and two-sums, the integer part gives the quadrant and the fraction (a
# double-double) times pi/2 gives r with a relative error < 2**-100 even for the double closest
# to a multiple of pi/2 (|r| ~ 2**-61). Costs ~70 flops and four table gathers.
_TWO_OVER_PI_HEX = (  # the first 1280 bits of 2/pi
    "a2f9836e4e441529fc2757d1f534ddc0db6295993c439041fe5163abdebbc561"
    "b7246e3a424dd2e006492eea09d1921cfe1deb1cb129a73ee88235f52ebb4484"
    "e99c7026b45f7e413991d639835339f49c845f8bbdf9283b1ff897ffde05980f"
    "ef2f118b5a0a6d1f6d367ecf27cb09b74f463f669e5fea2d7527bac7ebe5f17b"
    "3d0739f78a5292ea6bfb5fb11f8d5d0856033046fc7b6babf0cfbc209af4361d")
_E_MIN = -79     # 2**(-79+52) = 2**-27: smaller |x| take the sin(x) = x path anyway
_E_MAX = 971     # the largest finite double is < 2**(971+53)


def _two_over_pi_table() -> np.ndarray:
    """Rows f0..f3 (flattened) with f0+f1+f2+f3 = 2**E * 2/pi mod 4 for E in [_E_MIN, _E_MAX]."""
    n_bits = 4 * len(_TWO_OVER_PI_HEX)
    two_over_pi = int(_TWO_OVER_PI_HEX, 16)           # 2/pi ~= two_over_pi / 2**n_bits
    rows = []
    for e in range(_E_MIN, _E_MAX + 1):
        den_bits = n_bits - e                          # F_E = num / 2**den_bits
        num = two_over_pi % (1 << (den_bits + 2))      # drop multiples of 4
        for _ in range(4):
            f = num / (1 << den_bits)                  # correctly rounded
            mant, exp = math.frexp(f)
            m, shift = int(mant * 2.0**53), exp - 53   # f = m * 2**shift exactly
            num -= m << (shift + den_bits) if shift + den_bits >= 0 else 0
            rows.append(f)
    return np.array(rows, dtype=np.float64)


_TWO_OVER_PI_TABLE = _two_over_pi_table()


@_kernel
def _two_sum(a, b):
    """s, e with s = fl(a + b) and s + e = a + b exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@_kernel
def _reduce_full(x):
    a = abs(x)
    b = _bits(a)
    i = (b >> 52) - (1075 + _E_MIN)                   # row E - _E_MIN, E = exponent - 52
    i = 0 if i < 0 else i
    i = _E_MAX - _E_MIN if i > _E_MAX - _E_MIN else i
    m = _from_bits((b & 0xFFFFFFFFFFFFF) | (1075 << 52))   # the integer M as a double
    j = 4 * i
    f0 = _TWO_OVER_PI_TABLE[j]
    f1 = _TWO_OVER_PI_TABLE[j + 1]
    f2 = _TWO_OVER_PI_TABLE[j + 2]
    f3 = _TWO_OVER_PI_TABLE[j + 3]
    h0 = m * f0
    l0 = _fma(m, f0, -h0)
    h1 = m * f1
    l1 = _fma(m, f1, -h1)
    h2 = m * f2
    l2 = _fma(m, f2, -h2)
    s = h0 - 4.0 * _rint(0.25 * h0)                   # h0 mod 4, exact
    u, e1 = _two_sum(s, h1)                           # the terms of size <= 2 ...
    v, e2 = _two_sum(u, l0)
    w, e3 = _two_sum(e1, e2)                          # ... of size <= 2**-50 ...
    w, e4 = _two_sum(w, l1)
    w, e5 = _two_sum(w, h2)
    lo = (e3 + e4) + (e5 + l2 + m * f3)              # ... and the rest
    k = _rint(v)
    v = v - k
    hi, e6 = _two_sum(v, w)
    lo = e6 + lo
    k2 = _rint(hi)
    hi = hi - k2
    t = hi + lo                                       # frac = t + tlo, |frac| <= 1/2
    tlo = lo - (t - hi)
    r = t * _PIO2_1
    rlo = _fma(t, _PIO2_1, -r) + _fma(t, _PIO2_2, tlo * _PIO2_1)
    r = r + rlo
    q = _bits(k + k2 + _MAGIC) & 3
    r = -r if x < 0.0 else r                          # sin is odd, cos even:
    q = (4 - q) & 3 if x < 0.0 else q                 # -x = (-q)*pi/2 + (-r)
    return r, q


@_kernel
def fsin(x):
    """sin(x) for float64, every x; within MAX_ULP ulp; nan for +-inf/nan."""
    r, q = _reduce_full(x)
    return _sincos_poly(r, q, x)[0]


@_kernel
def fcos(x):
    """cos(x) for float64, every x; within MAX_ULP ulp; nan for +-inf/nan."""
    r, q = _reduce_full(x)
    return _sincos_poly(r, q, x)[1]


@_kernel
def fsin_bounded(x):
    """sin(x), about 5x cheaper than fsin, accurate only for |x| <= TRIG_MAX (and +-inf/nan).

    For larger |x| the result is wrong: pair it with trig_out_of_range, see the module notes.
    """
    r, q = _reduce_bounded(x)
    return _sincos_poly(r, q, x)[0]


@_kernel
def fcos_bounded(x):
    """cos(x), about 5x cheaper than fcos, accurate only for |x| <= TRIG_MAX (and +-inf/nan)."""
    r, q = _reduce_bounded(x)
    return _sincos_poly(r, q, x)[1]


# fsin/fcos as out-of-line calls, for the rare redo of a block with a huge argument: fsin is
# large, and inlining it at every call site of a loop nest's redo pass (and again in the tail)
# tripled LLVM's time on a 50-operation function while running almost never.
_outline = numba.njit(error_model="numpy", fastmath=False, nogil=True)


@_outline
def fsin_far(x):
    """fsin, compiled once and called rather than inlined (for paths that rarely run)."""
    return fsin(x)


@_outline
def fcos_far(x):
    """fcos, compiled once and called rather than inlined (for paths that rarely run)."""
    return fcos(x)


@_kernel
def trig_out_of_range(x):
    """1 if x is finite and |x| > TRIG_MAX (fsin_bounded/fcos_bounded are wrong there), else 0."""
    a = abs(x)
    return 1 if (a > TRIG_MAX) & (a < _INF) else 0


# atan(u) = u + u**3 * A(z), z = u*u, |u| <= tan(pi/8), relative error 2**-59.4
_A = (-0.017902053729461298, 0.03805946557530633, -0.05039087343794472, 0.05847836911196187,
      -0.06663096206491087, 0.07692059460983536, -0.09090897711278936, 0.11111110781686141,
      -0.14285714280157566, 0.19999999999953164, -0.333333333333332)
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
    y = _fma(n, _PIO4_HI, u + _fma(u * z, _horner(z, _A), n * _PIO4_LO))
    return math.copysign(y, x) if x == x else x
