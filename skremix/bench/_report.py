"""Results of the benchmark: progress bar, summary, table, CSV, JSON, chart."""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import sys
import time

import numpy as np

__all__ = ["summarize", "paired_gains", "format_table"]

#: Per-run metrics: CSV column -> table header. Greater is better except for
#: the balanced Brier score and the fit time.
METRICS = {
    "balanced_accuracy": "bal. acc.",
    "g_mean": "g-mean",
    "f1_macro": "macro-F1",
    "balanced_brier": "bal. Brier",
    "fit_time_s": "fit (s)",
}
CSV_COLUMNS = ["method", "seed", "fold", "n_train", "n_test", *METRICS, "status"]


def _clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """A one-line progress bar on stderr: bar, count, current run, ETA.

    On a terminal the line is redrawn in place; otherwise (a log file, a
    pipe) one line is written per finished run.
    """

    def __init__(self, total, stream=None, width=24, enabled=True):
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.enabled = enabled
        self.done = 0
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_len = 0

    def _line(self, label):
        elapsed = time.perf_counter() - self.start
        filled = int(self.width * self.done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        eta = (
            "?"
            if self.done == 0
            else _clock(elapsed / self.done * (self.total - self.done))
        )
        return (
            f"[{bar}] {self.done}/{self.total} {label}  "
            f"elapsed {_clock(elapsed)}  ETA {eta}"
        )

    def _write(self, line, final=False):
        if not self.enabled:
            return
        if self.tty:
            pad = " " * max(self._last_len - len(line), 0)
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
            self._last_len = len(line)
        elif final or self.done > 0:
            self.stream.write(line + "\n")
        self.stream.flush()

    def starting(self, label):
        """Show the run about to start (terminal only)."""
        if self.tty:
            self._write(self._line(label))

    def finished(self, label):
        """Count one finished run."""
        self.done += 1
        self._write(self._line(label), final=self.done >= self.total)


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
    >>> from skremix.bench._report import summarize
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
            mean, std = _mean_std([r[metric] for r in ok])
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
    >>> from skremix.bench._report import paired_gains
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
    >>> from skremix.bench._report import format_table, summarize
    >>> rows = [{"method": "erm", "status": "ok", "balanced_accuracy": 0.9,
    ...          "g_mean": 0.89, "f1_macro": 0.9, "balanced_brier": 0.15,
    ...          "fit_time_s": 2.0}]
    >>> print(format_table(summarize(rows, ["erm"])))  # doctest: +NORMALIZE_WHITESPACE
    method  bal. acc.      g-mean         macro-F1       bal. Brier     fit (s)      runs
    erm     0.900 ± 0.000  0.890 ± 0.000  0.900 ± 0.000  0.150 ± 0.000  2.0 ± 0.0    1
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
    """One line naming the best method by balanced accuracy, vs the reference."""
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
    return line


def write_csv(path, rows):
    """One row per method x seed/fold, metrics as plain floats."""
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in rows:
            out = dict(row)
            for metric in METRICS:
                value = out.get(metric)
                out[metric] = (
                    "" if value is None or not math.isfinite(value) else f"{value:.6g}"
                )
            out["fold"] = "" if out.get("fold") is None else out["fold"]
            writer.writerow({k: out.get(k, "") for k in CSV_COLUMNS})
    os.replace(tmp, path)


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path, payload):
    """Write ``payload`` with NaN as null (strict JSON)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_json_safe(payload), f, indent=2, sort_keys=False)
        f.write("\n")


def versions():
    """Versions of Python and the libraries the results depend on."""
    import imblearn
    import sklearn
    import skorch
    import torch

    import skremix

    out = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "skremix": skremix.__version__,
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "scikit-learn": sklearn.__version__,
        "imbalanced-learn": imblearn.__version__,
        "numpy": np.__version__,
    }
    try:
        import matplotlib

        out["matplotlib"] = matplotlib.__version__
    except ImportError:
        out["matplotlib"] = None
    return out


def device_info(device):
    """The device the nets trained on, in words, with the CPU thread count."""
    import torch

    info = {
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        info["gpu"] = torch.cuda.get_device_name(index)
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info


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
