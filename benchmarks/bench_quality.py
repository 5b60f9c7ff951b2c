"""The quality matrix: every method against plain skorch on many imbalanced settings.

Each cell is a (setting, budget, column) triple: a data set with an imposed
imbalance, a number of epochs and an estimator. Every column is fitted on the
same training split per seed (the split, the imbalanced subsample and the
network's initialisation all follow the seed) and scored on a class-balanced
test set by balanced accuracy (and, per fit, g-mean, the balanced Brier score,
top-label and class-wise ECE and many / medium / few-shot recall: ``METRICS``;
``report --metric`` tabulates any of them). Differences to the reference column
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
    # the same for other metrics (lower-is-better ones as reference - column)
    python benchmarks/bench_quality.py report --metric bbs,ece --out ...

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

#: Per-fit metrics: name -> (label, lower is better, display scale, unit).
#: ``bacc``, ``gmean`` and the recalls are stored in points (x100), the
#: balanced Brier score and the ECEs as they are (in [0, 1], the multi-class
#: BBS in [0, 2]) and displayed x100. Raw files written before a metric was
#: recorded read it as NaN: their tables for it are empty.
METRICS = {
    "bacc": ("balanced accuracy", False, 1, "points"),
    "gmean": ("g-mean", False, 1, "points"),
    "bbs": ("balanced Brier score", True, 100, "x100"),
    "ece": ("top-label ECE (15 equal-width bins)", True, 100, "x100"),
    "cw_ece": ("class-wise ECE (15 equal-width bins)", True, 100, "x100"),
    "many": ("many-shot recall (> 100 training samples)", False, 1, "points"),
    "medium": ("medium-shot recall (20-100 training samples)", False, 1, "points"),
    "few": ("few-shot recall (< 20 training samples)", False, 1, "points"),
}
FIELDS = ["setting", "budget", "seed", "column", *METRICS, "fit_s"]


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
    # The ReMix paper's kind of settings (Bellinger et al., Table 1): binary
    # problems with the minority at IR = N+/N- of 0.05, 0.025, 0.01 (rho 20,
    # 40, 100) and multi-class ones with a subset of the classes cut to IR
    # 0.25, 0.1, 0.05 (rho 4, 10, 20).
    "mc2_ir01": (
        dict(random_state=106, n_classes=2, n_per_class=2000),
        (100, "step", 100, 1500),
    ),
    "mc2_hard_ir05": (
        dict(random_state=107, n_classes=2, n_per_class=2000, class_sep=0.7),
        (100, "step", 20, 1500),
    ),
    "mc6_step4": (dict(random_state=108, n_classes=6), (100, "step", 4, 400)),
}

#: Fraction of minority classes of a step setting (default 0.5).
_MU = {"digits123_step10": 0.3}


def _make_tabular(
    *,
    n_classes=10,
    class_sep=1.0,
    flip_y=0.0,
    n_informative=10,
    n_per_class=600,
    random_state,
):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_classes * n_per_class,
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
    if name in ("digits8_ir025", "digits3_ir01", "digits123_step10"):
        # sklearn's digits (the UCI optical digits' test part) as 64 rows.
        X, y = load_digits_images()
        X = X.reshape(len(X), -1)
        if name == "digits123_step10":
            # The paper's "1, 2, 3 vs 0, 4-9": digits 1, 2, 3 relabelled
            # last, so that the step profile (mu 0.3) cuts them.
            order = np.array([0, 4, 5, 6, 7, 8, 9, 1, 2, 3])
            return X, np.argsort(order)[y], 30, "step", 10, 144
        # One digit (label 1) against the nine others merged (label 0, the
        # majority): 50 test per class, the digit cut to 1500 / rho.
        digit, ratio = (8, 40) if name == "digits8_ir025" else (3, 100)
        return X, (y == digit).astype(np.int64), 50, "step", ratio, 1500
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
            "mc2_ir01",
            "tune",
            "tabular",
            "make_classification 2 classes, minority at IR 0.01 (1500/15): ReMix paper",
        ),
        Setting(
            "digits8_ir025",
            "tune",
            "tabular",
            "digits as 64 rows, 8 vs the rest, IR 0.025 (1500/37): ReMix paper",
        ),
        Setting(
            "digits123_step10",
            "tune",
            "tabular",
            "digits as 64 rows, 1,2,3 cut to IR 0.1 (144/14): ReMix paper",
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
            "mc2_hard_ir05",
            "confirm",
            "tabular",
            "make_classification 2 classes, class_sep 0.7, minority at IR 0.05 "
            "(1500/75): ReMix paper",
        ),
        Setting(
            "digits3_ir01",
            "confirm",
            "tabular",
            "digits as 64 rows, 3 vs the rest, IR 0.01 (1500/15): ReMix paper",
        ),
        Setting(
            "mc6_step4",
            "confirm",
            "tabular",
            "make_classification 6 classes, 3 cut to IR 0.25 (400/100): ReMix paper",
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
        X_tr,
        y_tr,
        kind=kind,
        ratio=ratio,
        n_max=n_max,
        mu=_MU.get(name, 0.5),
        random_state=seed,
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
    "mixup": (
        "RemixClassifier",
        {"tau": 0.0, "rebalance": None, "alpha": 0.3},
        "plain input mixup: RemixClassifier(tau=0, rebalance=None, alpha=0.3), "
        "the ReMix paper's MixUp row at ReMixClassifier's alpha",
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


def training_counts(est, y_tr, n_classes):
    """The training counts per class the shot groups are taken from: the
    fitted classifier's ``class_counts_`` when it has them (skremix's
    classes), else the counts of the cell's own training labels ``y_tr``
    (plain skorch, the boosted trees and, for the imblearn-sampler columns,
    the labels before ROS / SMOTE resampled them)."""
    final = est[-1] if hasattr(est, "steps") else est
    counts = getattr(final, "class_counts_", None)
    if counts is not None and len(counts) == n_classes:
        return np.asarray(counts)
    return np.bincount(np.asarray(y_tr, dtype=np.int64), minlength=n_classes)


def score(est, X_te, y_te, y_tr):
    """The metrics of ``METRICS`` of a fitted cell on its test split.

    Probabilities are ``predict_proba``'s, in ``classes_`` order (a pipeline's
    are its last step's), widened to every class of the test set if one was
    absent from training."""
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import balanced_accuracy_score

    from skremix.metrics import (
        balanced_brier_score,
        expected_calibration_error,
        shot_recall,
    )

    labels = np.unique(y_te)
    pred = np.asarray(est.predict(X_te))
    proba = np.asarray(est.predict_proba(X_te), dtype=np.float64)
    classes = np.asarray(getattr(est, "classes_", np.arange(proba.shape[1])))
    if proba.shape[1] != len(labels) or not np.array_equal(classes, labels):
        full = np.zeros((len(proba), len(labels)))
        full[:, np.searchsorted(labels, classes)] = proba
        proba = full
    if not np.isfinite(proba).all():
        raise FloatingPointError("predict_proba returned non-finite values")
    proba = np.clip(proba, 0.0, 1.0)
    shots = shot_recall(
        y_te, pred, training_counts(est, y_tr, len(labels)), labels=labels
    )
    return {
        "bacc": 100 * balanced_accuracy_score(y_te, pred),
        "gmean": 100 * geometric_mean_score(y_te, pred, average="multiclass"),
        "bbs": balanced_brier_score(y_te, proba, labels=labels),
        "ece": expected_calibration_error(y_te, proba, labels=labels, n_bins=15),
        "cw_ece": expected_calibration_error(
            y_te, proba, labels=labels, n_bins=15, kind="classwise"
        ),
        **{k: 100 * v for k, v in shots.items()},
    }


def fit_one(setting, budget, seed, spec):
    """Fit one cell for one seed; returns a result row."""
    start = time.perf_counter()
    try:
        est, _, y_tr, X_te, y_te = fit_cell(setting, budget, seed, spec)
        scores = score(est, X_te, y_te, y_tr)
    except (ValueError, FloatingPointError) as exc:
        # A column that cannot run here (SMOTE with a one-sample class)
        # or a diverged fit: recorded as missing, the run goes on.
        print(
            f"{setting} {budget} {seed} {spec}: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}",
            file=sys.stderr,
            flush=True,
        )
        scores = {m: float("nan") for m in METRICS}
    digits = {m: 3 if METRICS[m][2] == 1 else 5 for m in METRICS}
    return {
        "setting": setting,
        "budget": budget,
        "seed": seed,
        "column": spec,
        **{m: round(float(scores[m]), digits[m]) for m in METRICS},
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


def _upgrade_header(raw):
    """Rewrite a raw CSV written before some of ``FIELDS`` were recorded with
    the current header (its rows keep their values, the new fields empty:
    NaN when read), so that the fits appended to it keep every metric."""
    if not raw.exists():
        return
    with raw.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames == FIELDS:
            return
        rows = list(reader)
    tmp = raw.with_suffix(".csv.tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, raw)
    print(f"{raw}: header upgraded to {','.join(FIELDS)}", flush=True)


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
    _upgrade_header(raw)
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


def _number(text):
    try:
        return float(text)
    except (TypeError, ValueError):  # a field missing from an older file
        return float("nan")


def load_rows(raw):
    """The rows of a raw CSV, every metric of ``METRICS`` a float (NaN when
    the file predates it)."""
    with Path(raw).open() as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["budget"] = int(r["budget"])
        r["seed"] = int(r["seed"])
        for m in METRICS:
            r[m] = _number(r.get(m))
    return rows


def cells(rows, reference="erm_skorch", metric="bacc"):
    """Paired gains over ``reference`` per (setting, budget, column).

    The gain is in ``metric``'s display unit (``METRICS``: points, or x100
    for the balanced Brier score and the ECEs) and oriented so that positive
    is better: column - reference, or reference - column for a metric where
    lower is better (the ReMix paper's "BBS gain", BBS(baseline) -
    BBS(alternative)). The cell's mean is under ``metric``'s name and the
    reference's under ``ref_<metric>``, both in the display unit."""
    _, lower, scale, _ = METRICS[metric]
    sign = -1.0 if lower else 1.0
    by = {}
    for r in rows:
        by.setdefault((r["setting"], r["budget"], r["column"]), {})[r["seed"]] = (
            scale * r[metric]
        )
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
        d = sign * np.array([scores[s] - ref[s] for s in seeds])
        n = len(d)
        half = _t95(n) * d.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
        out.append(
            {
                "setting": setting,
                "budget": budget,
                "column": column,
                "n_seeds": n,
                metric: round(mean, 2),
                f"ref_{metric}": round(float(np.mean([ref[s] for s in seeds])), 2),
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


def metric_header(metric, reference="erm_skorch"):
    """What a table of ``metric`` shows, sign convention included."""
    label, lower, _, unit = METRICS[metric]
    if lower:
        return (
            f"{label} gain over {reference}, {unit}: {reference} minus column "
            "(lower is better, so a positive gain is a better-calibrated column)"
        )
    return f"{label} gain over {reference}, in {unit}"


def _file(name, metric):
    """``table.txt`` for balanced accuracy, ``table_<metric>.txt`` else."""
    if metric == "bacc":
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_{metric}{dot}{ext}"


def report(args):
    out = Path(args.out)
    rows = load_rows(out / args.raw)
    for metric in args.metric:
        if len(args.metric) > 1:
            print(f"== {metric}: {METRICS[metric][0]} ==")
        _report_metric(args, out, rows, metric)


def _report_metric(args, out, rows, metric):
    if args.kind != "all":
        # One kind of input only: printed, nothing written.
        rows = [r for r in rows if SETTINGS[r["setting"]].kind == args.kind]
    cs = cells(rows, metric=metric)
    if not cs:
        print(f"no finite {metric} in {out / args.raw} (recorded before it was?)")
        return
    settings = [s for s in SETTINGS if any(c["setting"] == s for c in cs)]
    budgets = sorted({c["budget"] for c in cs})
    if args.kind != "all":
        columns = sorted(
            {c["column"] for c in cs},
            key=lambda c: (list(COLUMNS).index(parse_column(c)[0]), c),
        )
        print(compact_tables(cs, settings, budgets, columns, metric))
        return
    with (out / _file("cells.csv", metric)).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(cs[0]))
        w.writeheader()
        w.writerows(cs)
    lookup = {(c["setting"], c["budget"], c["column"]): c for c in cs}
    columns = [c for c in dict.fromkeys(r["column"] for r in rows)]
    order = {c: i for i, c in enumerate(COLUMNS)}
    columns.sort(key=lambda c: (order.get(parse_column(c)[0], 99), c))
    label = METRICS[metric][0]
    lines = [
        f"Quality matrix: {metric_header(metric, 'plain skorch ERM')}",
        "(mean over seeds of the paired difference, [95% t-interval]; '+'/'-': "
        "the interval excludes 0).",
        "",
    ]
    for budget in budgets:
        lines.append(f"== {budget} epochs ==")
        head = f"{'column':<34}" + "".join(f"{s[:22]:>24}" for s in settings)
        lines.append(head)
        nan = {f"ref_{metric}": float("nan")}
        ref_line = f"{('erm_skorch ' + label)[:33]:<34}" + "".join(
            f"{lookup.get((s, budget, 'erm_skorch'), nan)[f'ref_{metric}']:>24.1f}"
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
    (out / _file("table.txt", metric)).write_text(text + "\n")
    compact = compact_tables(cs, settings, budgets, columns, metric)
    (out / _file("compact.txt", metric)).write_text(compact + "\n")
    print(compact)
    if args.plot:
        _heatmap(
            cs,
            settings,
            budgets,
            [c for c in columns if c != "erm_skorch"],
            out / _file("heatmap.png", metric),
            metric,
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
    "mc2_ir01": "mc2IR01",
    "digits8_ir025": "dg8IR25",
    "digits123_step10": "dg123",
    "mc2_hard_ir05": "mc2IR05",
    "digits3_ir01": "dg3IR01",
    "mc6_step4": "mc6ST4",
}


def compact_tables(cs, settings, budgets, columns, metric="bacc"):
    """One narrow table per budget: the mean paired gain per cell, '+' / '-'
    where the 95% interval excludes 0, and the mean over all, tune and
    confirm settings."""
    look = {(c["setting"], c["budget"], c["column"]): c for c in cs}
    what = (
        "gain over erm_skorch in points of balanced accuracy"
        if metric == "bacc"
        else metric_header(metric)
    )
    short = {"bacc": "bal.acc", "gmean": "g-mean", "cw_ece": "cw-ECE"}
    lines = []
    for budget in budgets:
        seeds = sorted({c["n_seeds"] for c in cs if c["budget"] == budget})
        lines.append(f"{budget} epochs ({'/'.join(map(str, seeds))} seeds): {what}")
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
                ref[c["setting"]] = c[f"ref_{metric}"]
        lines.append(
            f"{'erm_skorch (' + short.get(metric, metric) + ')':21}"
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


def _heatmap(cs, settings, budgets, columns, path, metric="bacc"):
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
        unit = METRICS[metric][3]
        ax.set_title(
            f"{budget} epochs: {metric} gain over plain skorch ({unit}"
            + (", reference - column" if METRICS[metric][1] else "")
            + ")",
            fontsize=9,
        )
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
        "--metric",
        default="bacc",
        help="comma-separated metrics to tabulate, of "
        + ", ".join(METRICS)
        + " (default bacc: table.txt etc.; another writes table_<metric>.txt, "
        "compact_<metric>.txt, cells_<metric>.csv, heatmap_<metric>.png); "
        "lower-is-better ones (bbs, ece, cw_ece) as reference - column",
    )
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
        args.metric = [m.strip() for m in args.metric.split(",") if m.strip()]
        unknown = [m for m in args.metric if m not in METRICS]
        if unknown:
            p.error(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
        report(args)


if __name__ == "__main__":
    sys.exit(main())
