"""User-defined derivative rules: ``custom_jvp`` and ``custom_vjp``.

Both wrap a function whose body is traced into a jaxpr (``call_jaxpr``) and bound as a
higher-order primitive, so every interpreter sees the call as one operation:

* ``custom_jvp_call``: the jvp interpreter runs the user's rule instead of differentiating the
  body; every other interpreter runs the body (batching re-wraps both the body and the rule in
  vmap, so ``grad(vmap(f))`` still uses the rule).
* ``custom_vjp_call``: the jvp interpreter runs the user's ``fwd`` and emits ``custom_lin``, a
  primitive linear in the tangents whose transpose is the user's ``bwd``. Reverse mode (grad,
  vjp, jacrev) therefore uses ``bwd``. **Forward mode** (jvp, jacfwd, hessian's outer jacfwd),
  which JAX refuses for custom_vjp functions, works here by differentiating the primal body:
  evaluating ``custom_lin`` with concrete tangents computes the jvp of ``call_jaxpr``. The
  result is exact as long as the body is differentiable; ``bwd`` is not consulted there.

``custom_lin`` and both call primitives can be inlined by the code generator through their
``call_jaxpr`` param (for ``custom_lin`` it is the forward-mode jvp of the body).
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from funcad.core import Primitive, Tracer, bind_with, get_aval, is_float, run_with
from funcad import core, lax
from funcad import numpy as fnp
from funcad.interpreters.batching import BatchInterpreter, BatchTracer
from funcad.interpreters.jvp import jvp_flat
from funcad.interpreters.stage import trace_to_jaxpr
from funcad.ir import ClosedJaxpr, eval_jaxpr
from funcad.lowering import Call
from funcad.rule_util import (UndefinedPrimal, Zero, bdim_to_front, check_array_leaves,
                              instantiate)
from funcad.tree_util import leaf_paths, tree_flatten, tree_map, tree_unflatten

__all__ = ["custom_jvp", "custom_vjp"]


def _to_value(x):
    if isinstance(x, (Tracer, np.ndarray)):
        get_aval(x)
        return x
    return np.asarray(x, get_aval(x).dtype)


def _run_batched(fun, vals, size):
    """Run flat ``fun`` on values whose batch axis is 0, under a fresh vmap."""
    interp = BatchInterpreter(core.current_interpreter(), size, "vmap")
    ins = [BatchTracer(interp, v, 0) for v in vals]
    with core.new_interpreter(interp):
        outs = fun(*ins)
        res = []
        for o in outs:
            v, d = interp.lift(o)
            res.append(run_with(interp.prev, bdim_to_front, v, d, size))
    return res


def _all_to_front(vals, dims, size):
    return [bdim_to_front(v, d, size) for v, d in zip(vals, dims)]


def _eval_call(closed: ClosedJaxpr, args):
    return eval_jaxpr(closed.jaxpr, closed.consts, list(args))


# ---------------------------------------------------------------------------------------------
# custom_jvp_call

def _cjvp_jvp(primals, tangents, *, call_jaxpr, jvp_fn, name):
    tangents = [instantiate(t) for t in tangents]
    outs, t_outs = jvp_fn(primals, tangents)
    return outs, t_outs


def _cjvp_batch(vals, dims, *, call_jaxpr, jvp_fn, name, axis_size):
    vals = _all_to_front(vals, dims, axis_size)
    batched_call = trace_to_jaxpr(lambda *a: _run_batched(
        lambda *x: _eval_call(call_jaxpr, x), a, axis_size),
        [get_aval(v) for v in vals], "vmap")

    def batched_jvp(primals, tangents):
        n = len(primals)
        outs = _run_batched(lambda *a: _pair_flat(jvp_fn(list(a[:n]), list(a[n:]))),
                            list(primals) + list(tangents), axis_size)
        k = len(outs) // 2
        return outs[:k], outs[k:]

    out = custom_jvp_call_p.bind(*vals, call_jaxpr=batched_call, jvp_fn=batched_jvp, name=name)
    return out, [0] * len(out)


def _pair_flat(pair):
    a, b = pair
    return list(a) + list(b)


_cjvp_batch.needs_size = True

custom_jvp_call_p = Primitive(
    "custom_jvp_call", multiple_results=True,
    impl=lambda *args, call_jaxpr, jvp_fn, name: _eval_call(call_jaxpr, args),
    abstract_eval=lambda *avals, call_jaxpr, jvp_fn, name: call_jaxpr.out_avals,
    jvp=_cjvp_jvp, batch=_cjvp_batch,
    lowering=Call("call_jaxpr"),
    xfail={"registry": "higher-order: tested through funcad.custom_jvp in test_custom.py"})


class custom_jvp:
    """A function with a custom forward-mode rule (as ``jax.custom_jvp``).

    >>> import funcad, funcad.numpy as fnp
    >>> @funcad.custom_jvp
    ... def f(x):
    ...     return fnp.sin(x)
    >>> @f.defjvp
    ... def f_jvp(primals, tangents):
    ...     (x,), (t,) = primals, tangents
    ...     return f(x), 2.0 * t   # a deliberately different rule
    >>> float(funcad.grad(f)(0.3))
    2.0
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = _nondiff_argnums(type(self).__name__, fun, nondiff_argnums)
        self.jvp_rule = None

    def defjvp(self, jvp: Callable) -> Callable:
        """``jvp(primals, tangents) -> (primal_out, tangent_out)`` (non-differentiable
        arguments first, as in JAX)."""
        self.jvp_rule = jvp
        return jvp

    def defjvps(self, *rules) -> None:
        """One rule per argument: ``rule(t_i, primal_out, *primals) -> tangent_out``
        contribution (None: the output does not depend on that argument)."""
        def jvp(primals, tangents):
            out = self(*primals)
            t_out = None
            for rule, t in zip(rules, tangents):
                if rule is None:
                    continue
                c = rule(t, out, *primals)
                t_out = c if t_out is None else _tree_add(t_out, c)
            if t_out is None:
                t_out = tree_map(lambda o: np.zeros_like(np.asarray(o)), out)
            return out, t_out
        jvp.__name__ = f"{self.__name__}.defjvps"
        if self.nondiff_argnums:
            raise NotImplementedError("custom_jvp.defjvps does not support nondiff_argnums; "
                                      "use defjvp")
        self.jvp_rule = jvp

    def __call__(self, *args, **kwargs):
        _check_call(self, kwargs, self.jvp_rule, "custom_jvp", "@{}.defjvp")
        tr = _Traced(self, args, "custom_jvp")
        if tr.eager:   # fast path of the bind below, whose impl runs the traced function
            return self.fun(*args)
        in_tree, out_tree, closed = tr.in_tree, tr.out_tree, tr.closed
        out_avals = closed.out_avals
        rule, name, nd = self.jvp_rule, self.__name__, self.nondiff_argnums

        who = f"custom_jvp rule of {name} ({_rule_name(rule)})"

        def jvp_fn(primals, tangents):
            p = tree_unflatten(in_tree, primals)
            t = tree_unflatten(in_tree, tangents)
            res = rule(*tr.nondiff, p, t) if nd else rule(p, t)
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError(f"{who} must return a pair (primal_out, tangent_out); got "
                                f"{type(res).__name__}")
            po, to = res
            p_leaves, p_tree = tree_flatten(po)
            t_leaves, t_tree = tree_flatten(to)
            if p_tree != out_tree or t_tree != out_tree:
                raise TypeError(f"{who} must return primal and tangent outputs with the "
                                f"structure of {name}'s output {out_tree}; got {p_tree} and "
                                f"{t_tree}")
            p_fixed = _match_avals(who, "primal_out", po, p_leaves, out_avals,
                                   f"the matching output of {name}", tangent=False)
            t_fixed = _match_avals(who, "tangent_out", to, t_leaves, out_avals,
                                   f"the matching output of {name}", tangent=True)
            return p_fixed, t_fixed

        outs = custom_jvp_call_p.bind(*tr.leaves, call_jaxpr=closed, jvp_fn=jvp_fn, name=name)
        return tree_unflatten(out_tree, outs)


