"""The four papers' methods against the simple long-tail baselines (issue 22).

Reads the quality matrix's raw fits: the tabular settings from
``benchmarks/results/quality/raw.csv`` and the image settings from
``benchmarks/results/quality/images/raw.csv`` (the image cells fitted with
``precise_bn=True``, the default). Every difference is in points of balanced
accuracy, paired by (setting, budget, seed), with the 95% Student-t interval
of its mean over those pairs; ``w/l`` counts the settings whose own interval
lies wholly above / below 0.

Writes, under ``--out``:

- ``methods_vs_baselines.txt``: each of the four papers' classes minus each
  baseline (logit adjustment, its post-hoc form, focal loss, cRT, tau-norm,
  MiSLAS, and LDAM-DRW / DRW for reference), per budget and kind of data;
- ``gains.txt``: every column minus plain skorch, per budget, kind and
  group (tune / confirm);
- ``combinations.txt``: each combination (a method + the logit-adjusted
  loss) minus the method's default and minus the logit-adjusted loss alone,
  per group: a candidate default is a combination above both on the confirm
  settings;
- ``summary.txt``: the first file in one table, the four classes against
  logit adjustment, focal loss and cRT, every budget and kind side by side;
- ``pairs.csv``: every comparison's numbers.

Usage::

    python benchmarks/compare_baselines.py --out benchmarks/results/quality/baselines
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_quality import SETTINGS, SHORT  # noqa: E402
from compare_columns import interval  # noqa: E402

HERE = Path(__file__).resolve().parent
# MiSLAS was fitted later, with the code of its commit, into a file of its
# own (single-process fits of the other columns are unchanged bit for bit:
# benchmarks/results/bit_for_bit/).
MISLAS = HERE / "results" / "quality" / "baselines" / "mislas" / "raw.csv"
SOURCES = {
    "tabular": [HERE / "results" / "quality" / "raw.csv", MISLAS],
    "image": [HERE / "results" / "quality" / "images" / "raw.csv", MISLAS],
}
METHODS = ["remix", "remix_sampling", "mfw", "rsg"]
BASELINES = [
    "la",
    "la_posthoc",
    "focal",
    "crt",
    "tau_norm",
    "mislas",
    "ldam_drw",
    "drw",
]
COMBINATIONS = {
    # combination: the method's default class and the baseline alone (a
    # default changes only if the combination beats both)
    "remix_la": ("remix", "la"),
    "remix_la_drw": ("remix", "la"),
    "mfw_la": ("mfw", "la"),
    "mfw_la_drw": ("mfw", "la"),
}
BUDGETS = [10, 30, 100]


def load(sources=SOURCES):
    """{(setting, budget, column, seed): bacc} of each kind's own file."""
    by = {}
    for kind, paths in sources.items():
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            if not Path(path).exists():
                continue
            with Path(path).open() as f:
                for r in csv.DictReader(f):
                    s = r["setting"]
                    if s not in SETTINGS or SETTINGS[s].kind != kind:
                        continue
                    v = float(r["bacc"])
                    if math.isfinite(v):
                        by[(s, int(r["budget"]), r["column"], int(r["seed"]))] = v
    return by


def paired(by, a, b, settings, budget):
    """(pooled differences, {setting: differences}) of ``a - b``."""
    per = defaultdict(list)
    for (s, n, col, k), v in by.items():
        if col == a and n == budget and s in settings and (s, n, b, k) in by:
            per[s].append(v - by[(s, n, b, k)])
    pooled = [d for s in settings for d in per.get(s, [])]
    return pooled, per


def summary(by, a, b, settings, budget):
    """A dict of the comparison, or None where no pair exists."""
    pooled, per = paired(by, a, b, settings, budget)
    if len(pooled) < 2:
        return None
    m, lo, hi = interval(pooled)
    wins = losses = 0
    for d in per.values():
        _, slo, shi = interval(d)
        wins += bool(slo > 0)
        losses += bool(shi < 0)
    return dict(
        a=a,
        b=b,
        budget=budget,
        mean=m,
        low=lo,
        high=hi,
        n=len(pooled),
        settings=len(per),
        wins=wins,
        losses=losses,
        per={s: float(np.mean(d)) for s, d in per.items()},
    )


def fmt(c, per_setting=False):
    if c is None:
        return "n/a"
    text = (
        f"{c['mean']:+5.1f} [{c['low']:+5.1f}, {c['high']:+5.1f}] "
        f"{c['wins']}w/{c['losses']}l of {c['settings']}"
    )
    if per_setting:
        text += (
            "  ("
            + ", ".join(f"{SHORT.get(s, s)} {v:+.1f}" for s, v in c["per"].items())
            + ")"
        )
    return text


