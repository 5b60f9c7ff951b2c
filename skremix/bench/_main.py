"""The ``skremix-bench`` command: every method on the same network and budget.

:func:`main` parses the arguments and runs: the plan (``_plan.py``), the fits
(``_fitting.py``, scored by ``_scoring.py``), the printed summary
(``_summary.py``) and the files (``_files.py``, ``_outputs.py``).
"""

from __future__ import annotations

import os
import sys
import time

from skremix.bench._cli import DEFAULTS, QUICK, build_parser
from skremix.bench._data import BenchError
from skremix.bench._fitting import _fit_all, _resolve_threads, _resolve_workers
from skremix.bench._methods import DEFAULT_METHODS, list_methods, method_info
from skremix.bench._outputs import _write_outputs
from skremix.bench._plan import _header, _plan
from skremix.bench._summary import _print_report

# DEFAULTS, QUICK and DEFAULT_METHODS stay importable from here.
__all__ = ["main", "DEFAULTS", "QUICK", "DEFAULT_METHODS"]


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
    report = _print_report(args, rows, plan.methods)
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
