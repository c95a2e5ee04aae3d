"""Plain NumPy on traced values: ``np.dot(tracer, x)`` runs ``funcad.numpy.dot``.

NumPy hands a call with an argument that is not an ndarray to that argument's type: a NumPy
function to ``__array_function__`` (NEP 18), a ufunc or ufunc method to ``__array_ufunc__``
(NEP 13). :class:`funcad.core.Tracer` forwards both to :func:`array_function` and
:func:`array_ufunc` here (``funcad.numpy`` installs them in ``core.numpy_dispatch``; core
imports nothing of this layer), which look the NumPy function up in a table built by name from
what ``funcad.numpy``, ``fnp.linalg`` and ``fnp.fft`` (when present) export, so the table grows
with ``funcad.numpy``.

Arguments are bound to NumPy's own signature first, then passed to the twin by name: the twin
may order its parameters differently (``np.sum(a, axis, dtype, out, keepdims)``) or name them
differently (``x1``/``x``). A keyword the twin does not take is dropped only when it is NumPy's
default (``out=None``, ``casting='same_kind'``); any other value raises a TypeError naming the
function and the keyword, and ``out=`` an array raises too (traced values are immutable): never
a silently dropped option. A NumPy function with no twin raises
:class:`~funcad.core.TracerArrayConversionError` naming it.

Ufunc methods: ``reduce`` and ``accumulate`` run the reduction of the same meaning
(``np.add.reduce`` is ``sum`` over axis 0, ``np.multiply.accumulate`` is ``cumprod``),
``outer`` broadcasts the ufunc's twin over ``A[..., None, ...]`` and ``B``; ``reduceat`` and
``at`` (in place) raise.
"""
from __future__ import annotations

import inspect
import operator
import sys
import types

import numpy as np

from funcad._memo import Memo
from funcad.core import Tracer, TracerArrayConversionError

_MISSING = inspect.Parameter.empty
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)

# ufunc.reduce / ufunc.accumulate: the funcad.numpy reduction with the same meaning.
_REDUCE = {"add": "sum", "multiply": "prod", "maximum": "max", "minimum": "min",
           "logical_and": "all", "logical_or": "any"}
_ACCUMULATE = {"add": "cumsum", "multiply": "cumprod"}
# NumPy functions that read only the dtype of an array: NumPy answers them for a stand-in
# (an empty array or the dtype itself) of the tracer's dtype.
_DTYPE_ONLY = {np.iscomplexobj: "array", np.isrealobj: "array", np.can_cast: "dtype",
               np.result_type: "dtype", np.common_type: "array"}
# NumPy keywords the twin spells differently (NumPy 2's np.clip(x, min=, max=)).
_RENAMES = {np.clip: {"min": "a_min", "max": "a_max"}}


# ---------------------------------------------------------------------------------------------
# The table: NumPy function or ufunc -> funcad.numpy twin

def _namespaces():
    """(NumPy namespace, funcad namespace, public names of the funcad namespace)."""
    from funcad import numpy as fnp  # cycle: funcad.numpy imports this module to install it
    out = [(np, fnp, [n for n in dir(fnp) if not n.startswith("_")])]
    for sub in ("linalg", "fft"):
        f_sub, n_sub = getattr(fnp, sub, None), getattr(np, sub, None)
        if f_sub is not None and n_sub is not None:
            out.append((n_sub, f_sub, getattr(f_sub, "__all__", None)
                        or [n for n in dir(f_sub) if not n.startswith("_")]))
    return out


def build_table() -> dict:
    """``{numpy function or ufunc: funcad.numpy function}`` for every public callable of
    ``funcad.numpy`` (and its ``linalg``/``fft``) whose name NumPy's namespace also has.
    ``array``/``asarray`` are left out: converting a tracer with NumPy is an error, not a
    call of fnp.asarray (NumPy does not dispatch them anyway)."""
    table = {}
    for np_ns, f_ns, names in _namespaces():
        for name in names:
            f, g = getattr(f_ns, name, None), getattr(np_ns, name, None)
            if (name in ("array", "asarray") or g is None or not callable(f)
                    or isinstance(f, (type, types.ModuleType)) or isinstance(g, type)):
                continue
            table.setdefault(g, f)
    return table


