"""Identity primitives that only annotate the program: ``name`` and ``optimization_barrier``.

Both return their operands unchanged; what they change is what other pieces of funcad see.

* ``name_p`` (``funcad.checkpoint_name(x, "h")``) labels an intermediate value, so that a
  checkpoint policy such as ``save_only_these_names("h")`` can decide to keep it as a
  residual for the backward pass (funcad/ad_checkpoint.py). Its tangent is not named: the
  name marks the primal value only, as in JAX.
* ``optimization_barrier_p`` (``lax.optimization_barrier``) gives its operands new names in
  the IR. The code generator's common-subexpression elimination merges equations with the
  same inputs; behind a barrier the inputs differ, so a recomputation that a checkpoint
  inserts into the backward pass is never merged with the forward pass's copy of the same
  value (which would keep it alive and undo the checkpoint). ``jit`` writes it as aliasing
  assignments, no copies.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive
from funcad.lowering import Elementwise, Opaque
from funcad.tree_util import tree_flatten, tree_unflatten

__all__ = ["name_p", "optimization_barrier_p", "optimization_barrier"]


# ---------------------------------------------------------------------------------------------
# name: the identity, carrying a label for checkpoint policies

def _name_abstract(x, *, name):
    if not isinstance(name, str):
        raise TypeError(f"name: the name must be a string, got {name!r}")
    return x


def _name_jvp(primals, tangents, *, name):
    return name_p.bind(primals[0], name=name), tangents[0]


def _name_batch(vals, dims, *, name):
    return name_p.bind(vals[0], name=name), dims[0]


def _name_test_args(rng, dtype):
    return [(rng.uniform(-1, 1, (3, 4)) * 4).astype(dtype)]


name_p = Primitive("name", impl=lambda x, *, name: x, abstract_eval=_name_abstract,
                   jvp=_name_jvp, batch=_name_batch,
                   lowering=Elementwise(lambda sc, args, avals, out, params: args[0],
                                        cheap=True, simplify=lambda rw, atoms, dt: atoms[0]),
                   test_params=({"name": "h"},), test_args=_name_test_args)


# ---------------------------------------------------------------------------------------------
# optimization_barrier: the identity on several operands, under new names

def _barrier_jvp(primals, tangents):
    # The primal values are the ones a recomputation reads; tangents pass through unnamed.
    return optimization_barrier_p.bind(*primals), list(tangents)


def _barrier_batch(vals, dims):
    return optimization_barrier_p.bind(*vals), list(dims)


def _barrier_rule(ctx, eqn):
    # Arrays are references in the generated code: a new name is an alias, never a copy.
    for o, a in zip(eqn.outvars, eqn.inputs):
        ctx.em.line(f"{ctx.out(o)} = {ctx.name(a)}")


def _barrier_test_args(rng, dtype):
    return [(rng.uniform(-1, 1, (3, 4)) * 4).astype(dtype),
            (rng.uniform(-1, 1, (2,)) * 4).astype(dtype)]


optimization_barrier_p = Primitive(
    "optimization_barrier", impl=lambda *xs: list(xs), abstract_eval=lambda *avals: list(avals),
    jvp=_barrier_jvp, batch=_barrier_batch, multiple_results=True,
    lowering=Opaque(_barrier_rule, element=lambda rw, eqn, ins: list(ins)),
    test_args=_barrier_test_args)


def optimization_barrier(operand):
    """``operand`` (a pytree of arrays) unchanged, under new names in the IR: ``jit``'s
    common-subexpression elimination does not merge work on the results with work on the
    inputs (JAX's ``lax.optimization_barrier``; funcad's checkpoint uses it to keep a
    recomputation apart from the forward pass).

    Examples
    --------
    >>> import numpy as np
    >>> from funcad import lax
    >>> lax.optimization_barrier((np.ones(2), 3.0))
    (array([1., 1.]), array(3.))
    """
    leaves, tree = tree_flatten(operand)
    leaves = [x if hasattr(x, "shape") else np.asarray(x) for x in leaves]
    return tree_unflatten(tree, optimization_barrier_p.bind(*leaves))
