"""Why input-space Remix lost to plain training on images: a diagnosis.

Two parts, on the image settings of the quality matrix's tune group
(``bench_quality.SETTINGS``):

1. The label rule alone, without training: over the shuffled pairs of one
   training epoch (the permutation of ``RemixClassifier.train_forward``, one
   ``lam ~ Beta(alpha, alpha)`` per batch), the share of mixed pairs whose
   label goes wholly to the rarer class (Eq. 10's ``lam_y`` is 0 or 1 while
   ``lam`` is not), and the share of the label mass that the classes of the
   rarer half of the counts receive, against their share of the data.
2. Trained nets (30 epochs, paired seeds): balanced accuracy, the recall of
   the frequent and the rare half of the classes, how often the rare half is
   predicted on the balanced test set (1.0 = as often as it occurs), for
   plain skorch, ``ERMClassifier()``, ``RemixClassifier()`` and variants
   (BatchNorm statistics as trained, the paper's plain rule, manifold
   mixing, alpha, tau = 0 which is mixup with DRW, kappa), and the first
   BatchNorm layer's running variance as the fit left it over the one
   recomputed on the clean training images ("BN var": below 1 when the
   statistics were gathered on mixed, lower-contrast images).

Usage::

    python benchmarks/diagnose_remix_images.py \\
        --out benchmarks/results/quality/remix_images
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_quality  # noqa: E402

SETTINGS = ["digits_step10", "digits16_noisy_lt50", "photos_grey_lt20"]
COLUMNS = [
    "erm_skorch",
    "erm",
    "remix",
    "remix[precise_bn=False]",
    "remix[rebalance=None,alpha=1.0]",
    "remix[rebalance=None,alpha=1.0,precise_bn=False]",
    "remix[mix='manifold']",
    "remix[alpha=1.0]",
    "remix[alpha=0.1]",
    "remix[tau=0.0]",
    "remix[kappa=1.5]",
]


def label_rule_shares(counts, alpha, kappa, tau, batch_size=64, epochs=20, seed=0):
    """(share of pairs relabelled wholly to the rarer class, label mass of
    the rarer half, data share of the rarer half), simulated over
    ``epochs`` shuffled epochs with skremix's own rule."""
    import torch

    from skremix.mixing import remix_label_factor, sample_lambda

    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    y = torch.as_tensor(np.repeat(np.arange(len(counts)), counts))
    counts_t = torch.as_tensor(counts, dtype=torch.float32)
    rare = torch.as_tensor(
        np.argsort(np.argsort(-np.asarray(counts))) >= len(counts) // 2
    )
    whole = pairs = 0
    rare_mass = total = 0.0
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for start in range(0, len(y), batch_size):
            yb = y[order[start : start + batch_size]]
            lam = sample_lambda(alpha, rng)
            perm = torch.randperm(len(yb))
            lam_y = remix_label_factor(
                lam, counts_t[yb], counts_t[yb[perm]], kappa, tau
            )
            lam_y = torch.as_tensor(lam_y, dtype=torch.float32).expand(len(yb))
            changed = (lam_y != lam) & ((lam_y == 0) | (lam_y == 1))
            whole += int(changed.sum())
            pairs += len(yb)
            rare_mass += float(
                (lam_y * rare[yb]).sum() + ((1 - lam_y) * rare[yb[perm]]).sum()
            )
            total += len(yb)
    return whole / pairs, rare_mass / total, float(rare[y].float().mean())


def fit_one(setting, seed, spec, epochs):
    from sklearn.metrics import balanced_accuracy_score, recall_score

    start = time.perf_counter()
    est, X_tr, y_tr, X_te, y_te = bench_quality.fit_cell(setting, epochs, seed, spec)
    pred = est.predict(X_te)
    var_ratio = _first_bn_variance_ratio(est, X_tr)
    counts = np.bincount(y_tr)
    n_classes = len(counts)
    rare = np.argsort(np.argsort(-counts)) >= n_classes // 2
    recall = recall_score(y_te, pred, average=None, labels=np.arange(n_classes))
    return {
        "setting": setting,
        "seed": seed,
        "column": spec,
        "bacc": round(100 * balanced_accuracy_score(y_te, pred), 2),
        "recall_frequent": round(100 * recall[~rare].mean(), 2),
        "recall_rare": round(100 * recall[rare].mean(), 2),
        "rare_predicted": round(
            float(
                np.isin(pred, np.flatnonzero(rare)).mean()
                / np.isin(y_te, np.flatnonzero(rare)).mean()
            ),
            3,
        ),
        "bn_var_ratio": round(var_ratio, 3),
        "fit_s": round(time.perf_counter() - start, 1),
    }


