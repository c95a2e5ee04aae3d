"""Elementwise primitives: unary math, select and conversion (the binary ones are in
``binary.py``, below this module; the rules both families share are in ``_family.py``).

Every primitive here is one declaration. The unary (and binary) families derive the shape rule
(strict: operands of one shape and dtype), the batching rule, and the jvp from a one-line
derivative ``d(t, ans, *args)`` written in lax ops. Each declaration also says how jit writes
one element (``lowering=Elementwise(rule)``): mostly a builder from
:mod:`funcad.codegen.scalar_rules` (``math_call("math.sin", "fsin")``), and for the primitives
whose Numba semantics differ from NumPy's (integer division, NaN-propagating max, float32
literals) a rule of their own just above the declaration.
"""
from __future__ import annotations

import math

import numpy as np

from funcad.codegen.scalar_rules import fast_kernels, math_call, template
from funcad.core import (COMPLEX_OF, REAL_OF, Primitive, bool_, check_dtype, get_aval, is_float,
                         per_primitive)
from funcad.ir import Lit
from funcad.lowering import Elementwise
from funcad.primitives import binary as bi
from funcad.primitives._family import (binary_aval, check_kind, coerce2, elementwise_batch,
                                       rand_array, scalar_like, strict_same, zero_jvp)
from funcad.rule_util import Zero, instantiate, is_undefined, zeros_like_aval
from funcad.tree_util import tree_map

