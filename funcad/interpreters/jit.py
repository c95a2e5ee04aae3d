"""jit: trace a function once per signature, lower it to one Numba loop nest, call that.

Two pieces live here.

``jit_p`` is a *higher-order primitive*: its equation carries a whole ClosedJaxpr (param
``jaxpr``, always without consts: constants are passed as leading arguments, so compiled code
never freezes them as globals). Its rules transform that inner jaxpr and bind ``jit_p`` again,
so every transformation of a jitted function still runs compiled:

* impl: lower + compile (cached per jaxpr object, and by source text in codegen/compile.py);
* jvp: trace the jvp of the inner jaxpr (nonzero tangents only) and bind it;
* partial_eval (what ``linearize``/``grad`` use): split the inner jaxpr into a known part,
  run now (compiled) on the interpreter below, and an unknown part staged as a new ``jit_p``;
* transpose: trace the backward pass of the (linear) inner jaxpr;
* batch: trace the inner jaxpr under a batching interpreter, all batch axes moved to 0.

:func:`jit` is what users call. It flattens the arguments, looks the signature up in a dict
(one ``dict.get`` on a tuple of dtypes and shapes for the common call with arrays), and calls
the compiled function directly; under another transformation (or with tracers among the
arguments) it binds ``jit_p`` so that the transformation sees one equation.
"""
from __future__ import annotations

import functools
import inspect
import re
from typing import Callable, Sequence

import numpy as np

from funcad import core
from funcad._memo import Memo
from funcad.codegen.compile import compile_source
from funcad.codegen.lower import lower_jaxpr
from funcad.config import config
from funcad.core import Primitive, ShapedArray, Tracer, bind_with, check_dtype, get_aval
from funcad.interpreters.jaxpr_util import batch_jaxpr_dims, hoist, jvp_jaxpr, transpose_jaxpr
from funcad.interpreters.partial_eval import partial_eval_jaxpr
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.ir import ClosedJaxpr, eval_jaxpr
from funcad.lowering import Call
from funcad.rule_util import UndefinedPrimal, Zero, check_array_leaves, needs_axis_size
from funcad.tree_util import tree_flatten, tree_unflatten

__all__ = ["jit", "jit_p", "Lowered"]

# config.update writes into this dict: reading it is one dict lookup on the hot path.
_cfg = object.__getattribute__(config, "_values")
_EVAL = core.eval_interpreter
_get_current = core._get_current   # this thread's interpreter (a ContextVar read)
_ND = np.ndarray
_PY_SCALARS = (float, int, bool)


# ---------------------------------------------------------------------------------------------
# Compiled executables, one per (jaxpr object, parallel, exact_math)

def _as_scalar(x):
    return x[()] if type(x) is _ND else x


def _out_converter(aval: ShapedArray):
    return aval.dtype.type if aval.ndim == 0 else None


class _Executable:
    """A compiled jaxpr: ``run(args)`` takes the jaxpr's inputs, returns a list of outputs.

    Rank-0 inputs are passed to Numba as scalars and rank-0 outputs come back as NumPy
    scalars (``np.float64`` ...), as NumPy's own reductions return them."""
    __slots__ = ("fn", "source", "fn_name", "dims", "suffix", "scalar_in", "out_conv")

    def __init__(self, closed: ClosedJaxpr, name: str, parallel: bool):
        lowered = lower_jaxpr(closed.jaxpr, name=name, parallel=parallel,
                              exact_math=bool(_cfg["exact_math"]))
        self.source = lowered.source
        self.fn_name = lowered.fn_name
        self.dims = lowered.dims
        self.fn = compile_source(lowered.source, lowered.fn_name, parallel=lowered.parallel)
        self.suffix = tuple(_as_scalar(c) if get_aval(c).ndim == 0 else c
                            for c in lowered.extra_consts) + lowered.tail
        self.scalar_in = tuple(i for i, a in enumerate(closed.in_avals) if a.ndim == 0)
        conv = [_out_converter(a) for a in closed.out_avals]
        self.out_conv = tuple(conv) if any(c is not None for c in conv) else None

    def run(self, args: Sequence) -> list:
        if self.scalar_in:
            args = list(args)
            for i in self.scalar_in:
                args[i] = _as_scalar(args[i])
        try:
            res = self.fn(*args, *self.suffix)
        except _NumbaError as e:
            raise _codegen_error(self.fn_name, self.source, e) from e
        if self.out_conv is None:
            return list(res)
        return [r if c is None else c(r) for r, c in zip(res, self.out_conv)]


