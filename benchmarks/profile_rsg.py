"""Where an RSG training step spends its CPU time: torch.profiler's top operators.

Fits ``RSGClassifier`` on the tabular case of ``bench_cost.py`` (20,000 x 64
rows, 10 classes with step imbalance, the MLP, batch 128, AdamW), generating
from the first epoch, then profiles one more epoch (``partial_fit``) and
prints the operators with the largest self CPU time, the profiled total and
the operator calls per training step. ``--rsg-baseline DIR`` profiles the
generator module of another checkout the same way in the same process
(``bench_cost.baseline_rsg_classifier``), so before and after come from one
run; ``--erm`` adds ``ERMClassifier`` for scale. One torch thread.

    python benchmarks/profile_rsg.py [--rsg-baseline DIR] [--erm] [--rows 12]

Committed output: ``benchmarks/results/cost/profile_rsg_cpu.txt``.
"""

import argparse

import numpy as np
import torch
from bench_cost import baseline_rsg_classifier, make_data
from torch.profiler import ProfilerActivity, profile

from skremix import ERMClassifier, RSGClassifier
from skremix.nn import MLP


def profile_fit(make, X, y, rows):
    clf = make().fit(X, y)  # one epoch: warm-up, centers, generation running
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        clf.partial_fit(X, y)
    events = prof.key_averages()
    steps = -(-len(X) // 128)
    total_ms = sum(e.self_cpu_time_total for e in events) / 1e3
    calls = sum(e.count for e in events)
    print(
        f"profiled epoch: self CPU total {total_ms:.1f} ms, {steps} steps, "
        f"{calls / steps:.0f} operator calls per step"
    )
    print(events.table(sort_by="self_cpu_time_total", row_limit=rows))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rsg-baseline", metavar="DIR")
    p.add_argument("--erm", action="store_true")
    p.add_argument("--rows", type=int, default=12)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    X, y = make_data("tabular", 20000, np.random.default_rng(0))
    common = dict(
        module=MLP,
        max_epochs=1,
        batch_size=128,
        lr=1e-3,
        lr_schedule="constant",
        random_state=0,
    )
    print(f"torch {torch.__version__}, 1 thread, X {X.shape}, batch 128")
    runs = {"RSG generating (this checkout)": RSGClassifier}
    if args.rsg_baseline:
        runs[f"RSG generating (baseline {args.rsg_baseline})"] = (
            baseline_rsg_classifier(args.rsg_baseline)
        )
    if args.erm:
        runs["ERM"] = ERMClassifier
    for name, cls in runs.items():
        print(f"\n== {name} ==")
        kw = {} if cls is ERMClassifier else {"generate_from": 0}
        profile_fit(lambda cls=cls, kw=kw: cls(**kw, **common), X, y, args.rows)


if __name__ == "__main__":
    main()
