"""Each changed default against its alternative on the confirm settings.

Paired over seeds (0-4) and the seven confirm settings at 30 epochs, from
raw.csv: mean difference (default - alternative) in points of balanced
accuracy with its 95% t-interval. Run from the repository root:

    python benchmarks/quality_defaults_vs_alternatives.py
"""

import csv
import math
import sys

import numpy as np
from scipy import stats

sys.path.insert(0, "benchmarks")
from bench_quality import SETTINGS, SHORT  # noqa: E402

PAIRS = [
    ("erm", "erm[lr_schedule=cosine]", "lr_schedule constant (was cosine)"),
    ("remix", "remix_plain", "Remix: alpha 0.4 + DRW vs the paper's plain Remix"),
    ("remix", "remix[alpha=1.0]", "Remix: alpha 0.4 vs 1.0, both with DRW"),
    (
        "remix_sampling",
        "remix_sampling[lr_schedule=constant]",
        "ReMix: step vs constant LR",
    ),
    ("remix_sampling", "remix_sampling_paper", "ReMix: global vs within_batch"),
    ("mfw", "mfw[rebalance=None]", "MFW: DRW vs none"),
    ("rsg", "rsg[rebalance=None]", "RSG: DRW vs none"),
]

by = {}
with open("benchmarks/results/quality/raw.csv") as f:
    for r in csv.DictReader(f):
        if r["budget"] == "30":
            by[(r["setting"], r["column"], int(r["seed"]))] = float(r["bacc"])
confirm = [s for s in SETTINGS if SETTINGS[s].group == "confirm"]
for a, b, label in PAIRS:
    diffs, per = [], []
    for s in confirm:
        d = [
            by[(s, a, k)] - by[(s, b, k)]
            for k in range(5)
            if (s, a, k) in by
            and (s, b, k) in by
            and math.isfinite(by[(s, a, k)])
            and math.isfinite(by[(s, b, k)])
        ]
        diffs += d
        per.append(f"{SHORT[s]} {np.mean(d):+.1f}")
    d = np.array(diffs)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    print(
        f"{label}: {d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}] "
        f"(n={len(d)}; {', '.join(per)})"
    )
