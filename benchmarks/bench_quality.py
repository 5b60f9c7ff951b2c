"""The quality matrix: every method against plain skorch on many imbalanced settings.

Each cell is a (setting, budget, column) triple: a data set with an imposed
imbalance, a number of epochs and an estimator. Every column is fitted on the
same training split per seed (the split, the imbalanced subsample and the
network's initialisation all follow the seed) and scored on a class-balanced
test set by balanced accuracy. Differences to the reference column
``erm_skorch`` (skorch's own ``NeuralNetClassifier``: the same default module,
AdamW at lr 1e-3, batch 64, the same epochs, constant learning rate, shuffled
batches) are paired by seed; a cell reports the mean paired gain in points
and its 95% t-interval (with 3 seeds the interval is wide: a gain whose
interval covers 0 is not a win).

Usage::

    # fit (resumable: fits already in the raw CSV are not re-run)
    python benchmarks/bench_quality.py run --out benchmarks/results/quality
    # tables, CSV of cells, heat map
    python benchmarks/bench_quality.py report --out benchmarks/results/quality

``--settings``, ``--budgets``, ``--seeds`` and ``--columns`` select part of
the matrix; a column may carry parameter overrides, ``remix[alpha=0.4]``
(used for choosing defaults; the committed matrix uses the defaults only).

Settings are split into a *tune* group, on which defaults were chosen, and a
*confirm* group, looked at only to check the chosen defaults (see
``SETTINGS``). Nothing here is a test set for choosing: every setting's test
split is only scored.
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# One torch thread per fit; parallel fits share the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

FIELDS = ["setting", "budget", "seed", "column", "bacc", "gmean", "fit_s"]


# --------------------------------------------------------------------- data
@dataclass(frozen=True)
class Setting:
    name: str
    group: str  # 'tune' or 'confirm'
    kind: str  # 'tabular' or 'image'
    description: str


# The make_classification settings: generator arguments (the data set is
# fixed by its random_state; the seed draws the split), then
# (test per class, imbalance kind, ratio, n_max).
_GENERATED = {
    "mc10_lt50": (dict(random_state=101), (100, "long_tailed", 50, 400)),
    "mc10_step20": (dict(random_state=102), (100, "step", 20, 400)),
    "mc20_lt100_hard": (
        dict(random_state=103, n_classes=20, class_sep=0.7, n_informative=12),
        (100, "long_tailed", 100, 400),
    ),
    "mc10_step10_noisy": (dict(random_state=104, flip_y=0.15), (100, "step", 10, 400)),
    # mc10_step20's kind of rows given as (n, 1, 1, d) one-channel maps,
    # standardised: the default ConvNet trains on them.
    "mc10_step20_maps": (dict(random_state=105), (100, "step", 20, 400)),
}


def _make_tabular(
    *, n_classes=10, class_sep=1.0, flip_y=0.0, n_informative=10, random_state
):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_classes * 600,
        n_features=20,
        n_informative=n_informative,
        n_redundant=4,
        n_classes=n_classes,
        n_clusters_per_class=2,
        class_sep=class_sep,
        flip_y=flip_y,
        random_state=random_state,
    )
    return X.astype(np.float32), y


def _load(name, seed):
    """(X, y, test_per_class, imbalance kind, ratio, n_max) of a setting."""
    from skremix.datasets import (
        load_breast_cancer_imbalanced,
        load_digits_images,
        load_faces,
        load_photo_patches,
        load_wine_data,
        make_noisy_digits,
        make_shapes,
    )

    if name in _GENERATED:
        kwargs, rest = _GENERATED[name]
        X, y = _make_tabular(**kwargs)
        if name.endswith("_maps"):
            X = ((X - X.mean(0)) / X.std(0))[:, None, None, :]
        return (X, y, *rest)
    if name == "breast_cancer_5pct":
        X, y = load_breast_cancer_imbalanced(212 / 569, random_state=0)
        # Benign first (make_imbalanced keeps the first class largest); 50
        # test per class; the malignant left are cut to 5% of training.
        return X, 1 - y, 50, "step", 307 / 16, 307
    if name == "wine_lt10":
        X, y = load_wine_data()
        return X, y, 15, "long_tailed", 10, 33
    if name == "digits_step10":
        X, y = load_digits_images()
        return X, y, 30, "step", 10, 144
    if name == "digits_lt100":
        X, y = load_digits_images()
        return X, y, 30, "long_tailed", 100, 144
    if name == "digits16_noisy_lt50":
        X, y = make_noisy_digits(random_state=0)
        return X, y, 30, "long_tailed", 50, 144
    if name == "digits16_noisy_step20":
        X, y = make_noisy_digits(random_state=1)
        return X, y, 30, "step", 20, 144
    # Real pictures and generated shapes, unlike digits (issue 19); the
    # photographs and faces ship inside the scikit-image wheel.
    if name == "photos_grey_lt20":
        X, y = load_photo_patches(random_state=0)
        return X, y, 64, "long_tailed", 20, 200
    if name == "photos_rgb_step10":
        X, y = load_photo_patches(colour=True, random_state=0)
        return X, y, 56, "step", 10, 160
    if name == "shapes_lt50":
        X, y = make_shapes(n_per_class=400, size=16, noise=0.1, random_state=0)
        return X, y, 100, "long_tailed", 50, 300
    if name == "faces_step10":
        X, y = load_faces()
        return X, y, 30, "step", 10, 70
    raise KeyError(name)


SETTINGS = {
    s.name: s
    for s in [
        Setting(
            "mc10_lt50",
            "tune",
            "tabular",
            "make_classification 10 classes, 20 features, long-tailed rho=50",
        ),
        Setting(
            "mc10_step20",
            "tune",
            "tabular",
            "make_classification 10 classes, step rho=20",
        ),
        Setting(
            "digits_step10",
            "tune",
            "image",
            "digits 1x8x8, step rho=10 (the old main job)",
        ),
        Setting(
            "digits16_noisy_lt50",
            "tune",
            "image",
            "digits upscaled to 12x12, randomly placed on 16x16, noise 0.25, long-tailed rho=50",
        ),
        Setting(
            "photos_grey_lt20",
            "tune",
            "image",
            "16x16 grey patches of 10 scikit-image photographs, long-tailed rho=20",
        ),
        Setting(
            "mc20_lt100_hard",
            "confirm",
            "tabular",
            "make_classification 20 classes, class_sep 0.7, long-tailed rho=100",
        ),
        Setting(
            "mc10_step10_noisy",
            "confirm",
            "tabular",
            "make_classification 10 classes, 15% label noise, step rho=10",
        ),
        Setting(
            "breast_cancer_5pct",
            "confirm",
            "tabular",
            "breast cancer, malignant at 5% of training",
        ),
        Setting(
            "wine_lt10", "confirm", "tabular", "wine, long-tailed rho=10 (33/10/3)"
        ),
        Setting(
            "mc10_step20_maps",
            "confirm",
            "image",
            "make_classification rows as 1x1x20 maps (ConvNet), step rho=20",
        ),
        Setting(
            "digits_lt100",
            "confirm",
            "image",
            "digits 1x8x8, long-tailed rho=100 (rarest class: 1 sample)",
        ),
        Setting(
            "digits16_noisy_step20",
            "confirm",
            "image",
            "noisy shifted 16x16 digits, step rho=20",
        ),
        Setting(
            "photos_rgb_step10",
            "confirm",
            "image",
            "24x24 colour patches of 7 scikit-image photographs, step rho=10",
        ),
        Setting(
            "shapes_lt50",
            "confirm",
            "image",
            "10 generated shapes, random pose, texture and clutter, 16x16, long-tailed rho=50",
        ),
        Setting(
            "faces_step10",
            "confirm",
            "image",
            "scikit-image's LFW subset, 25x25 faces vs non-faces, step rho=10 (70/7)",
        ),
    ]
}


def split(name, seed):
    """Train/test arrays of a setting for one seed (test set balanced)."""
    from skremix.datasets import balanced_split, make_imbalanced

    X, y, per_class, kind, ratio, n_max = _load(name, seed)
    X_tr, X_te, y_tr, y_te = balanced_split(X, y, per_class, random_state=seed)
    X_tr, y_tr = make_imbalanced(
        X_tr, y_tr, kind=kind, ratio=ratio, n_max=n_max, random_state=seed
    )
    return X_tr, y_tr, X_te, y_te


# ----------------------------------------------------------------- columns
# name -> (skremix class or special, fixed params, description)
COLUMNS = {
    "erm_skorch": ("skorch", {}, "plain skorch NeuralNetClassifier (reference)"),
    "ros": ("skorch+ros", {}, "imblearn RandomOverSampler + the plain skorch net"),
    "smote": ("skorch+smote", {}, "imblearn SMOTE + the plain skorch net"),
    "erm": ("ERMClassifier", {}, "ERMClassifier()"),
    "rw": ("ERMClassifier", {"rebalance": "rw"}, "ERMClassifier(rebalance='rw')"),
    "drw": ("ERMClassifier", {"rebalance": "drw"}, "ERMClassifier(rebalance='drw')"),
    "ldam_drw": ("ERMClassifier", {"loss": "ldam", "rebalance": "drw"}, "LDAM-DRW"),
    "remix": ("RemixClassifier", {}, "RemixClassifier() (Remix-DRW, alpha 0.4)"),
    "remix_plain": (
        "RemixClassifier",
        {"rebalance": None, "alpha": 1.0},
        "RemixClassifier(rebalance=None, alpha=1): the paper's Remix row",
    ),
    "remix_sampling": (
        "ReMixClassifier",
        {},
        "ReMixClassifier() (global balance, step LR)",
    ),
    "remix_sampling_paper": (
        "ReMixClassifier",
        {"balance": "within_batch"},
        "ReMixClassifier(balance='within_batch'): Algorithm 1",
    ),
    "mfw": ("MFWClassifier", {}, "MFWClassifier() (MFW w/ DRW)"),
    "rsg": ("RSGClassifier", {}, "RSGClassifier() (RSG-DRW, profile settings)"),
    "la": (
        "ERMClassifier",
        {"loss": "logit_adjusted"},
        "ERMClassifier(loss='logit_adjusted'): logit-adjusted loss, tau 1",
    ),
    "la_posthoc": (
        "ERMClassifier",
        {"posthoc_tau": 1.0},
        "ERMClassifier(posthoc_tau=1): post-hoc logit adjustment",
    ),
    "focal": (
        "ERMClassifier",
        {"loss": "focal"},
        "ERMClassifier(loss='focal'), gamma 2",
    ),
    "crt": (
        "ERMClassifier",
        {"rebalance": "crt"},
        "ERMClassifier(rebalance='crt'): cRT",
    ),
    "tau_norm": (
        "ERMClassifier",
        {"tau_norm": 1.0},
        "ERMClassifier(tau_norm=1): tau-normalised head (Kang et al. 2020)",
    ),
    "mislas": (
        "MiSLASClassifier",
        {},
        "MiSLASClassifier(): mixup, then cRT with label-aware smoothing",
    ),
    "remix_la": (
        "RemixClassifier",
        {"loss": "logit_adjusted", "rebalance": None},
        "RemixClassifier(loss='logit_adjusted', rebalance=None)",
    ),
    "remix_la_drw": (
        "RemixClassifier",
        {"loss": "logit_adjusted"},
        "RemixClassifier(loss='logit_adjusted'): with its default DRW",
    ),
    "mfw_la": (
        "MFWClassifier",
        {"loss": "logit_adjusted", "rebalance": None},
        "MFWClassifier(loss='logit_adjusted', rebalance=None)",
    ),
    "mfw_la_drw": (
        "MFWClassifier",
        {"loss": "logit_adjusted"},
        "MFWClassifier(loss='logit_adjusted'): with its default DRW",
    ),
    "hgb": ("hgb", {}, "HistGradientBoostingClassifier(class_weight='balanced')"),
    "brf": ("brf", {}, "imblearn BalancedRandomForestClassifier"),
}
TABULAR_ONLY = {"hgb", "brf"}
DEFAULT_COLUMNS = list(COLUMNS)


def split_specs(text):
    """Column specs from a comma-separated list (specs hold commas inside
    brackets: ``remix[alpha=1.0,tau=0]``)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    return [s for s in [*out, cur] if s]


