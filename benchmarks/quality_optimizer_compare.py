"""The fused AdamW default against the for-loop AdamW it replaced.

``benchmarks/results/quality/optimizer/raw.csv`` was made by::

    python benchmarks/bench_quality.py run --group confirm --budgets 30,10 \
        --seeds 0,1,2,3,4 --n-jobs 2 --out benchmarks/results/quality/optimizer \
        --columns "erm,erm[optimizer__foreach=False],remix,\
    remix[optimizer__foreach=False],remix_sampling,\
    remix_sampling[optimizer__foreach=False],mfw,mfw[optimizer__foreach=False],\
    rsg,rsg[optimizer__foreach=False]"

(the column list without the line breaks). Paired by (setting, budget,
seed) over the seven confirm settings, the mean difference fused - for-loop
in points of balanced accuracy with its 95% t-interval; then how many of the
for-loop rows equal the committed quality matrix (made with the for-loop
optimizer). Run from the repository root::

    python benchmarks/quality_optimizer_compare.py
"""

import csv
import math

import numpy as np
from scipy import stats

HERE = "benchmarks/results/quality"
METHODS = ["erm", "remix", "remix_sampling", "mfw", "rsg"]
FOR_LOOP = "[optimizer__foreach=False]"


def _read(path):
    with open(path) as f:
        return {
            (r["setting"], r["budget"], r["seed"], r["column"]): float(r["bacc"])
            for r in csv.DictReader(f)
        }


def _interval(d):
    d = np.asarray(d)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}]"


def main():
    new = _read(f"{HERE}/optimizer/raw.csv")
    matrix = _read(f"{HERE}/raw.csv")
    cells = sorted({(s, b, k) for s, b, k, _ in new})
    print("fused (default) - for-loop (optimizer__foreach=False), points of balanced")
    print("accuracy, paired by (setting, budget, seed), 7 confirm settings x 5 seeds:")
    pooled = []
    for m in METHODS:
        parts = []
        for budgets in (("10",), ("30",), ("10", "30")):
            d = [
                new[(s, b, k, m)] - new[(s, b, k, m + FOR_LOOP)]
                for s, b, k in cells
                if b in budgets
            ]
            parts.append(
                f"{'+'.join(budgets)} epochs {_interval(d)} "
                f"(n={len(d)}, {sum(x == 0 for x in d)} equal)"
            )
            if len(budgets) == 2:
                pooled += d
        print(f"  {m:15s} " + "; ".join(parts))
    print(
        f"  pooled          {_interval(pooled)} (n={len(pooled)}); mean |difference| "
        f"{np.mean(np.abs(pooled)):.2f}, largest {np.max(np.abs(pooled)):.1f}"
    )
    same, differ = 0, {}
    for s, b, k in cells:
        for m in METHODS:
            if new[(s, b, k, m + FOR_LOOP)] == matrix[(s, b, k, m)]:
                same += 1
            else:
                differ[m] = differ.get(m, 0) + 1
    print(
        f"for-loop rows equal to the committed matrix: {same} of "
        f"{len(cells) * len(METHODS)} (differing: {differ or 'none'})"
    )


if __name__ == "__main__":
    main()