def groups(kind):
    """The settings of a kind: all, tune, confirm."""
    names = [s for s in SETTINGS if SETTINGS[s].kind == kind]
    return {
        "all": names,
        "tune": [s for s in names if SETTINGS[s].group == "tune"],
        "confirm": [s for s in names if SETTINGS[s].group == "confirm"],
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(HERE / "results" / "quality" / "baselines"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    by = load()
    header = (
        "a - b, points of balanced accuracy, paired by (setting, budget, seed): "
        "mean [95% t-interval] over the pairs; w/l = settings whose own interval "
        "is wholly above / below 0.\nTabular settings from "
        "benchmarks/results/quality/raw.csv, image settings from "
        "benchmarks/results/quality/images/raw.csv, MiSLAS from "
        "benchmarks/results/quality/baselines/mislas/raw.csv (seeds 0-4 at 10 and 30 "
        "epochs, 0-2 at 100; at 100 epochs the image settings are digits_step10, "
        "digits_lt100, faces_step10, mc10_step20_maps only).\n"
    )
    rows = []

    lines = [header]
    for kind in ("tabular", "image"):
        settings = groups(kind)["all"]
        for budget in BUDGETS:
            lines.append(f"== {kind}, {budget} epochs ==")
            for m in METHODS:
                for b in BASELINES:
                    c = summary(by, m, b, settings, budget)
                    if c is None:
                        continue
                    rows.append(dict(kind=kind, group="all", **c))
                    lines.append(f"  {m:15s} - {b:11s} {fmt(c, per_setting=True)}")
            lines.append("")
    (out / "methods_vs_baselines.txt").write_text("\n".join(lines) + "\n")

    lines = [
        header,
        "Each paper's class at its defaults minus each baseline; '*' where the "
        "interval excludes 0.\n",
    ]
    cells = [(k, n) for k in ("tabular", "image") for n in BUDGETS]
    lines.append(f"{'':29s}" + "".join(f"{f'{k[:3]} {n} ep':>17s}" for k, n in cells))
    for m in METHODS:
        for b in ("la", "la_posthoc", "focal", "crt", "tau_norm", "mislas"):
            texts = []
            for kind, budget in cells:
                c = summary(by, m, b, groups(kind)["all"], budget)
                if c is None:
                    texts.append(f"{'n/a':>19s}")
                    continue
                star = "*" if c["low"] > 0 or c["high"] < 0 else " "
                texts.append(
                    f"{c['mean']:+5.1f} [{c['low']:+4.1f},{c['high']:+4.1f}]{star}"
                )
            if any(t.strip() != "n/a" for t in texts):
                lines.append(
                    f"{m + ' - ' + b:29s}" + "".join(f"{t:>19s}" for t in texts)
                )
        lines.append("")
    (out / "summary.txt").write_text("\n".join(lines) + "\n")

    columns = ["erm", "drw", "ldam_drw", *METHODS, "la", "la_posthoc", "focal"]
    columns += ["crt", "tau_norm", "mislas", *COMBINATIONS]
    lines = [header.replace("a - b", "column - erm_skorch (plain skorch)")]
    for kind in ("tabular", "image"):
        for budget in BUDGETS:
            lines.append(f"== {kind}, {budget} epochs ==")
            lines.append(f"  {'column':15s} {'tune':35s} {'confirm':35s}")
            for col in columns:
                cells = []
                for group in ("tune", "confirm"):
                    c = summary(by, col, "erm_skorch", groups(kind)[group], budget)
                    if c is not None:
                        rows.append(dict(kind=kind, group=group, **c))
                    cells.append(f"{fmt(c):35s}")
                if any(cell.strip() != "n/a" for cell in cells):
                    lines.append(f"  {col:15s} " + " ".join(cells))
            lines.append("")
    (out / "gains.txt").write_text("\n".join(lines) + "\n")

    lines = [
        header.replace("a - b", "combination - each part"),
        "A candidate default needs a combination above both parts on the "
        "confirm settings.\n",
    ]
    for kind in ("tabular", "image"):
        for budget in BUDGETS:
            lines.append(f"== {kind}, {budget} epochs ==")
            for combo, parts in COMBINATIONS.items():
                for group in ("tune", "confirm"):
                    cells = [
                        f"- {part}: "
                        + fmt(summary(by, combo, part, groups(kind)[group], budget))
                        for part in parts
                    ]
                    lines.append(f"  {combo:13s} {group:8s} " + "; ".join(cells))
            lines.append("")
    (out / "combinations.txt").write_text("\n".join(lines) + "\n")

    with (out / "pairs.csv").open("w", newline="") as f:
        fields = ["kind", "group", "a", "b", "budget", "mean", "low", "high"]
        fields += ["n", "settings", "wins", "losses"]
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(
                {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
            )
    print((out / "methods_vs_baselines.txt").read_text())


if __name__ == "__main__":
    sys.exit(main())
