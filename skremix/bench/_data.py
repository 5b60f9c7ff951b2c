"""Data of the benchmark: built-in data sets, user files, and the splits."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from skremix.datasets import (
    balanced_split,
    load_breast_cancer_imbalanced,
    load_digits_images,
    load_wine_data,
    make_imbalanced,
    make_noisy_digits,
)

__all__ = ["BenchError", "load_data", "make_splits"]

DATASETS = ("digits_noisy", "digits", "breast_cancer", "wine")


class BenchError(Exception):
    """A user error: reported as one line with exit code 2, no traceback."""


@dataclass
class Data:
    """Samples with labels encoded ``0 .. C-1`` and the original labels."""

    X: np.ndarray
    y: np.ndarray
    classes: np.ndarray
    name: str
    notes: list

    @property
    def input_shape(self):
        return tuple(self.X.shape[1:])

    @property
    def kind(self):
        return "images" if self.X.ndim == 4 else "tabular"


@dataclass
class Split:
    """One train/test pair of the evaluation."""

    seed: int
    fold: int | None
    train: np.ndarray  # indices into Data.X
    test: np.ndarray


def _load_builtin(name):
    if name == "digits":
        X, y = load_digits_images()
    elif name == "digits_noisy":
        # 12x12 digits at a random place of a 16x16 canvas, noise 0.25: the
        # image task on which the quality matrix separates the methods.
        X, y = make_noisy_digits(random_state=0)
    elif name == "breast_cancer":
        # All 569 samples (212 malignant, 357 benign): the imbalance is
        # imposed by --imbalance / --ratio, as for the other data sets.
        X, y = load_breast_cancer_imbalanced(212 / 569, random_state=0)
    elif name == "wine":
        X, y = load_wine_data()
    else:  # argparse's choices prevent it
        raise BenchError(
            f"unknown data set {name!r}; choose from {', '.join(DATASETS)}"
        )
    return X, y


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("X", "y") if key not in archive.files]
            if missing:
                raise BenchError(
                    f"{path}: the .npz needs arrays 'X' and 'y'; it has "
                    f"{archive.files or 'none'}"
                )
            return archive["X"], archive["y"]
    except BenchError:
        raise
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a readable .npz file ({exc})") from None


def _load_csv(path, label_column):
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BenchError(f"{path}: cannot read the CSV ({exc})") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise BenchError(f"{path}: the CSV needs a header line and at least one row")
    header = [h.strip() for h in rows[0]]
    if label_column is None:
        raise BenchError(
            f"{path}: a CSV needs --label-column (one of: {', '.join(header)})"
        )
    if label_column not in header:
        raise BenchError(
            f"{path}: no column {label_column!r} (columns: {', '.join(header)})"
        )
    label_idx = header.index(label_column)
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise BenchError(
                f"{path}: line {line} has {len(row)} fields, the header has "
                f"{len(header)}"
            )
    features = [j for j in range(len(header)) if j != label_idx]
    if not features:
        raise BenchError(f"{path}: no feature column besides {label_column!r}")
    X = np.empty((len(rows) - 1, len(features)), dtype=np.float64)
    for i, row in enumerate(rows[1:]):
        for k, j in enumerate(features):
            try:
                X[i, k] = float(row[j])
            except ValueError:
                raise BenchError(
                    f"{path}: non-numeric value {row[j]!r} in column "
                    f"{header[j]!r}, line {i + 2} (features must be numeric)"
                ) from None
    labels = np.asarray([row[label_idx].strip() for row in rows[1:]])
    try:  # integer labels stay integers, others stay strings
        as_float = labels.astype(np.float64)
        if np.all(as_float == np.round(as_float)):
            labels = as_float.astype(np.int64)
    except ValueError:
        pass
    return X, labels


def load_data(dataset=None, path=None, label_column=None):
    """Load and check the benchmark's data.

    Returns a :class:`Data` with float32 samples (images as ``(n, c, h, w)``,
    uint8 scaled to ``[0, 1]``) and labels encoded ``0 .. C-1``.
    """
    notes = []
    if path is not None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise BenchError(f"data file not found: {path}")
        ext = os.path.splitext(path)[1].lower()
        if ext == ".npz":
            X, y = _load_npz(path)
        elif ext == ".csv":
            X, y = _load_csv(path, label_column)
        else:
            raise BenchError(
                f"{path}: unsupported file type {ext!r} (use .npz or .csv)"
            )
        name = os.path.basename(path)
    else:
        name = dataset or "digits_noisy"
        X, y = _load_builtin(name)
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1:
        raise BenchError(f"{name}: y must be one-dimensional, got shape {y.shape}")
    if X.ndim < 2 or X.ndim > 4:
        raise BenchError(
            f"{name}: X must be (n, features), (n, h, w) or (n, c, h, w); got "
            f"shape {X.shape}"
        )
    if len(X) != len(y):
        raise BenchError(f"{name}: X has {len(X)} samples but y has {len(y)}")
    if X.dtype.kind not in "biuf":
        raise BenchError(f"{name}: X must be numeric, got dtype {X.dtype}")
    if X.ndim == 3:
        X = X[:, None]
    if X.ndim == 4 and X.shape[-1] in (1, 3) and X.shape[1] not in (1, 3):
        X = X.transpose(0, 3, 1, 2)
        notes.append(
            f"images read as channels-last and moved to {X.shape[1:]} (c, h, w)"
        )
    if X.dtype == np.uint8:
        X = X / np.float32(255.0)
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not np.all(np.isfinite(X)):
        raise BenchError(f"{name}: X contains NaN or infinite values")
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise BenchError(f"{name}: y contains NaN")
    classes, y_enc = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise BenchError(
            f"{name}: a single class ({classes.tolist()}) in y; a classification "
            "benchmark needs at least two"
        )
    return Data(X, y_enc.astype(np.int64), classes, name, notes)


def auto_test_per_class(y):
    """Balanced test samples per class: a quarter of the smallest class."""
    return max(1, int(round(0.25 * np.bincount(y).min())))


def make_splits(
    data,
    *,
    evaluation="holdout",
    imbalance="step",
    ratio=10.0,
    seeds=(0,),
    folds=5,
    test_per_class=None,
):
    """All train/test splits of the run, drawn before any training.

    holdout: per seed, a class-balanced test set (``test_per_class`` per
    class) is split off first, then the imbalance is imposed on the training
    part. cv: per seed, the imbalance is imposed on the whole data set, then
    ``StratifiedKFold(folds, shuffle=True, random_state=seed)``.
    """
    y = data.y
    idx = np.arange(len(y))

    def imbalanced(sub_idx, seed):
        if imbalance == "none":
            return sub_idx
        try:
            kept, _ = make_imbalanced(
                sub_idx, y[sub_idx], kind=imbalance, ratio=ratio, random_state=seed
            )
        except ValueError as exc:
            raise BenchError(
                f"cannot impose --imbalance {imbalance} --ratio {ratio:g} on "
                f"{data.name}: {exc}"
            ) from None
        return kept

    splits = []
    for seed in seeds:
        if evaluation == "holdout":
            per_class = test_per_class or auto_test_per_class(y)
            try:
                train, test, _, _ = balanced_split(idx, y, per_class, random_state=seed)
            except ValueError as exc:
                raise BenchError(
                    f"cannot split a balanced test set off {data.name}: {exc}"
                ) from None
            splits.append(Split(seed, None, imbalanced(train, seed), test))
        else:
            sub = imbalanced(idx, seed)
            smallest = int(np.bincount(y[sub], minlength=len(data.classes)).min())
            if smallest < folds:
                raise BenchError(
                    f"--folds {folds} needs at least {folds} samples per class; the "
                    f"smallest class of {data.name} has {smallest} (after the "
                    "imbalance): lower --folds or --ratio"
                )
            skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            for k, (tr, te) in enumerate(skf.split(sub, y[sub])):
                splits.append(Split(seed, k, sub[tr], sub[te]))
    return splits
