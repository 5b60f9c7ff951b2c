"""Data-parallel training on 2 ranks against one process: quality and cost.

``quality``: on three settings of the quality matrix (``bench_quality.py``:
``mc10_lt50`` and ``digits_step10`` of its tune group, ``mc20_lt100_hard``
of its confirm group), each class at its defaults is fitted on one process
with ``batch_size=64`` and on 2 gloo ranks with ``batch_size=32`` (the same
global batch of 64, so the same number of steps), for the same seeds, and
scored on the setting's balanced test split. The report gives the paired
difference (2 ranks - 1 rank) in balanced-accuracy points with its 95%
t-interval per setting and class; nothing is chosen from it.

``cost``: the fit time of 2 ranks x 1 thread (``batch_size=B/2``) against 1
process x 2 threads (``batch_size=B``) on two workloads (rows 20,000 x 64,
the default MLP, 3 epochs; 4,000 images 1 x 16 x 16, the default ConvNet, 3
epochs), medians of 3 interleaved runs, each in a fresh process.

Usage (``--out`` defaults to ``benchmarks/results/data_parallel``)::

    python benchmarks/bench_data_parallel.py quality
    python benchmarks/bench_data_parallel.py report
    python benchmarks/bench_data_parallel.py cost

The 2-rank fits run under ``python -m torch.distributed.run
--nproc_per_node=2`` started by this script (the ``worker`` sub-command).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SETTINGS = ["mc10_lt50", "digits_step10", "mc20_lt100_hard"]
COLUMNS = ["erm", "remix", "remix_sampling", "mfw", "rsg"]
SEEDS = [0, 1, 2, 3, 4]
BUDGET = 30
BATCH = 64
FIELDS = ["setting", "seed", "column", "ranks", "bacc", "fit_s"]


def _spec(column, batch_size):
    return f"{column}[batch_size={batch_size}]"


def _fits(args):
    for setting in args.settings.split(","):
        for seed in SEEDS[: args.seeds]:
            for column in args.columns.split(","):
                yield setting, seed, column


def _append(path, row):
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)


def _done(path):
    if not path.exists():
        return set()
    with open(path) as f:
        return {
            (r["setting"], int(r["seed"]), r["column"], int(r["ranks"]))
            for r in csv.DictReader(f)
        }


def worker(args):
    """Run under torchrun: every rank fits every cell; rank 0 records."""
    import bench_quality
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    raw = Path(args.out) / "raw.csv"
    done = _done(raw)
    for setting, seed, column in _fits(args):
        if (setting, seed, column, world) in done:
            continue
        row = bench_quality.fit_one(
            setting, BUDGET, seed, _spec(column, BATCH // world)
        )
        if rank == 0:
            _append(
                raw,
                {
                    "setting": setting,
                    "seed": seed,
                    "column": column,
                    "ranks": world,
                    "bacc": row["bacc"],
                    "fit_s": row["fit_s"],
                },
            )
            print(setting, seed, column, world, row["bacc"], row["fit_s"], flush=True)
    dist.destroy_process_group()
    # A gloo thread can abort interpreter shutdown (user guide, "Scaling
    # out"): the rows are written, leave without it.
    sys.stdout.flush()
    os._exit(0)


def quality(args):
    import bench_quality
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "raw.csv"
    torch.set_num_threads(1)
    done = _done(raw)
    for setting, seed, column in _fits(args):
        if (setting, seed, column, 1) in done:
            continue
        row = bench_quality.fit_one(setting, BUDGET, seed, _spec(column, BATCH))
        _append(
            raw,
            {
                "setting": setting,
                "seed": seed,
                "column": column,
                "ranks": 1,
                "bacc": row["bacc"],
                "fit_s": row["fit_s"],
            },
        )
        print(setting, seed, column, 1, row["bacc"], row["fit_s"], flush=True)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        str(Path(__file__).resolve()),
        "worker",
        "--out",
        str(out),
        "--settings",
        args.settings,
        "--columns",
        args.columns,
        "--seeds",
        str(args.seeds),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, env=env)
    report(args)


def _t95(n):
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365}
    return table.get(n, 1.96)


def report(args):
    out = Path(args.out)
    with open(out / "raw.csv") as f:
        rows = list(csv.DictReader(f))
    by = {}
    for r in rows:
        by[(r["setting"], r["column"], int(r["seed"]), int(r["ranks"]))] = r
    lines = [
        "2 ranks x batch 32 - 1 process x batch 64, balanced accuracy points, "
        f"{BUDGET} epochs; mean [95% t-interval] over paired seeds; "
        "* the interval excludes 0",
        f"{'setting':<18}{'column':<16}{'1 rank':>8}{'2 ranks':>9}  "
        f"{'difference':<22}{'fit s 1 / 2':>12}",
    ]
    for setting in args.settings.split(","):
        for column in args.columns.split(","):
            pairs = [
                (by[(setting, column, s, 1)], by[(setting, column, s, 2)])
                for s in SEEDS
                if (setting, column, s, 1) in by and (setting, column, s, 2) in by
            ]
            if not pairs:
                continue
            a = np.array([float(p[0]["bacc"]) for p in pairs])
            b = np.array([float(p[1]["bacc"]) for p in pairs])
            d = b - a
            n = len(d)
            half = _t95(n - 1) * d.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
            lo, hi = d.mean() - half, d.mean() + half
            star = "*" if lo > 0 or hi < 0 else " "
            fit1 = statistics.mean(float(p[0]["fit_s"]) for p in pairs)
            fit2 = statistics.mean(float(p[1]["fit_s"]) for p in pairs)
            lines.append(
                f"{setting:<18}{column:<16}{a.mean():8.1f}{b.mean():9.1f}  "
                f"{d.mean():+5.1f} [{lo:+5.1f},{hi:+5.1f}]{star} (n={n})"
                f"{fit1:7.1f} /{fit2:5.1f}"
            )
    text = "\n".join(lines)
    print(text)
    (out / "quality.txt").write_text(text + "\n")


# --------------------------------------------------------------------- cost
_COST_BODY = r"""
import json, os, sys, time
import numpy as np, torch
import torch.distributed as dist
from skremix import ERMClassifier, RemixClassifier, ReMixClassifier, MFWClassifier, RSGClassifier
workload, cls_name, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
launched = int(os.environ.get("WORLD_SIZE", "1")) > 1
if launched:
    dist.init_process_group("gloo")
