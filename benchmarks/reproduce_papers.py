"""The papers' own experiment: imbalanced CIFAR, ResNet-32, the papers' protocol.

One command runs the rows of the four papers' CIFAR tables with skremix and
prints each next to the published figure (top-1 accuracy on the balanced
test set, %) and the difference::

    python benchmarks/reproduce_papers.py                      # everything
    python benchmarks/reproduce_papers.py --settings cifar10-step-100 \\
        --rows erm,remix_drw,mfw_drw,ldam_drw_rsg --seeds 0,1,2

Data: CIFAR-10 / CIFAR-100 with long-tailed or step imbalance, ratio 100 or
10 (:func:`skremix.datasets.fetch_cifar10_lt`; downloaded once into
``--data-home``, about 160 MiB each), the papers' selection of training
images (seed 0) and the untouched balanced test set.

Protocol, for every row: ResNet-32 (skremix's default module for 32x32
images), SGD with momentum 0.9 and weight decay 2e-4, lr 0.1, batch 128,
5 epochs of linear warm-up, random crop of the 4-pixel padded image and
horizontal flip (``augment='crop_flip'``), inputs standardized per channel
(``standardize=True``). Schedules, per paper:

- ``ldam`` (Cao et al. 2019, also RSG): 200 epochs, lr x0.01 at epoch 160
  and x0.0001 at 180; deferred re-weighting (DRW) and RSG's generation from
  epoch 160. Rows ERM, DRW, LDAM-DRW, LDAM-DRW-RSG, ReMix.
- ``remix`` (Chou et al. 2020): 300 epochs, x0.1 at 150 and x0.01 at 250;
  DRW at the second decay. Rows Mixup, Remix, Remix-DRW.
- ``mfw`` (Ye et al. 2021): 300 epochs, cosine annealing after the warm-up;
  DRW from 80% of the epochs. Rows MFW, MFW w/ DRW, with the paper's alpha
  (Table 6) and beta ('auto': 2.0 long-tailed, 0.01 step).

Choices where the papers are silent or differ, documented rather than
hidden: the Remix paper does not state a warm-up (it ported the LDAM code,
which has one), so its rows get the same 5 epochs; the published ERM, DRW
and LDAM-DRW figures are those of the Remix paper's Table 1 (the MFW paper
reports slightly different ERM numbers); ReMix (Bellinger et al. 2021) has
no figure under this protocol (its CIFAR experiment is binary and
multi-class with its own networks), so its row has none and runs the LDAM
schedule; RSG's published figures exist for ratio 100 only (its Table 6 has
50 and 100), and use its 256-channel contrastive module.

Resumable: every finished fit is a row of ``<out>/results.csv`` (written
atomically); a rerun with the same options skips it. ``--epochs``,
``--subset`` and ``--n-max`` make a CPU smoke run, e.g. the one the test
suite runs (one epoch on a tiny archive the test writes)::

    python benchmarks/reproduce_papers.py --settings cifar10-lt-10 \\
        --rows erm,remix_drw --epochs 1 --subset 200

Time: a full row is 200-300 epochs of ResNet-32 on 10.8k (CIFAR-100-LT 100)
to 27.5k (step 10) images. ``--time-epoch N`` measures it on the machine at
hand without CIFAR: it trains each selected row for ``--epochs`` (default 1)
epochs on N random CIFAR-sized images (uint8, 3x32x32) with the row's
protocol, prints the training throughput and, from it, the time of every
full row of every setting::

    python benchmarks/reproduce_papers.py --time-epoch 50000 \\
        --rows erm,remix_drw,mfw,ldam_drw_rsg
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.datasets import fetch_cifar10_lt, fetch_cifar100_lt, imbalance_profile

# The papers' schedules: epochs, lr milestones (at, factor) or 'cosine', and
# the fraction of the epochs after which deferred re-balancing starts.
PROTOCOLS = {
    "ldam": dict(epochs=200, lr_schedule=((0.8, 0.01), (0.9, 1e-4)), start=0.8),
    "remix": dict(
        epochs=300, lr_schedule=((0.5, 0.1), (250 / 300, 0.01)), start=250 / 300
    ),
    "mfw": dict(epochs=300, lr_schedule="cosine", start=0.8),
}

# Settings: (data set, imbalance, ratio). Published figures are keyed by the
# setting's name.
SETTINGS = {
    f"{data}-{kind}-{ratio}": (data, {"lt": "long_tailed", "step": "step"}[kind], ratio)
    for data in ("cifar10", "cifar100")
    for kind in ("lt", "step")
    for ratio in (100, 10)
}
_ORDER = [
    f"{d}-{k}-{r}"
    for d in ("cifar10", "cifar100")
    for k in ("lt", "step")
    for r in (100, 10)
]


def _figures(*values):
    """Published accuracies in the order of ``_ORDER``."""
    return dict(zip(_ORDER, values, strict=True))


# MFW's alpha per setting (Ye et al., Table 6 of the supplement).
_MFW_ALPHA = {
    "cifar10-lt": 1.0,
    "cifar10-step": 5.0,
    "cifar100-lt": 0.2,
    "cifar100-step": 5.0,
}

# name -> (label, protocol, class, parameters, published accuracy per setting,
#          source). Sources: Chou et al. 2020 Table 1 (Remix), Ye et al. 2021
#          Table 1 (MFW), Wang et al. 2021 Table 6 (RSG, 100 - error).
ROWS = {
    "erm": (
        "ERM",
        "ldam",
        ERMClassifier,
        {},
        _figures(71.86, 86.22, 64.17, 84.02, 40.12, 56.77, 40.13, 54.74),
        "Remix T1",
    ),
    "drw": (
        "DRW",
        "ldam",
        ERMClassifier,
        {"rebalance": "drw"},
        _figures(74.86, 86.88, 71.60, 85.51, 40.66, 57.32, 41.14, 57.22),
        "Remix T1",
    ),
    "ldam_drw": (
        "LDAM-DRW",
        "ldam",
        ERMClassifier,
        {"loss": "ldam", "rebalance": "drw"},
        _figures(76.57, 86.70, 75.94, 86.52, 42.64, 57.18, 45.40, 57.09),
        "Remix T1",
    ),
    "mixup": (
        "Mixup",
        "remix",
        RemixClassifier,
        {"alpha": 1.0, "tau": 0.0, "rebalance": None},
        _figures(73.09, 88.00, 65.80, 85.20, 40.83, 58.37, 39.64, 54.46),
        "Remix T1",
    ),
    "remix": (
        "Remix",
        "remix",
        RemixClassifier,
        {"alpha": 1.0, "rebalance": None},
        _figures(75.36, 88.15, 68.98, 86.34, 41.94, 59.36, 39.96, 57.06),
        "Remix T1",
    ),
    "remix_drw": (
        "Remix-DRW",
        "remix",
        RemixClassifier,
        {"alpha": 1.0, "rebalance": "drw"},
        _figures(79.76, 89.02, 77.86, 88.34, 46.77, 61.23, 46.78, 60.44),
        "Remix T1",
    ),
    "remix_sampling": (
        "ReMix (Aug)",
        "ldam",
        ReMixClassifier,
        {},
        {},
        "no CIFAR-LT figure",
    ),
    "mfw": (
        "MFW",
        "mfw",
        MFWClassifier,
        {"beta": "auto", "rebalance": None},
        _figures(78.5, 89.8, 80.1, 89.6, 44.7, 60.1, 46.9, 61.2),
        "MFW T1",
    ),
    "mfw_drw": (
        "MFW w/ DRW",
        "mfw",
        MFWClassifier,
        {"beta": "auto", "rebalance": "drw"},
        _figures(79.8, 89.7, 81.6, 89.9, 46.0, 59.1, 48.4, 61.6),
        "MFW T1",
    ),
    "ldam_drw_rsg": (
        "LDAM-DRW-RSG",
        "ldam",
        RSGClassifier,
        {"loss": "ldam", "rebalance": "drw", "rsg__contrastive_channels": 256},
        {
            "cifar10-lt-100": 79.55,
            "cifar10-step-100": 78.35,
            "cifar100-lt-100": 44.55,
            "cifar100-step-100": 47.00,
        },
        "RSG T6",
    ),
}

FIELDS = [
    "setting",
    "row",
    "seed",
    "epochs",
    "subset",
    "n_train",
    "accuracy",
    "paper",
    "difference",
    "fit_seconds",
    "seconds_per_epoch",
    "device",
]


def _parse(argv):
    p = argparse.ArgumentParser(
        prog="reproduce_papers.py",
        description="Reproduce the four papers' imbalanced-CIFAR rows with skremix.",
    )
    p.add_argument(
        "--settings",
        default=",".join(_ORDER),
        help="comma-separated settings (default: all): " + ", ".join(_ORDER),
    )
    p.add_argument(
        "--rows",
        default=",".join(ROWS),
        help="comma-separated rows (default: all): " + ", ".join(ROWS),
    )
    p.add_argument("--seeds", default="0", help="comma-separated seeds (default: 0)")
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs of every row (default: each paper's 200 or 300); "
        "milestones scale with it",
    )
    p.add_argument(
        "--subset",
        type=int,
        default=None,
        help="at most this many training and test images (a smoke run)",
    )
    p.add_argument(
        "--n-max",
        type=int,
        default=None,
        help="images of the largest class (default: the papers' 5000 / 500)",
    )
    p.add_argument(
        "--data-home",
        default=None,
        help="where CIFAR is cached (default: $SKREMIX_DATA or ~/skremix_data)",
    )
    p.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading a missing archive",
    )
    p.add_argument(
        "--device", default="auto", help="'auto', 'cpu' or 'cuda' (default: auto)"
    )
    p.add_argument(
        "--out",
        default="reproduce_papers_results",
        help="folder of results.csv (default: ./reproduce_papers_results)",
    )
    p.add_argument(
        "--list", action="store_true", help="list rows and settings, then exit"
    )
    p.add_argument(
        "--time-epoch",
        type=int,
        default=None,
        metavar="N",
        help="time the rows on N random CIFAR-sized images instead, and estimate "
        "every full row's time from it",
    )
    args = p.parse_args(argv)
    for name, known, value in (
        ("settings", SETTINGS, args.settings),
        ("rows", ROWS, args.rows),
    ):
        unknown = [v for v in value.split(",") if v not in known]
        if unknown:
            p.error(f"unknown {name} {unknown}; choose from {list(known)}")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        p.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    for name in ("epochs", "subset", "n_max", "time_epoch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    return args


def _take(X, y, n, random_state):
    """At most ``n`` samples, each class kept in proportion (at least one)."""
    if n is None or n >= len(y):
        return X, y
    rng = np.random.RandomState(random_state)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        k = max(1, int(round(len(idx) * n / len(y))))
        keep.append(rng.choice(idx, size=min(k, len(idx)), replace=False))
    keep = np.sort(np.concatenate(keep))
    return X[keep], y[keep]


def _data(setting, args):
    name, imbalance, ratio = SETTINGS[setting]
    fetch = fetch_cifar10_lt if name == "cifar10" else fetch_cifar100_lt
    kw = dict(
        data_home=args.data_home,
        download_if_missing=not args.no_download,
        return_X_y=True,
    )
    X, y = fetch(
        subset="train", imbalance=imbalance, ratio=ratio, n_max=args.n_max, **kw
    )
    X_test, y_test = fetch(subset="test", **kw)
    X, y = _take(X, y, args.subset, 0)
    X_test, y_test = _take(X_test, y_test, args.subset, 1)
    return X, y, X_test, y_test


def make_estimator(row, setting, epochs, seed, device):
    """The estimator of ``row`` with its paper's protocol for ``setting``."""
    _, protocol, cls, params, _, _ = ROWS[row]
    proto = PROTOCOLS[protocol]
    epochs = proto["epochs"] if epochs is None else epochs
    kw = dict(
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__weight_decay=2e-4,
        lr=0.1,
        batch_size=128,
        max_epochs=epochs,
        lr_warmup=min(5, epochs // 40),  # 5 of 200+ epochs; none in smoke runs
        lr_schedule=proto["lr_schedule"],
        rebalance_start=proto["start"],
        augment="crop_flip",
        standardize=True,
        device=device,
        random_state=seed,
    )
    if cls is RSGClassifier:
        kw["generate_from"] = proto["start"]
    if cls is MFWClassifier:
        kw["alpha"] = _MFW_ALPHA[setting.rsplit("-", 1)[0]]
    kw.update(params)
    return cls(**kw)


def _read(path):
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _write(path, rows):
    """Write the CSV atomically: a crash mid-write keeps the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _key(row):
    return (
        row["setting"],
        row["row"],
        str(row["seed"]),
        str(row["epochs"]),
        str(row["subset"]),
    )


def _fmt(value, spec="+.2f"):
    return "-" if value in (None, "") else format(float(value), spec)


def report(rows):
    """The results table: mean (and sd over seeds) next to the paper."""
    lines = []
    for setting in _ORDER:
        done = [r for r in rows if r["setting"] == setting]
        if not done:
            continue
        lines.append(f"\n{setting}  (top-1 accuracy %, balanced test set)")
        lines.append(
            f"  {'row':<14}{'skremix':>16}{'paper':>9}{'diff':>9}  seeds  epochs"
        )
        for row in ROWS:
            mine = [r for r in done if r["row"] == row]
            if not mine:
                continue
            acc = np.array([float(r["accuracy"]) for r in mine])
            sd = f" +- {acc.std(ddof=1):.2f}" if len(acc) > 1 else ""
            paper = ROWS[row][4].get(setting)
            diff = None if paper is None else acc.mean() - paper
            lines.append(
                f"  {ROWS[row][0]:<14}{acc.mean():>9.2f}{sd:<7}{_fmt(paper, '.2f'):>9}"
                f"{_fmt(diff):>9}  {len(acc):>5}  {mine[0]['epochs']:>6}"
            )
    return "\n".join(lines)


def n_train(setting):
    """Training images of a setting under the papers' profile."""
    name, imbalance, ratio = SETTINGS[setting]
    n_classes, n_max = (10, 5000) if name == "cifar10" else (100, 500)
    return int(imbalance_profile(n_max, n_classes, imbalance, ratio).sum())


def time_epoch(args):
    """Train each row on random CIFAR-sized images; print its throughput and
    the estimated time of its full runs."""
    rng = np.random.default_rng(0)
    n = args.time_epoch
    X = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    y = np.arange(n) % 10
    epochs = args.epochs or 1
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device "
        f"{args.device}; {n} random 3x32x32 uint8 images, {epochs} epoch(s)"
    )
    for row in args.rows.split(","):
        clf = make_estimator(row, "cifar10-lt-100", epochs, 0, args.device)
        clf.fit(X[:256], y[:256])  # warm-up: allocations, kernels
        clf = make_estimator(row, "cifar10-lt-100", epochs, 0, args.device)
        cuda = str(clf.device).startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        clf.fit(X, y)
        if cuda:
            torch.cuda.synchronize()
        rate = n * epochs / (time.perf_counter() - start)
        full = PROTOCOLS[ROWS[row][1]]["epochs"]
        hours = {s: n_train(s) * full / rate / 3600 for s in _ORDER}
        print(
            f"{ROWS[row][0]:<14} {rate:9.0f} images/s on {clf.device}; a full "
            f"{full}-epoch row: {min(hours.values()):.2f} h "
            f"({min(hours, key=hours.get)}) to {max(hours.values()):.2f} h "
            f"({max(hours, key=hours.get)})",
            flush=True,
        )
    return 0


