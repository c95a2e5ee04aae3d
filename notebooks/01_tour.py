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
# # A tour of funcad
#
# funcad transforms NumPy-style Python functions: it traces them into a small typed IR (a
# *jaxpr*) and interprets that IR in different ways — evaluation, differentiation in forward
# and reverse mode, batching, and compilation. This notebook walks through them.

# %%
import numpy as np

import funcad
import funcad.numpy as fnp

# %% [markdown]
# ## Eager evaluation and the IR
# Outside any transformation, `funcad.numpy` functions take and return plain NumPy arrays.

# %%
def f(x):
    return fnp.sum(fnp.tanh(x) ** 2 + fnp.sin(x) * x)


x = np.linspace(-1.0, 1.0, 5)
print(type(f(x)), f(x))
print(funcad.make_jaxpr(f)(x))

# %% [markdown]
# ## Derivatives of any order
# `grad` is reverse mode (linearize, then transpose the linear part); nesting it gives higher
# derivatives. Forward mode is `jvp`; `jacfwd`, `jacrev` and `hessian` build whole Jacobians
# with one batched pass each.

# %%
df = funcad.grad(f)
print("grad f:", df(x))
print("grad(grad(sin))(1.0) =", funcad.grad(funcad.grad(fnp.sin))(1.0), " -sin(1) =", -np.sin(1.0))
print("jvp:", funcad.jvp(fnp.sin, (x,), (np.ones_like(x),)))
J = funcad.jacrev(fnp.tanh)(x)
print("jacobian of tanh is diagonal:", np.allclose(J, np.diag(np.diag(J))))
H = funcad.hessian(lambda v: fnp.sum(v ** 3))(x)
print("hessian of sum(x^3) = diag(6x):", np.allclose(H, np.diag(6 * x)))

# %% [markdown]
# ### tanh and its first four derivatives, by nested grad
# Each derivative is `grad` of the previous one, mapped over the grid with `vmap`.

# %%
import matplotlib.pyplot as plt

grid = np.linspace(-4, 4, 401)
fns = [fnp.tanh]
for _ in range(4):
    fns.append(funcad.grad(fns[-1]))
fig, ax = plt.subplots(figsize=(7, 4))
for k, fn in enumerate(fns):
    ax.plot(grid, funcad.vmap(fn)(grid), label=f"order {k}")
ax.legend()
ax.set_title("tanh and its derivatives (nested funcad.grad)")
# check against the closed forms: tanh' = 1 - tanh^2, tanh'' = -2 tanh (1 - tanh^2)
t = np.tanh(grid)
assert np.allclose(funcad.vmap(fns[1])(grid), 1 - t ** 2)
assert np.allclose(funcad.vmap(fns[2])(grid), -2 * t * (1 - t ** 2))

# %% [markdown]
# ## Batching with vmap
# `vmap` adds a batch axis to any function, composing with the derivatives: per-example
# gradients of a loss are one call.

# %%
def loss(w, xi, yi):
    z = fnp.sum(xi * w)
    return fnp.logaddexp(0.0, z) - yi * z


rng = np.random.default_rng(0)
w = rng.normal(size=3)
xs, ys = rng.normal(size=(6, 3)), (rng.random(6) < 0.5).astype(float)
per_example = funcad.vmap(funcad.grad(loss), in_axes=(None, 0, 0))(w, xs, ys)
print(per_example.shape)
by_hand = (1 / (1 + np.exp(-xs @ w)) - ys)[:, None] * xs
assert np.allclose(per_example, by_hand)

# %% [markdown]
# A batched Hessian is `vmap` of `hessian`: one d×d matrix per example, in one batched pass.
# For the logistic loss it is p(1-p) x xᵀ.

# %%
H = funcad.vmap(funcad.hessian(loss), in_axes=(None, 0, 0))(w, xs, ys)
p = 1 / (1 + np.exp(-xs @ w))
assert np.allclose(H, (p * (1 - p))[:, None, None] * xs[:, :, None] * xs[:, None, :])
print(H.shape)

# %% [markdown]
# ## Compilation with jit
# `jit` lowers the jaxpr to one Python function with explicit fused loops and compiles it with
# Numba. `lower(...).source` shows the code; it composes with `grad` and `vmap`.

# %%
fast = funcad.jit(f)
print(fast.lower(x).source)
assert np.isclose(fast(x), f(x))
fast_grad = funcad.jit(funcad.grad(f))
assert np.allclose(fast_grad(x), funcad.grad(f)(x))
