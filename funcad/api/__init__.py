"""The transformations users call: make_jaxpr, jvp, linearize, vjp, grad, jacobians, vmap.

Each function here takes pytrees, flattens them, runs an interpreter from
``funcad.interpreters`` over a flat function, checks what the user gave, and unflattens the
results. Nothing here knows about individual primitives.

The package is split by responsibility; this module only gathers the public names:

- ``_args``: from the user's function and pytrees to flat lists of values and back (flattened
  functions, ``has_aux``, ``argnums``), shared by all the transformations;
- ``_forward``: staging (``make_jaxpr``, ``eval_shape``) and forward mode (``jvp``,
  ``linearize``, ``linearize_flat``);
- ``_reverse``: reverse mode as linearize + transpose (``vjp``, ``linear_transpose``,
  ``value_and_grad``, ``grad``);
- ``_vmap``: ``vmap`` with its ``in_axes`` / ``out_axes`` checks;
- ``_jacobians``: ``jacfwd``, ``jacrev`` (``jacobian``) and ``hessian``, as vmaps of jvp / vjp.
"""
from __future__ import annotations

from funcad.api._forward import ShapeDtypeStruct, eval_shape, jvp, linearize, make_jaxpr
from funcad.api._jacobians import hessian, jacfwd, jacobian, jacrev
from funcad.api._reverse import grad, linear_transpose, value_and_grad, vjp
from funcad.api._vmap import vmap

__all__ = ["make_jaxpr", "eval_shape", "ShapeDtypeStruct", "jvp", "linearize", "vjp",
           "linear_transpose", "grad", "value_and_grad", "jacfwd", "jacrev", "jacobian",
           "hessian", "vmap"]
