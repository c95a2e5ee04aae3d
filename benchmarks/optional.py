"""Optional comparison libraries: present on some machines only."""
import importlib


def optional_import(name: str, x64: bool = False):
    """The module, or None when it is not installed."""
    try:
        mod = importlib.import_module(name)
    except Exception:
        return None
    if name == "jax" and x64:
        mod.config.update("jax_enable_x64", True)
        mod.config.update("jax_platforms", "cpu")
    return mod
