"""Does temperature scaling close each class's calibration gap?

For each (setting, seed, column): the matrix's training split
(``bench_quality.split``) loses a stratified 20% as a held-out calibration
set, the column is fitted on the other 80% (the matrix's estimator, seeded
as the matrix seeds it), and
``skremix.calibration.TemperatureScaling(objective='balanced')`` is fitted
on the held-out 20%. Both the fitted net and its scaled version are scored
on the class-balanced test set: balanced Brier score, top-label and
class-wise ECE (15 bins), balanced accuracy. The summary pairs "scaled"
with "as fitted" by (setting, seed): mean difference (as fitted minus
scaled for the lower-is-better scores: positive = scaling helped) with its
95% t-interval, per column over all settings and per setting.

A second table answers the same question for MiSLAS's label-aware
smoothing: every column as fitted (and scaled) against plain skorch as
fitted, and MiSLAS against its own two stages without the smoothing
(``las_head=0``), paired the same way.

Nothing is chosen from it: it measures. The settings are the calibration
study's confirm group (``remix_calibration_claim.SETTINGS``).

Usage::

    python benchmarks/temperature_scaling_gap.py run      # resumable
    python benchmarks/temperature_scaling_gap.py report   # -> summary.txt
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_quality as bq  # noqa: E402
import remix_calibration_claim as rc  # noqa: E402

OUT = Path("benchmarks/results/quality/temperature_scaling")
BUDGET = 30
SEEDS = [0, 1, 2]
# MiSLAS's label-aware smoothing, and the same two stages with no smoothing
# (las_head=0: mixup, then the head re-trained on class-balanced hard labels):
# their pair isolates what the smoothing does to calibration.
NO_LAS = "mislas[las_head=0.0]"
COLUMNS = ["erm_skorch", "remix_sampling", "remix", "mfw", "rsg", "mislas", NO_LAS]
SCORES = {"bbs": True, "ece": True, "cw_ece": True, "bacc": False}
FIELDS = ["setting", "seed", "column", "temperature"] + [
    f"{s}_{v}" for s in SCORES for v in ("fitted", "scaled")
]


def _settings():
    return [s for kind in ("image", "tabular") for s in rc.SETTINGS["confirm"][kind]]


def one(setting, seed, column):
    import torch
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split

    from skremix.calibration import TemperatureScaling
    from skremix.metrics import balanced_brier_score, expected_calibration_error

    torch.set_num_threads(1)
    X_tr, y_tr, X_te, y_te = bq.split(setting, seed)
    X_fit, X_cal, y_fit, y_cal = train_test_split(
        X_tr, y_tr, test_size=0.2, stratify=y_tr, random_state=seed
    )
    name, overrides = bq.parse_column(column)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        est = bq.build(
            name,
            overrides,
            tuple(X_fit.shape[1:]),
            len(np.unique(y_te)),
            BUDGET,
            seed,
            int(np.bincount(y_fit).min()),
        )
        est.fit(X_fit, y_fit)
    scaled = TemperatureScaling(est, objective="balanced").fit(X_cal, y_cal)
    labels = np.unique(y_te)
    row = {"setting": setting, "seed": seed, "column": column}
    row["temperature"] = round(scaled.temperature_, 5)
    for tag, model in (("fitted", est), ("scaled", scaled)):
        proba = np.clip(np.asarray(model.predict_proba(X_te), dtype=np.float64), 0, 1)
        pred = labels[proba.argmax(axis=1)]
        row[f"bbs_{tag}"] = round(balanced_brier_score(y_te, proba, labels=labels), 6)
        row[f"ece_{tag}"] = round(
            expected_calibration_error(y_te, proba, labels=labels), 6
        )
        row[f"cw_ece_{tag}"] = round(
            expected_calibration_error(y_te, proba, labels=labels, kind="classwise"), 6
        )
        row[f"bacc_{tag}"] = round(100 * balanced_accuracy_score(y_te, pred), 3)
    return row


def run(args):
    from joblib import Parallel, delayed

    OUT.mkdir(parents=True, exist_ok=True)
    raw = OUT / "raw.csv"
    done = set()
    if raw.exists():
        with raw.open() as f:
            done = {
                (r["setting"], int(r["seed"]), r["column"]) for r in csv.DictReader(f)
            }
    jobs = [
        (s, seed, c)
        for s in _settings()
        for seed in SEEDS
        for c in COLUMNS
        if (s, seed, c) not in done
    ]
    print(f"{len(jobs)} fits to run", flush=True)
    new = not raw.exists()
    with raw.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        for row in Parallel(n_jobs=args.n_jobs, return_as="generator")(
            delayed(one)(*j) for j in jobs
        ):
            w.writerow(row)
            f.flush()


def _interval(d):
    from scipy import stats

    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    half = (
        stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    )
    return d.mean(), d.mean() - half, d.mean() + half, n


def _fmt(d, scale):
    m, lo, hi, n = _interval(scale * np.asarray(d))
    flag = "+" if lo > 0 else ("-" if hi < 0 else " ")
    return f"{m:+6.2f}{flag}[{lo:+.2f},{hi:+.2f}]"


def _against(rows, reference, ref_tag, title):
    """Each column (as fitted, then scaled) paired with ``reference`` as
    fitted by (setting, seed): reference minus column for the
    lower-is-better scores (positive = the column is better calibrated)."""
    ref = {(r["setting"], r["seed"]): r for r in rows if r["column"] == reference}
    lines = [
        "",
        f"Against {reference} as {ref_tag} ({title}): paired by (setting, seed), "
        f"{reference} minus the column (x100; positive = the column is better), "
        "the column minus it for balanced accuracy.",
        f"{'column':<28}{'pairs':>6}" + "".join(f"{s:>24}" for s in SCORES),
    ]
    for col in COLUMNS:
        for tag in ("fitted", "scaled"):
            if col == reference and tag == ref_tag:
                continue
            mine = [r for r in rows if r["column"] == col]
            pairs = [
                (ref[(r["setting"], r["seed"])], r)
                for r in mine
                if (r["setting"], r["seed"]) in ref
            ]
            if not pairs:
                continue
            cells = []
            for s, lower in SCORES.items():
                d = [
                    (float(a[f"{s}_{ref_tag}"]) - float(b[f"{s}_{tag}"]))
                    * (1 if lower else -1)
                    for a, b in pairs
                ]
                cells.append(_fmt(d, 100 if lower else 1))
            lines.append(
                f"{col + ', ' + tag:<28}{len(pairs):>6}"
                + "".join(f"{c:>24}" for c in cells)
            )
    return lines


def report(args):
    with (OUT / "raw.csv").open() as f:
        rows = list(csv.DictReader(f))
    lines = [
        "Temperature scaling (objective='balanced', fitted on a stratified 20% of "
        "the training split; the net trained on the other 80%), scored on the "
        f"class-balanced test set; {BUDGET} epochs, seeds {SEEDS}, the calibration "
        "study's confirm settings.",
        "Cell: mean paired difference over (setting, seed), as fitted minus scaled "
        "for BBS / ECE / class-wise ECE (x100; positive = scaling helped), scaled "
        "minus as fitted for balanced accuracy (points); [95% t-interval], '+'/'-' "
        "where it excludes 0.",
        "",
        f"{'column':<22}{'pairs':>6}{'median T':>10}"
        + "".join(f"{s:>24}" for s in SCORES),
    ]
    for col in COLUMNS:
        mine = [r for r in rows if r["column"] == col]
        if not mine:
            continue
        cells = []
        for s, lower in SCORES.items():
            d = [
                (float(r[f"{s}_fitted"]) - float(r[f"{s}_scaled"]))
                * (1 if lower else -1)
                for r in mine
            ]
            cells.append(_fmt(d, 100 if lower else 1))
        t = np.median([float(r["temperature"]) for r in mine])
        lines.append(
            f"{col:<22}{len(mine):>6}{t:>10.2f}" + "".join(f"{c:>24}" for c in cells)
        )
    lines += _against(rows, "erm_skorch", "fitted", "the gap to plain skorch")
    lines += _against(rows, NO_LAS, "fitted", "what label-aware smoothing does")
    lines += [
        "",
        "Per setting, top-label ECE as fitted -> scaled (x100, mean over seeds):",
    ]
    lines.append(f"{'setting':<22}" + "".join(f"{c:>22}" for c in COLUMNS))
    for s in _settings():
        line = f"{s:<22}"
        for col in COLUMNS:
            mine = [r for r in rows if r["column"] == col and r["setting"] == s]
            if not mine:
                line += f"{'-':>22}"
                continue
            a = 100 * np.mean([float(r["ece_fitted"]) for r in mine])
            b = 100 * np.mean([float(r["ece_scaled"]) for r in mine])
            line += f"{f'{a:.1f} -> {b:.1f}':>22}"
        lines.append(line)
    text = "\n".join(lines)
    (OUT / "summary.txt").write_text(text + "\n")
    print(text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--n-jobs", type=int, default=2)
    sub.add_parser("report")
    args = p.parse_args(argv)
    run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    sys.exit(main())
