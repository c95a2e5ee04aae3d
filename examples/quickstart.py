"""funcad in one page: trace, evaluate, differentiate, batch."""
import numpy as np

import funcad
import funcad.numpy as fnp


def f(x):
    return fnp.sum(fnp.tanh(x) ** 2 + fnp.sin(x) * x)


x = np.linspace(-1.0, 1.0, 5)
print("f(x) eagerly (plain NumPy arrays in and out):", f(x))
print("\nThe jaxpr of f:")
print(funcad.make_jaxpr(f)(x))
print("\ngrad(f)(x):", funcad.grad(f)(x))
print("grad(grad(sin))(1.0) =", funcad.grad(funcad.grad(fnp.sin))(1.0), "= -sin(1.0) =",
      -np.sin(1.0))
print("\njacobian of tanh at x (diagonal):", np.diag(funcad.jacrev(fnp.tanh)(x)))
print("hessian of sum(x**3) at x:\n", funcad.hessian(lambda v: fnp.sum(v ** 3))(x))
print("\nper-row sums with vmap:", funcad.vmap(fnp.sum)(np.arange(6.0).reshape(3, 2)))
