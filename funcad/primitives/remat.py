"""``checkpoint`` (``remat``): reverse mode that saves less and recomputes the rest.

``checkpoint_p`` is a call primitive: operands are the inputs of its body, parameters are
``jaxpr`` (a const-free ClosedJaxpr), ``prevent_cse`` (bool) and ``policy`` (None, or
``policy(prim, *in_avals, **params) -> bool``: may this equation's output be kept for the
backward pass?). The three policies the rules and tests need are here; funcad/ad_checkpoint.py,
the user-facing wrapper, holds the rest.

Rules:
- impl: run the body; jit inlines it (``Call``), so a checkpoint costs nothing forward;
- jvp: a checkpoint of the jvp'd body; vmap: a checkpoint of the batched body;
- partial evaluation, the point of it. Split the body into a known part (runs now) and an
  unknown part (staged) as any call is split; the unknown part reads *residuals*, known values
  it needs. Then, walking back from each residual through the known part's equations: a
  residual that is an input of the body, or the output of an equation the policy saves, is
  kept; any other is *recomputed*: its equation is copied into the front of the unknown part
  and its own inputs are residuals in turn. The known part keeps only what its outputs and the
  kept residuals need (dead code goes), and the unknown part is staged as a new checkpoint
  holding the recomputation. With the default policy (None: nothing is saveable) the
  residuals are just the body's inputs. With ``prevent_cse`` the recomputation reads the
  residuals through an ``optimization_barrier`` (funcad/primitives/annotations.py), so jit's
  common-subexpression elimination cannot merge it back into the forward pass;
- transpose: a checkpoint of the transposed body, so the recomputation runs in the backward
  pass and stays inside a checkpoint for the next derivative (grad of grad).
The known part is run inline, as JAX does: only the staged part stays a checkpoint.
"""
from __future__ import annotations

import numpy as np

from funcad._memo import Memo
from funcad.core import Primitive, run_with
from funcad.interpreters.jaxpr_util import transpose_jaxpr
from funcad.interpreters.stage import dce_jaxpr
from funcad.ir import ClosedJaxpr, Eqn, Jaxpr, Lit, Var
from funcad.lowering import Call
from funcad.primitives import binary as bi, elementwise as ew, linalg as la
from funcad.primitives.annotations import optimization_barrier_p
from funcad.primitives.control_jaxpr import (batch_jaxpr_dims, example_jaxpr, jvp_jaxpr,
                                             pe_jaxpr, run)
from funcad.rule_util import UndefinedPrimal, Zero, needs_axis_size

__all__ = ["checkpoint_p", "nothing_saveable", "everything_saveable", "dots_saveable",
           "remat_jaxprs"]

# Transformed bodies, keyed by the id of the body (Memo.lookup's ``keep`` holds it).
_rule_cache = Memo("checkpoint: transformed bodies (jvp, partial_eval, transpose, batch)", 512)


def nothing_saveable(prim, *avals, **params) -> bool:
    """Policy: save nothing but the checkpoint's inputs; recompute everything (the default)."""
    return False


def everything_saveable(prim, *avals, **params) -> bool:
    """Policy: save every residual, as without a checkpoint (nothing is recomputed)."""
    return True


def dots_saveable(prim, *avals, **params) -> bool:
    """Policy: save the results of matrix products (``dot_general``), recompute the rest."""
    return prim is la.dot_general_p


def _params(jaxpr, prevent_cse, policy):
    return dict(jaxpr=jaxpr, prevent_cse=prevent_cse, policy=policy)


# ---------------------------------------------------------------------------------------------
# The split with recomputation

def _saveable(policy, eqn) -> bool:
    return bool(policy(eqn.prim, *[a.aval for a in eqn.inputs], **eqn.params))


