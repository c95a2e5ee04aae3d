"""``scan``: a loop of static length that carries state and maps over leading axes.

``scan_p`` has operands ``(*consts, *init, *xs)`` and parameters ``jaxpr`` (consts + carry +
one slice of each xs -> carry + one slice of each ys), ``num_consts``, ``num_carry``,
``length`` and ``reverse``. It returns the final carry and the ys stacked on a new leading
axis. ``fori_loop`` with concrete bounds and ``map`` are scans.

Rules:
- jvp: a scan of the jvp'd body; a carry whose tangent becomes nonzero anywhere in the loop
  carries a tangent from the start (found by iterating to a fixpoint);
- vmap: batched consts and carries at axis 0, batched xs at axis 1 (so their slices are
  batched at 0), ys batched at axis 1;
- partial evaluation: the standard known/unknown split. The known scan runs now and returns,
  besides its outputs, the residuals the unknown body needs: residuals that are consts of
  the known body are passed once; residuals that are slices of known xs reuse those xs; the
  rest are stacked per iteration (memory ``length * sizeof(residuals)``). The unknown scan
  reads the residuals as consts and xs;
- transpose: a scan running the other way over the transposed body, carrying the carry
  cotangent and accumulating the cotangents of linear consts.
"""
from __future__ import annotations

import numpy as np

from funcad.core import Primitive, bind_with, get_aval
from funcad.interpreters.transpose import backward_pass
from funcad.ir import ClosedJaxpr, Jaxpr, Lit
from funcad.primitives import binary as bi, control_lowering as _lw, elementwise as ew
from funcad.primitives.control_jaxpr import (batch_jaxpr, deps, example_jaxpr, fixpoint,
                                             jvp_jaxpr, materialize, pe_jaxpr, run, split,
                                             trace_hoisted, zeros)
from funcad.rule_util import (UndefinedPrimal, Zero, add_tangents, bdim_to_front, is_undefined,
                              moveaxis, needs_axis_size)


def _sizes(n_args, num_consts, num_carry):
    return [num_consts, num_carry, n_args - num_consts - num_carry]


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = split(args, _sizes(len(args), num_consts, num_carry))
    ys = [np.empty((length,) + a.shape, a.dtype) for a in jaxpr.out_avals[num_carry:]]
    for step in range(length):
        i = length - 1 - step if reverse else step
        outs = run(jaxpr, *consts, *carry, *[x[i] for x in xs])
        carry = outs[:num_carry]
        for y, o in zip(ys, outs[num_carry:]):
            y[i] = o
    return list(carry) + ys


