"""The ReMix paper's claim, tested its way: BBS and g-mean gains over plain training.

Bellinger et al. ("ReMix Training for Calibrated Imbalanced Deep Learning",
``../shared/papers/remix-resampling-mixup-bellinger2021.md``) claim that ReMix
gives better balanced Brier scores (BBS, lower is better) and g-means than
plain training (their "Baseline"), MixUp, cost adjustment and SMOTE, on
tabular binary data (the minority at IR = N+/N- of 0.05, 0.025, 0.01),
tabular multi-class data (a subset of the classes at IR 0.25, 0.1, 0.05) and
images. Their gains (Figures 5 and 6) are differences to the baseline net:
GM gain = GM(alternative) - GM(baseline), BBS gain = BBS(baseline) -
BBS(alternative), so that positive is better in both.

This script fits, through the quality matrix's own machinery
(``bench_quality.fit_one``: same splits, seeding, networks and metrics), the
paper's rows and the other three papers' classes:

- ``erm_skorch``: plain skorch training, the paper's baseline;
- ``ros``, ``smote``: imblearn's samplers before the plain net;
- ``rw``: re-weighting (the paper's "cost adjusted");
- ``mixup``: plain input mixup at ReMixClassifier's alpha 0.3
  (``RemixClassifier(tau=0, rebalance=None, alpha=0.3)``);
- ``remix_sampling``: ``ReMixClassifier()`` (the default: global balance,
  step LR), ``remix_sampling_paper``: its Algorithm 1 (within-batch balance);
- ``remix_plain``, ``remix`` (Remix, plain and with DRW), ``mfw``, ``rsg``;

at 30 epochs on 5 seeds, on the matrix's tabular settings at the paper's
imbalance levels (its own and six added for this study, ``SETTINGS`` in
``bench_quality.py``) and four image settings, in its tune and confirm
groups. The report gives, per setting and column, the mean paired gain over
``erm_skorch`` with its 95% t-interval over seeds, for BBS and g-mean, the
per-group summary, and ReMix paired against each alternative directly.

Usage::

    python benchmarks/remix_calibration_claim.py run      # resumable
    python benchmarks/remix_calibration_claim.py report   # tables -> report.txt
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_quality as bq  # noqa: E402

OUT = "benchmarks/results/quality/calibration"
BUDGET = 30
SEEDS = [0, 1, 2, 3, 4]
COLUMNS = [
    "erm_skorch",
    "ros",
    "smote",
    "rw",
    "mixup",
    "remix_sampling",
    "remix_sampling_paper",
    "remix_plain",
    "remix",
    "mfw",
    "rsg",
]
#: ReMix as skremix ships it, and the paper's Algorithm 1.
REMIX = ["remix_sampling", "remix_sampling_paper"]
#: What the paper claims ReMix beats (plus ROS, which the issue names).
RIVALS = ["erm_skorch", "ros", "smote", "rw", "mixup"]
#: Images first: the long fits start first, the short tabular ones fill in.
SETTINGS = {
    "tune": {
        "image": ["digits16_noisy_lt50", "digits_step10"],
        "tabular": ["mc2_ir01", "digits8_ir025", "digits123_step10", "mc10_step20"],
    },
    "confirm": {
        "image": ["mc10_step20_maps", "faces_step10"],
        "tabular": [
            "mc2_hard_ir05",
            "digits3_ir01",
            "breast_cancer_5pct",
            "mc6_step4",
            "mc10_step10_noisy",
        ],
    },
}
#: The paper's imbalance level (IR = N_min / N_max) of each setting.
LEVEL = {
    "mc2_ir01": "bin IR .01",
    "digits8_ir025": "bin IR .025",
    "digits123_step10": "mc IR .1",
    "mc10_step20": "mc IR .05",
    "mc2_hard_ir05": "bin IR .05",
    "digits3_ir01": "bin IR .01",
    "breast_cancer_5pct": "bin IR .052",
    "mc6_step4": "mc IR .25",
    "mc10_step10_noisy": "mc IR .1",
    "digits16_noisy_lt50": "img LT 50",
    "digits_step10": "img mc IR .1",
    "mc10_step20_maps": "img mc IR .05",
    "faces_step10": "img bin IR .1",
}
METRICS = ["bbs", "gmean"]


def _settings(group):
    groups = ["tune", "confirm"] if group == "all" else [group]
    image = [s for g in groups for s in SETTINGS[g]["image"]]
    tabular = [s for g in groups for s in SETTINGS[g]["tabular"]]
    return image + tabular


def run(args):
    for s in _settings("all"):
        group = "tune" if s in _settings("tune") else "confirm"
        assert bq.SETTINGS[s].group == group, (s, bq.SETTINGS[s].group)
    start = time.perf_counter()
    bq.run(
        argparse.Namespace(
            out=args.out,
            raw="raw.csv",
            settings=_settings(args.group),
            budgets=[BUDGET],
            seeds=args.seeds,
            columns=args.columns,
            n_jobs=args.n_jobs,
        )
    )
    print(f"wall time {time.perf_counter() - start:.0f} s", flush=True)


# ---------------------------------------------------------------- reporting
def _flag(c):
    return "+" if c["lo"] > 0 else ("-" if c["hi"] < 0 else " ")


def _cell(c, digits=1):
    if c is None:
        return "-"
    return f"{c['gain']:+.{digits}f}{_flag(c)}[{c['lo']:+.{digits}f},{c['hi']:+.{digits}f}]"


def group_table(rows, group, metric, columns, reference="erm_skorch"):
    """Per setting of ``group``: the reference's value and every column's
    paired gain [95% interval]; then per column the mean gain across the
    settings and how many settings' intervals exclude 0 above / below."""
    settings = _settings(group)
    cs = bq.cells(rows, reference=reference, metric=metric)
    look = {(c["setting"], c["column"]): c for c in cs if c["budget"] == BUDGET}
    label, _, _, unit = bq.METRICS[metric]
    lines = [f"-- {group}: {bq.metric_header(metric, reference)} --"]
    width = 22
    head = f"{'setting':<22}{'level':<14}{reference + ' ' + metric:>16}"
    lines.append(head + "".join(f"{c[: width - 1]:>{width}}" for c in columns))
    for s in settings:
        ref = next((c for (ss, _), c in look.items() if ss == s), None)
        ref_v = f"{ref[f'ref_{metric}']:.1f}" if ref else "-"
        lines.append(
            f"{s[:21]:<22}{LEVEL.get(s, ''):<14}{ref_v:>16}"
            + "".join(f"{_cell(look.get((s, c))):>{width}}" for c in columns)
        )
    lines.append("")
    lines.append(
        f"{'column':<22}{'settings':>9}{'mean gain':>11}{'median':>9}"
        f"{'CI > 0':>8}{'CI < 0':>8}{'mean rank':>11}"
    )
    ranks = _mean_ranks(rows, settings, [reference, *columns], metric)
    summary = {}
    for col in [reference, *columns]:
        mine = [look[(s, col)] for s in settings if (s, col) in look]
        if col == reference:
            lines.append(
                f"{col:<22}{len(settings):>9}{'':>11}{'':>9}{'':>8}{'':>8}"
                f"{ranks.get(col, float('nan')):>11.2f}"
            )
            continue
        if not mine:
            continue
        g = [c["gain"] for c in mine]
        entry = {
            "n": len(mine),
            "mean": float(np.mean(g)),
            "median": float(np.median(g)),
            "pos": sum(c["lo"] > 0 for c in mine),
            "neg": sum(c["hi"] < 0 for c in mine),
            "rank": ranks.get(col, float("nan")),
        }
        summary[col] = entry
        lines.append(
            f"{col:<22}{entry['n']:>9}{entry['mean']:>+11.2f}{entry['median']:>+9.2f}"
            f"{entry['pos']:>8}{entry['neg']:>8}{entry['rank']:>11.2f}"
        )
    return "\n".join(lines), summary


