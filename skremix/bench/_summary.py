"""The runs summarised: mean and std per method, paired gains over ERM, the
results table and its one-line verdict."""

from __future__ import annotations

import math

import numpy as np

from skremix.bench._plan import _unit
from skremix.bench._scoring import ECE_BINS, METRICS

__all__ = ["summarize", "paired_gains", "format_table", "verdict"]


def _mean_std(values):
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)])
    if values.size == 0:
        return float("nan"), float("nan")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def summarize(rows, methods):
    """Mean and standard deviation of every metric per method.

    Parameters
    ----------
    rows : list of dict
        One dict per run, with the keys of ``CSV_COLUMNS`` (as written to
        ``results.csv``); runs whose ``status`` is not ``"ok"`` are left out.
    methods : list of str
        Methods in table order.

    Returns
    -------
    summary : dict
        ``{method: {"n_runs": int, "n_failed": int, metric: {"mean", "std"}}}``;
        the standard deviation is the sample one (ddof=1), 0 for a single run.

    Examples
    --------
    >>> from skremix.bench._summary import summarize
    >>> rows = [{"method": "erm", "status": "ok", "balanced_accuracy": a,
    ...          "g_mean": a, "f1_macro": a, "balanced_brier": 0.2,
    ...          "fit_time_s": 1.0} for a in (0.8, 0.9)]
    >>> s = summarize(rows, ["erm"])["erm"]
    >>> s["n_runs"], round(s["balanced_accuracy"]["mean"], 2)
    (2, 0.85)
    """
    summary = {}
    for method in methods:
        runs = [r for r in rows if r["method"] == method]
        ok = [r for r in runs if r["status"] == "ok"]
        entry = {"n_runs": len(ok), "n_failed": len(runs) - len(ok)}
        for metric in METRICS:
            mean, std = _mean_std([r.get(metric) for r in ok])
            entry[metric] = {"mean": mean, "std": std}
        summary[method] = entry
    return summary


def paired_gains(rows, methods, reference="erm", metric="balanced_accuracy"):
    """Paired difference of each method to ``reference``, with a 95% interval.

    Runs are paired by (seed, fold): the same split, so the difference
    removes the split's share of the noise. The interval is Student's t on
    the paired differences; a method whose interval excludes 0 differs from
    the reference beyond seed noise.

    Parameters
    ----------
    rows : list of dict
        As for :func:`summarize`.
    methods : list of str
        Methods in table order.
    reference : str, default="erm"
        The method every other is compared with.
    metric : str, default="balanced_accuracy"

    Returns
    -------
    gains : dict
        ``{method: {"n": int, "mean": float, "lo": float, "hi": float,
        "significant": bool}}`` for every method but the reference that
        shares at least one run with it; bounds are NaN with one pair.

    Examples
    --------
    >>> from skremix.bench._summary import paired_gains
    >>> rows = [{"method": m, "seed": s, "fold": None, "status": "ok",
    ...          "balanced_accuracy": a}
    ...         for m, s, a in [("erm", 0, 0.80), ("erm", 1, 0.70), ("erm", 2, 0.75),
    ...                         ("x", 0, 0.85), ("x", 1, 0.76), ("x", 2, 0.79)]]
    >>> g = paired_gains(rows, ["erm", "x"])["x"]
    >>> round(g["mean"], 3), g["significant"]  # differences 0.05, 0.06, 0.04
    (0.05, True)
    """
    from scipy import stats

    def by_key(method):
        return {
            (r["seed"], r.get("fold")): r[metric]
            for r in rows
            if r["method"] == method
            and r["status"] == "ok"
            and r.get(metric) is not None
            and math.isfinite(r[metric])
        }

    ref = by_key(reference)
    gains = {}
    for method in methods:
        if method == reference:
            continue
        mine = by_key(method)
        keys = sorted(set(mine) & set(ref), key=str)
        if not keys:
            continue
        d = np.array([mine[k] - ref[k] for k in keys])
        n = len(d)
        if n > 1:
            half = float(stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n))
        else:
            half = float("nan")
        lo, hi = float(d.mean() - half), float(d.mean() + half)
        gains[method] = {
            "n": n,
            "mean": float(d.mean()),
            "lo": lo,
            "hi": hi,
            "significant": bool(n > 1 and (lo > 0 or hi < 0)),
        }
    return gains


def _cell(stats, digits):
    if not math.isfinite(stats["mean"]):
        return "-"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