_table: dict | None = None


def table() -> dict:
    global _table
    if _table is None:
        _table = build_table()
    return _table


def _np_name(fn) -> str:
    """``numpy.sum``, ``numpy.linalg.norm``: the public name NumPy 2 gives its functions."""
    if isinstance(fn, np.ufunc):
        # A ufunc has no __module__: NumPy's own, else the namespace that exports it.
        if getattr(np, fn.__name__, None) is fn:
            return f"numpy.{fn.__name__}"
        for mod in ("scipy.special",):
            ns = sys.modules.get(mod)
            if ns is not None and getattr(ns, fn.__name__, None) is fn:
                return f"{mod}.{fn.__name__}"
        return f"the ufunc {fn.__name__}"
    mod = getattr(fn, "__module__", None) or "numpy"
    return f"{'numpy' if mod.startswith('numpy._') else mod}.{getattr(fn, '__name__', fn)}"


def _fnp_name(fn) -> str:
    mod = getattr(fn, "__module__", "funcad.numpy")
    mod = "funcad.numpy.linalg" if mod.endswith(".linalg") else (
        "funcad.numpy.fft" if mod.endswith(".fft") else "funcad.numpy")
    return f"{mod}.{fn.__name__}"


def _where(arguments) -> str:
    tracers = [t for t in _flat(arguments) if isinstance(t, Tracer)]
    return f" under `{tracers[0]._interp.name}`" if tracers else ""


def _flat(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def missing(np_name: str, arguments=()) -> TracerArrayConversionError:
    """The error for a NumPy function funcad.numpy has no twin of."""
    return TracerArrayConversionError(
        f"{np_name} was called on a traced value{_where(arguments)}, and funcad has no twin "
        f"of {np_name}: NumPy itself cannot see traced values. Write it with the "
        f"funcad.numpy functions that exist (import funcad.numpy as fnp; funcad.scipy.special "
        f"for SciPy's special functions), or compute it outside the transformed function.")


# ---------------------------------------------------------------------------------------------
# Calling the twin: bind to NumPy's signature, pass by name

_plans = Memo("numpy dispatch: call plans by (NumPy function, twin)", 1024)


def _signature(fn):
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _plan(np_fn, f_fn):
    """(NumPy's signature, twin's signature, {NumPy parameter name: twin parameter name}),
    cached. Leading positional parameters whose names differ (``x1`` for ``x``) are matched
    by position."""
    key = (np_fn, f_fn)
    plan = _plans.table.get(key)
    if plan is None:
        s_np, s_f = _signature(np_fn), _signature(f_fn)
        names = {}
        if s_np is not None and s_f is not None:
            f_params = s_f.parameters
            f_pos = [p.name for p in f_params.values() if p.kind in _POSITIONAL]
            pos = [p.name for p in s_np.parameters.values() if p.kind in _POSITIONAL]
            for i, name in enumerate(pos):
                if name in f_params:
                    names[name] = name
                elif i < len(f_pos) and f_pos[i] not in s_np.parameters:
                    names[name] = f_pos[i]
            for name in s_np.parameters:
                if name not in names and name in f_params:
                    names[name] = name
        plan = _plans.put(key, (s_np, s_f, names, _fast_path(s_np, s_f, names)))
    return plan


def _fast_path(s_np, s_f, names):
    """(n, keywords): a call with at most n positional arguments and only these keywords
    means the same to the twin as to NumPy, so it is passed on as it is (the common case,
    without the cost of binding)."""
    if s_np is None or s_f is None:
        return 0, frozenset()
    n_params, f_params = list(s_np.parameters.values()), list(s_f.parameters.values())
    n = 0
    for p, q in zip(n_params, f_params):
        if p.kind is q.kind is inspect.Parameter.VAR_POSITIONAL:
            n = 1 << 30
            break
        if p.kind not in _POSITIONAL or q.kind not in _POSITIONAL or names.get(p.name) != q.name:
            break
        n += 1
    keywords = frozenset(k for k, v in names.items() if k == v and s_f.parameters[v].kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY))
    return n, keywords


