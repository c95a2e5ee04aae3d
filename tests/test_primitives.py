"""Generic property tests over the primitive registry: every registered primitive, every rule.

Cases come from :func:`funcad.testing.primitive_cases` (each primitive's ``test_params`` times
its dtypes, inputs from ``test_args`` or from its ``domain``). Each check below runs for every
case it applies to; a primitive's ``xfail`` dict ``{check: reason}`` (or ``{"check[dtype]":
reason}``) turns a check into a strict, visible xfail. Primitives for which no inputs can be
built show up as xfails too, never as silent skips.
"""
import importlib
import pkgutil

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import funcad
from funcad import testing
from funcad.rule_util import Zero

# Primitives register themselves on import: import every module that declares them, so that
# the registry is complete before the cases are built (jit's primitive lives in interpreters).
for _pkg in (funcad.primitives, funcad.interpreters):
    for _m in pkgutil.iter_modules(_pkg.__path__):
        importlib.import_module(f"{_pkg.__name__}.{_m.name}")

_EXAMPLES = settings.default.max_examples


def _few(n):
    """Fewer examples for the expensive checks (never more than the profile's)."""
    return settings(max_examples=min(_EXAMPLES, n))


_REGISTERED = set(funcad.core.primitives)
CASES = testing.primitive_cases()


def _cases(check, only_differentiable=False, need_args=False):
    out = []
    for c in CASES:
        if isinstance(c, testing.UnsupportedCase):
            out.append(pytest.param(c, id=c.id,
                                    marks=pytest.mark.xfail(run=False, reason=c.reason)))
            continue
        if only_differentiable and not c.differentiable:
            continue
        if need_args and not c.args(np.random.default_rng(0)):
            continue
        reason = c.xfail_reason(check)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


def test_registry_is_covered():
    names = {c.prim.name for c in CASES}
    assert names == _REGISTERED
    # the families the suite was written against are all here
    for n in ("sin", "add", "reduce_sum", "gather", "scatter", "dot_general", "select_n"):
        assert n in names


# ---------------------------------------------------------------------------------------------
# impl vs abstract_eval, eval vs staging

@pytest.mark.parametrize("case", _cases("abstract_eval"))
@_few(6)
@given(data=st.data())
def test_abstract_eval(case, data):
    args = data.draw(case.strategy())
    testing.check_abstract_eval(case.prim, args, case.params)


@pytest.mark.parametrize("case", _cases("staging"))
@_few(3)
@given(data=st.data())
def test_staging(case, data):
    testing.check_staged(case.fun(), data.draw(case.strategy()))


# ---------------------------------------------------------------------------------------------
# Derivatives

def _random_tangent(rng, p):
    """A standard normal tangent of p's shape and dtype (complex: both parts)."""
    t = rng.standard_normal(p.shape)
    if p.dtype.kind == "c":
        t = t + 1j * rng.standard_normal(p.shape)
    return np.asarray(t).astype(p.dtype)


def _is_zero_derivative(case, args):
    """True when the primitive's jvp rule returns symbolic zeros for nonzero tangents."""
    if case.prim.jvp is None:
        return False  # check_grads then reports the missing rule
    rng = np.random.default_rng(1)
    tangents = [_random_tangent(rng, np.asarray(a)) if np.asarray(a).dtype.kind in "fc"
                else Zero(funcad.core.get_aval(a)) for a in args]
    _, t_out = case.prim.jvp(list(args), tangents, **case.params)
    t_out = t_out if case.prim.multiple_results else [t_out]
    return all(type(t) is Zero for t in t_out)


@pytest.mark.parametrize("case", _cases("jvp", only_differentiable=True))
@_few(6)
@given(data=st.data())
def test_jvp(case, data):
    args = data.draw(case.strategy())
    if _is_zero_derivative(case, args):
        testing.check_zero_derivative(case.fun(), args)
    else:
        testing.check_grads(case.fun(), args, order=1, modes=("fwd",))


