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
# # Structured control flow
#
# A Python `if` or `while` on a traced value cannot be staged into a jaxpr: the tracer has no
# concrete truth value. `funcad.lax` offers control flow as functions instead — `cond`,
# `switch`, `while_loop`, `fori_loop`, `scan` and `map`. Each traces its branches or loop body
# once into inner jaxprs held by a single primitive, and every transformation (`grad`, `jvp`,
# `vmap`, `jit`) knows how to handle that primitive. Values the bodies close over become explicit
# operands, so closures work too.
#
# Unlike JAX, funcad can also differentiate *in reverse mode* through `while_loop` (and
# `fori_loop` with traced bounds): it records the trip count and what the backward pass needs
# while running forward, then runs the loop backwards. The memory cost grows with the number
# of iterations.
#
# Every number below is checked against finite differences or a plain Python computation, so
# this notebook fails loudly if something is wrong.

# %%
import matplotlib.pyplot as plt
import numpy as np

import funcad
import funcad.numpy as fnp
from funcad import lax


def central_difference(f, x, h):
    """d f / d x at the scalar x by central differences."""
    return (f(x + h) - f(x - h)) / (2 * h)


# %% [markdown]
# ## `cond` and `switch`
# `lax.cond(pred, true_fun, false_fun, *operands)` runs one branch. Both branches are traced,
# so the jaxpr holds them indented inside the `cond` equation (the index selects the branch:
# 0 is `false_fun`).

# %%
def piecewise(x):
    return lax.cond(x > 0, fnp.sin, lambda v: v * v, x)


print(funcad.make_jaxpr(piecewise)(1.0))
print("piecewise(2.0) =", piecewise(2.0), " piecewise(-2.0) =", piecewise(-2.0))

# %% [markdown]
# Under `vmap` the predicate is batched: each lane may take a different branch, so both
# branches run and every lane selects its own result. Derivatives go through the branch that
# was taken.

# %%
xs = np.linspace(-2.0, 2.0, 9)
ys = funcad.vmap(piecewise)(xs)
dys = funcad.vmap(funcad.grad(piecewise))(xs)
print("vmap(piecewise):      ", ys)
print("vmap(grad(piecewise)):", dys)
assert np.allclose(ys, np.where(xs > 0, np.sin(xs), xs ** 2))
assert np.allclose(dys, np.where(xs > 0, np.cos(xs), 2 * xs))

# %% [markdown]
# `lax.switch(index, branches, *operands)` generalises `cond` to n branches; the index is
# clamped to the valid range, and it can be batched too.

# %%
def pick(i, x):
    return lax.switch(i, [fnp.sin, fnp.cos, lambda v: -v], x)


idx = np.array([0, 1, 2, 7, -3])
vals = funcad.vmap(pick)(idx, np.ones(5))
print("switch lanes:", vals)
assert np.allclose(vals, [np.sin(1.0), np.cos(1.0), -1.0, -1.0, np.sin(1.0)])

# %% [markdown]
# ## `while_loop`: a Newton iteration, differentiated through the loop
# The cube root of `a` by Newton's method on `x³ - a = 0`, iterating until the residual is
# tiny. The number of iterations depends on the data — exactly what `while_loop` is for. The
# carry is a pytree: the iterate and an iteration counter.

# %%
def cube_root(a):
    def not_converged(carry):
        x, k = carry
        return (fnp.abs(x ** 3 - a) > 1e-12 * a) & (k < 50)

    def newton_step(carry):
        x, k = carry
        return x - (x ** 3 - a) / (3 * x ** 2), k + 1

    return lax.while_loop(not_converged, newton_step, (a, 0))


root, iters = cube_root(5.0)
print(f"cube_root(5) = {root} after {iters} Newton steps; 5 ** (1/3) = {5.0 ** (1 / 3)}")
assert np.isclose(root, 5.0 ** (1 / 3), rtol=1e-14)

# %% [markdown]
# `grad` differentiates through every iteration of the loop that actually ran (reverse mode
# through a `while_loop`, which JAX refuses). At convergence the result matches the implicit
# function theorem, d(a^(1/3))/da = a^(-2/3) / 3.

