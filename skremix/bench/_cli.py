"""The command line of ``skremix-bench``: its defaults, help text and parser."""

from __future__ import annotations

import argparse

import numpy as np

from skremix.bench._data import DATASETS, BenchError
from skremix.bench._methods import DEFAULT_METHODS, list_methods, method_info

__all__: list[str] = []

#: The default budget: the quality matrix's default budget, 5 seeds (with 3,
#: a paired 95% interval is too wide to tell most differences from noise).
DEFAULTS = {"epochs": 30, "seeds": 5, "batch_size": 64, "lr": 1e-3}
#: ``--quick``: the default methods at the same 30 epochs (trained to the same point
#: as the full run, so the ranking can be compared), one seed.
QUICK = {"epochs": 30, "seeds": 1}

_DESCRIPTION = """\
Compare class-imbalance training methods on one network and one budget.

Every method trains the same network (skremix's default module for the input
shape: an MLP for rows, a ConvNet for small images, a ResNet-32 from 32x32),
with AdamW, the same learning rate, epochs and batch size; only the training
method differs. 'erm' is skorch's own NeuralNetClassifier, the reference.

Without arguments: sklearn's digits made harder (12x12, placed at random on
a 16x16 canvas, Gaussian noise; skremix.datasets.make_noisy_digits), a
balanced test set split off first, then long-tailed imbalance ratio 50 on
the training part, the main methods, 30 epochs, 5 seeds: an image setting
of the quality matrix's tune group on which the methods separate beyond
seed noise.
"""

_EPILOG = """\
methods (--methods a,b,c):
{methods}

outputs (in --out): results.csv (one row per method x seed/fold),
summary.json (means, stds, config, versions, device), results.png (balanced
accuracy and g-mean per method; needs matplotlib).

examples:
  skremix-bench --quick
  skremix-bench --dataset wine --imbalance long_tailed --ratio 5 --eval cv
  skremix-bench --data my.npz --imbalance none --methods erm,remix,mfw
  skremix-bench --data my.csv --label-column target --device cuda
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with errors raised as one-line BenchErrors."""

    def error(self, message):
        raise BenchError(f"{message} (see --help)")


