"""The fits: workers and threads, the warm-up fit, one seeded and scored fit
per method and split, serially or through joblib."""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from skremix.bench._files import write_csv
from skremix.bench._methods import make_estimator
from skremix.bench._progress import ProgressBar
from skremix.bench._scoring import METRICS, _probabilities, _score


def _resolve_threads(args, data, device, n_jobs=1):
    """Torch CPU threads of each fit (None: leave torch's default): --threads,
    else 1 when fits run in parallel or the input is small on the CPU."""
    if args.threads is not None:
        return args.threads
    if n_jobs > 1:
        return 1
    if device == "cpu" and int(np.prod(data.input_shape)) < 1024:
        return 1
    return None


@dataclass
class _Workers:
    """How the fits run: ``n_jobs`` for joblib (None: serial, in this
    process), the number of fits at once and the joblib backend's name."""

    n_jobs: int | None
    n_parallel: int
    backend: str


def _resolve_workers(args, device, n_fits):
    """The fits' workers: --n-jobs (default: all cores, or all the workers of
    the active joblib backend, on the CPU; 1 on CUDA) on the active joblib
    backend, at most one per fit. A thread-based backend runs the fits
    serially, with a note: concurrent fits would share torch's global random
    state and thread count."""
    import joblib
    from joblib.parallel import get_active_backend

    backend = get_active_backend()[0]
    name = type(backend).__name__
    n_jobs = args.n_jobs
    if n_jobs is None:
        n_jobs = 1 if device.startswith("cuda") else -1
    n_parallel = 1 if n_jobs == 1 else min(joblib.effective_n_jobs(n_jobs), n_fits)
    if n_parallel > 1 and getattr(backend, "uses_threads", False):
        sys.stderr.write(
            f"note: joblib's {name} runs fits in threads, which share torch's "
            "random state: the fits run one after another\n"
        )
        n_parallel = 1
    if n_parallel <= 1:
        return _Workers(None, 1, "serial")
    return _Workers(n_parallel, n_parallel, name)


def _make(data, args, device, name, **overrides):
    """``make_estimator(name)`` with the run's data shape and budget."""
    kwargs = dict(
        input_shape=data.input_shape,
        n_classes=len(data.classes),
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        device=device,
    )
    return make_estimator(name, **{**kwargs, **overrides})


def _warm_up(data, args, device):
    """One tiny untimed fit, so that the first timed method does not pay for
    torch's lazy initialisation."""
    n = min(len(data.y), 2 * args.batch_size)
    net = _make(data, args, device, "erm", max_epochs=1)
    try:
        _fit(net, data.X[:n], data.y[:n], 0, device)
    except Exception:  # a failure here shows up in the timed runs
        pass


#: What the warm-up fits of this (worker) process were for: the input shape,
#: device and batch size; a worker warms up once for each. Process state on
#: purpose: joblib reuses its worker processes from one run to the next.
_WARMED = set()


