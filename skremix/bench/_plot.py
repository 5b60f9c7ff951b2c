"""results.png: balanced accuracy and g-mean per method; reliability.png: the
top-label reliability diagram of a few methods (matplotlib optional)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot", "plot_reliability", "RELIABILITY_METHODS"]

#: The methods of reliability.png, when the run has them: the plain skorch
#: reference and each paper's class at its defaults.
RELIABILITY_METHODS = ("erm", "remix_sampling", "remix", "mfw", "rsg")


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


def reliability_methods(methods):
    """The methods drawn in reliability.png: those of ``RELIABILITY_METHODS``
    the run has (when at least one is there), else its first five."""
    chosen = [m for m in RELIABILITY_METHODS if m in methods]
    return chosen or list(methods)[:5]


def _draw(ax, y_true, proba, name, n_bins):
    """One method's reliability line (:class:`skremix.metrics.ReliabilityDisplay`),
    its top-label ECE in the legend."""
    from skremix.metrics import ReliabilityDisplay

    ReliabilityDisplay.from_predictions(
        y_true,
        proba,
        labels=np.arange(proba.shape[1]),
        n_bins=n_bins,
        name=name,
        ref_line=False,
        ax=ax,
        marker="o",
        ms=3,
        lw=1.2,
    )


def plot_reliability(path, curves, title, n_bins=15):
    """Top-label reliability diagram: one line per method, its test
    predictions of every seed / fold pooled.

    Parameters
    ----------
    path : str
        The PNG to write.
    curves : dict
        ``{method: (y_true, proba)}``: class indices and the probabilities,
        one column per class.
    title : str
        The figure's title.
    n_bins : int, default=15
        Equal-width confidence bins (those of the table's ECE).

    Returns
    -------
    written : bool
        False (nothing written) when matplotlib is missing or ``curves`` is
        empty.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    if not curves:
        return False
    fig = Figure(figsize=(6.4, 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfectly calibrated")
    for name, (y_true, proba) in curves.items():
        _draw(ax, y_true, proba, name, n_bins)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-label probability), binned")
    ax.set_ylabel("accuracy in the bin")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.savefig(path, dpi=120)
    return True