def _numba_error_class():
    from numba.core.errors import NumbaError
    return NumbaError


_NumbaError = _numba_error_class()


def _codegen_error(fn_name: str, source: str, e: Exception) -> RuntimeError:
    """A Numba compile error in generated code is a funcad bug: say so, show the source."""
    said = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip()[:2000]   # without terminal colours
    return RuntimeError(
        f"jit: Numba could not compile the generated function {fn_name} (a bug in funcad's "
        f"code generator; please report it with this message). Run without jit meanwhile: "
        f"funcad.config.update('disable_jit', True). Numba said: {said}\n"
        f"--- generated source ---\n{source}")


# Keyed by the id of a jaxpr (jaxprs are compared by identity); Memo.lookup's ``keep`` holds
# the jaxpr with the entry, so the id cannot be reused while the entry lives.
_executables = Memo("jit: compiled executables by (jaxpr, parallel, exact_math)", 512)
_rule_cache = Memo("jit: transformed inner jaxprs (jvp, partial_eval, transpose, batch)", 512)


def executable(closed: ClosedJaxpr, name: str, parallel: bool) -> _Executable:
    key = (id(closed), bool(parallel), bool(_cfg["exact_math"]))
    return _executables.lookup(key, lambda: _Executable(closed, name, parallel), closed)


def _writable_c(x):
    """Arrays made by NumPy views (broadcast_to, transposes) as C-contiguous writable copies,
    so Numba sees one array type per rank and dtype and compiles once."""
    if type(x) is _ND and not (x.flags.c_contiguous and x.flags.writeable):
        return np.array(x, order="C")
    return x


# ---------------------------------------------------------------------------------------------
# The primitive

def _jit_impl(*args, jaxpr: ClosedJaxpr, name: str, parallel: bool):
    if _cfg["disable_jit"]:
        return eval_jaxpr(jaxpr.jaxpr, jaxpr.consts, args)
    return executable(jaxpr, name, parallel).run([_writable_c(a) for a in args])


def _jit_abstract(*avals, jaxpr: ClosedJaxpr, name: str, parallel: bool):
    return list(jaxpr.out_avals)


def _jit_jvp(primals, tangents, *, jaxpr: ClosedJaxpr, name: str, parallel: bool):
    nonzero = tuple(type(t) is not Zero for t in tangents)
    jvp_closed, consts, out_nz = _rule_cache.lookup(
        ("jvp", id(jaxpr), nonzero),
        lambda: jvp_jaxpr(jaxpr, nonzero, [False] * len(jaxpr.out_avals), name=f"jvp({name})"),
        jaxpr)
    outs = jit_p.bind(*consts, *primals, *[t for t, z in zip(tangents, nonzero) if z],
                      jaxpr=jvp_closed, name=f"jvp_{name}", parallel=parallel)
    n = len(jaxpr.out_avals)
    it = iter(outs[n:])
    t_outs = [next(it) if z else Zero(a) for a, z in zip(jaxpr.out_avals, out_nz)]
    return outs[:n], t_outs


def _pe_jaxprs(closed: ClosedJaxpr, unknowns: tuple, name: str):
    known, unknown, out_unknowns, num_res = partial_eval_jaxpr(closed, unknowns,
                                                               f"partial_eval({name})")
    known, known_consts = hoist(known)
    return known, known_consts, unknown, tuple(out_unknowns), num_res


