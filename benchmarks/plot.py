"""Charts of the benchmarks' JSON output:
- export_comparison.py --json-out: median wall time per model and tool;
- push_vs_upload_folder.py --json-out: push / upload_folder per model and protocol, cold and unchanged re-run.

    .venv/bin/python benchmarks/plot.py results.json docs/export_comparison.png
    .venv/bin/python benchmarks/plot.py push.json docs/push_vs_upload_folder.png
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
    (push_ratios if rows and "transfer" in rows[0] else export_times)(rows, target)


def push_ratios(rows: list[dict], target: str) -> None:
    def median(model, transfer, tool, phase, key="wall"):
        row = next(r for r in rows if (r["model"], r["transfer"], r["tool"], r["phase"]) ==
                   (model, transfer, tool, phase))
        return statistics.median(s[key] for s in row["samples"])

    cases = list(dict.fromkeys((r["model"], r["transfer"]) for r in rows))
    bars = [("cold", "wall", "cold push"), ("rerun", "wall", "unchanged re-push"),
            ("cold", "peak_rss", "peak RSS (cold)")]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    width = 0.8 / len(bars)
    for i, (phase, key, label) in enumerate(bars):
        ratios = [median(m, t, "push", phase, key) / median(m, t, "upload_folder", phase, key) for m, t in cases]
        ax.bar([j + i * width for j in range(len(cases))], ratios, width, label=label, color=f"C{i}")
        for j, r in enumerate(ratios):
            ax.text(j + i * width, r + 0.02, f"{r:.2f}", ha="center", va="bottom", fontsize=7)
    for goal, style in ((1.0, "-"), (0.25, ":")):
        ax.axhline(goal, color="grey", linestyle=style, linewidth=0.8)
    sizes = {r["model"]: r["size"] / (1 << 20) for r in rows}
    ax.set_xticks([j + width * (len(bars) - 1) / 2 for j in range(len(cases))])
    ax.set_xticklabels([f"{m} ({sizes[m]:.0f} MiB)\n{t}" for m, t in cases], fontsize=8)
    ax.set_ylabel("push / upload_folder (median), lower is better")
    ax.set_title("push vs. upload_folder on the local Hub (goals: cold <= 1.0, re-push <= 0.25)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=120)


def export_times(rows: list[dict], target: str) -> None:
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