def _rule_name(rule) -> str:
    return getattr(rule, "__name__", type(rule).__name__)


def _match_avals(who: str, root: str, tree, leaves, avals, whose: str, tangent: bool) -> list:
    """The leaves a user rule returned, checked against the avals they stand for and made
    values: equal shapes; equal dtypes for primal values (a Python scalar takes the aval's
    dtype, as a weak type); for tangents and cotangents of a float value, a float of any
    precision (converted), never an integer or a bool (an int64 cotangent for a float64 input
    would silently make the gradient int64). TypeErrors name the rule (``who``), the leaf's
    path below ``root`` and both avals."""
    check_array_leaves(leaves, tree, f"{who}: in what it returned,", root, "A rule returns "
                       "arrays (and pytrees of arrays).")
    paths = None
    out = []
    for i, (x, a) in enumerate(zip(leaves, avals)):
        weak = type(x) in (bool, int, float)
        v = _to_value(x)
        va = get_aval(v)
        # a complex tangent for a real value would lose its imaginary part: refused
        ok_dtype = (va.dtype == a.dtype or weak or
                    (tangent and (not is_float(a.dtype) or is_float(va.dtype))
                     and not (va.dtype.kind == "c" and a.dtype.kind != "c")))
        if va.shape != a.shape or not ok_dtype:
            paths = paths or leaf_paths(tree, root)
            fix = (f"an array of shape {a.shape}" if va.shape != a.shape else
                   f"a float array (for example x.astype(np.{a.dtype.name}); a complex one "
                   f"only for a complex value)" if tangent else
                   f"an array of dtype {a.dtype.name} (for example x.astype(np.{a.dtype.name}))")
            raise TypeError(
                f"{who} returned {paths[i]} of type {va.str_short()} (shape {va.shape}, dtype "
                f"{va.dtype.name}), but {whose} is {a.str_short()} (shape {a.shape}, dtype "
                f"{a.dtype.name}). Return {fix} there.")
        if va.dtype != a.dtype and (weak or is_float(a.dtype)):
            v = lax.convert_element_type(v, a.dtype) if isinstance(v, Tracer) else \
                np.asarray(v, a.dtype)
        out.append(v)
    return out


