"""Precise BN over a bounded number of batches against the whole pass.

Reads the bounded fits (``column[precise_bn=N]``) of
``benchmarks/results/quality/precise_bn_count/raw.csv`` and pairs each by
(setting, budget, seed) with the same column at its default
(``precise_bn=True``, one whole pass) fitted into the same file by the same
code (the committed image matrix is older code: its fits differ by a few
tenths of a point). Only the settings where the
count binds (a whole pass of batch 64, the default, has more batches) are
paired: elsewhere the two fits are the same fit. Prints how many batches a
whole pass has on each setting, then, per group, column, count and budget,
the mean difference in points of balanced accuracy with its 95%
t-interval.

Usage::

    python benchmarks/compare_precise_bn_count.py > \\
        benchmarks/results/quality/precise_bn_count/summary.txt
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_quality import SETTINGS  # noqa: E402
from compare_columns import interval  # noqa: E402

RESULTS = HERE / "results" / "quality"


def _read(path):
    with open(path) as f:
        for r in csv.DictReader(f):
            v = float(r["bacc"])
            if math.isfinite(v):
                yield r["setting"], int(r["budget"]), int(r["seed"]), r["column"], v


def _batches(setting):
    """Batches of batch 64 in a whole pass over the setting's training part."""
    from bench_quality import split

    return math.ceil(len(split(setting, 0)[0]) / 64)


def main():
    own = list(_read(RESULTS / "precise_bn_count" / "raw.csv"))
    # The whole pass fitted beside the bounded ones, by the same code.
    base = {(s, n, k, c): v for s, n, k, c, v in own if "[" not in c}
    diffs = defaultdict(list)
    bounded = [r for r in own if "[" in r[3]]
    batches = {s: _batches(s) for s in sorted({r[0] for r in bounded})}
    print("batches of a whole pass:", ", ".join(f"{s} {b}" for s, b in batches.items()))
    for s, n, k, col, v in bounded:
        m = re.fullmatch(r"(\w+)\[precise_bn=(\d+)\]", col)
        if not m or (s, n, k, m.group(1)) not in base:
            continue
        if int(m.group(2)) >= batches[s]:
            continue  # the whole pass: the same fit
        group = SETTINGS[s].group
        diffs[(group, m.group(1), int(m.group(2)), n)].append(
            v - base[(s, n, k, m.group(1))]
        )
    print(
        "bounded precise BN - whole pass, points of balanced accuracy, paired by "
        "(setting, budget, seed): mean [95% t-interval] (pairs)"
    )
    for key in sorted(diffs):
        group, col, count, budget = key
        mean, lo, hi = interval(diffs[key])
        star = "*" if lo > 0 or hi < 0 else " "
        print(
            f"{group:8s} {col:15s} precise_bn={count:<3d} {budget:3d} epochs "
            f"{mean:+5.2f} [{lo:+5.2f}, {hi:+5.2f}]{star} ({len(diffs[key])})"
        )


if __name__ == "__main__":
    main()
