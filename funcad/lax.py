"""``funcad.lax``: the strict, primitive-level namespace.

Functions here bind one primitive each (or a few): operands must have equal shapes and
dtypes, and nothing is broadcast or promoted, except that a Python scalar operand of a
binary function takes the other operand's dtype and shape. ``funcad.numpy`` builds NumPy's
friendlier semantics on top. Control-flow primitives (cond, while_loop, scan, ...) live here
too.
"""
from __future__ import annotations

import numpy as np

from funcad.primitives.elementwise import *  # noqa: F401,F403
from funcad.primitives.binary import *  # noqa: F401,F403
from funcad.primitives.shape import *  # noqa: F401,F403
from funcad.primitives.indexing import *  # noqa: F401,F403
from funcad.primitives.reductions import *  # noqa: F401,F403
from funcad.primitives.linalg import *  # noqa: F401,F403
from funcad.primitives.decompositions import *  # noqa: F401,F403
from funcad.primitives.sorting import *  # noqa: F401,F403
from funcad.primitives.fft import *  # noqa: F401,F403
from funcad.primitives import binary as _bi, elementwise as _ew, shape as _sh

slice = _sh.slice_  # noqa: A001  (JAX's name)
complex = _ew.complex_  # noqa: A001  (JAX's name: lax.complex(x, y) is x + 1j * y)
not_ = _ew.not_
bitwise_not = _ew.not_
bitwise_and = _bi.and_
bitwise_or = _bi.or_
bitwise_xor = _bi.xor


def select(pred, on_true, on_false):
    """Elementwise ``on_true if pred else on_false`` (all of one shape)."""
    return select_n(pred, on_false, on_true)  # noqa: F405


from funcad.primitives.control import cond, switch, while_loop, fori_loop, scan, map  # noqa: E402,F401,A004
from funcad.primitives.annotations import (optimization_barrier,  # noqa: E402,F401
                                           optimization_barrier_p)
from funcad.primitives import remat as _remat  # noqa: E402,F401  (registers checkpoint)
