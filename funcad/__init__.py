"""funcad: composable function transformations (grad, vmap, jit) for NumPy code."""
from funcad import _memo, core, ir, lax, tree_util  # noqa: F401
from funcad import primitives  # noqa: F401
from funcad.api import (ShapeDtypeStruct, eval_shape, grad, hessian, jacfwd, jacobian,  # noqa
                        jacrev, jvp, linear_transpose, linearize, make_jaxpr, value_and_grad,
                        vjp, vmap)
from funcad import numpy  # noqa: F401
from funcad import nn, scipy  # noqa: F401
from funcad.custom_derivatives import custom_jvp, custom_vjp  # noqa: F401
from funcad import ad_checkpoint  # noqa: F401
from funcad.ad_checkpoint import (checkpoint, checkpoint_name, checkpoint_policies,  # noqa: F401
                                  remat)
from funcad.interpreters.jit import jit  # noqa: F401
from funcad.config import config  # noqa: F401
from funcad.core import (ConcretizationError, TracerBoolConversionError,  # noqa: F401
                         TracerIntegerConversionError, TracerArrayConversionError,
                         UnexpectedTracerError)

__version__ = "0.1.0"


def clear_caches() -> None:
    """Empty every in-memory cache of funcad.

    Every cache in the package is a bounded :class:`funcad._memo.Memo` registered when it is
    made, so this reaches all of them: interned avals, shape and dtype rules, the traced
    signatures and compiled functions of every ``jit``-ed function, the transformed inner
    jaxprs of ``jit``, and the compiled dispatchers held by the code generator.

    Notes
    -----
    The on-disk compilation cache (``funcad.config.cache_dir``, and Numba's files in its
    ``__pycache__``) is kept: after this call a ``jit``-ed function traces again on its next
    call, and its code is loaded from disk instead of being compiled. Values and jaxprs made
    before the call stay valid. Like ``jax.clear_caches``, this is for freeing memory and for
    tests; funcad never needs it for correctness.

    Examples
    --------
    >>> import numpy as np, funcad
    >>> f = funcad.jit(lambda x: x * 2.0)
    >>> _ = f(np.ones(3))
    >>> funcad.clear_caches()
    >>> f(np.ones(3))
    array([2., 2., 2.])
    """
    _memo.clear_all()
