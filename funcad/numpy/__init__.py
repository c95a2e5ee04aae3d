"""``funcad.numpy`` (``import funcad.numpy as fnp``): NumPy's API, traceable.

Given values that do not depend on a traced input, these functions call NumPy and return
NumPy's results; given traced values (inside ``grad``, ``vmap``, ``jit`` and friends) they
build the computation from funcad primitives with the same broadcasting, type promotion
(NEP 50) and axis semantics. funcad holds float64, float32, int64, int32, bool, complex128
and complex64; where
NumPy would compute in float16 or int8 (some functions of booleans) funcad uses float64 or
int64. Modules: ``creation``, ``ufuncs`` (elementwise), ``reductions``, ``shape``,
``indexing`` (``x[idx]`` and ``x.at[idx]``), ``linear``, ``linalg`` and ``fft``.
"""
from funcad.numpy._util import result_type  # noqa: F401
from funcad.numpy.creation import *  # noqa: F401,F403
from funcad.numpy.indexing import *  # noqa: F401,F403
from funcad.numpy.indexing import _getitem, _IndexUpdateHelper  # noqa: F401
from funcad.numpy.reductions import *  # noqa: F401,F403
from funcad.numpy.shape import *  # noqa: F401,F403
from funcad.numpy.ufuncs import *  # noqa: F401,F403
from funcad.numpy.complex_numbers import *  # noqa: F401,F403
from funcad.numpy.linear import *  # noqa: F401,F403
from funcad.numpy import linalg  # noqa: F401
from funcad.numpy import fft  # noqa: F401

import numpy as _np

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
float32, float64, int32, int64 = _np.float32, _np.float64, _np.int32, _np.int64
complex64, complex128 = _np.complex64, _np.complex128
bool_ = _np.bool_
ndarray = _np.ndarray
dtype, finfo, iinfo = _np.dtype, _np.finfo, _np.iinfo

# NumPy functions and ufuncs called on tracers (np.dot(t, t)) run the twins above: the
# dispatch table is built from this module's names, so it grows with it.
from funcad import core as _core  # noqa: E402
from funcad.numpy import _dispatch  # noqa: E402

_core.numpy_dispatch = _dispatch