def _mean_ranks(rows, settings, columns, metric):
    """The paper's Table 2 view: each setting's columns ranked by their mean
    over seeds (1 = best), averaged over the settings where all are present."""
    lower = bq.METRICS[metric][1]
    means = {}
    for r in rows:
        if r["budget"] == BUDGET and math.isfinite(r[metric]):
            means.setdefault((r["setting"], r["column"]), []).append(r[metric])
    from scipy.stats import rankdata

    per = {c: [] for c in columns}
    for s in settings:
        vals = [np.mean(means[(s, c)]) if (s, c) in means else None for c in columns]
        present = [c for c, v in zip(columns, vals, strict=True) if v is not None]
        if len(present) < 2:
            continue
        v = np.array([x for x in vals if x is not None])
        rk = rankdata(v if lower else -v)
        for c, k in zip(present, rk, strict=True):
            per[c].append(k)
    return {c: float(np.mean(v)) for c, v in per.items() if v}


def head_to_head(rows, group, metric, remix, rivals):
    """``remix`` paired against each rival directly: per setting the gain of
    ReMix over the rival [95% interval]; then the mean and the counts."""
    settings = _settings(group)
    lines = [
        f"-- {group}: {remix} against each rival, "
        + bq.metric_header(metric, "rival").replace("column", remix)
        + " --"
    ]
    width = 22
    lines.append(
        f"{'setting':<22}" + "".join(f"{r[: width - 1]:>{width}}" for r in rivals)
    )
    per = {r: [] for r in rivals}
    for s in settings:
        line = f"{s[:21]:<22}"
        for rival in rivals:
            cs = bq.cells(
                [r for r in rows if r["setting"] == s], reference=rival, metric=metric
            )
            c = next((c for c in cs if c["column"] == remix), None)
            if c is not None:
                per[rival].append(c)
            line += f"{_cell(c):>{width}}"
        lines.append(line)
    summary = {}
    line = f"{'mean (CI>0 / CI<0)':<22}"
    for rival in rivals:
        cs = per[rival]
        if not cs:
            line += f"{'-':>{width}}"
            continue
        mean = float(np.mean([c["gain"] for c in cs]))
        pos, neg = sum(c["lo"] > 0 for c in cs), sum(c["hi"] < 0 for c in cs)
        summary[rival] = {"n": len(cs), "mean": mean, "pos": pos, "neg": neg}
        line += f"{f'{mean:+.2f} ({pos}/{neg} of {len(cs)})':>{width}}"
    lines.append(line)
    return "\n".join(lines), summary