def format_table(summary, unit="seeds", gains=None, reference="erm"):
    """The results table as aligned plain text.

    Parameters
    ----------
    summary : dict
        The output of :func:`summarize`.
    unit : str, default="seeds"
        What the runs are ("seeds", "folds"), for the header line.
    gains : dict or None, default=None
        The output of :func:`paired_gains`: adds a column with each
        method's paired balanced-accuracy difference to ``reference`` and
        its 95% interval, ``*`` where the interval excludes 0.
    reference : str, default="erm"
        Name of the reference method, for the column header.

    Returns
    -------
    table : str
        One line per method; metrics as ``mean ± std``.

    Examples
    --------
    >>> from skremix.bench._summary import format_table, summarize
    >>> rows = [{"method": "erm", "status": "ok", "balanced_accuracy": 0.9,
    ...          "g_mean": 0.89, "f1_macro": 0.9, "balanced_brier": 0.15,
    ...          "fit_time_s": 2.0}]
    >>> print(format_table(summarize(rows, ["erm"])))  # doctest: +NORMALIZE_WHITESPACE
    method  bal. acc.      g-mean         macro-F1       bal. Brier     ECE  fit (s)
      runs
    erm     0.900 ± 0.000  0.890 ± 0.000  0.900 ± 0.000  0.150 ± 0.000  -    2.0 ± 0.0
      1
    """
    header = ["method", *METRICS.values(), "runs"]
    if gains is not None:
        header.append(f"vs {reference} (95% CI)")
    lines = []
    for method, entry in summary.items():
        cells = [method]
        for metric in METRICS:
            cells.append(_cell(entry[metric], 1 if metric == "fit_time_s" else 3))
        runs = str(entry["n_runs"])
        if entry["n_failed"]:
            runs += f" ({entry['n_failed']} failed)"
        cells.append(runs)
        if gains is not None:
            g = gains.get(method)
            if g is None:
                cells.append("-")
            elif not math.isfinite(g["lo"]):
                cells.append(f"{g['mean']:+.3f}")
            else:
                flag = " *" if g["significant"] else ""
                cells.append(f"{g['mean']:+.3f} [{g['lo']:+.3f}, {g['hi']:+.3f}]{flag}")
        lines.append(cells)
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = []
    for row in [header, *lines]:
        out.append(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(out)


def verdict(summary, reference="erm"):
    """One line naming the best method by balanced accuracy and g-mean and
    the lowest balanced Brier and ECE, vs the reference."""
    scored = {
        m: e["balanced_accuracy"]["mean"]
        for m, e in summary.items()
        if math.isfinite(e["balanced_accuracy"]["mean"])
    }
    if not scored:
        return "no method finished."
    best = max(scored, key=scored.get)
    line = f"best balanced accuracy: {best} {scored[best]:.3f}"
    if reference in scored and best != reference:
        diff = scored[best] - scored[reference]
        line += f" ({diff:+.3f} over {reference} {scored[reference]:.3f})"
    gm = {
        m: e["g_mean"]["mean"]
        for m, e in summary.items()
        if math.isfinite(e["g_mean"]["mean"])
    }
    if gm:
        best_gm = max(gm, key=gm.get)
        line += f"; best g-mean: {best_gm} {gm[best_gm]:.3f}"
        if reference in gm and best_gm != reference:
            line += f" ({gm[best_gm] - gm[reference]:+.3f} over {reference})"
    for metric, name in (("balanced_brier", "balanced Brier"), ("ece", "ECE")):
        low = {
            m: e[metric]["mean"]
            for m, e in summary.items()
            if metric in e and math.isfinite(e[metric]["mean"])
        }
        if low:
            best = min(low, key=low.get)
            line += f"; lowest {name}: {best} {low[best]:.3f}"
            if reference in low and best != reference:
                line += f" ({reference} {low[reference]:.3f})"
    return line


def _print_report(args, rows, methods):
    """Summarise the runs and print the results: heading, table, verdict.
    Returns the summary.json entries ``summary``, ``paired_vs_erm``,
    ``table`` and ``verdict``."""
    summary = summarize(rows, methods)
    gains = paired_gains(rows, methods) if "erm" in methods else None
    unit = _unit(args.eval)
    print()
    print(
        f"results ({args.eval}; mean ± std over {unit}; balanced Brier and ECE "
        f"(top label, {ECE_BINS} equal-width bins): lower is better"
        + (
            "; vs erm: paired difference in balanced accuracy with its 95% t-interval, "
            "* where it excludes 0"
            if gains is not None
            else ""
        )
        + ")"
    )
    table = format_table(summary, unit=unit, gains=gains)
    print(table)
    conclusion = verdict(summary)
    print(conclusion)
    return {
        "summary": summary,
        "paired_vs_erm": gains,
        "table": table,
        "verdict": conclusion,
    }
