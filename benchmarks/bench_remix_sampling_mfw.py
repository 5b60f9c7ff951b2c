"""ReMix (resampling mixup) and MFW against plain ERM, on small imbalanced data.

(a) sklearn digits as 8x8 images: a balanced test set (30 per class) is split
    off first, then the training part is step-imbalanced (ratio 10, classes
    5-9 are the minority). Plain skorch ERM, ReMix, MFW and MFW w/ DRW share
    the module (skremix ConvNet), epochs, optimizer (AdamW, lr 1e-3) and batch
    size. Balanced accuracy and g-mean on the balanced test set.
(b) Wisconsin breast cancer with the malignant class cut to 5% of the samples:
    plain skorch ERM vs ReMix, both with the skremix MLP behind a
    StandardScaler, stratified 5-fold cross-validation. G-mean and balanced
    Brier score (lower is better).

Each cell is mean +- std over 3 seeds (in (b) over seeds x folds). Run:

    OMP_NUM_THREADS=1 python benchmarks/bench_remix_sampling_mfw.py

A few minutes on 2 CPU cores.

``benchmarks/results/remix_sampling_mfw.txt`` was run (as
``bench_issue3.py``, commit c469e4d) with the defaults of its time: every
skremix classifier on a per-epoch cosine schedule and, unless set, without
deferred re-weighting, so the "MFW" row is the paper's MFW without DRW. Since
then ReMixClassifier defaults to the 'step' schedule and MFWClassifier to a
constant rate with ``rebalance='drw'`` (the "MFW" row now trains as "MFW w/
DRW"); a run today gives different ReMix and MFW rows. The plain skorch rows
keep their explicit cosine schedule.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import balanced_accuracy_score, make_scorer
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from skorch import NeuralNetClassifier
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import CosineAnnealingLR

from skremix import MFWClassifier, ReMixClassifier
from skremix.datasets import (
    balanced_split,
    load_breast_cancer_imbalanced,
    load_digits_images,
    make_imbalanced,
)
from skremix.metrics import neg_balanced_brier_scorer
from skremix.nn import MLP, ConvNet

SEEDS = (0, 1, 2)
DIGITS = dict(max_epochs=30, batch_size=64, lr=1e-3)
CANCER = dict(max_epochs=40, batch_size=32, lr=1e-3)


def plain_erm(module, n_classes, max_epochs, **module_kwargs):
    """A plain skorch classifier: cross-entropy, shuffled batches, no split,
    and skorch's own cosine schedule so its learning rates per epoch equal the
    skremix default's (seeded through the global torch RNG before fitting)."""
    return NeuralNetClassifier(
        callbacks=[("lr", LRScheduler(CosineAnnealingLR, T_max=max_epochs))],
        module=module,
        module__n_classes=n_classes,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.AdamW,
        iterator_train__shuffle=True,
        train_split=None,
        verbose=0,
        **{f"module__{k}": v for k, v in module_kwargs.items()},
    )


def _to_float32(a):
    return np.asarray(a, dtype=np.float32)


def _cell(values):
    return f"{np.mean(values):.3f} +- {np.std(values):.3f}"


def digits_table():
    X, y = load_digits_images()
    rows = {
        "ERM (plain skorch)": [],
        "ReMix": [],
        "MFW": [],
        "MFW w/ DRW": [],
    }
    for seed in SEEDS:
        X_tr, X_te, y_tr, y_te = balanced_split(X, y, 30, random_state=seed)
        X_tr, y_tr = make_imbalanced(
            X_tr, y_tr, kind="step", ratio=10, random_state=seed
        )
        models = {
            "ERM (plain skorch)": plain_erm(
                ConvNet, 10, DIGITS["max_epochs"], in_channels=1
            ).set_params(**DIGITS),
            "ReMix": ReMixClassifier(ConvNet, random_state=seed, **DIGITS),
            "MFW": MFWClassifier(ConvNet, random_state=seed, **DIGITS),
            "MFW w/ DRW": MFWClassifier(
                ConvNet, rebalance="drw", random_state=seed, **DIGITS
            ),
        }
        for name, model in models.items():
            torch.manual_seed(seed)
            pred = model.fit(X_tr, y_tr).predict(X_te)
            rows[name].append(
                (balanced_accuracy_score(y_te, pred), geometric_mean_score(y_te, pred))
            )
    counts = np.bincount(y_tr)
    print(
        f"(a) digits 8x8, step imbalance ratio 10 (train counts {counts.tolist()}, "
        f"last seed), balanced test 30/class; ConvNet, AdamW lr 1e-3, "
        f"{DIGITS['max_epochs']} epochs, batch {DIGITS['batch_size']}; 3 seeds"
    )
    print(f"{'method':<20} {'balanced acc':>16} {'g-mean':>16}")
    for name, values in rows.items():
        values = np.array(values)
        print(f"{name:<20} {_cell(values[:, 0]):>16} {_cell(values[:, 1]):>16}")


def cancer_table():
    X, y = load_breast_cancer_imbalanced(0.05, random_state=0)
    to32 = FunctionTransformer(_to_float32)  # plain skorch does not cast
    scoring = {
        "g_mean": make_scorer(geometric_mean_score),
        "neg_bbs": neg_balanced_brier_scorer,
    }
    rows = {"ERM (plain skorch)": [], "ReMix": []}
    for seed in SEEDS:
        cv = StratifiedKFold(5, shuffle=True, random_state=seed)
        models = {
            "ERM (plain skorch)": make_pipeline(
                StandardScaler(),
                to32,
                plain_erm(
                    MLP, 2, CANCER["max_epochs"], n_features=X.shape[1]
                ).set_params(**CANCER),
            ),
            "ReMix": make_pipeline(
                StandardScaler(), ReMixClassifier(random_state=seed, **CANCER)
            ),
        }
        for name, model in models.items():
            torch.manual_seed(seed)
            res = cross_validate(model, X, y, cv=cv, scoring=scoring)
            rows[name].extend(
                zip(res["test_g_mean"], -res["test_neg_bbs"], strict=True)
            )
    print(
        f"(b) breast cancer, malignant cut to 5% ({np.bincount(y).tolist()}); MLP "
        f"(128, 128, 128) after StandardScaler, AdamW lr 1e-3, "
        f"{CANCER['max_epochs']} epochs, batch {CANCER['batch_size']}; "
        "stratified 5-fold CV x 3 seeds"
    )
    print(f"{'method':<20} {'g-mean':>16} {'balanced Brier':>16}")
    for name, values in rows.items():
        values = np.array(values)
        print(f"{name:<20} {_cell(values[:, 0]):>16} {_cell(values[:, 1]):>16}")


if __name__ == "__main__":
    start = time.perf_counter()
    digits_table()
    print()
    cancer_table()
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
