"""Kang et al.'s two classifier adjustments on the matrix's settings: why cRT
loses on the smallest, and why tau-normalisation changes little.

``rebalance='crt'`` re-initialises the classifier head at ``rebalance_start``
(0.8 of the epochs) and trains it alone for the remaining epochs. On the
wine setting (46 training rows: one batch of 64 per epoch) that is 6
optimizer steps at 30 epochs, 20 at 100 and 60 at 300. This script fits the
matrix's own cells (``bench_quality.fit_cell``) of ``erm`` and ``crt`` on
wine at those budgets, 5 seeds, and prints each seed's balanced accuracy:
if the head's steps are the cause, cRT recovers as the budget grows.

With ``--tau-norm`` it fits ``erm`` on ``digits_lt100`` (30 epochs, seeds
0-2) and prints the norms of the head's class rows, frequent class first,
and the balanced accuracy at ``tau_norm`` None, 0.5, 1 and 2 (set after the
fit, as for post-hoc adjustment): tau-normalisation can only re-balance as
much as the rows' norms differ.

Usage::

    python benchmarks/diagnose_crt.py \
        > benchmarks/results/quality/baselines/crt_steps.txt
    python benchmarks/diagnose_crt.py --tau-norm \
        > benchmarks/results/quality/baselines/tau_norm_rows.txt
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


def tau_norm_rows(setting="digits_lt100", budget=30, seeds=range(3)):
    print(f"{setting}, {budget} epochs, erm: head row norms (classes by frequency)")
    print("and balanced accuracy (%) with tau_norm set after the fit")
    for seed in seeds:
        est, _, y_tr, X_te, y_te = fit_cell(setting, budget, seed, "erm")
        order = np.argsort(-np.bincount(y_tr), kind="stable")
        norms = est.module_.head.weight.detach().norm(dim=1).numpy()[order]
        print(f"seed {seed}: counts {np.bincount(y_tr)[order].tolist()}")
        print("  row norms " + " ".join(f"{v:.2f}" for v in norms))
        scores = []
        for tau in (None, 0.5, 1.0, 2.0):
            pred = est.set_params(tau_norm=tau).predict(X_te)
            scores.append(f"{tau}: {100 * balanced_accuracy_score(y_te, pred):.1f}")
        print("  " + ", ".join(scores), flush=True)


def main():
    if "--tau-norm" in sys.argv[1:]:
        return tau_norm_rows()
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
