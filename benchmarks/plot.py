"""Chart of the export comparison: median wall time per model and tool, from export_comparison.py --json-out.

    .venv/bin/python benchmarks/plot.py results.json docs/export_comparison.png
"""

from __future__ import annotations

import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(source: str, target: str) -> None:
    rows = json.loads(open(source).read())
    models = list(dict.fromkeys(r["model"] for r in rows))
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(tools)
    for i, tool in enumerate(tools):
        for j, model in enumerate(models):
            row = next((r for r in rows if r["model"] == model and r["tool"] == tool), None)
            x = j + i * width
            if row is None or "error" in row["samples"][-1]:
                ax.text(x, 0.2, f"{tool}: failed", rotation=90, ha="center", va="bottom", fontsize=8, color="firebrick")
                continue
            ax.bar(x, statistics.median(s["wall"] for s in row["samples"]), width, label=tool if j == 0 else None,
                   color=f"C{i}")
    ax.set_xticks([j + width * (len(tools) - 1) / 2 for j in range(len(models))])
    sizes = {r["model"]: r["size"] / (1 << 20) for r in rows}
    ax.set_xticklabels([f"{m}\n{sizes[m]:.0f} MiB" for m in models])
    ax.set_ylabel("median wall time (s), lower is better")
    ax.set_title("Export to the local Hub: ludwig-hub-export push vs. the alternatives")
    ax.legend()
    fig.tight_layout()
    fig.savefig(target, dpi=120)


if __name__ == "__main__":
    main(*sys.argv[1:3])
