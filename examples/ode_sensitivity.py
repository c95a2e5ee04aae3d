"""Sensitivity of the Lorenz system to its parameters, through structured loops.

The Lorenz system ``x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z`` is integrated
with explicit Euler (1000 steps of dt = 0.01 from (1, 1, 1)) written with
``funcad.lax.fori_loop``, so the loop is one primitive that every transformation understands:

1. the final state, then the gradient of its sum with respect to (sigma, rho, beta) by reverse
   mode (``funcad.grad``), checked against central finite differences;
2. the full 3x3 sensitivity d(final state)/d(sigma, rho, beta) by forward mode
   (``funcad.jacfwd``), which agrees with reverse mode (``funcad.jacrev``);
3. reverse mode through a ``lax.while_loop`` -- which JAX does not offer -- integrating until a
   time T with a traced step size (so the trip count depends on a traced value), against the
   same loop unrolled in Python;
4. the jitted forward and gradient, when ``jit`` can compile the loop (otherwise the eager
   path is reported and used).

Run: ``python examples/ode_sensitivity.py``. With ``FUNCAD_EXAMPLE_SMALL=1`` (as the test
suite runs it) the integrations are shorter (200 Euler steps, T = 0.5) and timed once.
"""
import os
import time

import numpy as np

import funcad
import funcad.numpy as fnp
from funcad import lax
from funcad.config import config

SMALL = os.environ.get("FUNCAD_EXAMPLE_SMALL") == "1"
N_STEPS, DT = (200 if SMALL else 1000), 0.01
X0 = np.array([1.0, 1.0, 1.0])
PARAMS = np.array([10.0, 28.0, 8.0 / 3.0])  # sigma, rho, beta


def lorenz_rhs(state, params):
    """The Lorenz vector field at ``state`` (3,) for ``params`` = (sigma, rho, beta)."""
    x, y, z = state[0], state[1], state[2]
    sigma, rho, beta = params[0], params[1], params[2]
    return fnp.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z])


def final_state(params):
    """The state after N_STEPS explicit Euler steps of size DT."""
    def step(i, state):
        return state + DT * lorenz_rhs(state, params)
    return lax.fori_loop(0, N_STEPS, step, X0)


def loss(params):
    return fnp.sum(final_state(params))


def central_differences(f, x, h):
    """The gradient of the scalar function ``f`` at ``x`` by central differences."""
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


def timed(f, *args, repeat=5):
    """(result, best wall time in seconds over ``repeat`` calls; one call when SMALL)."""
    best, out = np.inf, None
    repeat = 1 if SMALL else repeat
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


# --- 1. forward, and reverse mode against finite differences ---------------------------------
state, t_fwd = timed(final_state, PARAMS)
print(f"final state after {N_STEPS} Euler steps: {state}   ({t_fwd * 1e3:.1f} ms eager)")
g, t_grad = timed(funcad.grad(loss), PARAMS)
print(f"d sum(final state) / d(sigma, rho, beta) = {g}   ({t_grad * 1e3:.1f} ms eager)")
# The system is chaotic by t = 10 (the full size): the gradient is large and curvature grows
# fast, so the finite-difference step must be small (the truncation error is O(h^2 f''')).
fd = central_differences(lambda p: float(loss(p)), PARAMS, h=1e-7)
print(f"central finite differences              = {fd}")
assert np.allclose(g, fd, rtol=1e-3), (g, fd)

# --- 2. forward mode agrees with reverse mode -------------------------------------------------
J_fwd, t_jf = timed(funcad.jacfwd(final_state), PARAMS)
J_rev, t_jr = timed(funcad.jacrev(final_state), PARAMS)
print(f"\nd(final state)/d(sigma, rho, beta) by jacfwd ({t_jf * 1e3:.1f} ms); rows x, y, z:")
print(J_fwd)
print(f"jacrev ({t_jr * 1e3:.1f} ms) agrees: max relative difference "
      f"{np.max(np.abs(J_fwd - J_rev)) / np.max(np.abs(J_rev)):.1e}")
assert np.allclose(J_fwd, J_rev, rtol=1e-9, atol=1e-9 * np.max(np.abs(J_rev)))
assert np.allclose(J_fwd.sum(axis=0), g, rtol=1e-9)

