"""Primitive declarations, one module per family. Importing this package registers the
first-order primitives in ``funcad.core.primitives``; the control-flow ones register when
``funcad.lax`` imports ``funcad.primitives.control`` (they sit a layer higher:
docs/architecture.md, "Layers")."""
from funcad.primitives import elementwise, binary, shape, indexing, reductions, linalg  # noqa: F401
from funcad.primitives import decompositions, sorting, annotations, fft  # noqa: F401
