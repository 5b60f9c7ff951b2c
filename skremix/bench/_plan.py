"""A run resolved from its arguments before any training: methods, device,
data, seeds and splits, and the header lines that describe it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from skremix.bench._cli import DEFAULTS
from skremix.bench._data import (
    BenchError,
    Data,
    auto_test_per_class,
    load_data,
    make_splits,
)
from skremix.bench._methods import DEFAULT_METHODS, list_methods


def _resolve_methods(text):
    """The methods to run, in the order given (``DEFAULT_METHODS`` by
    default, every method for ``all``)."""
    names = list_methods()
    if text is None:
        chosen = list(DEFAULT_METHODS)
    elif text.strip() == "all":
        chosen = names
    else:
        chosen = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [t for t in chosen if t not in names]
        if unknown:
            raise BenchError(
                f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(names)}"
            )
        if not chosen:
            raise BenchError("--methods is empty")
        chosen = list(dict.fromkeys(chosen))
    return chosen


def _resolve_device(choice):
    """The run's torch device: 'auto' resolved; 'cuda' without a GPU is an
    error."""
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda was requested but torch sees no CUDA GPU")
    return choice


@dataclass
class _Plan:
    """One run, resolved from its arguments before any training: the methods,
    the device, the data and every train/test split."""

    methods: list
    device: str
    data: Data
    seeds: list
    test_per_class: int | None
    splits: list

    @property
    def n_classes(self):
        return len(self.data.classes)

    def first_split_counts(self):
        """Per-class sample counts of the first split: ``(train, test)`` lists."""
        first = self.splits[0]
        return tuple(
            np.bincount(self.data.y[idx], minlength=self.n_classes).tolist()
            for idx in (first.train, first.test)
        )


def _seeds(first, n, evaluation):
    """The run's seeds: ``n`` of them from ``first``; when ``n`` is None, one
    for cv and ``DEFAULTS['seeds']`` for holdout."""
    n = n or (1 if evaluation == "cv" else DEFAULTS["seeds"])
    return list(range(first, first + n))


def _unit(evaluation):
    """What the runs of one method are counted in: seeds or folds."""
    return "seeds" if evaluation == "holdout" else "folds"


def _ratio_text(args):
    """``' ratio R'`` to follow the imbalance's name; empty for 'none'."""
    return "" if args.imbalance == "none" else f" ratio {args.ratio:g}"


def _plan(args):
    """Resolve the methods, the device, the data and its splits, in that order
    (the first bad argument is the one reported); nothing is trained or
    written yet."""
    methods = _resolve_methods(args.methods)
    device = _resolve_device(args.device)
    data = load_data(args.dataset, args.data, args.label_column)
    seeds = _seeds(args.seed, args.seeds, args.eval)
    test_per_class = args.test_per_class
    if args.eval == "holdout" and test_per_class is None:
        test_per_class = auto_test_per_class(data.y)
    splits = make_splits(
        data,
        evaluation=args.eval,
        imbalance=args.imbalance,
        ratio=args.ratio,
        seeds=seeds,
        folds=args.folds,
        test_per_class=test_per_class,
    )
    return _Plan(methods, device, data, seeds, test_per_class, splits)


def _header(args, plan, n_threads, n_parallel=1):
    """The lines printed before training: data, evaluation, class counts of
    the first split, budget (``n_threads`` torch threads per fit,
    ``n_parallel`` fits at a time)."""
    data = plan.data
    train_counts, test_counts = plan.first_split_counts()
    shape = "x".join(str(d) for d in data.input_shape)
    lines = [
        f"data: {data.name}, {data.kind} {shape}, {len(data.y)} samples, "
        f"{plan.n_classes} classes"
    ]
    lines += [f"note: {note}" for note in data.notes]
    if args.eval == "holdout":
        lines.append(
            f"evaluation: holdout, balanced test set of {plan.test_per_class} per "
            f"class, imbalance {args.imbalance}{_ratio_text(args)} on the training "
            f"part; {len(plan.seeds)} seed(s) {plan.seeds}"
        )
    else:
        lines.append(
            f"evaluation: {args.folds}-fold stratified CV (shuffled) on the data with "
            f"imbalance {args.imbalance}{_ratio_text(args)}; {len(plan.seeds)} "
            f"seed(s) {plan.seeds}"
        )
    lines.append(
        f"train counts per class (first split): {train_counts}; test: {test_counts}"
    )
    lines.append(
        f"budget: {args.epochs} epochs, batch size {args.batch_size}, AdamW lr "
        f"{args.lr:g} ({args.lr_schedule or 'each method: its default schedule'}), "
        f"device {plan.device} ("
        + ("" if n_parallel == 1 else f"{n_parallel} fits at a time, each ")
        + f"{n_threads} CPU thread(s)); "
        f"methods: {', '.join(plan.methods)}"
    )
    return lines
