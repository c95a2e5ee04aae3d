"""Primitive declarations, one module per family. Importing this package registers them all
in ``funcad.core.primitives``."""
from funcad.primitives import elementwise, binary, shape, indexing, reductions, linalg  # noqa: F401
from funcad.primitives import decompositions, sorting  # noqa: F401
from funcad.primitives import control  # noqa: F401
from funcad.primitives import control_while_transpose  # noqa: F401