def _is_default(value, default) -> bool:
    if value is default:
        return True
    if default is _MISSING or isinstance(value, (Tracer, np.ndarray)):
        return False
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # noqa: BLE001  (a comparison that is not a plain bool: not the default)
        return False


# The identity of the reduction of NumPy functions whose twin has no ``initial``.
_INITIAL_IDENTITY = {np.sum: 0, np.prod: 1, np.nansum: 0, np.nanprod: 1}


def _is_noop(np_fn, name, value) -> bool:
    """A keyword the twin does not take, given a value that cannot change the result:
    ``where=True`` (every element), ``initial=`` the reduction's identity (``0`` for a sum),
    ``copy=`` any of None/True/False (traced values are immutable, so copying is invisible).
    ``dtype=`` is checked against the result after the call (:func:`call_twin`)."""
    if isinstance(value, (Tracer, np.ndarray)):
        return False
    if name == "where":
        return value is True or type(value) is np.bool_ and bool(value)
    if name == "copy":
        return value is None or type(value) in (bool, np.bool_)
    if name == "initial":
        ufunc = getattr(np_fn, "__self__", None)
        identity = (ufunc.identity if isinstance(ufunc, np.ufunc)
                    else _INITIAL_IDENTITY.get(np_fn))
        return (identity is not None and isinstance(value, (int, float, np.number))
                and not isinstance(value, bool) and value == identity)
    return False


def _refuse_out(np_name, value):
    outs = value if isinstance(value, tuple) else (value,)
    if any(isinstance(o, np.ndarray) for o in outs):
        raise TypeError(
            f"{np_name}(..., out=...) with a NumPy array as out and a traced operand (also "
            f"what `a *= x`, `a += x` run): a traced value cannot be written into a NumPy "
            f"array, and traced arrays are immutable. Use the returned value (`a = a * x`), or build the "
            f"array with funcad.numpy (import funcad.numpy as fnp) and update it with "
            f"`a = a.at[idx].set(x)`.")
    if any(o is not None for o in outs):
        raise TypeError(
            f"{np_name}(..., out=...) on a traced value: traced arrays are immutable, so out= "
            f"cannot be written. Use the returned value (`y = {np_name}(...)`), or "
            f"`x.at[idx].set(y)` to update part of an array.")


_bindings = Memo("numpy dispatch: argument plans by (function, twin, positionals, keywords)",
                 4096)


def _binding(np_fn, s_np, s_f, names, n_args, keys, np_name):
    """How a call with ``n_args`` positional arguments and the keywords ``keys`` reaches the
    twin, worked out once by binding numbered slots to NumPy's signature (the binding depends
    only on the count and the names, not on the values): ``(give, star, checks)``, with
    ``give`` the (twin parameter, slot) pairs, ``star`` the slots of NumPy's ``*args`` and
    ``checks`` the (keyword, slot, kind) the twin does not take, checked on every call."""
    try:
        bound = s_np.bind(*range(n_args), **{k: n_args + i for i, k in enumerate(keys)})
    except TypeError as e:
        raise TypeError(f"{np_name}: {e}") from None
    arguments = dict(bound.arguments)
    for k, v in _RENAMES.get(np_fn, {}).items():
        if k in arguments and v not in arguments:
            arguments[v] = arguments.pop(k)
    f_params = s_f.parameters
    f_var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in f_params.values())
    give, star, checks = [], (), []
    for name, slot in arguments.items():
        kind = s_np.parameters[name].kind if name in s_np.parameters else None
        if kind is inspect.Parameter.VAR_POSITIONAL:
            star = tuple(slot)
            continue
        items = slot.items() if kind is inspect.Parameter.VAR_KEYWORD else [(name, slot)]
        for k, i in items:
            target = names.get(k, k if f_var_kw or k in f_params else None)
            if target is not None:
                give.append((target, i))
            else:
                checks.append((k, i, "out" if k == "out" else "dtype" if (
                    k == "dtype" and isinstance(np_fn, np.ufunc)) else "other"))
    return tuple(give), star, tuple(checks)


