"""What precise BN costs, whole pass against a bounded number of batches.

The 1-epoch ResNet-32 workload of issue 29 (2,000 random 3 x 32 x 32 images,
10 classes, SGD with momentum, batch 128: 16 batches an epoch), fitted by
``ERMClassifier`` with ``precise_bn`` True (one whole extra forward pass),
8 (at most 8 batches) and False, interleaved, each repeat running every
variant once after one warm-up fit; prints the median fit seconds and each
variant's ratio to ``precise_bn=False``.

Usage::

    python benchmarks/bench_precise_bn_cost.py [--repeats 3] [--n 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from skremix import ERMClassifier
from skremix.nn import ResNet32


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n", type=int, default=2000)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n, 3, 32, 32)).astype(np.float32)
    y = np.arange(args.n) % 10
    variants = {"precise_bn=True": True, "precise_bn=8": 8, "precise_bn=False": False}

    def fit(value, n=None):
        clf = ERMClassifier(
            module=ResNet32,
            max_epochs=1,
            batch_size=128,
            optimizer=torch.optim.SGD,
            optimizer__momentum=0.9,
            lr=0.1,
            precise_bn=value,
            random_state=0,
        )
        start = time.perf_counter()
        clf.fit(X[:n], y[:n])
        return time.perf_counter() - start

    fit(True, 256)  # warm-up
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, value in variants.items():
            times[name].append(fit(value))
    off = statistics.median(times["precise_bn=False"])
    print(
        f"ERMClassifier, ResNet-32, {args.n} images, 1 epoch, batch 128, "
        f"{torch.get_num_threads()} threads; median of {args.repeats} interleaved"
    )
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:18s} {med:7.2f} s  {med / off:5.2f} x precise_bn=False")


if __name__ == "__main__":
    main()
