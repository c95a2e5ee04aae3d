"""funcad: composable function transformations (grad, vmap, jit) for NumPy code."""
from funcad import core, ir, lax, tree_util  # noqa: F401
from funcad import primitives  # noqa: F401
from funcad.api import (ShapeDtypeStruct, eval_shape, grad, hessian, jacfwd, jacobian,  # noqa
                        jacrev, jvp, linear_transpose, linearize, make_jaxpr, value_and_grad,
                        vjp, vmap)
from funcad import numpy  # noqa: F401
from funcad import nn, scipy  # noqa: F401
from funcad.custom_derivatives import custom_jvp, custom_vjp  # noqa: F401
from funcad.interpreters.jit import jit  # noqa: F401
from funcad.config import config  # noqa: F401
from funcad.core import (ConcretizationError, TracerBoolConversionError,  # noqa: F401
                         TracerIntegerConversionError, TracerArrayConversionError,
                         UnexpectedTracerError)

__version__ = "0.1.0"
