"""Test configuration: deterministic hypothesis profiles (fewer examples on CI)."""
import os

# Set before NumPy loads: a multi-threaded BLAS spins badly on a loaded 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=8, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("dev", derandomize=True, max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile(os.environ.get("FUNCAD_HYPOTHESIS_PROFILE",
                                     "ci" if os.environ.get("CI") else "dev"))
