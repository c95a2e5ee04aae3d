"""``funcad.scipy``: traceable versions of SciPy functions (``funcad.scipy.special``)."""
from funcad.scipy import special  # noqa: F401