def _other_metrics(rows, columns, metrics=("ece", "cw_ece", "few", "bacc")):
    """Per group and metric of the matrix's other records (top-label and
    class-wise ECE, few-shot recall, balanced accuracy): each column's mean
    paired gain over erm_skorch across the settings (positive = better),
    with how many settings' intervals exclude 0 above / below."""
    lines = [
        "==================== the other records ====================",
        "mean paired gain over erm_skorch across the group's settings "
        "(ECEs x100, erm_skorch minus column; recall and balanced accuracy in "
        "points), (CI > 0 / CI < 0 of n settings); few-shot: the settings "
        "with a class of fewer than 20 training samples",
    ]
    for group in ("tune", "confirm"):
        settings = _settings(group)
        sub = [r for r in rows if r["setting"] in settings]
        lines.append(f"-- {group} --")
        lines.append(f"{'column':<22}" + "".join(f"{m:>18}" for m in metrics))
        for col in columns:
            line = f"{col:<22}"
            for metric in metrics:
                cs = [
                    c
                    for c in bq.cells(sub, metric=metric)
                    if c["column"] == col and math.isfinite(c["gain"])
                ]
                if not cs:
                    line += f"{'-':>18}"
                    continue
                g = float(np.mean([c["gain"] for c in cs]))
                pos = sum(c["lo"] > 0 for c in cs)
                neg = sum(c["hi"] < 0 for c in cs)
                line += f"{f'{g:+.2f} ({pos}/{neg} of {len(cs)})':>18}"
            lines.append(line)
        lines.append("")
    return lines


def report(args):
    out = Path(args.out)
    rows = bq.load_rows(out / "raw.csv")
    rows = [r for r in rows if r["budget"] == BUDGET]
    present = [c for c in COLUMNS if any(r["column"] == c for r in rows)]
    others = [c for c in present if c != "erm_skorch"]
    seeds = sorted({r["seed"] for r in rows})
    fit_s = sum(float(r["fit_s"]) for r in rows)
    parts = [
        "The ReMix paper's claim: BBS and g-mean gains over plain training "
        f"(erm_skorch), {BUDGET} epochs, seeds {seeds}, {len(rows)} fits "
        f"({fit_s / 60:.0f} min of fitting, one torch thread each).",
        "Gain = the paper's: BBS(erm_skorch) - BBS(column) (x100; positive = "
        "better calibrated), g-mean(column) - g-mean(erm_skorch) (points).",
        "Cell: mean over seeds of the paired gain, '+'/'-' where the 95% "
        "t-interval [lo,hi] excludes 0. Binary BBS is halved (in [0, 1], the "
        "paper's), multi-class in [0, 2]. Test sets class-balanced.",
        "Rank: the column's rank by its mean among the columns listed "
        "(1 = best), averaged over settings (the paper's Table 2 view).",
        "",
    ]
    summaries = {}
    for group in ("tune", "confirm"):
        parts.append(f"==================== {group} group ====================")
        for metric in METRICS:
            text, summary = group_table(rows, group, metric, others)
            summaries[(group, metric)] = summary
            parts += [text, ""]
        for metric in METRICS:
            for remix in REMIX:
                if remix in present:
                    text, _ = head_to_head(
                        rows, group, metric, remix, [r for r in RIVALS if r in present]
                    )
                    parts += [text, ""]
        for kind in ("tabular", "image"):
            sub = [r for r in rows if r["setting"] in SETTINGS[group][kind]]
            if not sub:
                continue
            parts.append(f"-- {group}, {kind} settings only: mean gain (CI>0/CI<0) --")
            parts.append(f"{'column':<22}" + "".join(f"{m:>18}" for m in METRICS))
            for col in others:
                line = f"{col:<22}"
                for metric in METRICS:
                    cs = [
                        c
                        for c in bq.cells(sub, metric=metric)
                        if c["column"] == col and c["budget"] == BUDGET
                    ]
                    if not cs:
                        line += f"{'-':>18}"
                        continue
                    g = np.mean([c["gain"] for c in cs])
                    pos = sum(c["lo"] > 0 for c in cs)
                    neg = sum(c["hi"] < 0 for c in cs)
                    line += f"{f'{g:+.2f} ({pos}/{neg} of {len(cs)})':>18}"
                parts.append(line)
            parts.append("")
    parts += _other_metrics(rows, others)
    text = "\n".join(parts)
    (out / "report.txt").write_text(text + "\n")
    print(text)
    return summaries


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--group", choices=["tune", "confirm", "all"], default="all")
    r.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    r.add_argument("--columns", default=",".join(COLUMNS))
    r.add_argument("--n-jobs", type=int, default=2)
    for q in (r, sub.add_parser("report")):
        q.add_argument("--out", default=OUT)
    args = p.parse_args(argv)
    if args.cmd == "run":
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.columns = bq.split_specs(args.columns)
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(main())