__all__ = []  # filled by _export
_LN2 = math.log(2.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _export(fn):
    globals()[fn.__name__] = fn
    __all__.append(fn.__name__)
    return fn


# ---------------------------------------------------------------------------------------------
# Unary family

def _unary_jvp(d):
    def make(prim):
        def jvp(primals, tangents):
            (x,), (t,) = primals, tangents
            ans = prim.bind(x)
            return ans, d(t, ans, x)
        return jvp
    return per_primitive(make)


def unary(name, impl, d, lowering, *, kinds="f", domain=((-3.0, 3.0),), out_dtype=None,
          jvp=None, **extra) -> Primitive:
    """Declare an elementwise unary primitive. ``d(t, ans, x)`` is the tangent of the output
    (None: the derivative is zero almost everywhere); ``lowering`` its
    :class:`~funcad.lowering.Elementwise` description; ``kinds`` the dtype kinds it takes
    ("c": complex); ``out_dtype`` a dtype, or a function of the input dtype."""

    def abstract_eval(x):
        check_kind(name, x, kinds)
        if out_dtype is None:
            return x
        return x.update(dtype=out_dtype(x.dtype) if callable(out_dtype) else out_dtype)

    if d is None:
        jvp = per_primitive(zero_jvp)
    elif jvp is None:
        jvp = _unary_jvp(d)
    return Primitive(name, impl=impl, abstract_eval=abstract_eval, domain=domain, jvp=jvp,
                     batch=per_primitive(elementwise_batch), lowering=lowering, **extra)


def _wrap_unary(name, prim):
    def fn(x):
        return prim.bind(x)
    fn.__name__ = name
    fn.__doc__ = f"Elementwise `{name}` (lax primitive, no broadcasting or promotion)."
    return _export(fn)


def _logistic_impl(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _erf_impl(x):
    vf = np.vectorize(math.erf, otypes=[x.dtype])
    return vf(x) if x.size else x.copy()


def _erfc_impl(x):
    # libm's erfc: accurate where 1 - erf(x) rounds to 0 (x > ~6), the reason it is a primitive
    vf = np.vectorize(math.erfc, otypes=[x.dtype])
    return vf(x) if x.size else x.copy()


def _cbrt_impl(x):
    return np.cbrt(x)


def _neg_transpose(ct, x):
    return [neg(ct)]


def _rsqrt_scalar(sc, args, avals, out, params):
    return f"({sc.lit(1, out.dtype)} / {math_call('math.sqrt')(sc, args, avals, out, params)})"


def _logistic_scalar(sc, args, avals, out, params):
    if sc.fast and "flogistic" in fast_kernels():
        return math_call("", "flogistic")(sc, args, avals, out, params)
    x = sc.hoist(args[0])
    e = sc.hoist(f"math.exp(-abs({x}))")
    one = sc.lit(1, out.dtype)
    return f"({one} / ({one} + {e}) if {x} >= 0 else {e} / ({one} + {e}))"


def _not_scalar(sc, args, avals, out, params):
    return f"(not {args[0]})" if out.dtype == np.bool_ else f"(~{args[0]})"


def _abs_dtype(dt):
    return REAL_OF.get(dt, dt)


def _abs_d(t, ans, x):
    if get_aval(x).dtype.kind != "c":
        return bi.mul(t, sign(x))
    # d|x| = Re(conj(x) t) / |x|, and 0 at x == 0 (JAX's rule)
    az = bi.eq(ans, scalar_like(0.0, ans))
    safe = complex_(select_n(az, ans, scalar_like(1.0, ans)), scalar_like(0.0, ans))
    return real(bi.mul(t, bi.div(conj(x), safe)))


def _sign_scalar(sc, args, avals, out, params):
    if out.dtype.kind != "c":
        return f"np.sign({args[0]})"
    x = sc.hoist(args[0])  # NumPy 2: x / |x|, and 0 at 0
    return f"({x} / abs({x}) if {x} != 0 else {x})"


# The derivatives are written with the binary primitives (bi.mul, ...) and with this module's
# own functions (cos, neg, ...), which the loop below the table defines before any rule runs.
_E = Elementwise
_U = {}
_U["neg"] = unary("neg", np.negative, lambda t, ans, x: neg(t),
                  _E(template("(-{0})"), cheap=True), kinds="fic", linear=True,
                  transpose=_neg_transpose)
_U["abs"] = unary("abs", np.abs, _abs_d, _E(template("abs({0})")), kinds="fic",
                  out_dtype=_abs_dtype)
_U["sign"] = unary("sign", np.sign, None, _E(_sign_scalar), kinds="fic")
_U["floor"] = unary("floor", np.floor, None, _E(template("np.floor({0})")))
_U["ceil"] = unary("ceil", np.ceil, None, _E(template("np.ceil({0})")))
_U["round"] = unary("round", np.round, None, _E(template("np.rint({0})")))
_U["exp"] = unary("exp", np.exp, lambda t, ans, x: bi.mul(t, ans),
                  _E(math_call("math.exp", "fexp")), kinds="fc")
_U["exp2"] = unary("exp2", np.exp2, lambda t, ans, x: bi.mul(t, bi.mul(ans, _LN2)),
                   _E(math_call("np.exp2", "fexp2")))
_U["expm1"] = unary("expm1", np.expm1, lambda t, ans, x: bi.mul(t, bi.add(ans, 1.0)),
                    _E(math_call("math.expm1", "fexpm1")))
_U["log"] = unary("log", np.log, lambda t, ans, x: bi.div(t, x),
                  _E(math_call("math.log", "flog")), domain=((0.1, 5.0),), kinds="fc")
_U["log1p"] = unary("log1p", np.log1p, lambda t, ans, x: bi.div(t, bi.add(x, 1.0)),
                    _E(math_call("math.log1p", "flog1p")), domain=((-0.9, 5.0),))
_U["sqrt"] = unary("sqrt", np.sqrt, lambda t, ans, x: bi.div(bi.mul(t, 0.5), ans),
                   _E(math_call("math.sqrt")), domain=((0.1, 5.0),), kinds="fc")
_U["rsqrt"] = unary("rsqrt", lambda x: (1 / np.sqrt(x)).astype(x.dtype, copy=False),
                    lambda t, ans, x: bi.mul(t, bi.div(bi.mul(ans, -0.5), x)),
                    _E(_rsqrt_scalar), domain=((0.1, 5.0),), kinds="fc")
_U["cbrt"] = unary("cbrt", _cbrt_impl,
                   lambda t, ans, x: bi.div(t, bi.mul(bi.mul(ans, ans), 3.0)),
                   _E(template("np.cbrt({0})")), domain=((0.1, 5.0),))
_U["sin"] = unary("sin", np.sin, lambda t, ans, x: bi.mul(t, cos(x)),
                  _E(math_call("math.sin", "fsin"), trig=True), kinds="fc")
_U["cos"] = unary("cos", np.cos, lambda t, ans, x: neg(bi.mul(t, sin(x))),
                  _E(math_call("math.cos", "fcos"), trig=True), kinds="fc")
_U["tan"] = unary("tan", np.tan,
                  lambda t, ans, x: bi.mul(t, bi.add(bi.mul(ans, ans), 1.0)),
                  _E(math_call("math.tan")), domain=((-1.2, 1.2),), kinds="fc")
_U["asin"] = unary("asin", np.arcsin,
                   lambda t, ans, x: bi.mul(t, rsqrt(bi.sub(1.0, bi.mul(x, x)))),
                   _E(math_call("math.asin")), domain=((-0.9, 0.9),), kinds="fc")
_U["acos"] = unary("acos", np.arccos,
                   lambda t, ans, x: neg(bi.mul(t, rsqrt(bi.sub(1.0, bi.mul(x, x))))),
                   _E(math_call("math.acos")), domain=((-0.9, 0.9),), kinds="fc")
_U["atan"] = unary("atan", np.arctan,
                   lambda t, ans, x: bi.div(t, bi.add(bi.mul(x, x), 1.0)),
                   _E(math_call("math.atan", "fatan")), kinds="fc")
_U["sinh"] = unary("sinh", np.sinh, lambda t, ans, x: bi.mul(t, cosh(x)),
                   _E(math_call("math.sinh")), kinds="fc")
_U["cosh"] = unary("cosh", np.cosh, lambda t, ans, x: bi.mul(t, sinh(x)),
                   _E(math_call("math.cosh")), kinds="fc")
_U["tanh"] = unary("tanh", np.tanh,
                   lambda t, ans, x: bi.mul(t, bi.sub(1.0, bi.mul(ans, ans))),
                   _E(math_call("math.tanh", "ftanh")), kinds="fc")
_U["asinh"] = unary("asinh", np.arcsinh,
                    lambda t, ans, x: bi.mul(t, rsqrt(bi.add(bi.mul(x, x), 1.0))),
                    _E(math_call("math.asinh")), kinds="fc")
_U["acosh"] = unary("acosh", np.arccosh,
                    lambda t, ans, x: bi.mul(t, bi.mul(rsqrt(bi.sub(x, 1.0)),
                                                      rsqrt(bi.add(x, 1.0)))),
                    _E(math_call("math.acosh")), domain=((1.1, 5.0),), kinds="fc")
_U["atanh"] = unary("atanh", np.arctanh,
                    lambda t, ans, x: bi.div(t, bi.sub(1.0, bi.mul(x, x))),
                    _E(math_call("math.atanh")), domain=((-0.9, 0.9),), kinds="fc")
_U["logistic"] = unary("logistic", _logistic_impl,
                       lambda t, ans, x: bi.mul(t, bi.mul(ans, bi.sub(1.0, ans))),
                       _E(_logistic_scalar))
_U["erf"] = unary("erf", _erf_impl,
                  lambda t, ans, x: bi.mul(t, bi.mul(exp(neg(bi.mul(x, x))), _TWO_OVER_SQRT_PI)),
                  _E(math_call("math.erf")))
_U["erfc"] = unary("erfc", _erfc_impl,
                   lambda t, ans, x: bi.mul(t, bi.mul(exp(neg(bi.mul(x, x))),
                                                      -_TWO_OVER_SQRT_PI)),
                   _E(math_call("math.erfc")), domain=((-3.0, 6.0),))
_U["not"] = unary("not", lambda x: np.logical_not(x) if x.dtype == np.bool_ else np.invert(x),
                  None, _E(_not_scalar), kinds="bi", test_dtypes=("bool", "int64"))
for _n, _p in _U.items():
    globals()[_n + "_p"] = _p
    _wrap_unary(_n if _n != "not" else "not_", _p)
    __all__.append(_n + "_p")


# ---------------------------------------------------------------------------------------------
# Complex numbers: real, imag, conj and complex are linear (over the reals). Their transposes
# are the plain transposes for the pairing <a, b> = Re(sum(a * b)) (JAX's convention: no
# conjugation), so grad of a real function of z is vjp(1.0): |z|^2 gives 2 * conj(z).

def _real_dtype(dt):
    return REAL_OF[dt]


def _real_transpose(ct, x):
    return [complex_(ct, zeros_like_aval(get_aval(ct)))]


def _imag_transpose(ct, x):
    return [complex_(zeros_like_aval(get_aval(ct)), neg(ct))]


def _conj_transpose(ct, x):
    return [conj(ct)]


def _complex_abstract(x, y):
    a = binary_aval("complex", x, y)
    check_kind("complex", a, "f")
    return a.update(dtype=COMPLEX_OF[a.dtype])


def _complex_impl(x, y):
    # x + 1j * y would turn inf * 1j into nan + inf j; build the parts instead
    out = np.empty(np.broadcast_shapes(x.shape, y.shape), COMPLEX_OF[x.dtype])
    out.real, out.imag = x, y
    return out


def _complex_transpose(ct, x, y):
    return [real(ct) if is_undefined(x) else None,
            neg(imag(ct)) if is_undefined(y) else None]


def _complex_scalar(sc, args, avals, out, params):
    z = f"complex({args[0]}, {args[1]})"
    return z if out.dtype == np.complex128 else f"np.complex64({z})"


_C = {}
_C["real"] = unary("real", np.real, lambda t, ans, x: real(t),
                   _E(template("({0}).real"), cheap=True), kinds="c", out_dtype=_real_dtype,
                   linear=True, transpose=_real_transpose)
_C["imag"] = unary("imag", np.imag, lambda t, ans, x: imag(t),
                   _E(template("({0}).imag"), cheap=True), kinds="c", out_dtype=_real_dtype,
                   linear=True, transpose=_imag_transpose)
_C["conj"] = unary("conj", np.conjugate, lambda t, ans, x: conj(t),
                   _E(template("({0}).conjugate()"), cheap=True), kinds="c", linear=True,
                   transpose=_conj_transpose)
for _n, _p in _C.items():
    globals()[_n + "_p"] = _p
    _wrap_unary(_n, _p)
    __all__.append(_n + "_p")

complex_p = Primitive("complex", impl=_complex_impl, abstract_eval=_complex_abstract,
                      linear=True, transpose=_complex_transpose,
                      batch=per_primitive(elementwise_batch),
                      lowering=_E(_complex_scalar), domain=((-3.0, 3.0), (-3.0, 3.0)))
__all__.append("complex_p")


@_export
def complex_(x, y):
    """``x + 1j * y`` elementwise, for real ``x`` and ``y`` of one dtype (lax.complex)."""
    if isinstance(x, (int, float)) or isinstance(y, (int, float)):
        x, y = coerce2(x, y)
    return complex_p.bind(x, y)


# integer_pow: x ** y for a static Python int y -------------------------------------------------

def _integer_pow_impl(x, *, y):
    if x.dtype.kind in "iu" and y < 0:
        raise ValueError("lax.integer_pow: integers to negative powers are not allowed")
    return np.power(x, x.dtype.type(y)) if x.dtype.kind != "f" else np.power(x, float(y)
                                                                            ).astype(x.dtype)


def _integer_pow_jvp(primals, tangents, *, y):
    (x,), (t,) = primals, tangents
    ans = integer_pow(x, y)
    if y == 0:
        return ans, Zero(get_aval(ans))
    d = bi.mul(integer_pow(x, y - 1), float(y)) if y != 1 else scalar_like(1.0, x)
    return ans, bi.mul(t, d)


def _integer_pow_abstract(x, *, y):
    check_kind("integer_pow", x, "fic")
    if x.dtype.kind in "iu" and y < 0:
        raise TypeError(f"lax.integer_pow: integers cannot be raised to the negative power "
                        f"{y}; convert to float first")
    return x


def _integer_pow_test_args(rng, dtype):
    # magnitudes in [0.3, 2]: negative powers stay away from the pole at 0
    x = rand_array(rng, (3, 4), dtype, 0.3, 2.0)
    return [x * np.where(rng.random((3, 4)) < 0.5, -1, 1).astype(x.dtype)]


def _integer_pow_scalar(sc, args, avals, out, params):
    y = params["y"]
    one = sc.lit(1, out.dtype)
    if y == 0:
        return one
    x = sc.hoist(args[0]) if abs(y) > 1 else args[0]
    # square-and-multiply with locals: x**5 = (x*x)*(x*x)*x
    acc, base, n = None, x, abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else sc.hoist(f"{acc} * {base}")
        n >>= 1
        if n:
            base = sc.hoist(f"{base} * {base}")
    return acc if y > 0 else f"({one} / {acc})"


integer_pow_p = Primitive(
    "integer_pow", impl=_integer_pow_impl, abstract_eval=_integer_pow_abstract,
    jvp=_integer_pow_jvp, batch=per_primitive(elementwise_batch),
    lowering=Elementwise(_integer_pow_scalar), domain=((-2.0, 2.0),),
    test_params=({"y": 2}, {"y": 3}, {"y": -2}, {"y": 0}, {"y": 1}),
    test_args=_integer_pow_test_args)


@_export
def integer_pow(x, y: int):
    """``x ** y`` for a Python int ``y``."""
    return integer_pow_p.bind(x, y=int(y))


__all__.append("integer_pow_p")


# ---------------------------------------------------------------------------------------------
# select_n: cases[pred], elementwise

def _select_n_abstract(pred, *cases):
    if not cases:
        raise TypeError("lax.select_n needs at least one case")
    c = strict_same("select_n", list(cases), "cases")
    if pred.shape != c.shape and pred.shape != ():
        raise TypeError(f"lax.select_n: the predicate has shape {pred.shape} but the cases "
                        f"have shape {c.shape}; it must be equal or a scalar")
    if pred.dtype != bool_ and pred.dtype.kind != "i":
        raise TypeError(f"lax.select_n: the predicate must be bool or int, got {pred.dtype}")
    if pred.dtype == bool_ and len(cases) > 2:
        raise TypeError("lax.select_n: a bool predicate selects between exactly two cases")
    return c


def _select_n_impl(pred, *cases):
    if len(cases) == 1:
        return cases[0]
    if pred.dtype == np.bool_:
        return np.where(pred, cases[1], cases[0])
    return np.choose(np.clip(pred, 0, len(cases) - 1), cases)


def _select_n_jvp(primals, tangents):
    pred, cases = primals[0], primals[1:]
    out = select_n(pred, *cases)
    ts = tangents[1:]
    if all(type(t) is Zero for t in ts):
        return out, Zero(get_aval(out))
    return out, select_n(pred, *[instantiate(t) for t in ts])


def _select_n_transpose(ct, pred, *cases):
    if is_undefined(pred):
        raise TypeError("lax.select_n: the predicate cannot be linear")
    zeros = zeros_like_aval(get_aval(ct))
    out = [None]
    for i, c in enumerate(cases):
        if is_undefined(c):
            branches = [zeros] * len(cases)
            branches[i] = ct
            out.append(select_n(pred, *branches))
        else:
            out.append(None)
    return out


def _select_n_test_args(rng, dtype):
    return [rng.random((3, 4)) < 0.5, rand_array(rng, (3, 4), dtype),
            rand_array(rng, (3, 4), dtype)]


def _select_n_scalar(sc, args, avals, out, params):
    pred, cases = args[0], args[1:]
    if len(cases) == 1:
        return cases[0]
    if avals[0].dtype == np.bool_:
        return f"({cases[1]} if {pred} else {cases[0]})"
    p = sc.hoist(pred)
    expr = cases[-1]
    for i in range(len(cases) - 2, -1, -1):  # clipped like np.choose(np.clip(...))
        expr = f"({cases[i]} if {p} <= {i} else {expr})"
    return expr


def _select_n_simplify(rw, atoms, dt):
    """A literal predicate picks its case."""
    if type(atoms[0]) is not Lit:
        return None
    k = int(atoms[0].val)
    cases = atoms[1:]
    if atoms[0].aval.dtype == np.bool_:
        return cases[1] if k else cases[0]
    return cases[min(max(k, 0), len(cases) - 1)]


select_n_p = Primitive("select_n", impl=_select_n_impl, abstract_eval=_select_n_abstract,
                       jvp=_select_n_jvp, transpose=_select_n_transpose, linear=True,
                       batch=per_primitive(elementwise_batch),
                       lowering=Elementwise(_select_n_scalar, simplify=_select_n_simplify),
                       test_args=_select_n_test_args)
__all__.append("select_n_p")


@_export
def select_n(pred, *cases):
    """``cases[pred]`` elementwise: with a bool ``pred``, ``select_n(p, f, t)`` is
    ``where(p, t, f)``."""
    return select_n_p.bind(pred, *cases)


# ---------------------------------------------------------------------------------------------
# convert_element_type

def _convert_impl(x, *, new_dtype):
    if x.dtype.kind == "c" and np.dtype(new_dtype).kind != "c":
        x = x.real  # JAX's rule: complex to real keeps the real part (NumPy's, unwarned)
    return x.astype(new_dtype)


def _convert_abstract(x, *, new_dtype):
    return x.update(dtype=check_dtype(new_dtype, "lax.convert_element_type"))


def _convert_jvp(primals, tangents, *, new_dtype):
    (x,), (t,) = primals, tangents
    out = convert_element_type(x, new_dtype)
    if type(t) is Zero or not is_float(new_dtype) or not is_float(get_aval(x).dtype):
        return out, Zero(get_aval(out))
    return out, convert_element_type(t, new_dtype)


def _convert_transpose(ct, x, *, new_dtype):
    return [convert_element_type(ct, x.aval.dtype)]


def _convert_scalar(sc, args, avals, out, params):
    src, dst = avals[0].dtype, np.dtype(params["new_dtype"])
    if src == dst:
        return args[0]
    if dst == np.bool_:
        return f"({args[0]} != 0)"
    if src.kind == "c" and dst.kind != "c":
        return f"np.{dst.name}(({args[0]}).real)"
    return f"np.{dst.name}({args[0]})"


convert_element_type_p = Primitive(
    "convert_element_type", impl=_convert_impl, abstract_eval=_convert_abstract,
    jvp=_convert_jvp, transpose=_convert_transpose, linear=True,
    batch=per_primitive(elementwise_batch), lowering=Elementwise(_convert_scalar, cheap=True),
    test_params=({"new_dtype": np.dtype("float32")}, {"new_dtype": np.dtype("int32")},
                 {"new_dtype": np.dtype("float64")}, {"new_dtype": np.dtype("bool")},
                 {"new_dtype": np.dtype("complex128")}, {"new_dtype": np.dtype("complex64")}))
__all__.append("convert_element_type_p")


@_export
def convert_element_type(x, new_dtype):
    """``x`` converted to ``new_dtype`` (a no-op when it already has it)."""
    dt = check_dtype(new_dtype, "lax.convert_element_type")
    if get_aval(x).dtype == dt and not isinstance(x, (int, float, bool)):
        return x
    if isinstance(x, (int, float, bool)):
        return np.asarray(x, dt)
    return convert_element_type_p.bind(x, new_dtype=dt)


# ---------------------------------------------------------------------------------------------
# stop_gradient: the identity, with a zero derivative

stop_gradient_p = unary("stop_gradient", lambda x: x, None, _E(template("{0}"), cheap=True),
                        kinds="fibc", test_dtypes=("float64", "complex128"))
__all__.append("stop_gradient_p")


@_export
def stop_gradient(x):
    """``x``, treated as a constant by every derivative (works on pytrees)."""
    return tree_map(lambda a: stop_gradient_p.bind(a)
                    if not isinstance(a, (int, float, bool)) else a, x)
