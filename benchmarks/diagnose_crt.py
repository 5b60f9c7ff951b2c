"""Why cRT loses on the smallest settings: the steps left to its new head.

``rebalance='crt'`` re-initialises the classifier head at ``rebalance_start``
(0.8 of the epochs) and trains it alone for the remaining epochs. On the
wine setting (46 training rows: one batch of 64 per epoch) that is 6
optimizer steps at 30 epochs, 20 at 100 and 60 at 300. This script fits the
matrix's own cells (``bench_quality.fit_cell``) of ``erm`` and ``crt`` on
wine at those budgets, 5 seeds, and prints each seed's balanced accuracy:
if the head's steps are the cause, cRT recovers as the budget grows.

Usage::

    python benchmarks/diagnose_crt.py \
        > benchmarks/results/quality/baselines/crt_steps.txt
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import fit_cell  # noqa: E402

SETTING, SEEDS, BUDGETS = "wine_lt10", range(5), (30, 100, 300)


def main():
    print(f"{SETTING}: balanced accuracy (%) per seed {list(SEEDS)}, and mean")
    for budget in BUDGETS:
        for spec in ("erm", "crt"):
            scores = []
            for seed in SEEDS:
                est, _, y_tr, X_te, y_te = fit_cell(SETTING, budget, seed, spec)
                scores.append(100 * balanced_accuracy_score(y_te, est.predict(X_te)))
            head_epochs = budget - int(0.8 * budget)
            steps = head_epochs * math.ceil(len(y_tr) / 64)
            note = f"  (head re-trained for {steps} steps)" if spec == "crt" else ""
            print(
                f"{budget:4d} epochs {spec:4s} "
                + " ".join(f"{s:5.1f}" for s in scores)
                + f"  mean {np.mean(scores):5.1f}{note}",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
