"""Any program size: long chains under jit, deep pytrees under every transformation.

The code generator used to build each fused expression by recursion and write it as one
statement: a chain of 200-300 operations gave generated source Python could not parse ("too
many nested parentheses"), and from about 400 a RecursionError. Here: chains of 300 and 2,000
operations against NumPy, a bound on the depth of every generated statement, the lowering run
under a recursion limit far below the chain's length, and a pytree 500 levels deep under
vmap, grad and jit. (The 10,000-operation chain is in benchmarks/bench_size.py.)
"""
from __future__ import annotations

import ast
import inspect
import re
import sys

import numpy as np
import pytest

import funcad
import funcad.numpy as fnp
from benchmarks.bench_size import chain
from funcad.codegen import nest
from funcad.codegen.lower import lower_jaxpr


X = np.linspace(-1.0, 1.0, 9)


def _lowered(f, x=X):
    return lower_jaxpr(funcad.make_jaxpr(f)(x).jaxpr, name=f.__name__)


def _max_expr_depth(source: str) -> int:
    """The deepest expression of any statement, counted in AST expression nodes."""
    worst = 0
    for stmt in ast.walk(ast.parse(source)):
        if not isinstance(stmt, (ast.Assign, ast.AugAssign, ast.Return)):
            continue
        stack = [(stmt.value, 1)]
        while stack:
            node, d = stack.pop()
            worst = max(worst, d)
            stack.extend((c, d + 1) for c in ast.iter_child_nodes(node)
                         if isinstance(c, ast.expr))
    return worst


@pytest.mark.parametrize("kind", ["elementwise", "reductions"])
def test_jit_chain_of_300_matches_numpy(kind):
    f = chain(300, kind)
    np.testing.assert_allclose(funcad.jit(f)(X), chain(300, kind, np)(X), rtol=1e-10,
                               atol=1e-12)


def test_jit_chain_of_2000_matches_numpy():
    f = chain(2000)
    np.testing.assert_allclose(funcad.jit(f)(X), chain(2000, "elementwise", np)(X),
                               rtol=1e-9, atol=1e-12)


def test_jit_of_grad_of_a_long_chain_matches_eager_grad():
    def loss(x):
        return fnp.sum(chain(400)(x))
    np.testing.assert_allclose(funcad.jit(funcad.grad(loss))(X), funcad.grad(loss)(X),
                               rtol=1e-9, atol=1e-12)


def test_generated_statements_have_bounded_depth():
    """A 2,000-operation fused expression is written as statements of at most MAX_EXPR_DEPTH
    equations each (a few AST levels per equation), inside the one loop."""
    source = _lowered(chain(2000)).source
    assert source.count("for i0 in range") == 1           # still one fused loop
    assert _max_expr_depth(source) <= 4 * nest.MAX_EXPR_DEPTH
    parens = max(max(np.cumsum([{"(": 1, ")": -1}.get(c, 0) for c in line] or [0]))
                 for line in source.splitlines())
    assert parens <= 4 * nest.MAX_EXPR_DEPTH


def test_lowering_does_not_recurse_over_the_expression():
    """Lower a 3,000-operation chain (and its gradient, and index ops chained 1,000 times)
    with a recursion limit of 150 frames above the caller: no function of the code generator
    may recurse once per operation."""
    def grad_chain(x):
        return funcad.grad(lambda y: fnp.sum(chain(1000)(y)))(x)

    jaxprs = [funcad.make_jaxpr(f)(x).jaxpr for f, x in
              [(chain(3000), X), (chain(1000, "reductions"), X), (grad_chain, X),
               (_flips_and_slices, np.linspace(0.0, 1.0, 1100))]]
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 150)
    try:
        for jaxpr in jaxprs:
            lower_jaxpr(jaxpr)
    finally:
        sys.setrecursionlimit(old)


def _flips_and_slices(x):
    for _ in range(500):
        x = fnp.flip(x[1:]) * 1.001
    for _ in range(500):
        x = fnp.flip(x)
    return x


def test_chained_index_ops_compose_into_one_index():
    """500 flips of slices read the input at one affine index, not a 1,000-deep term."""
    x = np.linspace(0.0, 1.0, 1100)
    source = _lowered(_flips_and_slices, x).source
    assert max(line.count("(") for line in source.splitlines()) < 50
    expected = x
    for _ in range(500):
        expected = np.flip(expected[1:]) * 1.001
    np.testing.assert_allclose(funcad.jit(_flips_and_slices)(x), expected, rtol=1e-12)


def test_fast_kernels_inlined_at_most_kernel_budget_times():
    """Each inlined fastmath call site costs LLVM compile time: past the budget a generated
    function calls libm instead (and still computes the chain)."""
    def tanhs(x):
        for _ in range(3 * nest.KERNEL_BUDGET):
            x = fnp.tanh(x) * 1.5
        return x
    source = _lowered(tanhs).source
    assert len(re.findall(r"\bftanh\(", source)) == nest.KERNEL_BUDGET
    assert len(re.findall(r"\bmath\.tanh\(", source)) == 2 * nest.KERNEL_BUDGET
    expected = X
    for _ in range(3 * nest.KERNEL_BUDGET):
        expected = np.tanh(expected) * 1.5
    np.testing.assert_allclose(funcad.jit(tanhs)(X), expected, rtol=1e-12)


# -- a pytree 500 levels deep ------------------------------------------------------------------

DEPTH = 500


def _deep(leaf):
    t = leaf
    for _ in range(DEPTH):
        t = [t]
    return t


def _innermost(t):
    while isinstance(t, list):
        t = t[0]
    return t


def _f(t):
    return fnp.sum(fnp.sin(_innermost(t)))


def test_deep_pytree_under_vmap_grad_and_jit():
    x = np.linspace(0.0, 1.0, 6).reshape(2, 3)
    np.testing.assert_allclose(funcad.vmap(_f)(_deep(x)), np.sin(x).sum(axis=1))
    g = funcad.grad(_f)(_deep(x[0]))
    np.testing.assert_allclose(_innermost(g), np.cos(x[0]))
    assert funcad.tree_util.tree_structure(g) == funcad.tree_util.tree_structure(_deep(x[0]))
    np.testing.assert_allclose(funcad.jit(_f)(_deep(x[0])), np.sin(x[0]).sum())
    assert "sin" in str(funcad.make_jaxpr(_f)(_deep(x[0])))


def test_vmap_error_names_a_leaf_500_levels_deep():
    path = re.escape("argument t" + "[0]" * DEPTH)
    with pytest.raises(ValueError, match=rf"vmap\(_f\): in_axes gives axis 0 for {path}, "
                                         r"which is a scalar"):
        funcad.vmap(_f)(_deep(np.float64(1.0)))