def _argument_type(convert, noun, valid, expected):
    """An argparse type: ``convert(text)``, refused unless ``valid(value)``,
    with one-line errors ("expected <noun>, got ..." / "expected <expected>,
    got ...")."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


_positive_int = _argument_type(int, "an integer", lambda v: v >= 1, "an integer >= 1")
_positive_float = _argument_type(
    float, "a number", lambda v: v > 0 and np.isfinite(v), "a number > 0"
)
#: A joblib ``n_jobs``: an integer other than 0.
_n_jobs = _argument_type(
    int, "an integer", lambda v: v != 0, "an integer >= 1, or -1 for all cores"
)


def build_parser():
    """The argument parser of ``skremix-bench``."""
    width = max(len(n) for n in list_methods())
    methods = "\n".join(
        f"  {n.ljust(width)}  {method_info(n)['description']}" for n in list_methods()
    )
    parser = _Parser(
        prog="skremix-bench",
        description=_DESCRIPTION,
        epilog=_EPILOG.format(methods=methods),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    source = data.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset",
        choices=DATASETS,
        help="built-in data set (default: digits_noisy, sklearn's digits as "
        "12x12 images placed at random on a 16x16 canvas with noise; digits: "
        "the plain 8x8 images)",
    )
    source.add_argument(
        "--data",
        metavar="PATH",
        help="your data: a .npz with arrays X and y (rows, (n, h, w) or "
        "(n, c, h, w) images), or a .csv of numeric features (with --label-column)",
    )
    data.add_argument("--label-column", metavar="NAME", help="label column of a .csv")
    data.add_argument(
        "--imbalance",
        choices=("step", "long_tailed", "none"),
        default=None,
        help="imbalance imposed on the training data (holdout) or the whole data "
        "(cv); 'none' keeps the data as it is (default: long_tailed for "
        "digits_noisy, step otherwise)",
    )
    data.add_argument(
        "--ratio",
        type=_positive_float,
        default=None,
        help="imbalance ratio largest/smallest class (default: 50 for "
        "digits_noisy, 10 otherwise)",
    )
    evaluation = parser.add_argument_group("evaluation")
    evaluation.add_argument(
        "--eval",
        choices=("holdout", "cv"),
        default="holdout",
        help="holdout: a class-balanced test set per seed; cv: stratified k-fold "
        "(shuffled, seeded) on the imbalanced data (default: holdout)",
    )
    evaluation.add_argument(
        "--folds", type=_positive_int, default=5, help="folds of --eval cv (default: 5)"
    )
    evaluation.add_argument(
        "--test-per-class",
        type=_positive_int,
        help="holdout test samples per class (default: a quarter of the smallest class)",
    )
    evaluation.add_argument(
        "--seeds",
        type=_positive_int,
        help=f"number of seeds: data draw + network (default: {DEFAULTS['seeds']} "
        "for holdout, 1 for cv)",
    )
    evaluation.add_argument(
        "--seed", type=int, default=0, help="first seed (default: 0)"
    )
    training = parser.add_argument_group("methods and training budget")
    training.add_argument(
        "--methods",
        metavar="A,B,...",
        help="comma-separated methods, or 'all' (default: "
        + ",".join(DEFAULT_METHODS)
        + ")",
    )
    training.add_argument(
        "--list-methods", action="store_true", help="list the methods and exit"
    )
    training.add_argument(
        "--epochs", type=_positive_int, help=f"epochs (default: {DEFAULTS['epochs']})"
    )
    training.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULTS["batch_size"],
        help=f"mini-batch size (default: {DEFAULTS['batch_size']})",
    )
    training.add_argument(
        "--lr",
        type=_positive_float,
        default=DEFAULTS["lr"],
        help=f"AdamW learning rate (default: {DEFAULTS['lr']:g})",
    )
    training.add_argument(
        "--lr-schedule",
        choices=("constant", "step", "cosine"),
        default=None,
        help="one learning-rate schedule for every method: constant, step (x0.1 "
        "at 80%% and x0.01 at 90%% of the epochs, the papers' decays) or cosine "
        "(default: each classifier's own default, constant for the plain skorch net)",
    )
    training.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: CUDA when available, else CPU (default: auto)",
    )
    training.add_argument(
        "--n-jobs",
        type=_n_jobs,
        metavar="N",
        help="fits run at the same time, each (method, seed) in a worker process "
        "through joblib: the loky backend, or the one activated with "
        "joblib.parallel_config (e.g. a Dask cluster); -1: all cores (default "
        "on the CPU; 1 on CUDA, where the fits share one GPU). The rows equal "
        "those of --n-jobs 1 with the same --threads; every worker does an "
        "untimed warm-up fit first, so fit times stay each fit's own",
    )
    training.add_argument(
        "--threads",
        type=_positive_int,
        help="torch CPU threads of each fit; N parallel fits use up to N x THREADS "
        "threads (default: 1 when fits run in parallel, and for inputs of fewer "
        "than 1024 values, such as rows and 8x8 images, whose small networks "
        "gain nothing from more threads and slow down many times when the cores "
        "are shared; torch's default otherwise)",
    )
    training.add_argument(
        "--quick",
        action="store_true",
        help=f"one seed ({QUICK['epochs']} epochs, the default methods): about a minute "
        "on two cores; a first look, with no interval to tell noise from a "
        "difference",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--out",
        metavar="DIR",
        default="skremix-bench-results",
        help="output folder (default: skremix-bench-results/)",
    )
    output.add_argument(
        "--no-plot", action="store_true", help="do not draw results.png"
    )
    output.add_argument(
        "--no-progress", action="store_true", help="no progress bar on stderr"
    )
    return parser