def _scan_abstract(*avals, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = split(avals, _sizes(len(avals), num_consts, num_carry))
    for x in xs:
        if x.ndim == 0 or x.shape[0] != length:
            raise TypeError(f"scan: an xs operand has type {x.str_short()} but the scan has "
                            f"length {length}")
    want = consts + carry + [x.update(shape=x.shape[1:]) for x in xs]
    if jaxpr.in_avals != want:
        raise TypeError(f"scan: the body takes {[a.str_short() for a in jaxpr.in_avals]} "
                        f"but is given {[a.str_short() for a in want]}")
    out = jaxpr.out_avals
    if out[:num_carry] != carry:
        raise TypeError(f"scan: the body returns the carry as "
                        f"{[a.str_short() for a in out[:num_carry]]} but it enters as "
                        f"{[a.str_short() for a in carry]}")
    return list(carry) + [y.update(shape=(length,) + y.shape) for y in out[num_carry:]]


def _nz(ts):
    return [type(t) is not Zero for t in ts]


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    sizes = _sizes(len(primals), num_consts, num_carry)
    consts, init, xs = split(primals, sizes)
    c_t, i_t, x_t = split(tangents, sizes)
    c_nz, x_nz = _nz(c_t), _nz(x_t)
    ny = len(jaxpr.out_avals) - num_carry
    carry_nz = fixpoint(_nz(i_t), lambda cn: jvp_jaxpr(jaxpr, c_nz + cn + x_nz,
                                                       cn + [False] * ny)[2][:num_carry])
    body, k, out_nz = jvp_jaxpr(jaxpr, c_nz + carry_nz + x_nz, carry_nz + [False] * ny,
                                sizes, [num_carry, ny])
    carry_avals = jaxpr.out_avals[:num_carry]
    new_consts = k + consts + [t for t in c_t if type(t) is not Zero]
    new_init = init + [materialize(t, a) for t, a, z in zip(i_t, carry_avals, carry_nz) if z]
    new_xs = xs + [t for t in x_t if type(t) is not Zero]
    outs = scan_p.bind(*new_consts, *new_init, *new_xs, jaxpr=body,
                       num_consts=len(new_consts), num_carry=len(new_init), length=length,
                       reverse=reverse)
    ys_nz = out_nz[num_carry:]
    carry, carry_t, ys, ys_t = split(outs, [num_carry, sum(carry_nz), ny, sum(ys_nz)])
    ct_it, yt_it = iter(carry_t), iter(ys_t)
    t_out = [next(ct_it) if z else Zero(a) for z, a in zip(carry_nz, carry_avals)]
    t_out += [next(yt_it) if z else Zero(get_aval(y)) for z, y in zip(ys_nz, ys)]
    return carry + ys, t_out


@needs_axis_size
def _scan_batch(vals, dims, *, jaxpr, num_consts, num_carry, length, reverse, axis_size):
    sizes = _sizes(len(vals), num_consts, num_carry)
    consts, init, xs = split(vals, sizes)
    c_d, i_d, x_d = split(dims, sizes)
    c_b, i_b, x_b = [[d is not None for d in ds] for ds in (c_d, i_d, x_d)]
    consts = [moveaxis(x, d, 0) if d is not None else x for x, d in zip(consts, c_d)]
    init = [moveaxis(x, d, 0) if d is not None else x for x, d in zip(init, i_d)]
    xs = [moveaxis(x, d, 1) if d is not None else x for x, d in zip(xs, x_d)]
    ny = len(jaxpr.out_avals) - num_carry
    carry_b = fixpoint(i_b, lambda cb: batch_jaxpr(jaxpr, axis_size, c_b + cb + x_b,
                                                   cb + [False] * ny)[2][:num_carry])
    body, k, out_b = batch_jaxpr(jaxpr, axis_size, c_b + carry_b + x_b, carry_b + [False] * ny)
    init = [bdim_to_front(x, None, axis_size) if cb and not ib else x
            for x, ib, cb in zip(init, i_b, carry_b)]
    outs = scan_p.bind(*k, *consts, *init, *xs, jaxpr=body, num_consts=len(k) + len(consts),
                       num_carry=num_carry, length=length, reverse=reverse)
    return outs, [0 if b else None for b in carry_b] + [1 if b else None
                                                        for b in out_b[num_carry:]]


def _scan_partial_eval(pe, args, params):
    jaxpr, num_consts, num_carry = params["jaxpr"], params["num_consts"], params["num_carry"]
    length, reverse = params["length"], params["reverse"]
    sizes = _sizes(len(args), num_consts, num_carry)
    consts, init, xs = split(args, sizes)
    c_uk, i_uk, x_uk = split([pe.is_unknown(x) for x in args], sizes)
    ny = len(jaxpr.out_avals) - num_carry
    carry_uk = fixpoint(i_uk, lambda cu: pe_jaxpr(jaxpr, c_uk + cu + x_uk,
                                                  cu + [False] * ny)[3][:num_carry])
    known, kconsts, unknown, out_uk, n_res = pe_jaxpr(jaxpr, c_uk + carry_uk + x_uk,
                                                      carry_uk + [False] * ny)
    known_c = list(kconsts) + [c for c, u in zip(consts, c_uk) if not u]
    known_i = [c for c, u in zip(init, carry_uk) if not u]
    known_x = [x for x, u in zip(xs, x_uk) if not u]
    kj = known.jaxpr
    n_kout = out_uk.count(False)
    const_pos = {v: i for i, v in enumerate(kj.invars[:len(known_c)])}
    x_pos = {v: i for i, v in enumerate(kj.invars[len(known_c) + len(known_i):])}
    # Where each residual comes from: a const of the known body (pass once), a slice of a
    # known xs (reuse the xs), or anything else (stack one per iteration).
    kinds = []
    for r in kj.outvars[n_kout:]:
        if type(r) is Lit:
            kinds.append(("const", r.val))
        elif r in const_pos:
            kinds.append(("const", known_c[const_pos[r]]))
        elif r in x_pos:
            kinds.append(("xs", known_x[x_pos[r]]))
        else:
            kinds.append(("stack", r))
    stacked_vars = [r for kind, r in kinds if kind == "stack"]
    known_body = ClosedJaxpr(Jaxpr([], kj.invars, kj.eqns, kj.outvars[:n_kout] + stacked_vars),
                             [])
    outs = bind_with(pe.prev, scan_p, *known_c, *known_i, *known_x, jaxpr=known_body,
                     num_consts=len(known_c), num_carry=len(known_i), length=length,
                     reverse=reverse)
    known_outs, stacked = outs[:n_kout], iter(outs[n_kout:])
    res_vals = [next(stacked) if kind == "stack" else v for kind, v in kinds]
    # The unknown scan: residual consts, unknown consts | unknown carry | residual xs,
    # unknown xs.
    uj = unknown.jaxpr
    res_in, rest = uj.invars[:n_res], uj.invars[n_res:]
    u_c, u_i, u_x = split(rest, [c_uk.count(True), carry_uk.count(True), x_uk.count(True)])
    c_idx = [i for i, (kind, _) in enumerate(kinds) if kind == "const"]
    s_idx = [i for i, (kind, _) in enumerate(kinds) if kind != "const"]
    invars = [res_in[i] for i in c_idx] + u_c + u_i + [res_in[i] for i in s_idx] + u_x
    unknown_body = ClosedJaxpr(Jaxpr([], invars, uj.eqns, uj.outvars), [])
    uk_args = ([res_vals[i] for i in c_idx] + [c for c, u in zip(consts, c_uk) if u] +
               [c for c, u in zip(init, carry_uk) if u] + [res_vals[i] for i in s_idx] +
               [x for x, u in zip(xs, x_uk) if u])
    staged = pe.stage(scan_p, uk_args, dict(jaxpr=unknown_body,
                                            num_consts=len(c_idx) + c_uk.count(True),
                                            num_carry=carry_uk.count(True), length=length,
                                            reverse=reverse))
    k_it, u_it = iter(known_outs), iter(staged)
    return [next(u_it) if u else next(k_it) for u in out_uk]


def _scan_transpose(cts, *args, jaxpr, num_consts, num_carry, length, reverse):
    sizes = _sizes(len(args), num_consts, num_carry)
    consts, init, xs = split(args, sizes)
    c_lin, i_lin, x_lin = [[is_undefined(x) for x in g] for g in (consts, init, xs)]
    carry_lin = fixpoint(i_lin, lambda cl: deps(jaxpr, c_lin + cl + x_lin)[:num_carry])
    if not all(carry_lin):
        raise NotImplementedError(
            "scan: transposing a scan whose carry holds a non-linear value (one that depends "
            "on no linear input) is not supported; differentiate with grad/vjp, which split "
            "such values out first.")
    carry_avals, y_avals = jaxpr.out_avals[:num_carry], jaxpr.out_avals[num_carry:]
    ct_carry = [materialize(c, a) for c, a in zip(cts[:num_carry], carry_avals)]
    y_flags = [c is not None and type(c) is not Zero for c in cts[num_carry:]]
    ct_ys = [c for c, f in zip(cts[num_carry:], y_flags) if f]
    res_c = [c for c, li in zip(consts, c_lin) if not li]
    res_x = [x for x, li in zip(xs, x_lin) if not li]
    lin_c_avals = [c.aval for c in consts if is_undefined(c)]
    slice_aval = lambda a: a.update(shape=a.shape[1:])  # noqa: E731
    n_rc, n_lc, n_rx = len(res_c), len(lin_c_avals), len(res_x)

    def body(*a):
        rc, ctc, acc, rx, cty = split(a, [n_rc, num_carry, n_lc, n_rx, len(ct_ys)])
        rc_it, rx_it, cty_it = iter(rc), iter(rx), iter(cty)
        full = [UndefinedPrimal(c.aval) if li else next(rc_it) for c, li in zip(consts, c_lin)]
        full += [UndefinedPrimal(a) for a in carry_avals]
        full += [UndefinedPrimal(slice_aval(x.aval)) if li else next(rx_it)
                 for x, li in zip(xs, x_lin)]
        ct_out = list(ctc) + [next(cty_it) if f else Zero(av) for f, av in zip(y_flags, y_avals)]
        got = backward_pass(jaxpr.jaxpr, [], full, ct_out)
        g_c, g_car, g_x = split(got, sizes)
        new_ctc = [materialize(g, av) for g, av in zip(g_car, carry_avals)]
        lin_g = [g for g, li in zip(g_c, c_lin) if li]
        new_acc = [materialize(add_tangents(x, g) if g is not None else x, av)
                   for x, g, av in zip(acc, lin_g, lin_c_avals)]
        g_xs = [materialize(g, slice_aval(x.aval)) for g, x, li in zip(g_x, xs, x_lin) if li]
        return new_ctc + new_acc + g_xs

    avals = ([get_aval(c) for c in res_c] + list(carry_avals) + lin_c_avals +
             [slice_aval(get_aval(x)) for x in res_x] + [slice_aval(get_aval(c)) for c in ct_ys])
    tj, k = trace_hoisted(body, avals, "transpose")
    acc0 = [zeros(a) for a in lin_c_avals]
    outs = scan_p.bind(*k, *res_c, *ct_carry, *acc0, *res_x, *ct_ys, jaxpr=tj,
                       num_consts=len(k) + n_rc, num_carry=num_carry + n_lc, length=length,
                       reverse=not reverse)
    ct_init, ct_c, ct_x = split(outs, [num_carry, n_lc, x_lin.count(True)])
    c_it, x_it = iter(ct_c), iter(ct_x)
    return ([next(c_it) if li else None for li in c_lin] +
            [g if is_undefined(x) else None for g, x in zip(ct_init, init)] +
            [next(x_it) if li else None for li in x_lin])


_V3 = ((3,), np.float64)
_SCAN_BODY = example_jaxpr(lambda w, c, x: [bi.add(bi.mul(ew.sin(c), w), x), bi.mul(c, x)],
                           [_V3, _V3, _V3])
_SCAN_EXAMPLES = tuple({"jaxpr": _SCAN_BODY, "num_consts": 1, "num_carry": 1, "length": 4,
                        "reverse": r} for r in (False, True))


def _scan_test_args(rng):
    return [rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3), rng.uniform(-1, 1, (4, 3))]


scan_p = Primitive("scan", impl=_scan_impl, abstract_eval=_scan_abstract, jvp=_scan_jvp,
                   batch=_scan_batch, partial_eval=_scan_partial_eval,
                   transpose=_scan_transpose, multiple_results=True, higher_order=True,
                   lowering=_lw.SCAN, test_params=_SCAN_EXAMPLES, test_args=_scan_test_args)