# %%
d_root = funcad.grad(lambda a: cube_root(a)[0])
g = d_root(5.0)
fd = central_difference(lambda a: cube_root(a)[0], 5.0, 1e-6)
print(f"grad through the loop: {g}\nanalytic:              {5.0 ** (-2 / 3) / 3}\n"
      f"finite differences:    {fd}")
assert np.isclose(g, 5.0 ** (-2 / 3) / 3, rtol=1e-10)
assert np.isclose(g, fd, rtol=1e-7)

# %% [markdown]
# Batched, every lane runs its own number of iterations: the loop continues until all lanes
# are done, with finished lanes masked. The gradient batches the same way.

# %%
a_batch = np.array([0.5, 2.0, 100.0, 1e6])
roots, counts = funcad.vmap(cube_root)(a_batch)
grads = funcad.vmap(d_root)(a_batch)
print("roots:", roots, "\niterations per lane:", counts, "\ngradients:", grads)
assert np.allclose(roots, np.cbrt(a_batch), rtol=1e-13)
assert list(counts) == [int(cube_root(a)[1]) for a in a_batch]
assert np.allclose(grads, a_batch ** (-2 / 3) / 3, rtol=1e-10)

# %% [markdown]
# ## `fori_loop` with traced bounds
# With concrete bounds `fori_loop` is a `scan`; with traced ones (here the upper bound is
# batched by `vmap`) it becomes a `while_loop` — and reverse mode still works. Horner's rule
# gives the partial geometric sum 1 + x + ... + x^(n-1).

# %%
def partial_geometric(x, n):
    return lax.fori_loop(0, n, lambda i, acc: acc * x + 1.0, 0.0)


ns = np.array([1, 2, 5, 10])
sums = funcad.vmap(partial_geometric, in_axes=(None, 0))(0.5, ns)
dsums = funcad.vmap(funcad.grad(partial_geometric), in_axes=(None, 0))(0.5, ns)
print("sums:", sums, "\nd/dx:", dsums)
assert np.allclose(sums, [(1 - 0.5 ** n) / 0.5 for n in ns])
assert np.allclose(dsums, [sum(k * 0.5 ** (k - 1) for k in range(1, n)) for n in ns])

# %% [markdown]
# ## `scan`: cumulative sums and a recurrent network
# `lax.scan(f, init, xs)` threads a carry through `f(carry, x) -> (carry, y)` and stacks the
# `y`s. A cumulative sum is the smallest example; its gradient is a reversed cumulative sum,
# which is what the transposed scan computes (running backwards).

# %%
def cumsum(x):
    return lax.scan(lambda c, xi: (c + xi, c + xi), 0.0, x)[1]


x = np.arange(1.0, 6.0)
w = np.array([1.0, -2.0, 0.5, 3.0, 1.0])
print("cumsum:", cumsum(x))
g_cs = funcad.grad(lambda v: fnp.sum(w * cumsum(v)))(x)
print("grad of sum(w * cumsum(x)):", g_cs)
assert np.allclose(cumsum(x), np.cumsum(x))
assert np.allclose(g_cs, np.cumsum(w[::-1])[::-1])

# %% [markdown]
# An Elman RNN, `h_t = tanh(W h_{t-1} + U x_t)`, with a loss on all hidden states. `grad` runs
# backpropagation through time; `vmap` over a batch of sequences gives per-sequence losses and
# gradients without a Python loop.

# %%
rng = np.random.default_rng(0)
H, D, L, B = 4, 3, 12, 5
W = 0.5 * rng.normal(size=(H, H))
U = rng.normal(size=(H, D))
seq = rng.normal(size=(L, D))


def rnn_loss(W, U, xs):
    def cell(h, x_t):
        h = fnp.tanh(W @ h + U @ x_t)
        return h, h

    _, hs = lax.scan(cell, fnp.zeros(H), xs)
    return fnp.sum(hs ** 2) / L


gW = funcad.grad(rnn_loss)(W, U, seq)
E = np.zeros_like(W)
E[1, 2] = 1.0
fd = central_difference(lambda t: rnn_loss(W + t * E, U, seq), 0.0, 1e-6)
print(f"dloss/dW[1,2] = {gW[1, 2]:.10f}, finite differences {fd:.10f}")
assert np.isclose(gW[1, 2], fd, rtol=1e-6)