def _jit_partial_eval(pe, args, params):
    closed, name, parallel = params["jaxpr"], params["name"], params["parallel"]
    unknowns = tuple(pe.is_unknown(x) for x in args)
    known, known_consts, unknown, out_unknowns, num_res = _rule_cache.lookup(
        ("pe", id(closed), unknowns),
        lambda: _pe_jaxprs(closed, unknowns, name), closed)
    known_args = [x for x, u in zip(args, unknowns) if not u]
    known_outs = bind_with(pe.prev, jit_p, *known_consts, *known_args, jaxpr=known,
                           name=f"known_{name}", parallel=parallel)
    n_known = len(known_outs) - num_res
    residuals = list(known_outs[n_known:])
    unknown_outs = []
    if any(out_unknowns):
        unknown_outs = pe.stage(jit_p, residuals + [x for x, u in zip(args, unknowns) if u],
                                dict(jaxpr=unknown, name=f"lin_{name}", parallel=parallel))
    ik, iu = iter(known_outs[:n_known]), iter(unknown_outs)
    return [next(iu) if u else next(ik) for u in out_unknowns]


def _jit_transpose(cts, *args, jaxpr: ClosedJaxpr, name: str, parallel: bool):
    undef = tuple(type(a) is UndefinedPrimal for a in args)
    ct_nz = tuple(c is not None and type(c) is not Zero for c in cts)
    tr, consts, res_nz = _rule_cache.lookup(
        ("transpose", id(jaxpr), undef, ct_nz),
        lambda: transpose_jaxpr(jaxpr, undef, ct_nz, name), jaxpr)
    outs = iter(jit_p.bind(*consts, *[a for a, u in zip(args, undef) if not u],
                           *[c for c, z in zip(cts, ct_nz) if z],
                           jaxpr=tr, name=f"transpose_{name}", parallel=parallel)
                if any(res_nz) else [])
    it_nz = iter(res_nz)
    result = []
    for a, u in zip(args, undef):
        if not u:
            result.append(None)
        else:
            result.append(next(outs) if next(it_nz) else Zero(a.aval))
    return result


@needs_axis_size
def _jit_batch(vals, dims, *, jaxpr: ClosedJaxpr, name: str, parallel: bool, axis_size: int):
    dims = tuple(dims)
    bj, consts, out_dims = _rule_cache.lookup(
        ("batch", id(jaxpr), dims, axis_size),
        lambda: batch_jaxpr_dims(jaxpr, axis_size, dims, name=f"vmap({name})"), jaxpr)
    outs = jit_p.bind(*consts, *vals, jaxpr=bj, name=f"vmap_{name}", parallel=parallel)
    return outs, list(out_dims)


jit_p = Primitive("jit", impl=_jit_impl, abstract_eval=_jit_abstract, jvp=_jit_jvp,
                  transpose=_jit_transpose, batch=_jit_batch, partial_eval=_jit_partial_eval,
                  multiple_results=True, lowering=Call("jaxpr"),
                  xfail={"registry": "higher-order: tested through funcad.jit in "
                                     "tests/test_jit.py"})


# ---------------------------------------------------------------------------------------------
# The user-facing jit

def _leaf_key(x):
    t = type(x)
    if t is _ND:
        return (x.dtype, x.shape)
    if t in _PY_SCALARS:
        return t
    if isinstance(x, Tracer):
        return ("tracer", x.aval)
    aval = get_aval(x)
    return (aval.dtype, aval.shape)


def _abstractify(x) -> ShapedArray:
    t = type(x)
    if t is _ND:
        return ShapedArray(x.shape, check_dtype(x.dtype))
    return get_aval(x)


class Lowered:
    """What ``jit(f).lower(*args)`` returns: the traced ``jaxpr`` (a ClosedJaxpr whose consts
    are the arrays ``f`` closes over) and ``source``, the Python text Numba compiles (one
    function named ``fn_name``; it takes the jaxpr's consts and inputs, then ``__dims`` and
    ``__lits``: the array extents and the shape-dependent constants, which are never written
    into the text)."""

    def __init__(self, jaxpr: ClosedJaxpr, lowered):
        self.jaxpr = jaxpr
        self.source = lowered.source
        self.fn_name = lowered.fn_name
        self.dims = lowered.dims
        self.lits = lowered.lits
        self.parallel = lowered.parallel

    def compile(self):
        """The Numba dispatcher for :attr:`source`."""
        return compile_source(self.source, self.fn_name, parallel=self.parallel)

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"<funcad Lowered {self.fn_name}>"


