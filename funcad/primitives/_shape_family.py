"""What the shape-family modules (``shape.py``, ``indexing.py``) share.

Their primitives move, copy or drop array elements without arithmetic, so almost all are
linear in their array operands: ``declare_linear`` makes such a primitive from its impl, shape
rule, transpose and batching rule (the jvp is derived from ``linear=True``). The other helpers serve the transpose
rules (which receive ``UndefinedPrimal`` for the linear inputs) and the generated tests.
"""
from __future__ import annotations

from funcad.core import Primitive, get_aval
from funcad.primitives._family import rand_array
from funcad.rule_util import UndefinedPrimal


def declare_linear(name, impl, abstract_eval, transpose, batch, *, exports, linear_args=None,
                   **extra):
    """Declare ``<name>_p``, linear in ``linear_args`` (all operands when None), with the
    derived jvp, and list its name in ``exports`` (the declaring module's ``__all__``)."""
    prim = Primitive(name, impl=impl, abstract_eval=abstract_eval, transpose=transpose,
                     batch=batch, linear=True, linear_args=linear_args, **extra)
    exports.append(name + "_p")
    return prim


def undef(x):
    """Whether a transpose rule's argument is a linear input (an ``UndefinedPrimal``)."""
    return type(x) is UndefinedPrimal


def aval_of(x):
    """The aval of a transpose rule's argument, linear input or known value."""
    return x.aval if undef(x) else get_aval(x)


def rand(rng, shape, dtype, lo=-3.0, hi=3.0):
    """Random test input (for ``test_args``)."""
    return rand_array(rng, shape, dtype, lo, hi)


def one_arg(shape):
    """``test_args`` giving one random array of ``shape``."""
    return lambda rng, dtype: [rand(rng, shape, dtype)]
