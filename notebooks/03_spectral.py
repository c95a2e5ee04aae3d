# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Spectral methods: FFTs under `grad` and `jit`
#
# `funcad.numpy.fft` has NumPy's 18 functions (`fft`, `rfft`, `irfftn`, `fftfreq`,
# `fftshift`, ...). They are built on one primitive, `lax.fft`, which is linear: its
# derivative is itself, and its transpose is another FFT (`rfft`'s is an `irfft` with the
# Hermitian weights), so `grad` through an FFT costs one more FFT. Under `jit` the generated
# code calls a compiled FFT (rocket-fft, when installed).
#
# Every number below is checked against NumPy or finite differences.

# %%
import matplotlib.pyplot as plt
import numpy as np

import funcad
import funcad.numpy as fnp
from funcad import lax

# %% [markdown]
# ## Spectral differentiation
# The derivative of a smooth periodic function, `irfft(i k rfft(u))`, converges faster than
# any power of the grid spacing: the error falls to rounding level by N = 32.

# %%
def derivative(u):
    n = u.shape[-1]
    k = fnp.fft.rfftfreq(n, 1.0 / n)
    return fnp.fft.irfft(1j * k * fnp.fft.rfft(u), n)


sizes = [4, 8, 12, 16, 24, 32, 48, 64]
errors = []
for n in sizes:
    x = 2 * np.pi * np.arange(n) / n
    du = funcad.jit(derivative)(np.exp(np.sin(x)))
    errors.append(np.max(np.abs(du - np.cos(x) * np.exp(np.sin(x)))))
assert errors[-1] < 1e-12, errors

plt.figure(figsize=(5, 3))
plt.semilogy(sizes, errors, "o-")
plt.xlabel("grid points N")
plt.ylabel("max error of d/dx exp(sin x)")
plt.title("spectral accuracy")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Deblurring by gradient descent
# A signal is blurred by a periodic Gaussian kernel (a product in Fourier space) and noise is
# added. We recover it by minimising the misfit of the blurred estimate plus a small penalty
# on its roughness, both written with FFTs, by gradient descent with `jit(grad)`.

# %%
rng = np.random.default_rng(0)
n = 256
t = np.arange(n) / n
signal = (t > 0.2) * (t < 0.45) + 0.6 * np.sin(6 * np.pi * t) * (t > 0.6)
freq = np.fft.rfftfreq(n, 1.0 / n)
kernel = np.exp(-0.5 * (freq / 12.0) ** 2)            # the blur, in Fourier space
observed = np.fft.irfft(kernel * np.fft.rfft(signal), n) + 0.01 * rng.normal(size=n)


def blur(u):
    return fnp.fft.irfft(kernel * fnp.fft.rfft(u), n)


def objective(u):
    spectrum = fnp.fft.rfft(u)
    rough = lax.real(spectrum) ** 2 + lax.imag(spectrum) ** 2
    return 0.5 * fnp.sum((blur(u) - observed) ** 2) + 1e-7 * fnp.sum(freq ** 2 * rough)


grad = funcad.jit(funcad.grad(objective))

# the gradient against central differences in one direction, and against the adjoint
# written by hand (the transpose of rfft is n * irfft(conj(.) / c), c the Hermitian weights)
u, v, h = observed.copy(), rng.normal(size=n), 1e-6
fd = (objective(u + h * v) - objective(u - h * v)) / (2 * h)
assert abs(np.dot(grad(u), v) - fd) < 1e-6 * abs(fd)
c = np.where((freq == 0) | (freq == n // 2), 1.0, 2.0)
residual = np.fft.irfft(kernel * np.fft.rfft(u), n) - observed
by_hand = (np.fft.irfft(kernel * np.fft.rfft(residual), n)
           + 2e-7 * n * np.fft.irfft(freq ** 2 * np.fft.rfft(u) / c, n))
np.testing.assert_allclose(grad(u), by_hand, rtol=1e-9, atol=1e-12)

losses = []
for step in range(300):
    u = u - 1.0 * grad(u)
    losses.append(float(objective(u)))
assert losses[-1] < losses[0] and np.linalg.norm(u - signal) < np.linalg.norm(observed - signal)
print(f"error to the true signal: observed {np.linalg.norm(observed - signal):.3f}, "
      f"recovered {np.linalg.norm(u - signal):.3f}")

fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3))
a.plot(t, signal, label="signal")
a.plot(t, observed, label="blurred + noise", alpha=0.7)
a.plot(t, u, label="recovered")
a.legend()
b.semilogy(losses)
b.set_xlabel("gradient step")
b.set_ylabel("objective")
plt.tight_layout()
plt.show()