def call_twin(np_fn, f_fn, args, kwargs, np_name=None):
    """``f_fn`` called with ``args, kwargs`` meant for ``np_fn``, matched by NumPy's
    parameter names: passed on as they are when the twin reads them alike (the fast path),
    else through the call's cached :func:`_binding`. ``np_name`` (for messages) is computed
    only when a message needs it."""
    s_np, s_f, names, (fast_n, fast_keywords) = _plan(np_fn, f_fn)
    if s_np is None or s_f is None:
        return f_fn(*args, **kwargs)
    if (len(args) <= fast_n and np_fn not in _RENAMES
            and all(k in fast_keywords for k in kwargs)):
        return f_fn(*args, **kwargs)
    key = (np_fn, f_fn, len(args), tuple(kwargs))
    plan = _bindings.table.get(key)
    if plan is None:
        plan = _bindings.put(key, _binding(np_fn, s_np, s_f, names, len(args), tuple(kwargs),
                                           np_name or _np_name(np_fn)))
    give, star_slots, checks = plan
    values = (*args, *kwargs.values())
    given = {target: values[i] for target, i in give}
    star = tuple(values[i] for i in star_slots)
    want_dtype = None
    for k, i, what in checks:
        v = values[i]
        if what == "out":
            if v is not None:
                _refuse_out(np_name or _np_name(np_fn), v)
        elif what == "dtype" and v is not None:
            want_dtype = v   # allowed when it is the result's dtype: checked below
        elif what == "other" and not (_is_default(v, s_np.parameters[k].default
                                                  if k in s_np.parameters else _MISSING)
                                      or _is_noop(np_fn, k, v)):
            np_name = np_name or _np_name(np_fn)
            raise TypeError(
                f"{np_name}(..., {k}={v!r}) on a traced value: its funcad.numpy twin "
                f"{_fnp_name(f_fn)} does not take `{k}`, and dropping it could change "
                f"the result. Leave {k} at NumPy's default, or compute the result "
                f"another way with funcad.numpy (import funcad.numpy as fnp).")
    f_params = s_f.parameters
    if want_dtype is not None:
        np_name = np_name or _np_name(np_fn)
        out = _call_bound(f_fn, f_params, given, star)
        try:
            same = all(np.dtype(want_dtype) == o.dtype
                       for o in (out if isinstance(out, tuple) else (out,)))
        except TypeError:
            same = False
        if not same:
            raise TypeError(
                f"{np_name}(..., dtype={want_dtype!r}) on a traced value: its funcad.numpy "
                f"twin {_fnp_name(f_fn)} computes in another dtype and does not take `dtype`. "
                f"Convert the operands first (`{np_name}(x.astype(...), ...)`), or leave "
                f"dtype out.")
        return out
    return _call_bound(f_fn, f_params, given, star)


def _call_bound(f_fn, f_params, given, star):
    """``f_fn`` called with its arguments by twin parameter name (``given``) and the NumPy
    call's ``*args`` (``star``): positional where the twin needs them positional."""
    if star and not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in f_params.values()):
        return f_fn(*star, **given)
    call_args, params = [], list(f_params.values())
    for i, p in enumerate(params):
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            call_args.extend(star)
            break
        if p.kind not in _POSITIONAL:
            break
        if p.name in given:
            call_args.append(given.pop(p.name))
        elif p.default is not _MISSING and any(
                q.kind is inspect.Parameter.POSITIONAL_ONLY and q.name in given
                for q in params[i + 1:]):
            call_args.append(p.default)  # a gap before a positional-only argument
        else:
            break
    return f_fn(*call_args, **given)


# ---------------------------------------------------------------------------------------------
# The two protocols