def remat_jaxprs(closed: ClosedJaxpr, unknowns, policy, prevent_cse: bool):
    """Split the const-free ``closed`` as :func:`~funcad.primitives.control_jaxpr.pe_jaxpr`
    does, keeping as residuals only the known inputs and the values ``policy`` saves, and
    recomputing the other residuals in the unknown part. Returns ``(known, known_consts,
    unknown, out_unknowns, num_res)`` laid out as pe_jaxpr's."""
    n_out = len(closed.out_avals)
    known, kconsts, unknown, out_uk, num_res = pe_jaxpr(closed, unknowns, [False] * n_out)
    policy = nothing_saveable if policy is None else policy
    kj, uj = known.jaxpr, unknown.jaxpr
    n_kout = out_uk.count(False)
    res_atoms = kj.outvars[n_kout:]
    producer = {v: e for e in kj.eqns for v in e.outvars}
    saved, redo, seen = [], set(), set()
    stack = [a for a in res_atoms if type(a) is Var]
    while stack:
        a = stack.pop()
        if a in seen:
            continue
        seen.add(a)
        e = producer.get(a)
        if e is None or _saveable(policy, e):
            saved.append(a)
        elif e not in redo:
            redo.add(e)
            stack.extend(x for x in e.inputs if type(x) is Var)
    order = {v: i for i, v in enumerate(kj.invars + [o for e in kj.eqns for o in e.outvars])}
    saved.sort(key=order.__getitem__)

    # The unknown part: [barrier] + the recomputed equations + the old unknown equations.
    new_res = [Var(a.aval) for a in saved]
    env: dict = dict(zip(saved, new_res))
    eqns: list = []
    read = dict(env)   # what a recomputed equation reads for a saved value
    if prevent_cse and redo:
        fed = [a for a in saved if any(a in e.inputs for e in redo)]
        if fed:
            outs = [Var(a.aval) for a in fed]
            eqns.append(Eqn(optimization_barrier_p, [env[a] for a in fed], outs, {}))
            read.update(zip(fed, outs))
    for e in kj.eqns:
        if e in redo:
            outs = [Var(v.aval) for v in e.outvars]
            eqns.append(Eqn(e.prim, [read[x] if type(x) is Var else x for x in e.inputs],
                            outs, e.params))
            env.update(zip(e.outvars, outs))
            read.update(zip(e.outvars, outs))
    sub = {v: (a if type(a) is Lit else env[a]) for v, a in zip(uj.invars[:num_res], res_atoms)}

    def s(x):
        return sub.get(x, x) if type(x) is Var else x

    eqns += [Eqn(e.prim, [s(x) for x in e.inputs], e.outvars, e.params) for e in uj.eqns]
    new_unknown = ClosedJaxpr(Jaxpr([], new_res + uj.invars[num_res:], eqns,
                                    [s(o) for o in uj.outvars]), [])
    new_known, _ = dce_jaxpr(Jaxpr([], kj.invars, kj.eqns, kj.outvars[:n_kout] + saved))
    return ClosedJaxpr(new_known, []), kconsts, new_unknown, out_uk, len(saved)


# ---------------------------------------------------------------------------------------------
# Rules

def _checkpoint_impl(*args, jaxpr, prevent_cse, policy):
    return run(jaxpr, *args)


def _checkpoint_abstract(*avals, jaxpr, prevent_cse, policy):
    if list(avals) != jaxpr.in_avals:
        raise TypeError(f"checkpoint: the body takes {[a.str_short() for a in jaxpr.in_avals]} "
                        f"but the operands are {[a.str_short() for a in avals]}")
    return list(jaxpr.out_avals)


def _checkpoint_jvp(primals, tangents, *, jaxpr, prevent_cse, policy):
    nz = tuple(type(t) is not Zero for t in tangents)
    n = len(jaxpr.out_avals)
    body, consts, out_nz = _rule_cache.lookup(
        ("jvp", id(jaxpr), nz),
        lambda: jvp_jaxpr(jaxpr, nz, [False] * n, name="jvp (checkpoint)"), jaxpr)
    outs = checkpoint_p.bind(*consts, *primals, *[t for t, z in zip(tangents, nz) if z],
                             **_params(body, prevent_cse, policy))
    it = iter(outs[n:])
    return outs[:n], [next(it) if z else Zero(a) for a, z in zip(jaxpr.out_avals, out_nz)]