batch = rng.normal(size=(B, L, D))
losses = funcad.vmap(rnn_loss, in_axes=(None, None, 0))(W, U, batch)
per_seq = funcad.vmap(funcad.grad(rnn_loss), in_axes=(None, None, 0))(W, U, batch)
print("per-sequence losses:", losses, " per-sequence dW:", per_seq.shape)
assert np.allclose(losses, [rnn_loss(W, U, s) for s in batch])
assert np.allclose(per_seq, [funcad.grad(rnn_loss)(W, U, s) for s in batch])

# %% [markdown]
# ## The Lorenz system and its sensitivity to ρ
# Explicit Euler on `x' = σ(y - x), y' = x(ρ - z) - y, z' = xy - βz` with σ = 10, ρ = 28,
# β = 8/3, 1000 steps of dt = 0.01 from (1, 1, 1). A `scan` whose `y` is the state returns
# the whole trajectory.

# %%
DT, N_STEPS = 0.01, 1000
X0 = np.ones(3)


def lorenz_rhs(state, sigma, rho, beta):
    x, y, z = state[0], state[1], state[2]
    return fnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def trajectory(rho, sigma=10.0, beta=8.0 / 3.0):
    """The (N_STEPS, 3) Euler trajectory for the given rho."""
    def step(state, _):
        state = state + DT * lorenz_rhs(state, sigma, rho, beta)
        return state, state

    _, states = lax.scan(step, X0, None, length=N_STEPS)
    return states


traj = trajectory(28.0)
times = DT * np.arange(1, N_STEPS + 1)
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
ax0.plot(traj[:, 0], traj[:, 2], lw=0.7)
ax0.set(xlabel="x", ylabel="z", title="Lorenz attractor (x, z projection)")
ax1.plot(times, traj[:, 0], label="x")
ax1.plot(times, traj[:, 2], label="z")
ax1.set(xlabel="t", title="state over time")
ax1.legend()
print("final state:", traj[-1])

# a plain NumPy Euler loop gives the same trajectory
ref, s = [], X0.copy()
for _ in range(N_STEPS):
    x_, y_, z_ = s
    s = s + DT * np.array([10.0 * (y_ - x_), x_ * (28.0 - z_) - y_, x_ * y_ - 8.0 / 3.0 * z_])
    ref.append(s)
assert np.allclose(traj, ref, rtol=1e-12, atol=1e-12)

# %% [markdown]
# `jacfwd` of the whole trajectory with respect to ρ is one forward-mode pass through the
# scan: the tangent is carried alongside the state, giving d state(t) / dρ for every step.
# Chaos shows up as exponential growth of the sensitivity (the slope of the log plot is
# roughly the largest Lyapunov exponent, ≈ 0.9).

# %%
sens = funcad.jacfwd(trajectory)(28.0)  # (N_STEPS, 3)
h = 1e-7
fd_sens = (trajectory(28.0 + h) - trajectory(28.0 - h)) / (2 * h)
print("d final state / d rho:", sens[-1], "\nfinite differences:    ", fd_sens[-1])
assert sens.shape == (N_STEPS, 3)
assert np.allclose(sens, fd_sens, rtol=1e-4, atol=1e-4)

# reverse mode agrees for a scalar of the trajectory: the final x
g_rev = funcad.grad(lambda r: trajectory(r)[-1, 0])(28.0)
assert np.isclose(g_rev, sens[-1, 0], rtol=1e-10)

norm = np.linalg.norm(sens, axis=1)
slope = np.polyfit(times[times > 2.0], np.log(norm[times > 2.0]), 1)[0]
fig, ax = plt.subplots(figsize=(7, 4))
for k, name in enumerate("xyz"):
    ax.semilogy(times, np.abs(sens[:, k]), lw=0.6, label=f"|d{name}/dρ|")
ax.semilogy(times, norm, "k", lw=1.2, label="‖d state/dρ‖")
ax.set(xlabel="t", title=f"sensitivity to ρ (fitted growth rate {slope:.2f} per unit time)")
ax.legend()
print(f"fitted exponential growth rate of the sensitivity: {slope:.2f}")
assert 0.3 < slope < 1.5
