"""Wall time of one grid search: sequential, on loky, on Dask and on Ray.

The same ``GridSearchCV`` (RemixClassifier on the default ConvNet, digits 8x8
with a step imbalance of ratio 10, 8 candidates x 3 folds = 24 fits) run as:

- ``n_jobs=1`` in the calling process: torch's default thread count, then
  ``torch.set_num_threads(1)``;
- loky ``n_jobs=2``: joblib's limit on the workers' threads
  (``cpu_count() // n_jobs``), then ``inner_max_num_threads=2``;
- Dask ``LocalCluster`` under ``joblib.parallel_config(backend="dask")``:
  1 worker x 1 thread, 1 worker x 2 threads, 2 workers x 1 thread, and 2
  workers x 1 thread without the nanny's ``MALLOC_TRIM_THRESHOLD_``;
- Ray (``--ray``, if installed): 2 actors through ``ray.util.joblib``.

Each setting runs in a fresh Python process (a Dask nanny changes its
parent's environment, which later child processes would inherit). Pools and
clusters are started and warmed (one small fit in every worker and in the
calling process) before the clock starts; their start time is printed apart.
Every fit reports, through two extra scorers, its process id and the torch
thread count it ran with, so each row says where the fits ran. Scores are
compared with the ``n_jobs=1``, one-thread row.

    python benchmarks/bench_distributed_search.py [--epochs 5] [--ray] \
        [--out benchmarks/results/distributed_search.txt]

``--out`` appends the table to that file, one block per run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import joblib
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold

GRID = {"tau": [0.3, 0.5, 0.7, 0.9], "kappa": [1.5, 3.0]}

# name, backend, options
SETTINGS = [
    ("n_jobs=1, torch default threads", "sequential", {}),
    ("n_jobs=1, torch.set_num_threads(1)", "sequential", {"threads": 1}),
    ("loky n_jobs=2 (joblib's thread limit)", "loky", {}),
    ("loky n_jobs=2, inner_max_num_threads=2", "loky", {"inner": 2}),
    ("Dask 1 worker x 1 thread", "dask", {"workers": 1, "threads": 1}),
    ("Dask 1 worker x 2 threads", "dask", {"workers": 1, "threads": 2}),
    ("Dask 2 workers x 1 thread", "dask", {"workers": 2, "threads": 1}),
    (
        "Dask 2 workers x 1 thread, no MALLOC_TRIM",
        "dask",
        {"workers": 2, "threads": 1, "no_trim": True},
    ),
    ("Ray 2 actors x 1 CPU", "ray", {}),
]
REFERENCE = "n_jobs=1, torch.set_num_threads(1)"


def load_data():
    from skremix.datasets import load_digits_images, make_imbalanced

    X, y = load_digits_images()
    return make_imbalanced(X, y, kind="step", ratio=10, random_state=0)


def _torch_threads(estimator, X, y):
    """A scorer that returns the torch thread count of the process it runs in."""
    return float(torch.get_num_threads())


def _pid(estimator, X, y):
    """A scorer that returns the id of the process it runs in."""
    return float(os.getpid())


def _warm():
    """Import skremix and run one small fit: no row pays a process's first
    fit (imports, torch's lazy initialisation) inside the clock."""
    from skremix import RemixClassifier

    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8), dtype=np.float32)
    RemixClassifier(max_epochs=1, random_state=0).fit(X, np.arange(64) % 2)
    return os.getpid()


def make_search(epochs):
    from skremix import RemixClassifier

    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    est = RemixClassifier(max_epochs=epochs, random_state=0)
    scoring = {"bacc": "balanced_accuracy", "threads": _torch_threads, "pid": _pid}
    return GridSearchCV(est, GRID, cv=cv, scoring=scoring, refit=False)


