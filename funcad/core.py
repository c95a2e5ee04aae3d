"""The kernel of funcad: abstract values, primitives, interpreters and tracers.

Every operation funcad knows is a :class:`Primitive`. Calling ``prim.bind(*args, **params)``
hands the operation to the *current interpreter*, the one piece of mutable state in funcad (one
per thread: a ContextVar). Outside any transformation that is the eval interpreter, which runs
the primitive's NumPy ``impl``. Each transformation (jvp, partial evaluation, batching, staging) installs its own
interpreter with :func:`set_interpreter`; that interpreter wraps its values in :class:`Tracer`
objects, and answers each ``bind`` by running a rule of the primitive *under the interpreter it
was created on top of* (its ``prev``). Because rules are themselves written with ``bind``,
interpreters nest, and every composition of transformations works without special cases.
"""
from __future__ import annotations

import contextvars
import itertools
import operator
from typing import Any, Callable, Sequence

import math

import numpy as np

from funcad._memo import Memo, memo_by_id
from funcad.lowering import Lowering

# ---------------------------------------------------------------------------------------------
# Dtypes and abstract values

SUPPORTED_DTYPES = tuple(np.dtype(d) for d in ("float64", "float32", "int64", "int32", "bool",
                                                "complex128", "complex64"))
_SUPPORTED = frozenset(SUPPORTED_DTYPES)
float64 = np.dtype("float64")
float32 = np.dtype("float32")
int64 = np.dtype("int64")
int32 = np.dtype("int32")
bool_ = np.dtype("bool")
complex128 = np.dtype("complex128")
complex64 = np.dtype("complex64")

_SHORT = {"float64": "f64", "float32": "f32", "int64": "i64", "int32": "i32", "bool": "bool",
          "complex128": "c128", "complex64": "c64"}
# the real dtype of each complex one (abs, real, imag) and back (complex)
REAL_OF = {complex128: float64, complex64: float32}
COMPLEX_OF = {float64: complex128, float32: complex64}


def is_float(dtype) -> bool:
    """True for the differentiable dtypes: real floats and complex (NumPy's "inexact")."""
    return np.dtype(dtype).kind in "fc"


def is_complex(dtype) -> bool:
    return np.dtype(dtype).kind == "c"


