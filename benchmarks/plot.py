"""Plot the ratios of the last ``python -m benchmarks.run --write`` run as a PNG.

    python -m benchmarks.plot            # reads BENCHMARKS.json, writes benchmarks/ratios.png
"""
from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(src="BENCHMARKS.json", dst="benchmarks/ratios.png"):
    with open(src) as f:
        cases = json.load(f)
    rows = []
    for c in cases:
        base = c["results"][c["baseline"]]
        for label, t in c["results"].items():
            rows.append((f"{c['name']}\n{label}", t / base, label == c["baseline"]))
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(rows) + 1))
    names = [r[0].replace("\n", " | ") for r in rows][::-1]
    vals = [r[1] for r in rows][::-1]
    colors = ["0.6" if r[2] else ("tab:blue" if "funcad" in r[0] else "tab:orange")
              for r in rows][::-1]
    ax.barh(names, vals, color=colors)
    ax.set_xscale("log")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xlabel("time relative to the case's baseline (log scale; lower is faster)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(dst, dpi=110, bbox_inches="tight")   # long labels stay whole
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:])