def _fit_in_worker(args, plan, index, name, split, threads):
    """``(index, row)`` of one fit in a joblib worker: torch set to
    ``threads`` threads for the fit (and restored after it, the worker may be
    shared, e.g. a Dask one), after an untimed warm-up fit the first time
    this process sees the run's input shape."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        key = (tuple(plan.data.input_shape), plan.device, args.batch_size)
        if key not in _WARMED:
            _warm_up(plan.data, args, plan.device)
            _WARMED.add(key)
        return index, _fit_one(args, plan, name, split)
    finally:
        torch.set_num_threads(previous)


def _fit(estimator, X, y, seed, device):
    """Fit with torch seeded inside a forked RNG (plain skorch has no
    random_state; the caller's RNG state is left as it was)."""
    import torch

    devices = []
    if device.startswith("cuda"):
        devices = [torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch.manual_seed(seed)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def _one_line(exc):
    """``'ExceptionType: first line of its message'``."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _fit_one(args, plan, name, split):
    """Train method ``name`` on one split and score it on the split's test
    part: one results.csv row, with the test probabilities under
    ``"proba"`` (float32, for probabilities.npz and the reliability diagram;
    not a CSV column). A failure gives NaN scores, no ``"proba"`` and an
    ``'error: ...'`` status instead of stopping the run."""
    data = plan.data
    X_tr, y_tr = data.X[split.train], data.y[split.train]
    X_te, y_te = data.X[split.test], data.y[split.test]
    row = {
        "method": name,
        "seed": split.seed,
        "fold": split.fold,
        "n_train": len(y_tr),
        "n_test": len(y_te),
        **{m: float("nan") for m in METRICS},
    }
    try:
        estimator = _make(
            data,
            args,
            plan.device,
            name,
            random_state=split.seed,
            min_class_count=int(np.bincount(y_tr).min()),
        )
        row["fit_time_s"] = _fit(estimator, X_tr, y_tr, split.seed, plan.device)
        proba = _probabilities(estimator, X_te, plan.n_classes)
        row.update(_score(estimator, X_te, y_te, plan.n_classes, proba))
        row["proba"] = proba.astype(np.float32)
        row["status"] = "ok"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failed run does not stop the others
        row["status"] = "error: " + _one_line(exc)
    return row


def _note_failure(label, row):
    """A note on stderr for a failed run (from this process: a worker's
    stderr may be a Dask worker's log)."""
    if row["status"].startswith("error: "):
        sys.stderr.write(f"\nnote: {label} failed: {row['status'][7:]}\n")


def _run_label(name, split):
    """``'<method> seed S'``, with ``' fold F'`` under cv."""
    return f"{name} seed {split.seed}" + (
        "" if split.fold is None else f" fold {split.fold}"
    )


def _fit_all(args, plan, csv_path, workers=None, threads=None):
    """Every method on every split, rewriting ``csv_path`` (atomically, rows
    in plan order) after each finished run. Ctrl-C stops the runs, cancels
    those not finished and keeps the finished ones. Returns ``(rows,
    interrupted)``.

    Serially (``workers.n_jobs`` None) the fits run in this process after
    one untimed warm-up fit; in parallel, through joblib, each worker warms
    up before its first fit and trains with ``threads`` torch threads."""
    runs = [(split, name) for split in plan.splits for name in plan.methods]
    finished = {}
    bar = ProgressBar(len(runs), enabled=not args.no_progress)
    if workers is None or workers.n_jobs is None:
        results = _serial(args, plan, runs, bar)
    else:
        bar.starting(f"{workers.n_parallel} fits at a time")
        results = _parallel(args, plan, runs, workers, threads)
    interrupted = False
    try:
        for index, row in results:
            finished[index] = row
            split, name = runs[index]
            _note_failure(_run_label(name, split), row)
            write_csv(csv_path, [finished[i] for i in sorted(finished)])
            bar.finished(_run_label(name, split))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        with warnings.catch_warnings():  # joblib's "tasks ... have been cancelled"
            warnings.simplefilter("ignore", UserWarning)
            results.close()  # cancels the parallel runs not finished
    rows = [finished[i] for i in sorted(finished)]
    if interrupted:
        sys.stderr.write("\ninterrupted: writing the runs finished so far\n")
        write_csv(csv_path, rows)
    return rows, interrupted


def _serial(args, plan, runs, bar):
    """``(index, row)`` of each run, one after another in this process, after
    one untimed warm-up fit."""
    _warm_up(plan.data, args, plan.device)
    for index, (split, name) in enumerate(runs):
        bar.starting(_run_label(name, split))
        yield index, _fit_one(args, plan, name, split)


#: joblib's ``return_as`` values tried in turn: results as they finish
#: (joblib >= 1.4), in order (joblib 1.3); without either (joblib 1.2, which
#: scikit-learn 1.6 allows), runs go in chunks of one per worker.
_RETURN_AS = ("generator_unordered", "generator")


def _parallel(args, plan, runs, workers, threads):
    """``(index, row)`` of each run as the joblib workers finish them. Closing
    the generator (Ctrl-C in the caller) cancels the runs not finished."""
    from joblib import Parallel, delayed

    calls = [
        delayed(_fit_in_worker)(args, plan, index, name, split, threads)
        for index, (split, name) in enumerate(runs)
    ]
    options = dict(n_jobs=workers.n_jobs, batch_size=1)
    for return_as in _RETURN_AS:
        try:
            parallel = Parallel(return_as=return_as, **options)
        except (TypeError, ValueError):  # an older joblib or backend
            continue
        # closing this generator closes joblib's, which cancels pending runs
        yield from parallel(calls)
        return
    for start in range(0, len(calls), workers.n_parallel):
        yield from Parallel(**options)(calls[start : start + workers.n_parallel])
