"""Jacobians as batched derivatives: jacfwd (vmap of jvp), jacrev (vmap of vjp), hessian.

Both push (or pull) the rows of an identity matrix (``_std_basis``, split per leaf of the
inputs, or of the outputs) through one vmapped jvp (or vjp), then cut the stacked result into
one block per pair of output leaf and input leaf, shaped ``out.shape + in.shape``.
``hessian`` is ``jacfwd(jacrev(fun))``.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from funcad import numpy as fnp
from funcad.api._args import (_argnums_tuple, _as_value, _check_argnums, _check_fun,
                              _fun_name, _partial_args, check_holomorphic_input,
                              check_holomorphic_output)
from funcad.api._forward import jvp
from funcad.api._reverse import _vjp
from funcad.api._vmap import vmap
from funcad.core import Tracer, get_aval, is_float
from funcad.tree_util import tree_flatten, tree_unflatten


def _std_basis(leaves):
    """Rows of the identity, split per leaf: leaf i gets an array (N,) + shape_i."""
    sizes = [math.prod(get_aval(x).shape) for x in leaves]
    n = sum(sizes)
    dts = [get_aval(x).dtype for x in leaves]
    dt = np.result_type(*dts) if dts else np.float64
    eye = np.eye(n, dtype=dt)
    out, start = [], 0
    for x, s, d in zip(leaves, sizes, dts):
        out.append(eye[:, start:start + s].reshape((n,) + get_aval(x).shape).astype(d))
        start += s
    return out, sizes


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False):
    """Jacobian by forward mode: one batched jvp over the input basis (vmap of jvp).

    Inputs are real, or with ``holomorphic=True`` complex (and then so are the outputs), as
    in JAX; a complex output of real inputs gives a complex Jacobian."""
    _check_fun("jacfwd", fun)
    _check_argnums("jacfwd", argnums, _fun_name(fun))

    def jac(*args, **kwargs):
        nums = _argnums_tuple("jacfwd", argnums, len(args), _fun_name(fun))
        dyn = tuple(args[i] for i in nums)
        f = _partial_args(fun, args, kwargs, nums)
        d_leaves, d_tree = tree_flatten(dyn)
        d_leaves = [_as_value(x) for x in d_leaves]
        for leaf in d_leaves:
            check_holomorphic_input("jacfwd", get_aval(leaf).dtype, holomorphic, forward=True)
            if not is_float(get_aval(leaf).dtype):
                raise TypeError(f"jacfwd requires float inputs; got dtype {get_aval(leaf).dtype}")
        basis, sizes = _std_basis(d_leaves)
        store: dict = {}

        def push(*t_leaves):
            primals = tree_unflatten(d_tree, d_leaves)
            tangents = tree_unflatten(d_tree, list(t_leaves))
            res = jvp(f, primals, tangents, has_aux=has_aux)
            if has_aux:
                store["aux"] = res[2]
            return res[0], res[1]

        y, jt = vmap(push, in_axes=0, out_axes=(None, 0))(*basis)
        y_leaves, y_tree = tree_flatten(y)
        if holomorphic:
            for yl in y_leaves:
                check_holomorphic_output("jacfwd", get_aval(yl).dtype, True)
        jt_leaves = tree_flatten(jt)[0]
        per_out = []
        for yl, j in zip(y_leaves, jt_leaves):
            ya = get_aval(yl)
            # j: (N,) + y.shape  ->  y.shape + x_i.shape for each input leaf i
            j = np.moveaxis(np.asarray(j), 0, -1) if not isinstance(j, Tracer) else \
                fnp.moveaxis(j, 0, -1)
            parts, start = [], 0
            for x, s in zip(d_leaves, sizes):
                part = j[..., start:start + s]
                parts.append(part.reshape(ya.shape + get_aval(x).shape))
                start += s
            per_out.append(tree_unflatten(d_tree, parts))
        if isinstance(argnums, int):
            per_out = [p[0] for p in per_out]
        out = tree_unflatten(y_tree, per_out)
        return (out, store["aux"]) if has_aux else out

    return jac


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
           holomorphic: bool = False):
    """Jacobian by reverse mode: one batched vjp over the output basis (vmap of vjp).

    Outputs are real (each row is then :func:`funcad.grad`'s convention for complex
    inputs), or with ``holomorphic=True`` complex functions of complex inputs, as in JAX."""
    _check_fun("jacrev", fun)
    _check_argnums("jacrev", argnums, _fun_name(fun))

    def jac(*args, **kwargs):
        nums = _argnums_tuple("jacrev", argnums, len(args), _fun_name(fun))
        dyn = tuple(args[i] for i in nums)
        for leaf in tree_flatten(dyn)[0]:
            check_holomorphic_input("jacrev", get_aval(_as_value(leaf)).dtype, holomorphic,
                                    forward=False)
        f = _partial_args(fun, args, kwargs, nums)
        res = _vjp(f, dyn, has_aux, "jacrev", _fun_name(fun))
        y, vjp_fn = res[0], res[1]
        y_leaves, y_tree = tree_flatten(y)
        y_leaves = [_as_value(v) for v in y_leaves]
        for leaf in y_leaves:
            if not is_float(get_aval(leaf).dtype):
                raise TypeError(f"jacrev requires float outputs; got dtype "
                                f"{get_aval(leaf).dtype}")
            check_holomorphic_output("jacrev", get_aval(leaf).dtype, holomorphic)
        basis, sizes = _std_basis(y_leaves)

        def pull(*ct_leaves):
            return vjp_fn(tree_unflatten(y_tree, list(ct_leaves)))

        cts = vmap(pull)(*basis)  # tuple over dyn args, each (N,) + x.shape
        ct_leaves, ct_tree = tree_flatten(cts)
        per_out, start = [], 0
        for yl, s in zip(y_leaves, sizes):
            ya = get_aval(yl)
            parts = [c[start:start + s].reshape(ya.shape + get_aval(c).shape[1:])
                     for c in ct_leaves]
            tree = tree_unflatten(ct_tree, parts)
            per_out.append(tree[0] if isinstance(argnums, int) else tree)
            start += s
        out = tree_unflatten(y_tree, per_out)
        return (out, res[2]) if has_aux else out

    return jac


jacobian = jacrev


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False,
            holomorphic: bool = False):
    """The Hessian, as forward-over-reverse: ``jacfwd(jacrev(fun))`` (both with
    ``holomorphic``)."""
    _check_fun("hessian", fun)
    _check_argnums("hessian", argnums, _fun_name(fun))
    return jacfwd(jacrev(fun, argnums, has_aux, holomorphic), argnums, has_aux, holomorphic)
