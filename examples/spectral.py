"""Spectral methods: differentiating through FFTs with funcad.

1. A spectral derivative, ``irfft(i k rfft(u))``, against the exact derivative of a smooth
   periodic function.
2. A pseudo-spectral solver of the viscous Burgers equation ``u_t + u u_x = nu u_xx`` on
   ``[0, 2 pi)``: ``rfft`` for the derivatives, the 2/3 rule against aliasing and an
   integrating factor for the diffusion, stepped by ``lax.scan``. From a final snapshot
   observed with the true viscosity we recover ``nu`` by Gauss-Newton on ``log nu``: the
   sensitivity of the final state is one forward-mode ``jvp`` through the whole solver
   (``jit``), and the gradient of the misfit (``jit(grad)``, reverse mode through every FFT)
   is checked against it and against central differences.

Run: ``python examples/spectral.py``. With ``FUNCAD_EXAMPLE_SMALL=1`` (as the test suite runs
it) the grid and the number of steps are smaller.
"""
import os
import time

import numpy as np

import funcad
import funcad.numpy as fnp
from funcad import lax

SMALL = os.environ.get("FUNCAD_EXAMPLE_SMALL") == "1"
N = 64 if SMALL else 256          # grid points
STEPS, DT = (100 if SMALL else 400), 2e-3
NU_TRUE, NU_GUESS = 0.08, 0.3

x = 2 * np.pi * np.arange(N) / N
k = np.fft.rfftfreq(N, 1.0 / N)                  # wavenumbers 0 .. N/2
dealias = (k < N / 3).astype(float)               # the 2/3 rule


def spectral_derivative(u):
    """d u / d x of a periodic sample by the FFT."""
    return fnp.fft.irfft(1j * k * fnp.fft.rfft(u), N)


# 1. spectral accuracy --------------------------------------------------------------------------
u0 = np.exp(np.sin(x))
exact = np.cos(x) * np.exp(np.sin(x))
err = np.max(np.abs(funcad.jit(spectral_derivative)(u0) - exact))
print(f"spectral derivative of exp(sin x), N={N}: max error {err:.1e}")
assert err < 1e-10, err


# 2. Burgers ------------------------------------------------------------------------------------
def final_state(log_nu, u):
    """u after STEPS integrating-factor Euler steps of Burgers' equation."""
    nu = fnp.exp(log_nu)
    decay = fnp.exp(-nu * k ** 2 * DT)

    def step(u, _):
        u_hat = fnp.fft.rfft(u)
        nonlinear = -0.5j * k * dealias * fnp.fft.rfft(u * u)      # -(u^2 / 2)_x
        return fnp.fft.irfft(decay * (u_hat + DT * nonlinear), N), None

    u, _ = lax.scan(step, u, None, length=STEPS)
    return u


def misfit(log_nu, u_obs):
    r = final_state(log_nu, u0) - u_obs
    return fnp.mean(r * r)


u_obs = funcad.jit(final_state)(np.log(NU_TRUE), u0)
# the jit'd solver against the same steps in plain NumPy
u_np = u0.copy()
decay_np = np.exp(-NU_TRUE * k ** 2 * DT)
for _ in range(STEPS):
    nl = -0.5j * k * dealias * np.fft.rfft(u_np * u_np)
    u_np = np.fft.irfft(decay_np * (np.fft.rfft(u_np) + DT * nl), N)
np.testing.assert_allclose(u_obs, u_np, rtol=1e-10, atol=1e-12)

sensitivity = funcad.jit(lambda ln: funcad.jvp(lambda a: final_state(a, u0), (ln,), (1.0,)))
grad_misfit = funcad.jit(funcad.grad(misfit))

log_nu = np.log(NU_GUESS)
h = 1e-5
g = grad_misfit(log_nu, u_obs)
fd = (misfit(log_nu + h, u_obs) - misfit(log_nu - h, u_obs)) / (2 * h)
u_T, du = sensitivity(log_nu)
g_fwd = 2 * np.mean((u_T - u_obs) * du)
print(f"d misfit / d log nu at nu={NU_GUESS}: reverse {g:.8e}, forward {g_fwd:.8e}, "
      f"central differences {fd:.8e}")
assert abs(g - fd) <= 1e-6 * abs(fd) and abs(g - g_fwd) <= 1e-10 * abs(g_fwd), (g, g_fwd, fd)

t0 = time.perf_counter()
for it in range(8):   # Gauss-Newton on one parameter
    u_T, du = sensitivity(log_nu)
    r = np.asarray(u_T) - u_obs
    log_nu = log_nu - np.dot(du, r) / np.dot(du, du)
    print(f"  iteration {it}: nu = {np.exp(log_nu):.8f}, misfit {np.mean(r * r):.3e}")
    if np.mean(r * r) < 1e-24:
        break
print(f"recovered nu = {np.exp(log_nu):.8f} (true {NU_TRUE}) in "
      f"{time.perf_counter() - t0:.2f} s")
assert abs(np.exp(log_nu) - NU_TRUE) < 1e-6 * NU_TRUE, np.exp(log_nu)
