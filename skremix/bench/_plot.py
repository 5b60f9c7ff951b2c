"""results.png: balanced accuracy and g-mean per method (matplotlib optional)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot"]


def plot(path, summary, title):
    """Bar chart of balanced accuracy and g-mean per method, with std error
    bars. Returns False (and writes nothing) when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    methods = [m for m, e in summary.items() if e["n_runs"] > 0]
    if not methods:
        return False
    x = np.arange(len(methods))
    fig = Figure(figsize=(max(6.0, 0.55 * len(methods) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    width = 0.4
    for shift, metric, label, color in (
        (-width / 2, "balanced_accuracy", "balanced accuracy", "#4c72b0"),
        (width / 2, "g_mean", "g-mean", "#dd8452"),
    ):
        means = [summary[m][metric]["mean"] for m in methods]
        stds = [summary[m][metric]["std"] for m in methods]
        ax.bar(x + shift, means, width, yerr=stds, capsize=3, label=label, color=color)
    lows = [
        summary[m][k]["mean"] - summary[m][k]["std"]
        for m in methods
        for k in ("balanced_accuracy", "g_mean")
    ]
    low = min(lows)
    ax.set_ylim(max(0.0, math.floor((low - 0.05) * 10) / 10), 1.0)
    ax.set_xticks(x, methods, rotation=45, ha="right")
    ax.set_ylabel("score (mean ± std)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    if "erm" in summary and summary["erm"]["n_runs"]:
        ax.axhline(
            summary["erm"]["balanced_accuracy"]["mean"],
            color="#4c72b0",
            lw=0.8,
            ls="--",
            label="erm balanced accuracy",
        )
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.savefig(path, dpi=120)
    return True
