"""``funcad.numpy`` (``import funcad.numpy as fnp``): NumPy's API, traceable.

Outside transformations these functions take and return plain NumPy arrays with NumPy's
results; inside ``grad``, ``vmap``, ``jit`` and friends they build the computation from
funcad primitives with the same broadcasting, type promotion and axis semantics.
"""
from funcad.numpy._util import result_type  # noqa: F401
from funcad.numpy.creation import *  # noqa: F401,F403
from funcad.numpy.indexing import *  # noqa: F401,F403
from funcad.numpy.indexing import _getitem, _IndexUpdateHelper  # noqa: F401
from funcad.numpy.reductions import *  # noqa: F401,F403
from funcad.numpy.shape import *  # noqa: F401,F403
from funcad.numpy.ufuncs import *  # noqa: F401,F403

import numpy as _np

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
float32, float64, int32, int64 = _np.float32, _np.float64, _np.int32, _np.int64
bool_ = _np.bool_
ndarray = _np.ndarray