def array_function(func, args, kwargs):
    """``Tracer.__array_function__``: run the funcad.numpy twin of ``func``."""
    if func in _DTYPE_ONLY:
        stand_in = ((lambda t: np.empty(0, t.dtype)) if _DTYPE_ONLY[func] == "array"
                    else (lambda t: t.dtype))
        return func(*[stand_in(a) if isinstance(a, Tracer) else a for a in args], **kwargs)
    f_fn = table().get(func)
    if f_fn is None and not any(isinstance(a, Tracer)
                                for a in _flat((args, tuple(kwargs.values())))):
        # NumPy dispatched on like= (NEP 35), which it has taken out of kwargs; a function
        # with a twin is answered by it (a NumPy constant, what like= would make)
        name = _np_name(func)
        raise TracerArrayConversionError(
            f"{name}(..., like=x) with a traced x: like= asks "
            f"NumPy for an array of x's type, and NumPy cannot make traced values. Drop "
            f"like= for a NumPy constant, or use funcad.numpy (fnp.{name.rsplit('.', 1)[-1]}"
            f"(...) without like=), whose arrays mix with traced values.")
    if f_fn is None:
        raise missing(_np_name(func), (args, tuple(kwargs.values())))
    return call_twin(func, f_fn, args, kwargs)


def _reduce_axis(qual, method, inputs, axis):
    """``axis`` of ufunc.reduce/accumulate as NumPy reads it, for the twin (whose default is
    not NumPy's 0). accumulate takes one axis (an int or a 1-tuple; None and longer tuples are
    NumPy's ValueError) and no 0-d operand; reduce of a 0-d operand over axis 0 or -1 is the
    operand itself (NumPy's rule, for an int axis only), which is the twin's ``axis=None`` there."""
    ndim = len(inputs[0].shape if hasattr(inputs[0], "shape") else np.shape(inputs[0]))
    if method == "accumulate":
        if isinstance(axis, (tuple, list)) and len(axis) == 1:
            axis = axis[0]
        if axis is None or isinstance(axis, (tuple, list)):
            raise ValueError(f"{qual}(..., axis={axis!r}): accumulate does not allow multiple "
                             f"axes; give one axis (an int)")
        if ndim == 0:
            raise TypeError(f"{qual}: cannot accumulate on a scalar (a 0-d operand)")
        return axis
    if ndim == 0 and type(axis) is not bool and not isinstance(axis, (tuple, list)):
        if axis is not None and operator.index(axis) in (0, -1):
            return None
    return axis


def array_ufunc(ufunc, method, inputs, kwargs):
    """``Tracer.__array_ufunc__``: a ufunc or one of its methods on traced operands."""
    from funcad import numpy as fnp  # cycle: funcad.numpy imports this module to install it
    name = _np_name(ufunc)
    f_fn = table().get(ufunc)
    if method == "__call__":
        if f_fn is None:
            raise missing(name, inputs)
        return call_twin(ufunc, f_fn, inputs, kwargs, name)
    qual = f"{name}.{method}"
    if method in ("reduce", "accumulate"):
        red = (_REDUCE if method == "reduce" else _ACCUMULATE).get(ufunc.__name__)
        red_fn = getattr(fnp, red, None) if red else None
        if red_fn is None:
            raise missing(qual, inputs)
        kwargs = dict(kwargs, axis=_reduce_axis(qual, method, inputs, kwargs.get("axis", 0)))
        return call_twin(getattr(ufunc, method), red_fn, inputs, kwargs, qual)
    if method == "outer":
        if f_fn is None:
            raise missing(qual, inputs)
        if len(inputs) != 2:
            raise TypeError(f"{qual} takes 2 operands, got {len(inputs)}")
        a, b = fnp.asarray(inputs[0]), fnp.asarray(inputs[1])
        a = fnp.reshape(a, tuple(a.shape) + (1,) * b.ndim)
        return call_twin(ufunc, f_fn, (a, b), kwargs, qual)
    if method == "at":
        raise TypeError(
            f"{qual} on a traced value: it updates its operand in place, and traced arrays "
            f"are immutable. Use the functional form, e.g. `x = x.at[idx].add(v)` for "
            f"np.add.at(x, idx, v).")
    raise missing(qual, inputs)