def check_dtype(dtype, who: str = "funcad") -> np.dtype:
    """Return ``np.dtype(dtype)`` or raise a TypeError saying which dtypes funcad supports."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"{who}: {dtype!r} is not a dtype") from e
    if dt in _SUPPORTED:
        return dt
    # NumPy platform aliases (e.g. intc/longlong) compare equal to one of ours.
    for s in SUPPORTED_DTYPES:
        if dt == s:
            return s
    raise TypeError(
        f"{who}: unsupported dtype {dt}. funcad supports float64, float32, int64, int32, "
        f"bool, complex128 and complex64; convert with .astype(...) first.")


# The caches of this section (see funcad/_memo.py): avals interned by ShapedArray, and
# get_aval's table of the avals of arrays. Hot paths read the dicts inline; ``_AVALS`` holds
# interned avals, so it is cleared whenever ``_SHAPED`` is.
_AVALS_MEMO = Memo("core.get_aval: (shape, dtype) -> aval", 4096)
_SHAPED_MEMO = Memo("core.ShapedArray: interned avals", 4096, clears=(_AVALS_MEMO,))
_SHAPED: dict = _SHAPED_MEMO.table
_AVALS: dict = _AVALS_MEMO.table


class ShapedArray:
    """The abstract value of an array: its shape and dtype, nothing else.

    Avals are immutable and interned: ``ShapedArray(shape, dtype)`` returns one shared object
    per (class, shape, dtype), because every traced operation makes one and the tracing
    interpreters are sensitive to the cost of creating them."""
    __slots__ = ("shape", "dtype", "_hash")

    def __new__(cls, shape: Sequence[int], dtype):
        key = (cls, shape if type(shape) is tuple else tuple(shape), dtype)
        self = _SHAPED.get(key)
        if self is None:
            shape = tuple(int(d) for d in shape)
            dt = np.dtype(dtype)
            # one object per (class, shape, np.dtype), however the dtype was spelled
            canonical = (cls, shape, dt)
            self = _SHAPED.get(canonical)
            if self is None:
                self = object.__new__(cls)
                self.shape, self.dtype = shape, dt
                self._hash = hash((shape, dt))
            # canonical last: a put that finds the memo full clears it (and _AVALS) first,
            # so the canonical entry is never the one dropped
            _SHAPED_MEMO.put(key, self)
            _SHAPED_MEMO.put(canonical, self)
        return self

    def __reduce__(self):
        return type(self), (self.shape, self.dtype)

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))

    def update(self, shape=None, dtype=None) -> "ShapedArray":
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype)

    def str_short(self) -> str:
        return f"{_SHORT.get(self.dtype.name, self.dtype.name)}[{','.join(map(str, self.shape))}]"

    def __eq__(self, other):
        return (isinstance(other, ShapedArray) and self.shape == other.shape
                and self.dtype == other.dtype)

    def __hash__(self):
        return self._hash

    def __repr__(self):
        return f"ShapedArray({self.str_short()})"


_PY_SCALAR_DTYPES = {bool: bool_, int: int64, float: float64, complex: complex128}
_ndarray = np.ndarray


def memo_by_aval(make: Callable[[ShapedArray], Any], name: str | None = None
                 ) -> Callable[[ShapedArray], Any]:
    """``get(aval)``: one shared, immutable ``make(aval)`` per aval, found by identity (avals
    are interned, and hashing one is a Python-level call); a :func:`funcad._memo.memo_by_id`,
    which holds the aval with its entry, so the id stays its own while the entry lives.
    ``get.table`` is the dict, for inline lookups on hot paths."""
    return memo_by_id(make, name or f"memo_by_aval({getattr(make, '__qualname__', make)})")


def _array_aval(shape, dtype) -> ShapedArray:
    """The aval of an array of this shape and dtype: the plain rule behind get_aval's first
    branch (just below), which inlines its table hit."""
    key = (shape, dtype)
    a = _AVALS.get(key)
    if a is None:
        a = ShapedArray(shape, check_dtype(dtype))
        _AVALS_MEMO.put(key, a)
    return a


def get_aval(x) -> ShapedArray:
    """Abstract value of a tracer, array or scalar; TypeError for what funcad cannot hold."""
    if type(x) is _ndarray:
        a = _AVALS.get((x.shape, x.dtype))  # _array_aval's hit, inlined: the common case
        return a if a is not None else _array_aval(x.shape, x.dtype)
    if isinstance(x, Tracer):
        return x.aval
    if isinstance(x, (np.ndarray, np.generic)):
        if isinstance(x, np.ma.MaskedArray):
            raise TypeError(_MASKED_MSG)
        return _array_aval(x.shape, x.dtype)
    t = type(x)
    if t in _PY_SCALAR_DTYPES:
        if t is int and not _INT64_MIN <= x <= _INT64_MAX:
            raise int_overflow(x, int64)
        return _array_aval((), _PY_SCALAR_DTYPES[t])
    if isinstance(x, (bool, int, float)):  # subclasses such as IntEnum
        if isinstance(x, int) and not _INT64_MIN <= x <= _INT64_MAX:
            raise int_overflow(x, int64)
        return ShapedArray((), _PY_SCALAR_DTYPES[int if not isinstance(x, float) else float])
    if isinstance(x, complex):
        return ShapedArray((), complex128)
    raise TypeError(f"funcad: value of type {type(x).__name__} is not a valid array; "
                    f"use a NumPy array or a Python scalar.")


_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
_MASKED_MSG = ("funcad: NumPy masked arrays (np.ma.MaskedArray) are not supported by "
               "funcad's transformations: funcad computes on the data and would silently drop "
               "the mask. Pass x.filled(fill_value) (or np.ma.getdata(x)) "
               "and the mask (np.ma.getmaskarray(x)) as separate arrays, and use "
               "fnp.where(mask, ...) to handle the masked entries.")


def int_overflow(x: int, dtype) -> OverflowError:
    """The error for a Python int that does not fit ``dtype`` (funcad's ints are int64)."""
    info = np.iinfo(dtype)
    return OverflowError(
        f"funcad: the Python int {x} does not fit in {np.dtype(dtype).name} (whose range is "
        f"[{info.min}, {info.max}]); funcad has no wider integers. Use a float instead "
        f"({float(x)!r}, accurate to about 16 digits), or keep the value in range (for "
        f"example with modular arithmetic).")


def scalar_array(x, dtype) -> np.ndarray:
    """``np.asarray(x, dtype)`` for a Python scalar, with :func:`int_overflow`'s message for
    an int out of ``dtype``'s range."""
    try:
        return np.asarray(x, dtype)
    except OverflowError:
        raise int_overflow(x, dtype) from None


def to_array(x) -> np.ndarray:
    """A concrete value as a NumPy array of a supported dtype."""
    if isinstance(x, np.ndarray):
        check_dtype(x.dtype)
        return x
    aval = get_aval(x)
    return np.asarray(x, aval.dtype)


# ---------------------------------------------------------------------------------------------
# Errors

class ConcretizationError(TypeError):
    """A traced value was needed as a concrete Python value."""


class TracerBoolConversionError(ConcretizationError):
    pass


class TracerIntegerConversionError(ConcretizationError):
    pass


class TracerArrayConversionError(ConcretizationError):
    pass


class UnexpectedTracerError(Exception):
    """A tracer was used after the transformation that made it had ended."""


def _concretization_message(what: str, tracer: "Tracer") -> str:
    return (f"{what} of a traced value with shape {tracer.aval.str_short()} under "
            f"`{tracer._interp.name}`: its value is not known while tracing. Use lax.cond or "
            f"lax.select for branches, lax.while_loop/lax.fori_loop for loops, or mark the "
            f"argument with static_argnums / static_argnames if it is a Python constant.")


# ---------------------------------------------------------------------------------------------
# Primitives

primitives: dict[str, "Primitive"] = {}


class per_primitive:
    """A rule built from the primitive being declared: ``Primitive(..., batch=
    per_primitive(make_batch))`` calls ``make_batch(prim)`` once the primitive exists, for
    rules that bind the primitive itself (a derived jvp or batching rule)."""
    __slots__ = ("make",)

    def __init__(self, make: Callable[["Primitive"], Callable]):
        self.make = make


class Primitive:
    """One operation and all of its rules, declared together (a closed set of fields:
    :data:`Primitive.FIELDS`; an unknown keyword is a TypeError, and a declared primitive is
    immutable).

    impl            NumPy evaluation: ``impl(*arrays, **params)``.
    abstract_eval   ``abstract_eval(*avals, **params) -> aval`` (a list if multiple_results).
    jvp             ``jvp(primals, tangents, **params) -> (primal_out, tangent_out)``; tangents
                    may be ``Zero``. Written in funcad ops so it is differentiable again.
    linear          The primitive is linear in the inputs listed by ``linear_args`` (all by
                    default): ``transpose`` must be given, and the jvp is derived (the
                    primitive applied to the tangents) unless ``jvp`` is given.
    transpose       ``transpose(ct, *args, **params) -> list of cts`` where linear inputs are
                    ``UndefinedPrimal`` and the others are values; None for non-linear inputs.
    batch           ``batch(args, dims, **params) -> (out, out_dim)`` (lists if multiple).
    partial_eval    Higher-order primitives only: split into known and unknown work.
    lowering        How jit writes it: one of the kinds of :mod:`funcad.lowering`.
    domain          Per-argument input ranges for the generated tests, e.g. ``((0.1, 10),)``.
    test_dtypes     Dtypes the generic tests draw inputs with.
    test_params     Tuple of param dicts the generic tests run the primitive with.
    test_args       ``test_args(rng[, dtype[, params]]) -> list of arguments`` for
                    primitives with special inputs (indices, SPD matrices, ...); the shapes
                    it returns must not depend on ``rng``.
    xfail           ``{check_name: reason}`` for known gaps (``"jit"``, ``"vmap"``, ``"jvp"``,
                    ... or ``"check[dtype]"``); the generic tests report them as strict xfails.
    higher_order    The impl binds other primitives (runs an inner jaxpr). Interpreters call
                    the impl of a first-order primitive directly, without making the eval
                    interpreter current first; set this (or ``multiple_results``) otherwise.

    A rule that needs the primitive itself is given as ``per_primitive(make)``.
    """
    FIELDS = ("name", "impl", "abstract_eval", "jvp", "transpose", "batch", "partial_eval",
              "lowering", "linear", "linear_args", "multiple_results", "higher_order",
              "domain", "test_dtypes", "test_params", "test_args", "xfail")
    __slots__ = FIELDS + ("_sealed",)

    def __init__(self, name: str, *, impl=None, abstract_eval=None, jvp=None, transpose=None,
                 batch=None, partial_eval=None, lowering=None, linear=False, linear_args=None,
                 multiple_results=False, higher_order=False, domain=None, test_dtypes=None,
                 test_params=None, test_args=None, xfail=None, register=True):
        if lowering is not None and not isinstance(lowering, Lowering):
            raise TypeError(f"primitive {name!r}: lowering must be one of the kinds in "
                            f"funcad.lowering, got {type(lowering).__name__}")
        if linear and transpose is None:
            raise TypeError(f"primitive {name!r} is declared linear but has no transpose rule")
        set_ = object.__setattr__
        set_(self, "_sealed", False)
        self.name = name
        self.impl = impl
        self.abstract_eval = abstract_eval
        self.jvp = jvp
        self.transpose = transpose
        self.batch = batch
        self.partial_eval = partial_eval
        self.lowering = lowering
        self.linear = linear
        self.linear_args = linear_args
        self.multiple_results = multiple_results
        self.higher_order = higher_order
        self.domain = domain
        self.test_dtypes = test_dtypes
        self.test_params = test_params
        self.test_args = test_args
        self.xfail = dict(xfail or {})
        for f in ("impl", "abstract_eval", "jvp", "transpose", "batch", "partial_eval"):
            v = getattr(self, f)
            if type(v) is per_primitive:
                set_(self, f, v.make(self))
        if self.linear and self.jvp is None:
            # cycle: funcad.rule_util, which holds the derived rule, builds on this module
            from funcad.rule_util import linear_jvp
            set_(self, "jvp", linear_jvp(self, self.linear_args))
        set_(self, "_sealed", True)
        if register:
            if name in primitives:
                raise ValueError(f"primitive {name!r} is declared twice")
            primitives[name] = self

    def __setattr__(self, field, value):
        if self._sealed:
            raise AttributeError(f"primitive {self.name!r} is declared: give every rule in its "
                                 f"Primitive(...) declaration (per_primitive(make) for a rule "
                                 f"that needs the primitive)")
        object.__setattr__(self, field, value)

    def bind(self, *args, **params):
        current = _get_current()   # one ContextVar read per operation
        if current is eval_interpreter and self.impl is not None:
            # EvalInterpreter.interpret, inlined: the most frequent bind of all
            for a in args:
                if type(a) is not _ndarray and isinstance(a, Tracer):
                    raise_leaked(a)
            return self.impl(*args, **params)
        return current.interpret(self, args, params)

    def __repr__(self):
        return self.name


# ---------------------------------------------------------------------------------------------
# Interpreters and the one piece of mutable state

class Interpreter:
    """Base of all interpreters. ``interpret(prim, args, params)`` answers one bind."""
    name = "eval"
    alive = True

    def interpret(self, prim: Primitive, args, params):
        raise NotImplementedError


class EvalInterpreter(Interpreter):
    """The bottom interpreter: runs ``impl`` on NumPy arrays."""
    name = "eval"

    def interpret(self, prim, args, params):
        # The plain rule of Primitive.bind's fast path (just above), which inlines it for the
        # eval interpreter: change the two together.
        for a in args:
            if type(a) is not _ndarray and isinstance(a, Tracer):
                raise_leaked(a)
        if prim.impl is None:
            raise NotImplementedError(f"primitive {prim.name} has no eval rule (impl)")
        return prim.impl(*args, **params)


def raise_leaked(t: "Tracer"):
    raise UnexpectedTracerError(
        f"A tracer from `{t._interp.name}` (shape {t.aval.str_short()}) was used after that "
        f"transformation ended. It escaped, for example through a global, a closure or a "
        f"list outside the function. Return the value from the transformed function instead.")


eval_interpreter = EvalInterpreter()

# The current interpreter is per thread (and per asyncio task): a ContextVar, whose default
# is the eval interpreter, so a new thread starts eager whatever other threads are tracing.
# Every change is a save/set/restore pair (never a reset token), so a block that ends leaves
# exactly the interpreter it found. The bound methods are module globals: reading one is a
# dict lookup and a C call, about as cheap as the plain global this used to be.
_interpreter_var: contextvars.ContextVar[Interpreter] = contextvars.ContextVar(
    "funcad.current_interpreter", default=eval_interpreter)
_get_current = _interpreter_var.get
_set_current = _interpreter_var.set


def current_interpreter() -> Interpreter:
    """The interpreter that answers ``bind`` in this thread (context) now."""
    return _get_current()


class set_interpreter:
    """Context manager that makes ``interp`` current (in this thread) for a block."""
    __slots__ = ("interp", "prev")

    def __init__(self, interp: Interpreter):
        self.interp = interp

    def __enter__(self):
        self.prev = _get_current()
        _set_current(self.interp)
        return self.interp

    def __exit__(self, *exc):
        _set_current(self.prev)


class new_interpreter(set_interpreter):
    """Like set_interpreter, and marks the interpreter dead when the block ends, so tracers
    that escape are caught the next time they are used."""

    def __exit__(self, *exc):
        _set_current(self.prev)
        self.interp.alive = False


def bind_with(interp: Interpreter, prim: Primitive, *args, **params):
    """Bind ``prim`` while ``interp`` is current (used by interpreters to reach their prev)."""
    saved = _get_current()
    _set_current(interp)
    try:
        return prim.bind(*args, **params)
    finally:
        _set_current(saved)


def run_rule(interp: Interpreter, rule: Callable, a, b, params: dict):
    """``rule(a, b, **params)`` with ``interp`` current: how an interpreter runs a two-list
    rule (jvp's primals and tangents, batching's values and dims) on the interpreter below."""
    saved = _get_current()
    _set_current(interp)
    try:
        return rule(a, b, **params)
    finally:
        _set_current(saved)


def run_with(interp: Interpreter, fn: Callable, *args, **kwargs):
    saved = _get_current()
    _set_current(interp)
    try:
        return fn(*args, **kwargs)
    finally:
        _set_current(saved)


def is_eager() -> bool:
    """True when no transformation is active in this thread (the eval interpreter is
    current)."""
    return _get_current() is eval_interpreter


# ---------------------------------------------------------------------------------------------
# Tracers

_fnp_module = None


def _fnp():
    global _fnp_module
    if _fnp_module is None:
        from funcad import numpy as fnp  # cycle: funcad.numpy builds on this module
        _fnp_module = fnp
    return _fnp_module


# The module that answers NumPy's dispatch protocols for tracers (funcad.numpy._dispatch, a
# layer above): funcad.numpy installs it when it is imported.
numpy_dispatch = None


def _numpy_dispatch():
    if numpy_dispatch is None:
        _fnp()  # importing funcad.numpy installs it
    return numpy_dispatch


def _conversion_message(what: str, tracer: "Tracer") -> str:
    why = ("its value is not known while tracing" if tracer.concrete_value() is None else
           "the conversion would drop its derivative")
    return (f"{what} of a traced value ({tracer.aval.str_short()} under "
            f"`{tracer._interp.name}`): NumPy cannot see traced values, and {why}. Keep the "
            f"value an array: use funcad.numpy (import funcad.numpy as fnp; fnp.asarray(x) "
            f"instead of np.asarray(x)); the NumPy functions funcad.numpy has (np.dot, "
            f"np.sum, ...) take traced values as they are. `a[i] = x` into a NumPy array `a` "
            f"converts x too: a traced value cannot be written into a NumPy array; use "
            f"`a = fnp.asarray(a).at[i].set(x)`.")


def _index_text(idx) -> str:
    """``x[idx]``'s index as the user would write it, for messages (``0``, ``1:3``, ``i``)."""
    def one(i):
        if isinstance(i, slice):
            return ":".join("" if v is None else str(v) for v in (i.start, i.stop)) + (
                "" if i.step is None else f":{i.step}")
        if isinstance(i, (int, np.integer)):
            return str(i)
        return "..." if i is Ellipsis else "idx"
    return ", ".join(one(i) for i in idx) if isinstance(idx, tuple) else one(idx)


def _no_out(out, name):
    if out is not None:
        raise TypeError(f"{name}: traced values are immutable; the out= argument is not "
                        f"supported")


class Tracer:
    """A value owned by an interpreter. Subclasses define ``aval``.

    Tracers behave like arrays: operators and methods route through ``funcad.numpy`` so that
    whatever the current interpreter is sees the operation.
    """
    __slots__ = ("_interp",)
    __array_priority__ = 1000

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy ufuncs on tracers (``np.sin(t)``, ``ndarray + t``, ``np.add.reduce(t)``) run
        funcad.numpy's twin (NEP 13; see ``funcad/numpy/_dispatch.py``)."""
        return _numpy_dispatch().array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """NumPy functions on tracers (``np.dot(t, t)``, ``np.linalg.norm(t)``) run
        funcad.numpy's twin, or raise TracerArrayConversionError when there is none (NEP 18;
        see ``funcad/numpy/_dispatch.py``)."""
        return _numpy_dispatch().array_function(func, args, kwargs)

    @property
    def aval(self) -> ShapedArray:
        raise NotImplementedError

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)
    size = property(lambda self: self.aval.size)
    T = property(lambda self: _fnp().transpose(self))
    itemsize = property(lambda self: self.aval.dtype.itemsize)
    real = property(lambda self: _fnp().real(self))
    imag = property(lambda self: _fnp().imag(self))
    nbytes = property(lambda self: self.aval.size * self.aval.dtype.itemsize)

    @property
    def mT(self):  # noqa: N802  (NumPy's name)
        if self.aval.ndim < 2:
            raise ValueError(f"x.mT of a traced value of rank {self.aval.ndim}: the matrix "
                             f"transpose needs at least 2 dimensions")
        return _fnp().swapaxes(self, -1, -2)

    def concrete_value(self):
        """The concrete value behind this tracer, or None when it is abstract."""
        return None

    def _concrete(self, what: str, err):
        v = self.concrete_value()
        if v is None:
            raise err(_concretization_message(what, self))
        return v

    def __bool__(self):
        return bool(self._concrete("Python `bool()` (an `if`, `while`, `and`/`or`)",
                                   TracerBoolConversionError))

    def __int__(self):
        return int(self._concrete("Python `int()`", TracerIntegerConversionError))

    def __float__(self):
        # Only tracers that carry a derivative (jvp's) have a concrete value: float() would
        # drop it, so it is an error either way. np.float64(t) calls this too.
        if self.concrete_value() is not None:
            raise TracerArrayConversionError(_conversion_message(
                "Python `float()` (or np.float64(...))", self))
        return float(self._concrete(
            "Python `float()` (which `a[i] = x` into a NumPy array `a` runs too: a traced value "
            "cannot be written into a NumPy array; use `a = fnp.asarray(a).at[i].set(x)`)",
            ConcretizationError))

    def __index__(self):
        v = self._concrete("Use as a Python index (`__index__`)", TracerIntegerConversionError)
        return operator.index(v)

    def __array__(self, dtype=None, copy=None):
        # An error even when the value is known (jvp's tracers): the array would drop the
        # derivative, silently. JAX's rule.
        raise TracerArrayConversionError(_conversion_message(
            "Conversion to a NumPy array (np.asarray, np.array, __array__)", self))

    def __setitem__(self, idx, value):
        raise TypeError(
            f"x[{_index_text(idx)}] = ... on a traced value ({self.aval.str_short()} under "
            f"`{self._interp.name}`): traced arrays are immutable. Use "
            f"`x = x.at[{_index_text(idx)}].set(value)` (or .add, .multiply, .min, .max), "
            f"which returns the updated array.")

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object (a 0-d traced array)")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(self.shape[0]))

    # copy.copy / copy.deepcopy: a traced value is immutable, so it is its own copy. Without
    # these, deepcopy would rebuild the object from its slots, a new tracer the interpreter
    # never made: a constant in the graph and the input unused, silently.
    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self

    def __reduce_ex__(self, protocol):
        raise TypeError(
            f"pickle of a traced value ({self.aval.str_short()} under `{self._interp.name}`): "
            f"it stands for a value not computed yet, and only lives while the transformation "
            f"runs. Pickle the concrete result outside the transformed function (return it, "
            f"then pickle.dumps(result)).")

    def __reduce__(self):
        return self.__reduce_ex__(2)

    def __hash__(self):
        raise TypeError(f"unhashable type: traced array ({self.aval.str_short()}). A traced "
                        f"value cannot be a static argument or a dict key.")

    def __repr__(self):
        v = self.concrete_value()
        extra = "" if v is None else f" with value {np.asarray(v)!r}"
        return f"Traced<{self.aval.str_short()}>{extra} under {self._interp.name}"

    # operators -----------------------------------------------------------------------------
    def __neg__(self): return _fnp().negative(self)
    def __pos__(self): return self
    def __abs__(self): return _fnp().abs(self)
    def __invert__(self): return _fnp().invert(self)
    def __add__(self, o): return _fnp().add(self, o)
    def __radd__(self, o): return _fnp().add(o, self)
    def __sub__(self, o): return _fnp().subtract(self, o)
    def __rsub__(self, o): return _fnp().subtract(o, self)
    def __mul__(self, o): return _fnp().multiply(self, o)
    def __rmul__(self, o): return _fnp().multiply(o, self)
    def __truediv__(self, o): return _fnp().true_divide(self, o)
    def __rtruediv__(self, o): return _fnp().true_divide(o, self)
    def __floordiv__(self, o): return _fnp().floor_divide(self, o)
    def __rfloordiv__(self, o): return _fnp().floor_divide(o, self)
    def __mod__(self, o): return _fnp().remainder(self, o)
    def __rmod__(self, o): return _fnp().remainder(o, self)
    def __pow__(self, o): return _fnp().power(self, o)
    def __rpow__(self, o): return _fnp().power(o, self)
    def __divmod__(self, o): return _fnp().divmod(self, o)
    def __rdivmod__(self, o): return _fnp().divmod(o, self)

    def __round__(self, ndigits=None):
        # NumPy's rule: only a scalar (0-d) rounds with round(); round(x) is a Python int
        if self.aval.ndim:
            raise TypeError(f"round() of a traced array of rank {self.aval.ndim}: NumPy arrays "
                            f"do not define __round__; use np.round(x, decimals)")
        if ndigits is None:
            return int(self)
        return _fnp().round(self, ndigits)

    def __matmul__(self, o): return _fnp().matmul(self, o)
    def __rmatmul__(self, o): return _fnp().matmul(o, self)
    def __and__(self, o): return _fnp().bitwise_and(self, o)
    def __rand__(self, o): return _fnp().bitwise_and(o, self)
    def __or__(self, o): return _fnp().bitwise_or(self, o)
    def __ror__(self, o): return _fnp().bitwise_or(o, self)
    def __xor__(self, o): return _fnp().bitwise_xor(self, o)
    def __rxor__(self, o): return _fnp().bitwise_xor(o, self)
    def __eq__(self, o): return _fnp().equal(self, o)
    def __ne__(self, o): return _fnp().not_equal(self, o)
    def __lt__(self, o): return _fnp().less(self, o)
    def __le__(self, o): return _fnp().less_equal(self, o)
    def __gt__(self, o): return _fnp().greater(self, o)
    def __ge__(self, o): return _fnp().greater_equal(self, o)
    def __getitem__(self, idx): return _fnp()._getitem(self, idx)

    # methods -------------------------------------------------------------------------------
    def reshape(self, *shape, order="C"):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _fnp().reshape(self, shape, order=order)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _fnp().transpose(self, axes or None)

    def sum(self, axis=None, dtype=None, keepdims=False, out=None):
        _no_out(out, "sum")
        return _fnp().sum(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def prod(self, axis=None, dtype=None, keepdims=False, out=None):
        _no_out(out, "prod")
        return _fnp().prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def mean(self, axis=None, dtype=None, keepdims=False, out=None):
        _no_out(out, "mean")
        return _fnp().mean(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis=None, ddof=0, keepdims=False, out=None):
        _no_out(out, "var")
        return _fnp().var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def std(self, axis=None, ddof=0, keepdims=False, out=None):
        _no_out(out, "std")
        return _fnp().std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def max(self, axis=None, out=None, *, keepdims=False, initial=None):
        _no_out(out, "max")
        return _fnp().max(self, axis=axis, keepdims=keepdims, initial=initial)

    def min(self, axis=None, out=None, *, keepdims=False, initial=None):
        _no_out(out, "min")
        return _fnp().min(self, axis=axis, keepdims=keepdims, initial=initial)

    def argmax(self, axis=None, keepdims=False, out=None):
        _no_out(out, "argmax")
        return _fnp().argmax(self, axis=axis, keepdims=keepdims)

    def argmin(self, axis=None, keepdims=False, out=None):
        _no_out(out, "argmin")
        return _fnp().argmin(self, axis=axis, keepdims=keepdims)

    def cumsum(self, axis=None, dtype=None, out=None):
        _no_out(out, "cumsum")
        return _fnp().cumsum(self, axis=axis, dtype=dtype)

    def cumprod(self, axis=None, dtype=None, out=None):
        _no_out(out, "cumprod")
        return _fnp().cumprod(self, axis=axis, dtype=dtype)

    def argsort(self, axis=-1, kind=None, order=None, *, stable=None):
        extra = {} if stable is None else {"stable": stable}
        return _fnp().argsort(self, axis=axis, kind=kind, order=order, **extra)

    def take(self, indices, axis=None, out=None, mode=None):
        _no_out(out, "take")
        return _fnp().take(self, indices, axis=axis, mode=mode)

    def repeat(self, repeats, axis=None):
        return _fnp().repeat(self, repeats, axis=axis)

    def round(self, decimals=0, out=None):
        _no_out(out, "round")
        return _fnp().round(self, decimals)

    def copy(self, order="C"):
        """The value itself: traced values are immutable, so a copy cannot differ."""
        return self

    def all(self, axis=None, keepdims=False, out=None):
        _no_out(out, "all")
        return _fnp().all(self, axis=axis, keepdims=keepdims)

    def any(self, axis=None, keepdims=False, out=None):
        _no_out(out, "any")
        return _fnp().any(self, axis=axis, keepdims=keepdims)

    def astype(self, dtype, *, copy=True):
        """``copy`` is accepted and has no effect: traced values are immutable."""
        return _fnp().asarray(self, dtype=dtype)

    def squeeze(self, axis=None):
        return _fnp().squeeze(self, axis=axis)

    def ravel(self):
        return _fnp().ravel(self)

    flatten = ravel

    def dot(self, other):
        return _fnp().dot(self, other)

    def conj(self):
        return _fnp().conj(self)

    conjugate = conj

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _fnp().diagonal(self, offset, axis1, axis2)

    def trace(self, offset=0, axis1=0, axis2=1):
        return _fnp().trace(self, offset, axis1, axis2)

    def clip(self, min=None, max=None):
        return _fnp().clip(self, min, max)

    def swapaxes(self, a, b):
        return _fnp().swapaxes(self, a, b)

    def item(self):
        raise TracerArrayConversionError(_conversion_message("`.item()`", self))

    def tolist(self):
        raise TracerArrayConversionError(_conversion_message("`.tolist()`", self))

    @property
    def at(self):
        return _fnp()._IndexUpdateHelper(self)


# ---------------------------------------------------------------------------------------------
# Small shared helpers

def unzip2(pairs):
    a, b = [], []
    for x, y in pairs:
        a.append(x)
        b.append(y)
    return a, b


_counter = itertools.count()


def fresh_id() -> int:
    return next(_counter)


def canonicalize_axis(axis: int, ndim: int, who: str = "funcad") -> int:
    a = operator.index(axis)
    if not -ndim <= a < ndim:
        raise ValueError(f"{who}: axis {axis} is out of bounds for an array of rank {ndim}")
    return a % ndim