def main(argv=None):
    """Run the selected rows, skipping those already in ``results.csv``."""
    args = _parse(argv)
    if args.time_epoch:
        return time_epoch(args)
    if args.list:
        for row, (label, protocol, cls, params, _, source) in ROWS.items():
            print(
                f"{row:<15}{label:<15}{protocol:<7}{cls.__name__:<17}{params}  [{source}]"
            )
        print("settings:", ", ".join(_ORDER))
        return 0
    out = Path(args.out)
    path = out / "results.csv"
    rows = _read(path)
    done = {_key(r) for r in rows}
    plan = [
        (s, r, seed)
        for s in args.settings.split(",")
        for r in args.rows.split(",")
        for seed in args.seed_list
    ]
    print(
        f"torch {torch.__version__}, device {args.device}, {len(plan)} fits, "
        f"results in {path}",
        flush=True,
    )
    data = {}
    for i, (setting, row, seed) in enumerate(plan, 1):
        clf = make_estimator(row, setting, args.epochs, seed, args.device)
        record = {
            "setting": setting,
            "row": row,
            "seed": seed,
            "epochs": clf.max_epochs,
            "subset": args.subset or "",
        }
        head = f"[{i}/{len(plan)}] {setting} {ROWS[row][0]} seed {seed}"
        if _key(record) in done:
            print(f"{head}: done before, skipped", flush=True)
            continue
        if setting not in data:
            data[setting] = _data(setting, args)
        X, y, X_test, y_test = data[setting]
        start = time.perf_counter()
        clf.fit(X, y)
        seconds = time.perf_counter() - start
        accuracy = 100.0 * float(np.mean(clf.predict(X_test) == y_test))
        paper = ROWS[row][4].get(setting)
        record.update(
            n_train=len(y),
            accuracy=f"{accuracy:.2f}",
            paper="" if paper is None else f"{paper:.2f}",
            difference="" if paper is None else f"{accuracy - paper:+.2f}",
            fit_seconds=f"{seconds:.1f}",
            seconds_per_epoch=f"{seconds / clf.max_epochs:.2f}",
            device=str(clf.device),
        )
        rows.append(record)
        _write(path, rows)
        print(
            f"{head}: {accuracy:.2f} (paper {_fmt(paper, '.2f')}, "
            f"{_fmt(record['difference'])}) in {seconds:.0f} s",
            flush=True,
        )
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
