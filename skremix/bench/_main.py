"""The ``skremix-bench`` command: every method on the same network and budget."""

from __future__ import annotations

import os
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from skremix.bench._cli import DEFAULTS, QUICK, build_parser
from skremix.bench._data import (
    BenchError,
    Data,
    auto_test_per_class,
    load_data,
    make_splits,
)
from skremix.bench._methods import (
    DEFAULT_METHODS,
    list_methods,
    make_estimator,
    method_info,
)
from skremix.bench._report import (
    METRICS,
    ProgressBar,
    device_info,
    format_table,
    paired_gains,
    plot,
    summarize,
    verdict,
    versions,
    write_csv,
    write_json,
)

__all__ = ["main", "DEFAULTS", "QUICK"]


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
#: device and batch size; a worker warms up once for each.
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


def _score(estimator, X, y, n_classes):
    """The test metrics of a fitted estimator (probabilities widened to
    ``n_classes`` columns when a class was absent from the training part)."""
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from skremix.metrics import balanced_brier_score

    y_pred = np.asarray(estimator.predict(X))
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(estimator, "classes_", np.arange(proba.shape[1])))
    if proba.shape[1] != n_classes:  # a class absent from the training part
        full = np.zeros((len(proba), n_classes))
        full[:, classes.astype(int)] = proba
        proba = full
    labels = np.arange(n_classes)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, y_pred)),
        "g_mean": float(geometric_mean_score(y, y_pred, labels=labels)),
        "f1_macro": float(
            f1_score(y, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "balanced_brier": float(
            balanced_brier_score(y, np.clip(proba, 0, 1), labels=labels)
        ),
    }


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


def _fit_one(args, plan, name, split):
    """Train method ``name`` on one split and score it on the split's test
    part: one results.csv row. A failure gives NaN scores and an
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
        row.update(_score(estimator, X_te, y_te, plan.n_classes))
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


def _report(args, rows, methods):
    """Summarise the runs and print the results: heading, table, verdict.
    Returns the summary.json entries ``summary``, ``paired_vs_erm``,
    ``table`` and ``verdict``."""
    summary = summarize(rows, methods)
    gains = paired_gains(rows, methods) if "erm" in methods else None
    unit = _unit(args.eval)
    print()
    print(
        f"results ({args.eval}; mean ± std over {unit}; balanced Brier: lower is better"
        + (
            "; vs erm: paired difference in balanced accuracy with its 95% t-interval, "
            "* where it excludes 0"
            if gains is not None
            else ""
        )
        + ")"
    )
    table = format_table(summary, unit=unit, gains=gains)
    print(table)
    conclusion = verdict(summary)
    print(conclusion)
    return {
        "summary": summary,
        "paired_vs_erm": gains,
        "table": table,
        "verdict": conclusion,
    }


#: The arguments that summary.json's config records as given.
_CONFIG_KEYS = (
    "dataset",
    "data",
    "label_column",
    "imbalance",
    "ratio",
    "eval",
    "folds",
    "epochs",
    "batch_size",
    "lr",
    "lr_schedule",
    "device",
    "threads",
    "n_jobs",
    "quick",
)


def _config(args, plan):
    """The run's settings for summary.json: the arguments as given, plus what
    was resolved from them."""
    config = {key: getattr(args, key) for key in _CONFIG_KEYS}
    config.update(
        {
            "dataset": None if args.data else plan.data.name,
            "device_resolved": plan.device,
            "seeds": plan.seeds,
            "test_per_class": plan.test_per_class,
            "optimizer": "AdamW",
            "methods": plan.methods,
        }
    )
    return config


def _data_info(plan):
    """The data entry of summary.json: shape, classes, counts, splits."""
    data = plan.data
    train_counts, test_counts = plan.first_split_counts()
    return {
        "name": data.name,
        "kind": data.kind,
        "input_shape": list(data.input_shape),
        "n_samples": int(len(data.y)),
        "classes": data.classes.tolist(),
        "train_counts_first_split": train_counts,
        "test_counts_first_split": test_counts,
        "n_splits": len(plan.splits),
    }


def _plot_title(args, data_name, rows):
    """Title of results.png: data, imbalance, epochs and the splits done."""
    n_done = len({(r["seed"], r["fold"]) for r in rows})
    return (
        f"{data_name}, {args.imbalance}{_ratio_text(args)}, {args.epochs} epochs, "
        f"{args.eval} ({n_done} {_unit(args.eval)[:-1]}"
        + ("s)" if n_done != 1 else ")")
    )


def _write_outputs(args, out_dir, plan, rows, report, wall, complete, parallel=None):
    """Write summary.json and, unless --no-plot, results.png to ``out_dir``
    (results.csv is written as the runs finish). Returns the file names
    written, results.csv included."""
    payload = {
        **report,
        "config": _config(args, plan),
        "data": _data_info(plan),
        "methods": {
            name: {
                **method_info(name),
                "pipeline": _describe(name, plan.data, args, plan.device),
            }
            for name in plan.methods
        },
        "versions": versions(),
        "device": {**device_info(plan.device), **(parallel or {})},
        "wall_time_s": wall,
        "complete": complete,
    }
    write_json(os.path.join(out_dir, "summary.json"), payload)
    written = ["results.csv", "summary.json"]
    if not args.no_plot:
        title = _plot_title(args, plan.data.name, rows)
        if plot(os.path.join(out_dir, "results.png"), report["summary"], title):
            written.append("results.png")
        else:
            print(
                "note: matplotlib is not installed: results.png skipped "
                "(pip install 'skremix[bench]')"
            )
    return written


def _run(args, out_dir):
    """One run: plan it, print its header, fit every method on every split,
    report the results and write the outputs. Returns the exit code (130
    when interrupted)."""
    import torch

    wall_start = time.perf_counter()
    plan = _plan(args)
    os.makedirs(out_dir, exist_ok=True)
    workers = _resolve_workers(args, plan.device, len(plan.splits) * len(plan.methods))
    threads = _resolve_threads(args, plan.data, plan.device, workers.n_parallel)
    if workers.n_jobs is None and threads is not None:
        torch.set_num_threads(threads)
    n_threads = torch.get_num_threads() if threads is None else threads
    print("\n".join(_header(args, plan, n_threads, workers.n_parallel)))
    sys.stdout.flush()

    rows, interrupted = _fit_all(
        args, plan, os.path.join(out_dir, "results.csv"), workers, threads
    )
    report = _report(args, rows, plan.methods)
    wall = time.perf_counter() - wall_start
    parallel = {
        "torch_threads": n_threads,
        "n_jobs": workers.n_parallel,
        "joblib_backend": workers.backend,
    }
    written = _write_outputs(
        args, out_dir, plan, rows, report, wall, not interrupted, parallel
    )
    print(f"wrote {', '.join(written)} to {out_dir} (wall time {wall:.0f} s)")
    return 130 if interrupted else 0


def _public_name(cls):
    """The shortest importable path of a class: ``skremix.ERMClassifier``
    rather than its defining module ``skremix._erm.ERMClassifier``."""
    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = sys.modules.get(".".join(parts[:i]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{module.__name__}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _jsonable(value):
    """A JSON-friendly, address-free form of a parameter value."""
    if isinstance(value, type):
        return _public_name(value)
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return type(value).__name__


def _describe(name, data, args, device):
    """Each pipeline step of a method: its class and parameters."""
    try:
        pipe = _make(data, args, device, name)
    except Exception as exc:  # pragma: no cover - reported in the runs already
        return _one_line(exc)
    steps = []
    for step_name, step in pipe.steps:
        params = {
            k: _jsonable(v)
            for k, v in step.get_params(deep=False).items()
            if not k.startswith("_")
        }
        steps.append(
            {"step": step_name, "class": _jsonable(type(step)), "params": params}
        )
    return steps


def main(argv=None):
    """Run the benchmark from the command line; return the exit code.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments (``sys.argv[1:]`` when None); see
        ``skremix-bench --help``.

    Returns
    -------
    code : int
        0 on success, 2 on a usage or data error (a one-line message on
        stderr, no traceback), 130 when interrupted (the runs finished so
        far are written).

    Examples
    --------
    A usage error returns 2 (the message goes to stderr):

    >>> from skremix.bench import main
    >>> main(["--methods", "nope"])
    2

    A short comparison of two methods on the wine data, written to ``out/``::

        main(["--dataset", "wine", "--methods", "erm,remix", "--epochs", "5",
              "--seeds", "1", "--out", "out"])
    """
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except BenchError as exc:
        sys.stderr.write(f"skremix-bench: error: {exc}\n")
        return 2
    if args.list_methods:
        width = max(len(n) for n in list_methods())
        for name in list_methods():
            print(f"{name.ljust(width)}  {method_info(name)['description']}")
        return 0
    noisy = args.data is None and args.dataset in (None, "digits_noisy")
    if args.imbalance is None:
        args.imbalance = "long_tailed" if noisy else "step"
    if args.ratio is None:
        args.ratio = 50.0 if noisy else 10.0
    if args.quick:
        args.epochs = args.epochs or QUICK["epochs"]
        args.seeds = args.seeds or QUICK["seeds"]
    args.epochs = args.epochs or DEFAULTS["epochs"]
    if args.label_column is not None and args.data is None:
        sys.stderr.write("skremix-bench: error: --label-column needs --data PATH.csv\n")
        return 2
    import torch

    threads = torch.get_num_threads()
    try:
        return _run(args, args.out)
    except BenchError as exc:
        sys.stderr.write(f"skremix-bench: error: {exc}\n")
        return 2
    finally:
        torch.set_num_threads(threads)