class _Traced:
    """A custom-rule function's call, split and traced: what both call primitives need."""

    def __init__(self, wrapper, args, kind: str):
        nd = wrapper.nondiff_argnums
        self.static = {i: args[i] for i in nd}
        self.dyn = [a for i, a in enumerate(args) if i not in nd]
        leaves, self.in_tree = tree_flatten(tuple(self.dyn))
        self.eager = core.is_eager() and not any(isinstance(x, Tracer) for x in leaves)
        if self.eager:
            return
        self.leaves = [_to_value(x) for x in leaves]
        self.full = _merge(self.static, len(args))
        self.in_avals = [get_aval(x) for x in self.leaves]
        store: dict = {}

        def flat_fun(*xs):
            out = wrapper.fun(*self.full(tree_unflatten(self.in_tree, xs)))
            outs, store["out_tree"] = tree_flatten(out)
            return [_to_value(o) for o in outs]

        self.closed = trace_to_jaxpr(flat_fun, self.in_avals, kind)
        self.out_tree = store["out_tree"]
        self.nondiff = [self.static[i] for i in nd]


def _nondiff_argnums(kind: str, fun, nums) -> tuple:
    """``nondiff_argnums`` as a tuple of distinct non-negative ints (an argument named twice
    would be spliced back twice)."""
    nums = (nums,) if isinstance(nums, int) else tuple(nums)
    name = getattr(fun, "__name__", type(fun).__name__)
    if any(not isinstance(n, int) or isinstance(n, bool) or n < 0 for n in nums):
        raise TypeError(f"{kind}({name}): nondiff_argnums must be non-negative ints, got "
                        f"{nums!r}")
    if len(set(nums)) != len(nums):
        raise ValueError(f"{kind}({name}): nondiff_argnums {nums!r} names an argument twice; "
                         f"remove the duplicate")
    return nums


def _check_call(wrapper, kwargs, rule, kind, how):
    if kwargs:
        raise TypeError(f"{kind} function {wrapper.__name__}: pass arguments positionally "
                        f"(keyword arguments are not supported)")
    if rule is None:
        raise AttributeError(f"no {kind[7:]} rule defined for {kind} function "
                             f"{wrapper.__name__}; use {how.format(wrapper.__name__)}")


def _merge(static: dict, n: int):
    def full(dyn):
        it = iter(dyn)
        return [static[i] if i in static else next(it) for i in range(n)]
    return full


def _tree_add(a, b):
    return tree_map(fnp.add, a, b)


# ---------------------------------------------------------------------------------------------
# custom_vjp_call and custom_lin

def _cvjp_jvp(primals, tangents, *, call_jaxpr, fwd_fn, bwd_fn, name):
    outs, res = fwd_fn(primals)
    jvp_jaxpr = _jvp_of(call_jaxpr)
    t_outs = custom_lin_p.bind(*res, *primals, *[instantiate(t) for t in tangents],
                               num_res=len(res), bwd_fn=bwd_fn, call_jaxpr=jvp_jaxpr,
                               out_avals=tuple(call_jaxpr.out_avals), name=name)
    return outs, t_outs