# --- 3. reverse mode through a while_loop with a data-dependent trip count --------------------
T_END = 0.5 if SMALL else 2.0


def integrate_until(params, dt):
    """Euler steps of size ``dt`` (traced) until time T_END: a while_loop whose trip count
    depends on ``dt``. Returns the sum of the final state."""
    def not_done(carry):
        return carry[0] < T_END

    def step(carry):
        t, state = carry
        return t + dt, state + dt * lorenz_rhs(state, params)

    _, state = lax.while_loop(not_done, step, (0.0, X0))
    return fnp.sum(state)


def integrate_unrolled(params, dt, n_steps):
    """The same integration as a Python loop of a known number of steps."""
    state = X0
    for _ in range(n_steps):
        state = state + dt * lorenz_rhs(state, params)
    return fnp.sum(state)


def trip_count(dt):
    """How many steps integrate_until takes (the same floating-point time accumulation)."""
    t, n = 0.0, 0
    while t < T_END:
        t, n = t + dt, n + 1
    return n


dt = np.float64(0.01)
(g_p, g_dt), t_wl = timed(funcad.grad(integrate_until, argnums=(0, 1)), PARAMS, dt, repeat=3)
n = trip_count(float(dt))
g_p_ref, g_dt_ref = funcad.grad(integrate_unrolled, argnums=(0, 1))(PARAMS, dt, n)
print(f"\nwhile_loop until T={T_END} with traced dt={dt} ({n} steps), reverse mode "
      f"({t_wl * 1e3:.1f} ms):")
print(f"  d/d(sigma, rho, beta) = {g_p}, d/d dt = {g_dt:.6g}")
print(f"  unrolled Python loop  = {g_p_ref}, d/d dt = {g_dt_ref:.6g}")
assert np.allclose(g_p, g_p_ref, rtol=1e-10) and np.isclose(g_dt, g_dt_ref, rtol=1e-10)
# The trip count is piecewise constant in dt, so the derivative holds the count fixed; away
# from a jump (here h is far too small to change the count) it matches finite differences.
fd_wl = central_differences(lambda p: float(integrate_until(p, dt)), PARAMS, h=1e-6)
assert np.allclose(g_p, fd_wl, rtol=1e-5), (g_p, fd_wl)
# Each lane of a vmap runs its own number of steps; finished lanes are masked.
dts = np.array([0.02, 0.01, 0.005])
sums = funcad.vmap(integrate_until, in_axes=(None, 0))(PARAMS, dts)
print(f"  vmap over dt = {dts}: sums {sums}")
assert np.allclose(sums, [integrate_until(PARAMS, d) for d in dts], rtol=1e-12)

# --- 4. jit, if it can compile the loops -------------------------------------------------------
jit = getattr(funcad, "jit", None)
if jit is None:
    try:
        from funcad.interpreters.jit import jit
    except ImportError:
        jit = None
print()
if jit is None:
    print("funcad.jit is not available: the eager path was used above.")
elif config.disable_jit:
    print("jit is disabled (FUNCAD_DISABLE_JIT=1): the eager path was used above.")
else:
    try:
        jf, jg = jit(final_state), jit(funcad.grad(loss))
        t0 = time.perf_counter()
        jf(PARAMS), jg(PARAMS)
        t_compile = time.perf_counter() - t0
        state_j, t_fwd_j = timed(jf, PARAMS, repeat=20)
        g_j, t_grad_j = timed(jg, PARAMS, repeat=20)
    except NotImplementedError as err:
        print(f"jit cannot compile fori_loop yet ({err}); the eager path was used.")
    else:
        assert np.allclose(state_j, state, rtol=1e-9) and np.allclose(g_j, g, rtol=1e-9)
        print(f"jit (first calls, tracing + Numba compile: {t_compile:.2f} s)")
        print(f"  forward:  {t_fwd_j * 1e6:8.1f} us   (eager {t_fwd * 1e3:.1f} ms, "
              f"{t_fwd / t_fwd_j:.0f}x)")
        print(f"  gradient: {t_grad_j * 1e6:8.1f} us   (eager {t_grad * 1e3:.1f} ms, "
              f"{t_grad / t_grad_j:.0f}x)")