def _capture(c):
    """A closed-over array as the jitted function keeps it: a copy made at trace time (JAX's
    rule), so a later change to the caller's array is never seen, whatever its layout
    (contiguous, strided view or 0-d). Tracers (consts of an outer trace) stay as they are."""
    if isinstance(c, np.ndarray):
        return np.array(c, order="C", copy=True)
    return c


class _Entry:
    """One traced signature: the jaxpr (consts as leading inputs) and, once called eagerly,
    a specialized caller of the compiled function."""
    __slots__ = ("closed", "jaxpr", "consts", "out_tree", "call", "exact")

    def __init__(self, closed, out_tree):
        self.closed = closed
        self.jaxpr, consts = hoist(closed)
        self.consts = [_capture(c) for c in consts]
        self.out_tree = out_tree
        self.call = None
        self.exact = None   # config.exact_math when `call` was made

    specialize = True   # False: always the general caller (tests compare the two)

    def make_call(self, name: str, parallel: bool):
        """A function of the flat leaves calling the compiled code, specialized so that the
        common case (arrays in, one array out) does nothing but the call."""
        exe = executable(self.jaxpr, name, parallel)
        fn = exe.fn
        prefix = tuple(_as_scalar(c) if get_aval(c).ndim == 0 else _writable_c(c)
                       for c in self.consts)
        suffix = exe.suffix
        n_pre = len(prefix)
        scalar_in = tuple(i - n_pre for i in exe.scalar_in if i >= n_pre)
        out_tree, conv = self.out_tree, exe.out_conv
        single = out_tree == _LEAF_TREE

        source, fn_name = exe.source, exe.fn_name
        if self.specialize and single and conv is None and not scalar_in and not prefix:
            # fast path of the general caller below, for arrays in and one array out
            def call(leaves):
                try:
                    return fn(*leaves, *suffix)[0]
                except _NumbaError as e:
                    raise _codegen_error(fn_name, source, e) from e
        else:
            def call(leaves):   # the general caller
                if scalar_in:
                    leaves = list(leaves)
                    for i in scalar_in:
                        leaves[i] = _as_scalar(leaves[i])
                try:
                    res = fn(*prefix, *leaves, *suffix)
                except _NumbaError as e:
                    raise _codegen_error(fn_name, source, e) from e
                if conv is not None:
                    res = [r if c is None else c(r) for r, c in zip(res, conv)]
                if single:
                    return res[0]
                return tree_unflatten(out_tree, res)

        self.call = call
        self.exact = _cfg["exact_math"]
        return call


_LEAF_TREE = tree_flatten(0)[1]
_SIGNATURES = 512   # traced signatures kept per jitted function (a full memo is cleared)


def _check_static_argnames(fun, name: str, names: tuple) -> None:
    """Each ``static_argnames`` entry must be a string naming a parameter of ``fun`` (any name
    is accepted when ``fun`` takes ``**kwargs`` or has no inspectable signature)."""
    if not names:
        return
    for k in names:
        if not isinstance(k, str):
            raise TypeError(f"jit({name}): static_argnames must be strings, got {k!r}")
    try:
        params = inspect.signature(fun).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    ok = [p for p, v in params.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]
    for k in names:
        if k not in ok:
            raise ValueError(f"jit({name}): static_argnames entry {k!r} names no parameter of "
                             f"{name}, whose parameters that can be passed by keyword are "
                             f"{ok}. Fix the spelling, or use static_argnums for a positional "
                             f"argument.")