@needs_axis_size
def _checkpoint_batch(vals, dims, *, jaxpr, prevent_cse, policy, axis_size):
    dims = tuple(dims)
    body, consts, out_dims = _rule_cache.lookup(
        ("batch", id(jaxpr), dims, axis_size),
        lambda: batch_jaxpr_dims(jaxpr, axis_size, dims, name="vmap (checkpoint)"), jaxpr)
    outs = checkpoint_p.bind(*consts, *vals, **_params(body, prevent_cse, policy))
    return outs, list(out_dims)


def _checkpoint_partial_eval(pe, args, params):
    jaxpr, prevent_cse, policy = params["jaxpr"], params["prevent_cse"], params["policy"]
    uk = tuple(pe.is_unknown(x) for x in args)
    known, kconsts, unknown, out_uk, _ = _rule_cache.lookup(
        ("pe", id(jaxpr), uk, policy, prevent_cse),
        lambda: remat_jaxprs(jaxpr, uk, policy, prevent_cse), jaxpr)
    # The known part runs inline on the interpreter below (it is forward work only).
    outs = run_with(pe.prev, run, known, *kconsts, *[x for x, u in zip(args, uk) if not u])
    n_known = out_uk.count(False)
    known_outs, residuals = outs[:n_known], outs[n_known:]
    staged = []
    if any(out_uk):
        staged = pe.stage(checkpoint_p, list(residuals) + [x for x, u in zip(args, uk) if u],
                          _params(unknown, prevent_cse, policy))
    k_it, u_it = iter(known_outs), iter(staged)
    return [next(u_it) if u else next(k_it) for u in out_uk]


def _checkpoint_transpose(cts, *args, jaxpr, prevent_cse, policy):
    undef = tuple(type(a) is UndefinedPrimal for a in args)
    ct_nz = tuple(c is not None and type(c) is not Zero for c in cts)
    body, consts, res_nz = _rule_cache.lookup(
        ("transpose", id(jaxpr), undef, ct_nz),
        lambda: transpose_jaxpr(jaxpr, undef, ct_nz, "checkpoint"), jaxpr)
    outs = iter(checkpoint_p.bind(*consts, *[a for a, u in zip(args, undef) if not u],
                                  *[c for c, z in zip(cts, ct_nz) if z],
                                  **_params(body, prevent_cse, policy))
                if any(res_nz) else [])
    it_nz = iter(res_nz)
    return [None if not u else (next(outs) if next(it_nz) else Zero(a.aval))
            for a, u in zip(args, undef)]


_V3 = ((3,), np.float64)
_M33 = ((3, 3), np.float64)
_BODY = example_jaxpr(
    lambda w, x: [ew.sin(la.dot_general(w, ew.cos(x), (((1,), (0,)), ((), ())))),
                  bi.mul(ew.tanh(x), x)], [_M33, _V3])
_EXAMPLES = tuple(_params(_BODY, cse, pol) for cse, pol in
                  ((True, None), (False, everything_saveable), (True, dots_saveable)))


def _checkpoint_test_args(rng):
    return [rng.uniform(-1, 1, (3, 3)), rng.uniform(-1, 1, 3)]


checkpoint_p = Primitive("checkpoint", impl=_checkpoint_impl, abstract_eval=_checkpoint_abstract,
                         jvp=_checkpoint_jvp, batch=_checkpoint_batch,
                         partial_eval=_checkpoint_partial_eval, transpose=_checkpoint_transpose,
                         multiple_results=True, higher_order=True, lowering=Call("jaxpr"),
                         test_params=_EXAMPLES, test_args=_checkpoint_test_args)