def run_setting(backend, options, epochs):
    """Run one setting in this process; return setup and search seconds,
    the mean balanced accuracies, the fits' thread counts and process ids."""
    X, y = load_data()
    gs = make_search(epochs)
    if backend == "sequential" and "threads" in options:
        torch.set_num_threads(options["threads"])
    _warm()
    start = time.perf_counter()
    if backend == "sequential":
        setup = 0.0
        gs.fit(X, y)
    elif backend == "loky":
        config = dict(backend="loky", n_jobs=2)
        config["inner_max_num_threads"] = options.get("inner")
        with joblib.parallel_config(**config):
            joblib.Parallel()(joblib.delayed(_warm)() for _ in range(4))
            setup = time.perf_counter() - start
            gs.fit(X, y)
    elif backend == "dask":
        import dask
        from dask.distributed import Client, LocalCluster

        if options.get("no_trim"):
            key = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
            dask.config.set({key: None})
        with (
            LocalCluster(
                n_workers=options["workers"],
                threads_per_worker=options["threads"],
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_warm)
            setup = time.perf_counter() - start
            with joblib.parallel_config(backend="dask"):
                gs.fit(X, y)
    elif backend == "ray":
        import ray
        from ray.util.joblib import register_ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            register_ray()
            with joblib.parallel_config(backend="ray", n_jobs=2):
                joblib.Parallel()(joblib.delayed(_warm)() for _ in range(4))
                setup = time.perf_counter() - start
                gs.fit(X, y)
        finally:
            ray.shutdown()
    wall = time.perf_counter() - start - setup
    res = gs.cv_results_
    per_fit = {
        key: np.concatenate([res[f"split{k}_test_{key}"] for k in range(gs.n_splits_)])
        for key in ("threads", "pid")
    }
    threads = sorted({int(t) for t in per_fit["threads"]})
    pids = {int(p) for p in per_fit["pid"]}
    return {
        "setup": setup,
        "wall": wall,
        "fit": float(np.mean(res["mean_fit_time"])),
        "scores": res["mean_test_bacc"].tolist(),
        "threads": threads,
        "n_pids": len(pids),
        "caller": os.getpid() in pids,
        "caller_threads": torch.get_num_threads(),
    }


def versions():
    out = [f"torch {torch.__version__}", f"joblib {joblib.__version__}"]
    for name in ("skremix", "distributed", "ray"):
        try:
            out.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--ray", action="store_true", help="add the Ray row")
    parser.add_argument("--out", help="append the table to this file")
    parser.add_argument("--setting", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.setting is not None:  # one setting, in a child process
        _, backend, options = SETTINGS[args.setting]
        print(json.dumps(run_setting(backend, options, args.epochs)))
        return

    header = (
        f"{'setting':42s} {'setup s':>7s} {'search s':>8s} {'fit s':>5s} "
        f"{'threads':>7s}  "
        "where the fits ran, scores"
    )
    print(header, flush=True)
    lines, reference = [], None
    for i, (name, backend, _) in enumerate(SETTINGS):
        if backend == "ray" and not args.ray:
            continue
        cmd = [sys.executable, __file__, "--setting", str(i)]
        cmd += ["--epochs", str(args.epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        if name == REFERENCE:
            reference = np.array(r["scores"])
        where = f"{r['n_pids']} process{'es' if r['n_pids'] > 1 else ''}"
        where = "the caller" if r["caller"] and r["n_pids"] == 1 else where
        if reference is not None:
            diff = np.abs(np.array(r["scores"]) - reference).max()
            where += ", scores equal" if diff == 0 else f", scores differ by {diff:.2g}"
        if name.endswith("torch default threads"):
            name = f"n_jobs=1, torch default ({r['caller_threads']} threads)"
        line = (
            f"{name:42s} {r['setup']:7.1f} {r['wall']:8.1f} {r['fit']:5.2f} "
            f"{','.join(map(str, r['threads'])):>7s}  {where}"
        )
        print(line, flush=True)
        lines.append(line)

    X, _ = load_data()
    n_fits = 3 * len(GRID["tau"]) * len(GRID["kappa"])
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    info = (
        f"# {datetime.datetime.now().isoformat(timespec='seconds')}  "
        f"python benchmarks/bench_distributed_search.py --epochs {args.epochs}"
        + (" --ray" if args.ray else "")
        + f"\n# {platform.machine()}, {os.cpu_count()} cores, load average {load} "
        f"at the end; {versions()}"
        f"\n# GridSearchCV(RemixClassifier(max_epochs={args.epochs}, "
        f"random_state=0), {GRID}, cv=3): {n_fits} fits on {len(X)} digits "
        "(1, 8, 8), step imbalance ratio 10; 'threads': torch.get_num_threads() "
        "seen by the fits; 'fit s': mean fit time of one candidate on one fold"
    )
    print(info)
    if args.out:
        with open(args.out, "a") as f:
            f.write(info + "\n" + header + "\n" + "\n".join(lines) + "\n\n")


if __name__ == "__main__":
    main()