def _jvp_of(closed: ClosedJaxpr) -> ClosedJaxpr:
    n = len(closed.in_avals)

    def f(*args):
        p, t = args[:n], args[n:]
        _, t_out = jvp_flat(lambda *x: _eval_call(closed, x), list(p), list(t))
        return [instantiate(x) for x in t_out]

    return trace_to_jaxpr(f, list(closed.in_avals) * 2, "custom_vjp jvp")


def _cvjp_batch(vals, dims, *, call_jaxpr, fwd_fn, bwd_fn, name, axis_size):
    vals = _all_to_front(vals, dims, axis_size)
    batched_call = trace_to_jaxpr(lambda *a: _run_batched(
        lambda *x: _eval_call(call_jaxpr, x), a, axis_size),
        [get_aval(v) for v in vals], "vmap")
    box = {}

    def batched_fwd(primals):
        def f(*a):
            outs, res = fwd_fn(list(a))
            box["n_out"] = len(outs)
            return list(outs) + list(res)
        both = _run_batched(f, primals, axis_size)
        k = box["n_out"]
        return both[:k], both[k:]

    def batched_bwd(res, cts):
        n_res = len(res)
        return _run_batched(lambda *a: bwd_fn(list(a[:n_res]), list(a[n_res:])),
                            list(res) + [instantiate(c) for c in cts], axis_size)

    out = custom_vjp_call_p.bind(*vals, call_jaxpr=batched_call, fwd_fn=batched_fwd,
                                 bwd_fn=batched_bwd, name=name)
    return out, [0] * len(out)


_cvjp_batch.needs_size = True

custom_vjp_call_p = Primitive(
    "custom_vjp_call", multiple_results=True,
    impl=lambda *args, call_jaxpr, fwd_fn, bwd_fn, name: _eval_call(call_jaxpr, args),
    abstract_eval=lambda *avals, call_jaxpr, fwd_fn, bwd_fn, name: call_jaxpr.out_avals,
    jvp=_cvjp_jvp, batch=_cvjp_batch,
    lowering=Call("call_jaxpr"),
    xfail={"registry": "higher-order: tested through funcad.custom_vjp in test_custom.py"})


def _lin_split(args, num_res):
    res = args[:num_res]
    rest = args[num_res:]
    n = len(rest) // 2
    return res, rest[:n], rest[n:]


def _lin_forward(args, num_res, call_jaxpr):
    """Forward mode of a custom_vjp function: the jvp of its body."""
    _, primals, tangents = _lin_split(list(args), num_res)
    return _eval_call(call_jaxpr, list(primals) + list(tangents))


def _lin_impl(*args, num_res, bwd_fn, call_jaxpr, out_avals, name):
    return _lin_forward(args, num_res, call_jaxpr)


def _lin_jvp(primals, tangents, *, num_res, bwd_fn, call_jaxpr, out_avals, name):
    return jvp_flat(lambda *a: _lin_forward(a, num_res, call_jaxpr), list(primals),
                    list(tangents))


def _lin_batch(vals, dims, *, num_res, bwd_fn, call_jaxpr, out_avals, name, axis_size):
    vals = _all_to_front(vals, dims, axis_size)
    return (_run_batched(lambda *a: _lin_forward(a, num_res, call_jaxpr), vals, axis_size),
            [0] * len(out_avals))


_lin_batch.needs_size = True


def _lin_transpose(cts, *args, num_res, bwd_fn, call_jaxpr, out_avals, name):
    res, primals, tangents = _lin_split(list(args), num_res)
    if any(type(x) is UndefinedPrimal for x in list(res) + list(primals)):
        raise TypeError(f"custom_vjp function {name}: residuals cannot be linear")
    cts_in = bwd_fn(list(res), [instantiate(c) for c in cts])
    return [None] * (num_res + len(primals)) + list(cts_in)


custom_lin_p = Primitive(
    "custom_lin", multiple_results=True, impl=_lin_impl,
    abstract_eval=lambda *avals, num_res, bwd_fn, call_jaxpr, out_avals, name: list(out_avals),
    jvp=_lin_jvp, batch=_lin_batch, transpose=_lin_transpose, linear=True,
    # the body takes the inputs after the residuals
    lowering=Call("call_jaxpr", skip="num_res"),
    xfail={"registry": "internal to custom_vjp: tested in test_custom.py"})