@pytest.mark.parametrize("case", _cases("vjp", only_differentiable=True))
@_few(6)
@given(data=st.data())
def test_vjp(case, data):
    args = data.draw(case.strategy())
    if _is_zero_derivative(case, args):
        testing.check_zero_derivative(case.fun(), args)
    else:
        testing.check_grads(case.fun(), args, order=1, modes=("rev",))


@pytest.mark.parametrize("case", _cases("order2", only_differentiable=True))
@_few(2)
@given(data=st.data())
def test_second_order(case, data):
    args = data.draw(case.strategy())
    f = case.fun()
    if _is_zero_derivative(case, args):
        t = [np.ones_like(a) for a in args]
        testing.check_zero_derivative(lambda *a: funcad.jvp(f, a, t)[1], args)
    else:
        testing.check_grads(f, args, order=2)


# ---------------------------------------------------------------------------------------------
# Batching

_B = 3


def _axes_patterns(ranks):
    """in_axes patterns (with out_axes) over args of these ranks: 0, 1, -1 and None mixes."""
    n = len(ranks)
    one = tuple(1 if r >= 1 else 0 for r in ranks)
    pats = [((0,) * n, 0), ((-1,) * n, -1), (one, 0)]
    if n > 1:
        pats.append(((None,) + (0,) * (n - 1), 0))
        pats.append(((0,) + (None,) * (n - 1), 0))
        pats.append((tuple(one[i] if i % 2 else None for i in range(n)), 1))
    seen, out = set(), []
    for p in pats:
        if p not in seen and any(a is not None for a in p[0]):
            seen.add(p)
            out.append(p)
    return out


def _batched(case, seed, in_axes):
    """Arguments with a batch of size _B at ``in_axes`` (unbatched where None)."""
    draws = [case.args(np.random.default_rng([seed, k])) for k in range(_B)]
    return [np.asarray(draws[0][i]) if a is None else
            np.stack([np.asarray(d[i]) for d in draws], axis=a)
            for i, a in enumerate(in_axes)]


def _fix_out_axes(case, args, in_axes, out_axes):
    """out_axes=1 only where every output has rank >= 1 (else 0)."""
    if out_axes != 1:
        return out_axes
    out = case.fun()(*case.args(np.random.default_rng(0)))
    outs = out if case.prim.multiple_results else [out]
    return 1 if all(np.ndim(o) >= 1 for o in outs) else 0


@pytest.mark.parametrize("case", _cases("vmap", need_args=True))
@_few(2)
@given(seed=testing.seeds())
def test_vmap(case, seed):
    ranks = [np.ndim(a) for a in case.args(np.random.default_rng(0))]
    for in_axes, out_axes in _axes_patterns(ranks):
        args = _batched(case, seed, in_axes)
        out_axes = _fix_out_axes(case, args, in_axes, out_axes)
        testing.check_vmap(case.fun(), args, in_axes, out_axes)


@pytest.mark.parametrize("case", _cases("vmap_of_jvp", only_differentiable=True))
@_few(2)
@given(seed=testing.seeds())
def test_vmap_of_jvp_is_jvp_of_vmap(case, seed):
    f = case.fun()
    n = len(case.args(np.random.default_rng(0)))
    ranks = [np.ndim(a) for a in case.args(np.random.default_rng(0))]
    for in_axes, _ in _axes_patterns(ranks)[:4]:
        primals = _batched(case, seed, in_axes)
        rng = np.random.default_rng(seed)
        tangents = [_random_tangent(rng, p) if p.dtype.kind in "fc" else np.zeros_like(p)
                    for p in primals]

        def jvp_f(*pt):
            return funcad.jvp(f, pt[:n], pt[n:])

        a = funcad.vmap(jvp_f, in_axes=tuple(in_axes) * 2)(*primals, *tangents)
        b = funcad.jvp(funcad.vmap(f, in_axes=tuple(in_axes)), primals, tangents)
        testing.assert_trees_close(a, b, 1e-10, 1e-10,
                                   f"vmap(jvp) vs jvp(vmap), in_axes={in_axes}")