def parse_column(spec):
    """``name`` or ``name[key=value,...]`` -> (name, overrides)."""
    if "[" not in spec:
        return spec, {}
    name, rest = spec.split("[", 1)
    overrides = {}
    for item in rest.rstrip("]").split(","):
        key, value = item.split("=", 1)
        try:
            overrides[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            overrides[key.strip()] = value.strip()
    return name, overrides


def build(column, overrides, input_shape, n_classes, epochs, seed, min_count):
    from imblearn.ensemble import BalancedRandomForestClassifier
    from imblearn.over_sampling import SMOTE, RandomOverSampler
    from imblearn.pipeline import make_pipeline
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import StandardScaler

    import skremix
    from skremix.bench import ReshapeTransformer, make_estimator

    kind, params, _ = COLUMNS[column]
    tabular = len(input_shape) == 1
    pre = [StandardScaler()] if tabular else []
    if kind == "hgb":
        return HistGradientBoostingClassifier(
            class_weight="balanced", random_state=seed, **overrides
        )
    if kind == "brf":
        return BalancedRandomForestClassifier(
            random_state=seed,
            sampling_strategy="all",
            replacement=True,
            bootstrap=False,
            n_jobs=1,
            **overrides,
        )
    if kind.startswith("skorch"):
        # skorch's NeuralNetClassifier with the default module, as
        # skremix-bench's "erm" builds it, alone or behind an imblearn sampler
        # (the bench's own "ros" / "smote" put ERMClassifier there instead).
        import torch

        net = make_estimator(
            "erm",
            input_shape=input_shape,
            n_classes=n_classes,
            max_epochs=epochs,
            device="cuda" if torch.cuda.is_available() else "cpu",
        )[-1].set_params(**overrides)
        steps = list(pre)
        if kind != "skorch":
            if kind.endswith("ros"):
                sampler = RandomOverSampler(random_state=seed)
            else:
                sampler = SMOTE(k_neighbors=min(5, min_count - 1), random_state=seed)
            if not tabular:
                steps.append(ReshapeTransformer((-1,)))
            steps.append(sampler)
        steps.append(ReshapeTransformer(None if tabular else tuple(input_shape)))
        return make_pipeline(*steps, net)
    cls = getattr(skremix, kind)
    net = cls(max_epochs=epochs, random_state=seed, **{**params, **overrides})
    return make_pipeline(*pre, net) if pre else net


def fit_cell(setting, budget, seed, spec):
    """Fit one column on one seed's split, seeded as every cell of the matrix
    is; returns ``(estimator, X_tr, y_tr, X_te, y_te)``. The diagnosis scripts
    call it too, so that their fits are the matrix's fits."""
    import torch

    torch.set_num_threads(1)
    column, overrides = parse_column(spec)
    X_tr, y_tr, X_te, y_te = split(setting, seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # plain skorch has no random_state
        est = build(
            column,
            overrides,
            tuple(X_tr.shape[1:]),
            len(np.unique(y_te)),
            budget,
            seed,
            int(np.bincount(y_tr).min()),
        )
        est.fit(X_tr, y_tr)
    return est, X_tr, y_tr, X_te, y_te


def fit_one(setting, budget, seed, spec):
    """Fit one cell for one seed; returns a result row."""
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import balanced_accuracy_score

    start = time.perf_counter()
    try:
        est, _, _, X_te, y_te = fit_cell(setting, budget, seed, spec)
        pred = est.predict(X_te)
        bacc = 100 * balanced_accuracy_score(y_te, pred)
        gm = 100 * geometric_mean_score(y_te, pred, average="multiclass")
    except (ValueError, FloatingPointError) as exc:
        # A column that cannot run here (SMOTE with a one-sample class)
        # or a diverged fit: recorded as missing, the run goes on.
        print(
            f"{setting} {budget} {seed} {spec}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}",
            file=sys.stderr,
            flush=True,
        )
        bacc = gm = float("nan")
    return {
        "setting": setting,
        "budget": budget,
        "seed": seed,
        "column": spec,
        "bacc": round(bacc, 3),
        "gmean": round(gm, 3),
        "fit_s": round(time.perf_counter() - start, 2),
    }


# ----------------------------------------------------------------- running
def _done(raw):
    if not raw.exists():
        return set()
    with raw.open() as f:
        return {
            (r["setting"], int(r["budget"]), int(r["seed"]), r["column"])
            for r in csv.DictReader(f)
        }


def run(args):
    from joblib import Parallel, delayed

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / args.raw
    done = _done(raw)
    jobs = []
    for setting in args.settings:
        for budget in args.budgets:
            for seed in args.seeds:
                for spec in args.columns:
                    column, _ = parse_column(spec)
                    if column in TABULAR_ONLY and SETTINGS[setting].kind != "tabular":
                        continue
                    if (setting, budget, seed, spec) not in done:
                        jobs.append((setting, budget, seed, spec))
    # Longest first, so that the pool does not idle at the end.
    jobs.sort(key=lambda j: -j[1])
    print(f"{len(jobs)} fits to run ({len(done)} already in {raw})", flush=True)
    new = not raw.exists()
    start = time.perf_counter()
    with raw.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        results = Parallel(n_jobs=args.n_jobs, return_as="generator_unordered")(
            delayed(fit_one)(*job) for job in jobs
        )
        for i, row in enumerate(results, 1):
            writer.writerow(row)
            f.flush()
            if i % 10 == 0 or i == len(jobs):
                el = time.perf_counter() - start
                print(f"[{i}/{len(jobs)}] {el:.0f} s", flush=True)


# ---------------------------------------------------------------- reporting
def _t95(n):
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else float("nan")


def load_rows(raw):
    with Path(raw).open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["budget"] = int(r["budget"])
        r["seed"] = int(r["seed"])
        r["bacc"] = float(r["bacc"])
    return rows


def cells(rows, reference="erm_skorch"):
    """Paired gains over ``reference`` per (setting, budget, column)."""
    by = {}
    for r in rows:
        by.setdefault((r["setting"], r["budget"], r["column"]), {})[r["seed"]] = r[
            "bacc"
        ]
    out = []
    for (setting, budget, column), scores in sorted(by.items()):
        ref = by.get((setting, budget, reference), {})
        seeds = sorted(
            s
            for s in set(scores) & set(ref)
            if math.isfinite(scores[s]) and math.isfinite(ref[s])
        )
        if not seeds:
            continue  # e.g. SMOTE where a class has a single sample
        mean = float(np.mean([scores[s] for s in seeds]))
        d = np.array([scores[s] - ref[s] for s in seeds])
        n = len(d)
        half = _t95(n) * d.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
        out.append(
            {
                "setting": setting,
                "budget": budget,
                "column": column,
                "n_seeds": n,
                "bacc": round(mean, 2),
                "ref_bacc": round(float(np.mean([ref[s] for s in seeds])), 2),
                "gain": round(float(d.mean()), 2),
                "lo": round(float(d.mean() - half), 2),
                "hi": round(float(d.mean() + half), 2),
            }
        )
    return out


def _fmt(c):
    if c is None:
        return "-"
    flag = "+" if c["lo"] > 0 else ("-" if c["hi"] < 0 else " ")
    return f"{c['gain']:+5.1f}{flag}[{c['lo']:+.1f},{c['hi']:+.1f}]"


def report(args):
    out = Path(args.out)
    rows = load_rows(out / args.raw)
    if args.kind != "all":
        # One kind of input only: printed, nothing written.
        rows = [r for r in rows if SETTINGS[r["setting"]].kind == args.kind]
        cs = cells(rows)
        settings = [s for s in SETTINGS if any(c["setting"] == s for c in cs)]
        columns = sorted(
            {c["column"] for c in cs},
            key=lambda c: (list(COLUMNS).index(parse_column(c)[0]), c),
        )
        budgets = sorted({c["budget"] for c in cs})
        print(compact_tables(cs, settings, budgets, columns))
        return
    cs = cells(rows)
    with (out / "cells.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(cs[0]))
        w.writeheader()
        w.writerows(cs)
    lookup = {(c["setting"], c["budget"], c["column"]): c for c in cs}
    settings = [s for s in SETTINGS if any(c["setting"] == s for c in cs)]
    budgets = sorted({c["budget"] for c in cs})
    columns = [c for c in dict.fromkeys(r["column"] for r in rows)]
    order = {c: i for i, c in enumerate(COLUMNS)}
    columns.sort(key=lambda c: (order.get(parse_column(c)[0], 99), c))
    lines = [
        "Quality matrix: balanced accuracy gain over plain skorch ERM, in points",
        "(mean over seeds of the paired difference, [95% t-interval]; '+'/'-': "
        "the interval excludes 0).",
        "",
    ]
    for budget in budgets:
        lines.append(f"== {budget} epochs ==")
        head = f"{'column':<34}" + "".join(f"{s[:22]:>24}" for s in settings)
        lines.append(head)
        nan = {"bacc": float("nan")}
        ref_line = f"{'erm_skorch balanced accuracy':<34}" + "".join(
            f"{lookup.get((s, budget, 'erm_skorch'), nan)['bacc']:>24.1f}"
            for s in settings
        )
        lines.append(ref_line)
        for col in columns:
            if col == "erm_skorch":
                continue
            lines.append(
                f"{col[:34]:<34}"
                + "".join(f"{_fmt(lookup.get((s, budget, col))):>24}" for s in settings)
            )
        lines.append("")
    lines.append("== summary per column (all settings and budgets present) ==")
    lines.append(
        f"{'column':<34}{'mean gain':>10}{'min cell':>10}{'cells +':>9}"
        f"{'cells -':>9}{'tune mean':>10}{'conf mean':>10}"
    )
    for col in columns:
        if col == "erm_skorch":
            continue
        mine = [c for c in cs if c["column"] == col]
        if not mine:
            continue
        g = [c["gain"] for c in mine]
        tune = [c["gain"] for c in mine if SETTINGS[c["setting"]].group == "tune"]
        conf = [c["gain"] for c in mine if SETTINGS[c["setting"]].group == "confirm"]
        lines.append(
            f"{col[:34]:<34}{np.mean(g):>+10.2f}{min(g):>+10.1f}"
            f"{sum(c['lo'] > 0 for c in mine):>9}{sum(c['hi'] < 0 for c in mine):>9}"
            f"{(np.mean(tune) if tune else float('nan')):>+10.2f}"
            f"{(np.mean(conf) if conf else float('nan')):>+10.2f}"
        )
    text = "\n".join(lines)
    (out / "table.txt").write_text(text + "\n")
    compact = compact_tables(cs, settings, budgets, columns)
    (out / "compact.txt").write_text(compact + "\n")
    print(compact)
    if args.plot:
        _heatmap(
            cs,
            settings,
            budgets,
            [c for c in columns if c != "erm_skorch"],
            out / "heatmap.png",
        )


SHORT = {
    "mc10_lt50": "mcLT50",
    "mc10_step20": "mcST20",
    "digits_step10": "dgST10",
    "digits16_noisy_lt50": "ndLT50",
    "mc20_lt100_hard": "mc20LT",
    "mc10_step10_noisy": "mcNOIS",
    "breast_cancer_5pct": "bc5%",
    "wine_lt10": "wine",
    "mc10_step20_maps": "maps",
    "digits_lt100": "dgLT100",
    "digits16_noisy_step20": "ndST20",
    "photos_grey_lt20": "phGREY",
    "photos_rgb_step10": "phRGB",
    "shapes_lt50": "shapes",
    "faces_step10": "faces",
}


def compact_tables(cs, settings, budgets, columns):
    """One narrow table per budget: the mean paired gain per cell, '+' / '-'
    where the 95% interval excludes 0, and the mean over all, tune and
    confirm settings."""
    look = {(c["setting"], c["budget"], c["column"]): c for c in cs}
    lines = []
    for budget in budgets:
        seeds = sorted({c["n_seeds"] for c in cs if c["budget"] == budget})
        lines.append(
            f"{budget} epochs ({'/'.join(map(str, seeds))} seeds): "
            "gain over erm_skorch in points of balanced accuracy"
        )
        lines.append(
            f"{'':21}"
            + "".join(f"{SHORT.get(s, s[:8]):>8}" for s in settings)
            + "    mean  tune  conf"
        )
        # The reference over the most seeds paired with it (a column run on
        # fewer seeds pairs with fewer reference fits).
        ref = {}
        for c in sorted(cs, key=lambda c: c["n_seeds"]):
            if c["budget"] == budget:
                ref[c["setting"]] = c["ref_bacc"]
        lines.append(
            f"{'erm_skorch (bal.acc)':21}"
            + "".join(f"{ref.get(s, float('nan')):>8.1f}" for s in settings)
        )
        for col in columns:
            if col == "erm_skorch":
                continue
            line, every, tune, conf = f"{col[:21]:21}", [], [], []
            for s in settings:
                c = look.get((s, budget, col))
                if c is None:
                    line += f"{'-':>8}"
                    continue
                flag = "+" if c["lo"] > 0 else ("-" if c["hi"] < 0 else " ")
                line += f"{c['gain']:>+7.1f}{flag}"
                every.append(c["gain"])
                (tune if SETTINGS[s].group == "tune" else conf).append(c["gain"])
            if not every:
                continue
            line += "".join(
                f"{(np.mean(v) if v else float('nan')):>+{w}.{d}f}"
                for v, w, d in ((every, 8, 2), (tune, 6, 1), (conf, 6, 1))
            )
            lines.append(line)
        lines.append("")
    return "\n".join(lines)


def _heatmap(cs, settings, budgets, columns, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lookup = {(c["setting"], c["budget"], c["column"]): c for c in cs}
    fig, axes = plt.subplots(
        1,
        len(budgets),
        figsize=(5.2 * len(budgets), 0.42 * len(columns) + 2.6),
        squeeze=False,
    )
    for ax, budget in zip(axes[0], budgets, strict=True):
        M = np.full((len(columns), len(settings)), np.nan)
        for i, col in enumerate(columns):
            for j, s in enumerate(settings):
                c = lookup.get((s, budget, col))
                if c:
                    M[i, j] = c["gain"]
        lim = np.nanmax(np.abs(M)) if np.isfinite(M).any() else 1.0
        im = ax.imshow(M, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
        for i in range(len(columns)):
            for j in range(len(settings)):
                c = lookup.get((settings[j], budget, columns[i]))
                if c:
                    sig = "*" if c["lo"] > 0 or c["hi"] < 0 else ""
                    ax.text(
                        j,
                        i,
                        f"{c['gain']:.1f}{sig}",
                        ha="center",
                        va="center",
                        fontsize=6,
                    )
        ax.set_xticks(
            range(len(settings)), settings, rotation=60, ha="right", fontsize=7
        )
        ax.set_yticks(range(len(columns)), columns, fontsize=7)
        ax.set_title(f"{budget} epochs: gain over plain skorch (points)", fontsize=9)
        fig.colorbar(im, ax=ax, shrink=0.6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--settings", default=",".join(SETTINGS))
    r.add_argument("--group", choices=["tune", "confirm", "all"], default="all")
    r.add_argument("--budgets", default="10,30,100")
    r.add_argument("--seeds", default="0,1,2")
    r.add_argument("--columns", default=",".join(DEFAULT_COLUMNS))
    r.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    for q in (r, sub.add_parser("report")):
        q.add_argument("--out", default="benchmarks/results/quality")
        q.add_argument("--raw", default="raw.csv")
    sub.choices["report"].add_argument("--no-plot", dest="plot", action="store_false")
    sub.choices["report"].add_argument(
        "--kind",
        choices=["all", "tabular", "image"],
        default="all",
        help="print the tables of one kind of setting only (writes nothing)",
    )
    args = p.parse_args(argv)
    if args.cmd == "run":
        args.settings = [
            s
            for s in args.settings.split(",")
            if args.group == "all" or SETTINGS[s].group == args.group
        ]
        args.budgets = [int(b) for b in args.budgets.split(",")]
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.columns = split_specs(args.columns)
        run(args)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(main())