class custom_vjp:
    """A function with a custom reverse-mode rule (as ``jax.custom_vjp``).

    ``f.defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)``, ``bwd(residuals, ct) ->``
    a tuple with one cotangent per (differentiable) argument. Unlike JAX, forward mode
    (jvp, jacfwd) also works: it differentiates the function's body.
    """

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = _nondiff_argnums(type(self).__name__, fun, nondiff_argnums)
        self.fwd = self.bwd = None

    def defvjp(self, fwd: Callable, bwd: Callable) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args, **kwargs):
        _check_call(self, kwargs, self.fwd, "custom_vjp", "{}.defvjp(fwd, bwd)")
        tr = _Traced(self, args, "custom_vjp")
        if tr.eager:   # fast path of the bind below, whose impl runs the traced function
            return self.fun(*args)
        in_tree, out_tree, closed, in_avals = tr.in_tree, tr.out_tree, tr.closed, tr.in_avals
        name, fwd, bwd, nd, dyn, full = (self.__name__, self.fwd, self.bwd,
                                         self.nondiff_argnums, tr.dyn, tr.full)
        store: dict = {}

        fwho = f"custom_vjp fwd of {name} ({_rule_name(fwd)})"
        bwho = f"custom_vjp bwd of {name} ({_rule_name(bwd)})"
        out_avals = closed.out_avals
        arg_trees = [tree_flatten(a)[1] for a in dyn]

        def fwd_fn(primals):
            res = fwd(*full(tree_unflatten(in_tree, primals)))
            if not (isinstance(res, (tuple, list)) and len(res) == 2):
                raise TypeError(f"{fwho} must return a pair (output, residuals); got "
                                f"{type(res).__name__}")
            out, r = res
            o_leaves, o_tree = tree_flatten(out)
            if o_tree != out_tree:
                raise TypeError(f"{fwho} must return an output with the structure of "
                                f"{name}'s output {out_tree}; got {o_tree}")
            o_fixed = _match_avals(fwho, "out", out, o_leaves, out_avals,
                                   f"the matching output of {name}", tangent=False)
            r_leaves, r_tree = tree_flatten(r)
            if store.setdefault("res_tree", r_tree) != r_tree:
                raise TypeError(f"{fwho} returned residuals of structure {r_tree} here and "
                                f"{store['res_tree']} before; return one structure")
            check_array_leaves(r_leaves, r, f"{fwho}: in its residuals,", "res",
                               "Residuals are arrays (and pytrees of arrays); pass Python "
                               "constants with nondiff_argnums or close over them.")
            return o_fixed, [_to_value(x) for x in r_leaves]

        def bwd_fn(res, cts):
            r = tree_unflatten(store["res_tree"], res)
            ct = tree_unflatten(out_tree, cts)
            out = bwd(*tr.nondiff, r, ct) if nd else bwd(r, ct)
            if not isinstance(out, (tuple, list)):
                raise TypeError(f"{bwho} must return a tuple with one cotangent per argument; "
                                f"got {type(out).__name__}")
            if len(out) != len(dyn):
                raise TypeError(f"{bwho} returned {len(out)} cotangents for {len(dyn)} "
                                f"differentiable arguments; return one per argument (None "
                                f"for zeros)")
            result, avals = [], iter(in_avals)
            for k, (c, t) in enumerate(zip(out, arg_trees)):
                a_k = [next(avals) for _ in range(t.num_leaves)]
                if c is None:   # zeros for the whole argument
                    result.extend(lax.full(a.shape, 0, a.dtype) for a in a_k)
                    continue
                try:
                    c_leaves = t.flatten_up_to(c)
                    c_tree = tree_unflatten(t, [0 if x is None else x for x in c_leaves])
                    if tree_flatten(c_tree)[1] != t:
                        raise ValueError
                except ValueError:
                    raise TypeError(f"{bwho} returned a cotangent of structure "
                                    f"{tree_flatten(c)[1]} for argument {k} of {name}, whose "
                                    f"structure is {t}; return one cotangent of the argument's "
                                    f"structure (None for zeros)") from None
                zeros = {i for i, x in enumerate(c_leaves) if x is None}
                fixed = _match_avals(bwho, f"cts[{k}]", c_tree,
                                     [0 if x is None else x for x in c_leaves], a_k,
                                     f"argument {k} of {name}", tangent=True)
                result.extend(lax.full(a.shape, 0, a.dtype) if i in zeros else v
                              for i, (v, a) in enumerate(zip(fixed, a_k)))
            return result

        outs = custom_vjp_call_p.bind(*tr.leaves, call_jaxpr=closed, fwd_fn=fwd_fn,
                                      bwd_fn=bwd_fn, name=name)
        return tree_unflatten(out_tree, outs)
