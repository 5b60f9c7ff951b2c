"""Per-class recall of quality-matrix columns on one setting, seed by seed.

Fits each column as ``bench_quality.py`` does (same split, seeding and
budget) and prints the recall of every class on the balanced test set: where
a column's balanced accuracy is lost, frequent or rare classes.

Usage::

    python benchmarks/per_class_recall.py faces_step10 \\
        --columns "erm,drw,rsg,rsg[rebalance=None]" --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_quality  # noqa: E402


def main(argv=None):
    from sklearn.metrics import recall_score

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("setting", choices=list(bench_quality.SETTINGS))
    p.add_argument("--columns", required=True)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--budget", type=int, default=30)
    args = p.parse_args(argv)
    columns = bench_quality.split_specs(args.columns)
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        f"{args.setting}, {args.budget} epochs: recall per class (classes in "
        "order of their training counts, largest first) on the balanced test set"
    )
    for spec in columns:
        recalls = []
        for seed in seeds:
            est, _, y_tr, X_te, y_te = bench_quality.fit_cell(
                args.setting, args.budget, seed, spec
            )
            counts = np.bincount(y_tr)
            pred = est.predict(X_te)
            recall = recall_score(
                y_te, pred, average=None, labels=np.arange(len(counts))
            )
            recalls.append(recall[np.argsort(-counts, kind="stable")])
        mean = np.mean(recalls, axis=0)
        per_seed = "; ".join(" ".join(f"{v:.3f}" for v in r) for r in recalls)
        print(
            f"{spec:<28} mean {' '.join(f'{v:.3f}' for v in mean)}   seeds: {per_seed}"
        )


if __name__ == "__main__":
    sys.exit(main())
