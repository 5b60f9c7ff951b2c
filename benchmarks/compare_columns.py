"""Paired comparison of two columns of a quality-matrix run, per setting and pooled.

For each pair ``a:b``, the difference ``a - b`` in points of balanced
accuracy, paired by (setting, budget, seed), with its 95% Student-t
interval: per setting, and pooled over the settings given (or every
setting of a group). Reads the ``raw.csv`` of ``bench_quality.py run``.

Usage::

    python benchmarks/compare_columns.py \\
        benchmarks/results/quality/precise_bn/raw.csv \\
        --pairs "remix:remix[precise_bn=False],erm:erm[precise_bn=False]" --group tune
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import SETTINGS, SHORT, _t95, split_specs  # noqa: E402


def interval(d):
    """(mean, low, high) of the 95% t-interval of the mean of ``d``."""
    d = np.asarray(d, dtype=float)
    if len(d) < 2:
        return float(np.mean(d)), float("nan"), float("nan")
    half = _t95(len(d)) * d.std(ddof=1) / math.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def compare(rows, a, b, settings, budgets):
    """Lines of the comparison of column ``a`` with column ``b``."""
    by = {
        (r["setting"], int(r["budget"]), r["column"], int(r["seed"])): float(r["bacc"])
        for r in rows
    }
    pooled, per = [], []
    for s in settings:
        d = [
            by[(s, n, a, k)] - by[(s, n, b, k)]
            for (s2, n, col, k) in by
            if s2 == s
            and col == a
            and n in budgets
            and (s, n, b, k) in by
            and math.isfinite(by[(s, n, a, k)])
            and math.isfinite(by[(s, n, b, k)])
        ]
        if d:
            m, lo, hi = interval(d)
            per.append(f"{SHORT.get(s, s)} {m:+.1f} [{lo:+.1f}, {hi:+.1f}]")
            pooled += d
    if not pooled:
        return f"{a} - {b}: no paired fits"
    m, lo, hi = interval(pooled)
    return (
        f"{a} - {b}: {m:+.2f} [{lo:+.2f}, {hi:+.2f}] (n={len(pooled)})\n    "
        + "; ".join(per)
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("raw")
    p.add_argument("--pairs", required=True, help="a:b pairs, comma-separated")
    p.add_argument("--group", choices=["tune", "confirm", "all"], default="all")
    p.add_argument("--settings", default=None)
    p.add_argument("--budgets", default="30")
    args = p.parse_args(argv)
    with open(args.raw) as f:
        rows = list(csv.DictReader(f))
    present = list(dict.fromkeys(r["setting"] for r in rows))
    if args.settings:
        settings = args.settings.split(",")
    else:
        settings = [
            s
            for s in SETTINGS
            if s in present and args.group in ("all", SETTINGS[s].group)
        ]
    budgets = {int(b) for b in args.budgets.split(",")}
    print(
        f"a - b in points of balanced accuracy, paired by setting, budget and seed; "
        f"budgets {sorted(budgets)}; settings: {', '.join(settings)}"
    )
    for pair in split_specs(args.pairs):
        # The separator is the first ':' outside brackets.
        depth = 0
        for i, ch in enumerate(pair):
            depth += ch == "["
            depth -= ch == "]"
            if ch == ":" and depth == 0:
                a, b = pair[:i], pair[i + 1 :]
                break
        else:
            p.error(f"not an a:b pair: {pair!r}")
        print(compare(rows, a, b, settings, budgets))


if __name__ == "__main__":
    sys.exit(main())
