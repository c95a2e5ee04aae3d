"""A tiny benchmark harness: medians of repeated timings, ratios against a baseline.

A case is a name, a dict of variants (label -> zero-argument callable) and the label of the
baseline. Every variant is called once first (warm-up, compilation) and checked for agreement
by the case itself; then each is timed ``repeat`` times with as many inner calls as fit in
``budget`` seconds, and the median per-call time is reported. Ratios are what to quote: the
machines are shared and noisy, absolute times are not comparable across runs.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Case:
    name: str
    variants: dict  # label -> callable
    baseline: str
    note: str = ""
    results: dict = field(default_factory=dict)  # label -> median seconds
    unit: str = "s"   # "s": results are seconds; "B": bytes (memory figures)


def time_call(fn: Callable, repeat: int = 7, budget: float = 0.2) -> float:
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, min(100_000, int(budget / one)))
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - t0) / inner)
    return statistics.median(samples)


def fmt_time(s: float) -> str:
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(b: float) -> str:
    for unit, size in (("GB", 2 ** 30), ("MB", 2 ** 20), ("kB", 2 ** 10)):
        if abs(b) >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def run_case(case: Case, repeat: int = 7, budget: float = 0.2) -> Case:
    for label, fn in case.variants.items():
        case.results[label] = time_call(fn, repeat, budget)
    case.results.update(getattr(case, "fixed", {}))  # times measured once by the case
    return case


def table(cases: list) -> str:
    lines = ["| case | variant | median | ratio to baseline |", "|---|---|---|---|"]
    for c in cases:
        base = c.results.get(c.baseline)
        for label, t in c.results.items():
            ratio = f"{t / base:.2f}x" if base else "n/a"
            mark = " (baseline)" if label == c.baseline else ""
            shown = fmt_bytes(t) if c.unit == "B" else fmt_time(t)
            lines.append(f"| {c.name} | {label}{mark} | {shown} | {ratio} |")
        if c.note:
            lines.append(f"| | *{c.note}* | | |")
    return "\n".join(lines)
