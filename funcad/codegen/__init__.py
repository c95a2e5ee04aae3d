"""Code generation: Jaxpr -> Python source with explicit loops -> Numba-compiled callable."""