def _first_bn_variance_ratio(est, X):
    """Mean over channels of the first BatchNorm layer's running variance as
    the fit left it, divided by the one recomputed on the clean training
    inputs (batches of 64, train mode, cumulative average: what precise_bn
    does); 1.0 when the fit already recalibrated."""
    import copy

    import torch
    from torch.optim.swa_utils import update_bn

    module = est[-1].module_ if hasattr(est, "steps") else est.module_
    module = copy.deepcopy(module)
    norms = [
        m
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
    ]
    if not norms:
        return float("nan")
    before = norms[0].running_var.clone()
    X = torch.as_tensor(X)
    loader = [X[i : i + 64] for i in range(0, len(X) - 1, 64) if len(X[i : i + 64]) > 1]
    update_bn(loader, module)
    return float((before / norms[0].running_var).mean())


def main(argv=None):
    from joblib import Parallel, delayed

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results/quality/remix_images")
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--n-jobs", type=int, default=2)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = args.settings.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]

    lines = [
        "1. The label rule alone (training counts of seed 0, 20 shuffled epochs)",
        "",
    ]
    lines.append(
        f"{'setting':<22}{'alpha':>6}{'kappa':>6}{'tau':>5}{'wholly rarer':>14}"
        f"{'rare-half label':>17}{'rare-half data':>16}"
    )
    for setting in settings:
        _, y_tr, _, _ = bench_quality.split(setting, 0)
        counts = np.bincount(y_tr)
        for alpha, kappa, tau in [
            (0.4, 3.0, 0.5),
            (1.0, 3.0, 0.5),
            (0.1, 3.0, 0.5),
            (0.4, 1.5, 0.5),
            (0.4, 3.0, 0.0),
        ]:
            whole, mass, data = label_rule_shares(counts, alpha, kappa, tau)
            lines.append(
                f"{setting:<22}{alpha:>6}{kappa:>6}{tau:>5}{whole:>14.3f}{mass:>17.3f}{data:>16.3f}"
            )
    lines.append("")

    raw = out / "raw.csv"
    done = set()
    if raw.exists():
        with raw.open() as f:
            done = {
                (r["setting"], int(r["seed"]), r["column"]) for r in csv.DictReader(f)
            }
    jobs = [
        (s, seed, c)
        for s in settings
        for seed in seeds
        for c in COLUMNS
        if (s, seed, c) not in done
    ]
    print(f"{len(jobs)} fits to run", flush=True)
    fields = [
        "setting",
        "seed",
        "column",
        "bacc",
        "recall_frequent",
        "recall_rare",
        "rare_predicted",
        "bn_var_ratio",
        "fit_s",
    ]
    new = not raw.exists()
    with raw.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        if new:
            w.writeheader()
        for i, row in enumerate(
            Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
                delayed(fit_one)(s, seed, c, args.epochs) for s, seed, c in jobs
            ),
            1,
        ):
            w.writerow(row)
            f.flush()
            if i % 10 == 0:
                print(f"[{i}/{len(jobs)}]", flush=True)
    with raw.open() as f:
        rows = list(csv.DictReader(f))
    lines.append(
        f"2. Trained nets, {args.epochs} epochs, seeds {args.seeds}: means over "
        "seeds; gain = paired difference to erm_skorch with its 95% t-interval"
    )
    for setting in settings:
        lines.append("")
        lines.append(setting)
        lines.append(
            f"  {'column':<50}{'bal.acc':>8}{'gain [95% CI]':>22}{'recall freq':>12}"
            f"{'recall rare':>12}{'rare pred.':>11}{'BN var':>8}"
        )
        ref = {
            int(r["seed"]): float(r["bacc"])
            for r in rows
            if r["setting"] == setting and r["column"] == "erm_skorch"
        }
        for col in COLUMNS:
            mine = [r for r in rows if r["setting"] == setting and r["column"] == col]
            if not mine:
                continue
            d = np.array(
                [
                    float(r["bacc"]) - ref[int(r["seed"])]
                    for r in mine
                    if int(r["seed"]) in ref
                ]
            )
            half = (
                bench_quality._t95(len(d)) * d.std(ddof=1) / np.sqrt(len(d))
                if len(d) > 1
                else float("nan")
            )

            def mean(key, mine=mine):
                return np.mean([float(r[key]) for r in mine])

            lines.append(
                f"  {col:<50}{mean('bacc'):>8.1f}{d.mean():>+8.1f} "
                f"[{d.mean() - half:+.1f}, {d.mean() + half:+.1f}]"
                f"{mean('recall_frequent'):>12.1f}{mean('recall_rare'):>12.1f}{mean('rare_predicted'):>11.2f}"
                f"{mean('bn_var_ratio'):>8.2f}"
            )
    text = "\n".join(lines)
    (out / "diagnosis.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
