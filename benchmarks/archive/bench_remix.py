"""Remix vs Remix-DRW vs ERM (plain skorch and skremix) on imbalanced digits images.

sklearn's digits as (n, 1, 8, 8) images; a balanced test set of 30 images per
class is held out first, then step imbalance (ratio 10, half the classes
minority) is imposed on the training part. Same module (skremix ConvNet),
optimizer (AdamW, lr 1e-3), epochs and batch size for every method; balanced
accuracy on the test set, mean +- std over seeds. "plain skorch" keeps skorch's
constant learning rate; the skremix classifiers (ERM included) use a per-epoch
cosine schedule.

    python benchmarks/archive/bench_remix.py [--epochs 30] [--seeds 3] \
        [--current-defaults]

``benchmarks/archive/results/remix_digits_step10.txt`` was run (as
``bench_foundation.py``, committed in 0bb609d) with the defaults of that time,
and the script pins them (``PINNED``) so that it reproduces that file:
``optimizer__foreach=False`` (torch's for-loop AdamW, the default then;
skremix now builds it fused) and ``lr_schedule='cosine'`` for every
skremix classifier (the default is
'constant' since 1a7cdfc) and ``alpha=1.0`` for RemixClassifier (0.4 since
5c4d544). The rows set their re-weighting themselves: "Remix" is
``rebalance=None`` (plain Remix; RemixClassifier defaults to 'drw' since
5c4d544) and "Remix-DRW" ``rebalance='drw'``. The plain skorch row has no
skremix defaults. ``--current-defaults`` drops ``PINNED`` (today's schedule
and alpha; the rows keep their meaning) and gives numbers that are not those
of the committed file.

The figures come back bit for bit with the CPU kernels of the machine that
made them, PyTorch's AVX2 ones: on an AVX-512 CPU run with
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` (torch 2.13.0+cpu). The
AVX-512 kernels round differently and move a test image here and there, in
the plain skorch row too.
Run with the default 2 threads, as the committed file was.
"""

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score
from skorch import NeuralNetClassifier

from skremix import ERMClassifier, RemixClassifier
from skremix.datasets import balanced_split, load_digits_images, make_imbalanced
from skremix.nn import ConvNet

# The defaults of 2026-11-21 that made
# benchmarks/archive/results/remix_digits_step10.txt.
PINNED = {
    "ERM": dict(lr_schedule="cosine", optimizer__foreach=False),
    "Remix": dict(lr_schedule="cosine", alpha=1.0, optimizer__foreach=False),
}


def plain_skorch(seed, callbacks=None, **common):
    """skorch's own ``NeuralNetClassifier`` with the 1-channel ConvNet of the
    digits benchmarks (also of ``bench_rsg_ldam.py``), seeded by ``seed``."""
    torch.manual_seed(seed)
    return NeuralNetClassifier(
        ConvNet,
        module__in_channels=1,
        module__n_classes=10,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        callbacks=callbacks,
        **common,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--ratio", type=float, default=10.0)
    parser.add_argument(
        "--current-defaults",
        action="store_true",
        help="today's skremix defaults instead of PINNED (not the committed file)",
    )
    args = parser.parse_args()
    pinned = {key: {} for key in PINNED} if args.current_defaults else PINNED

    X, y = load_digits_images()
    common = dict(
        max_epochs=args.epochs, batch_size=64, lr=1e-3, optimizer=torch.optim.AdamW
    )

    methods = {
        "plain skorch (ERM)": lambda seed: plain_skorch(seed, **common),
        "skremix ERM": lambda seed: ERMClassifier(
            random_state=seed, **pinned["ERM"], **common
        ),
        "Remix": lambda seed: RemixClassifier(
            rebalance=None, random_state=seed, **pinned["Remix"], **common
        ),
        "Remix-DRW": lambda seed: RemixClassifier(
            rebalance="drw", random_state=seed, **pinned["Remix"], **common
        ),
    }
    scores = {name: [] for name in methods}
    for seed in range(args.seeds):
        X_tr, X_te, y_tr, y_te = balanced_split(
            X, y, test_per_class=30, random_state=seed
        )
        X_tr, y_tr = make_imbalanced(
            X_tr, y_tr, kind="step", ratio=args.ratio, random_state=seed
        )
        for name, make in methods.items():
            t0 = time.perf_counter()
            clf = make(seed).fit(X_tr, y_tr)
            bacc = balanced_accuracy_score(y_te, clf.predict(X_te))
            scores[name].append(bacc)
            print(
                f"seed {seed} {name:<20s} bacc {bacc:.4f} ({time.perf_counter() - t0:.1f}s)"
            )
    print(
        f"\ntrain counts per class: {np.bincount(y_tr).tolist()} (seed {seed}); test: 30 per class"
    )
    print(f"{'method':<20s} balanced accuracy (mean +- std over {args.seeds} seeds)")
    for name, s in scores.items():
        print(f"{name:<20s} {np.mean(s):.4f} +- {np.std(s):.4f}")


if __name__ == "__main__":
    main()
