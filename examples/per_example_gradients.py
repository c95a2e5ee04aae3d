"""Per-example gradients of logistic regression with vmap(grad(...)).

A batch of 1000 examples, w in R^100: ``vmap(grad(loss), in_axes=(None, 0, 0))`` gives one
gradient per example in a single batched pass, checked against a Python loop of grads and
against the hand-derived formula ``(sigmoid(x.w) - y) x``. With ``FUNCAD_EXAMPLE_SMALL=1`` (as
the test suite runs it) the batch is 100 examples and w is in R^20.
"""
import os
import time

import numpy as np

import funcad
import funcad.numpy as fnp


def loss(w, x, y):
    """Logistic loss of one example (x: (d,), y in {0, 1})."""
    z = fnp.dot(x, w)
    return fnp.logaddexp(0.0, z) - y * z


def main(n=1000, d=100, seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=d) / np.sqrt(d)
    xs = rng.normal(size=(n, d))
    ys = (rng.random(n) < 0.5).astype(np.float64)

    per_example = funcad.vmap(funcad.grad(loss), in_axes=(None, 0, 0))
    t0 = time.perf_counter()
    g = per_example(w, xs, ys)
    t_vmap = time.perf_counter() - t0

    t0 = time.perf_counter()
    g_loop = np.stack([funcad.grad(loss)(w, xs[i], ys[i]) for i in range(n)])
    t_loop = time.perf_counter() - t0

    by_hand = (1 / (1 + np.exp(-xs @ w)) - ys)[:, None] * xs
    np.testing.assert_allclose(g, by_hand, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(g, g_loop, rtol=1e-10, atol=1e-12)
    print(f"per-example gradients: shape {g.shape}")
    print(f"vmap(grad): {t_vmap * 1e3:.1f} ms, Python loop of grad: {t_loop * 1e3:.1f} ms "
          f"({t_loop / t_vmap:.0f}x)")

    # the mean of the per-example gradients is the gradient of the mean loss
    mean_grad = funcad.grad(lambda w: fnp.mean(funcad.vmap(loss, (None, 0, 0))(w, xs, ys)))(w)
    np.testing.assert_allclose(g.mean(axis=0), mean_grad, rtol=1e-10, atol=1e-12)

    # a batched Hessian: one d x d Hessian per example (here for the first 5)
    H = funcad.vmap(funcad.hessian(loss), in_axes=(None, 0, 0))(w, xs[:5], ys[:5])
    p = 1 / (1 + np.exp(-xs[:5] @ w))
    H_hand = (p * (1 - p))[:, None, None] * xs[:5, :, None] * xs[:5, None, :]
    np.testing.assert_allclose(H, H_hand, rtol=1e-9, atol=1e-12)
    print(f"batched Hessians: shape {H.shape}, match the formula p(1-p) x x^T")


if __name__ == "__main__":
    if os.environ.get("FUNCAD_EXAMPLE_SMALL") == "1":
        main(n=100, d=20)
    else:
        main()