rng = np.random.default_rng(0)
if workload == "rows":
    y = rng.choice(10, size=20000, p=np.r_[[0.3, 0.2], [0.0625] * 8])
    X = (rng.normal(size=(20000, 64)) + y[:, None] * 0.1).astype(np.float32)
    params = dict(optimizer=torch.optim.SGD, lr=0.05, max_epochs=3)
else:
    y = rng.choice(10, size=4000, p=np.r_[[0.3, 0.2], [0.0625] * 8])
    X = (rng.normal(size=(4000, 1, 16, 16)) + y[:, None, None, None] * 0.1).astype(np.float32)
    params = dict(max_epochs=3)
cls = globals()[cls_name]
start = time.perf_counter()
cls(batch_size=batch, random_state=0, **params).fit(X, y)
seconds = time.perf_counter() - start
if not launched or dist.get_rank() == 0:
    print(json.dumps({"seconds": seconds}))
if launched:
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)  # no interpreter shutdown under gloo (user guide, "Scaling out")
"""


def cost(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    body = out / "_cost_body.py"
    body.write_text(_COST_BODY)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    results = {}
    for workload, batch in (("rows", 128), ("images", 64)):
        for cls in args.classes.split(","):
            times = {"1x2": [], "2x1": []}
            for _ in range(args.repeats):
                one = [sys.executable, str(body), workload, cls, str(batch), "2"]
                two = [
                    sys.executable,
                    "-m",
                    "torch.distributed.run",
                    "--nproc_per_node=2",
                    str(body),
                    workload,
                    cls,
                    str(batch // 2),
                    "1",
                ]
                for key, cmd in (("1x2", one), ("2x1", two)):
                    done = subprocess.run(
                        cmd, env=env, capture_output=True, text=True, check=True
                    )
                    line = [
                        ln for ln in done.stdout.splitlines() if ln.startswith("{")
                    ][-1]
                    times[key].append(json.loads(line)["seconds"])
            results[(workload, cls)] = times
            print(
                workload,
                cls,
                {k: [round(t, 2) for t in v] for k, v in times.items()},
                flush=True,
            )
    body.unlink()
    lines = [
        "fit seconds, median of "
        f"{args.repeats} interleaved runs, each in a fresh process; "
        "1 x 2: one process, 2 torch threads, batch B; "
        "2 x 1: 2 gloo ranks, 1 thread each, batch B/2 (the same global batch)",
        f"{'workload':<10}{'class':<18}{'1 x 2':>8}{'2 x 1':>8}{'2x1 / 1x2':>11}",
    ]
    for (workload, cls), times in results.items():
        a, b = statistics.median(times["1x2"]), statistics.median(times["2x1"])
        lines.append(f"{workload:<10}{cls:<18}{a:8.2f}{b:8.2f}{b / a:11.2f}")
    text = "\n".join(lines)
    print(text)
    (out / "cost_cpu.txt").write_text(text + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["quality", "report", "worker", "cost"])
    p.add_argument("--out", default=str(HERE / "results" / "data_parallel"))
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--columns", default=",".join(COLUMNS))
    p.add_argument("--seeds", type=int, default=len(SEEDS))
    p.add_argument("--classes", default="ERMClassifier,RemixClassifier,RSGClassifier")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    {"quality": quality, "report": report, "worker": worker, "cost": cost}[
        args.command
    ](args)


if __name__ == "__main__":
    main()