class _Jitted:
    """The callable ``jit(fun)`` returns."""

    def __init__(self, fun: Callable, static_argnums, static_argnames, parallel: bool):
        self.fun = fun
        self.name = getattr(fun, "__name__", type(fun).__name__)
        self.parallel = bool(parallel)
        nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        names = ((static_argnames,) if isinstance(static_argnames, str)
                 else tuple(static_argnames))
        for n in nums:
            if not isinstance(n, int):
                raise TypeError(f"jit({self.name}): static_argnums must be ints, got {n!r}")
        _check_static_argnames(fun, self.name, names)
        self.static_argnums = nums
        self.static_argnames = names
        self._simple = not nums and not names
        # Traced signatures (the full key) and the hot path's table (dtypes and shapes only);
        # __call__ reads ``_fast`` inline, writes go through the memos' put.
        self._traces = Memo(f"jit({self.name}): traced signatures", _SIGNATURES)
        self._fast_memo = Memo(f"jit({self.name}): hot-path signatures", _SIGNATURES)
        self._cache = self._traces.table
        self._fast = self._fast_memo.table
        functools.update_wrapper(self, fun, updated=())

    def __get__(self, obj, objtype=None):   # @jit on methods
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self):
        return f"<funcad.jit of {self.name}>"

    # -- the hot path and the plain rule it shortcuts -----------------------------------
    def __call__(self, *args, **kwargs):
        # Fast path of _call_slow (just below): arrays and Python scalars in, no
        # transformation active. One dict lookup on the dtypes and shapes (the key _fast_key
        # computes, under which _call_slow remembers the entry); everything else happens on
        # the first call.
        if not kwargs and _get_current() is _EVAL and not _cfg["disable_jit"]:
            if len(args) == 1:
                a = args[0]
                if type(a) is _ND:
                    entry = self._fast.get((a.dtype, a.shape))
                    if entry is not None and entry.exact is _cfg["exact_math"]:
                        return entry.call(args)
            else:
                key = []
                for a in args:
                    t = type(a)
                    if t is _ND:
                        key.append(a.dtype)
                        key.append(a.shape)
                    elif t in _PY_SCALARS:
                        key.append(t)
                    else:
                        break
                else:
                    entry = self._fast.get(tuple(key))
                    if entry is not None and entry.exact is _cfg["exact_math"]:
                        return entry.call(args)
        return self._call_slow(args, kwargs)

    def _call_slow(self, args, kwargs):
        """The plain rule: flatten the arguments, find the traced signature (tracing on a
        miss), then bind ``jit_p`` under a transformation or call the compiled code."""
        if _cfg["disable_jit"]:
            return self.fun(*args, **kwargs)
        if self._simple and not kwargs:
            dyn, static, nums = (args, {}), (), ()
        else:
            dyn, static, nums = self._split(args, kwargs)
        leaves, treedef = tree_flatten(dyn)
        try:
            key = (treedef, static, tuple(_leaf_key(x) for x in leaves))
        except TypeError as e:
            raise TypeError(
                f"jit({self.name}): {e} Arguments of a jitted function are arrays (or pytrees "
                f"of arrays); mark a Python constant argument with static_argnums or "
                f"static_argnames.") from None
        entry = self._cache.get(key)
        if entry is None:
            entry = self._trace(args, kwargs, nums, leaves, treedef)
            if not any(isinstance(c, Tracer) for c in entry.consts):
                self._traces.put(key, entry)
        if _get_current() is not _EVAL or any(isinstance(x, Tracer) for x in leaves):
            outs = jit_p.bind(*entry.consts, *leaves, jaxpr=entry.jaxpr, name=self.name,
                              parallel=self.parallel)
            return tree_unflatten(entry.out_tree, outs)
        call = entry.call
        if call is None or entry.exact is not _cfg["exact_math"]:
            call = entry.make_call(self.name, self.parallel)
        if self._simple and not kwargs:
            key = self._fast_key(args)
            if key is not None:
                self._fast_memo.put(key, entry)
        return call(leaves)

    @staticmethod
    def _fast_key(args):
        """The key ``__call__`` computes inline for these arguments (None: no fast path)."""
        if len(args) == 1 and type(args[0]) is _ND:
            return (args[0].dtype, args[0].shape)
        key = []
        for a in args:
            if type(a) is _ND:
                key.append(a.dtype)
                key.append(a.shape)
            elif type(a) in _PY_SCALARS:
                key.append(type(a))
            else:
                return None
        return tuple(key)

    # -- everything else -----------------------------------------------------------------
    def _split(self, args, kwargs):
        """(dynamic pytree, static key, a function of the dynamic leaves' pytree)."""
        nargs = len(args)
        nums = set()
        for n in self.static_argnums:
            if not -nargs <= n < nargs:
                raise ValueError(f"jit({self.name}): static_argnums {self.static_argnums} "
                                 f"refers to argument {n}, but it was called with {nargs} "
                                 f"positional argument(s)")
            nums.add(n % nargs)
        static = []
        for i in sorted(nums):
            static.append((i, self._check_static(f"argument {i}", args[i])))
        for k in self.static_argnames:
            if k in kwargs:
                static.append((k, self._check_static(f"argument {k!r}", kwargs[k])))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in nums)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        return (dyn_args, dyn_kwargs), tuple(static), nums

    def _check_static(self, what, v):
        if isinstance(v, (np.ndarray, Tracer)):
            raise TypeError(
                f"jit({self.name}): {what} is marked static (static_argnums/static_argnames) "
                f"but is an array of shape {np.shape(v)}; arrays cannot be static because "
                f"static values must be hashable Python constants. Pass it as a normal "
                f"argument, or pass a tuple if it really is a constant.")
        try:
            hash(v)
        except TypeError as e:
            raise TypeError(
                f"jit({self.name}): {what} is marked static (static_argnums/static_argnames) "
                f"but its value of type {type(v).__name__} is not hashable ({e}). Static "
                f"arguments are cache keys: pass a hashable value (a tuple instead of a "
                f"list, a frozenset instead of a set).") from None
        return v

    def _trace(self, args, kwargs, nums, leaves, treedef) -> _Entry:
        avals = [_abstractify(x) for x in leaves]
        store: dict = {}
        fun = self.fun
        statics = {i: args[i] for i in nums}
        static_kw = {k: kwargs[k] for k in self.static_argnames if k in kwargs}
        n_total = len(args)

        def flat(*xs):
            dyn_args, dyn_kwargs = tree_unflatten(treedef, xs)
            it = iter(dyn_args)
            full = [statics[i] if i in statics else next(it) for i in range(n_total)]
            out = fun(*full, **dyn_kwargs, **static_kw)
            out_leaves, store["out_tree"] = tree_flatten(out)
            check_array_leaves(out_leaves, out, f"jit({self.name}): in the output of "
                               f"{self.name},", "out", "A jitted function returns arrays (and "
                               "pytrees of arrays); return other Python values from a function "
                               "outside jit.")
            return out_leaves

        closed = trace_to_jaxpr(flat, avals, f"jit({self.name})")
        return _Entry(closed, store["out_tree"])

    def lower(self, *args, **kwargs) -> Lowered:
        """Trace and generate code for these arguments without running anything."""
        dyn, static, nums = self._split(args, kwargs)
        leaves, treedef = tree_flatten(dyn)
        entry = self._trace(args, kwargs, nums, leaves, treedef)
        lowered = lower_jaxpr(entry.jaxpr.jaxpr, name=self.name, parallel=self.parallel,
                              exact_math=bool(_cfg["exact_math"]))
        return Lowered(entry.closed, lowered)


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), parallel: bool = False):
    """Compile ``fun`` to one fused, Numba-compiled loop nest per argument signature.

    Parameters
    ----------
    fun : callable
        A function of arrays (pytrees of arrays) written with ``funcad.numpy`` / ``lax``.
    static_argnums, static_argnames : int or sequence
        Arguments that are Python constants (hashable): they are part of the cache key and
        ``fun`` sees their values while tracing, so Python control flow may depend on them.
    parallel : bool
        Run the outermost loop of each loop nest on all cores (``numba.prange``).

    Returns
    -------
    callable
        Same signature as ``fun``; returns NumPy arrays (rank-0 results as NumPy scalars,
        like NumPy's reductions). ``.lower(*args)`` shows the jaxpr and generated source.

    Notes
    -----
    ``fun`` is traced once per (pytree structure, shapes, dtypes, static values); arrays it
    closes over are captured as constants at that time. A new shape with the same ranks and
    dtypes retraces (cheap) but reuses the compiled code. Under ``grad``/``vmap``/``jvp`` the
    call is a ``jit`` equation whose transformed versions are compiled too. Set
    ``funcad.config.update("disable_jit", True)`` (or ``FUNCAD_DISABLE_JIT=1``) to run
    everything eagerly.

    >>> import numpy as np, funcad.numpy as fnp
    >>> f = jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
    >>> float(f(np.zeros(3)))
    0.0
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, parallel=parallel)
    if not callable(fun):
        raise TypeError(f"jit: expected a function, got {type(fun).__name__}")
    return _Jitted(fun, static_argnums, static_argnames, parallel)
