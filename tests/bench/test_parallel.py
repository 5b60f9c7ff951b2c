"""skremix-bench's fits in joblib workers: same rows as the serial run,
progress per fit, threads per fit, Ctrl-C."""

import argparse
import os
import signal
import subprocess
import sys
import time

import joblib
import numpy as np
import pytest
from _results import read_results

from skremix.bench import _fitting, _main

# 2 methods x 2 seeds, a few epochs: 4 fits, 2 at a time.
ARGS = ["--methods", "erm,remix", "--seeds", "2", "--epochs", "3"]
ARGS += ["--batch-size", "16", "--ratio", "3", "--no-plot"]


@pytest.fixture(scope="module")
def npz(tmp_path_factory):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4.0, size=(3, 4))
    X = np.concatenate([c + rng.normal(size=(30, 4)) for c in centers])
    path = tmp_path_factory.mktemp("data") / "tab.npz"
    np.savez(path, X=X, y=np.repeat([0, 1, 2], 30))
    return path


def _without_timing(rows):
    return [{k: v for k, v in r.items() if k != "fit_time_s"} for r in rows]


@pytest.fixture(scope="module")
def serial_rows(npz, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    argv = ["--data", str(npz), *ARGS, "--n-jobs", "1", "--no-progress"]
    assert _main.main(argv + ["--out", str(out)]) == 0
    rows, summary = read_results(out)
    assert summary["device"]["n_jobs"] == 1
    assert summary["device"]["joblib_backend"] == "serial"
    return rows


@pytest.mark.parametrize(
    "return_as", [_fitting._RETURN_AS, ()], ids=["generator", "chunks"]
)
def test_parallel_rows_equal_serial_rows(
    return_as, npz, serial_rows, tmp_path, monkeypatch, capsys
):
    # () is the fallback of a joblib without return_as: chunks of 2 fits
    monkeypatch.setattr(_fitting, "_RETURN_AS", return_as)
    out = tmp_path / "parallel"
    argv = ["--data", str(npz), *ARGS, "--n-jobs", "2", "--out", str(out)]
    assert _main.main(argv) == 0
    rows, summary = read_results(out)
    # same seeds, same rows in the same order; only the fit times differ
    assert _without_timing(rows) == _without_timing(serial_rows)
    assert [(r["method"], r["seed"]) for r in rows] == [
        ("erm", "0"),
        ("remix", "0"),
        ("erm", "1"),
        ("remix", "1"),
    ]
    assert all(r["status"] == "ok" and float(r["fit_time_s"]) > 0 for r in rows)
    assert summary["config"]["n_jobs"] == 2
    assert summary["device"]["n_jobs"] == 2
    assert summary["device"]["torch_threads"] == 1
    assert summary["device"]["joblib_backend"] == "LokyBackend"
    captured = capsys.readouterr()
    assert "2 fits at a time, each 1 CPU thread(s)" in captured.out
    # the progress bar (a file here: one line per finished fit) counts fits
    counts = [line.split()[1] for line in captured.err.splitlines() if "/4 " in line]
    assert counts == ["1/4", "2/4", "3/4", "4/4"]


def test_parallel_interrupt_keeps_the_finished_runs(npz, tmp_path, monkeypatch, capsys):
    class InterruptAfterFirst(_fitting.ProgressBar):
        def finished(self, label):
            super().finished(label)
            raise KeyboardInterrupt  # Ctrl-C once the first fit is in

    monkeypatch.setattr(_fitting, "ProgressBar", InterruptAfterFirst)
    out = tmp_path / "interrupted"
    argv = ["--data", str(npz), *ARGS, "--seeds", "4", "--epochs", "200"]
    assert _main.main(argv + ["--n-jobs", "2", "--out", str(out)]) == 130
    assert "interrupted: writing the runs finished so far" in capsys.readouterr().err
    rows, summary = read_results(out)
    assert len(rows) == 1 and rows[0]["status"] == "ok"  # the others cancelled
    assert summary["complete"] is False


def _ns(**kw):
    return argparse.Namespace(**{"n_jobs": None, "threads": None, **kw})


def test_workers(capsys):
    cores = joblib.effective_n_jobs(-1)
    resolve = _fitting._resolve_workers
    # default: all cores on the CPU, at most one worker per fit
    assert resolve(_ns(), "cpu", 100).n_parallel == cores
    assert resolve(_ns(), "cpu", 1) == _fitting._Workers(None, 1, "serial")
    assert resolve(_ns(n_jobs=3), "cpu", 2).n_parallel == 2
    assert resolve(_ns(n_jobs=3), "cpu", 5) == _fitting._Workers(3, 3, "LokyBackend")
    assert resolve(_ns(n_jobs=1), "cpu", 5).n_jobs is None
    # CUDA: one fit at a time unless --n-jobs says otherwise
    assert resolve(_ns(), "cuda", 5).n_jobs is None
    assert resolve(_ns(n_jobs=2), "cuda", 5).n_parallel == 2
    # threads would share torch's global random state: serial, with a note
    with joblib.parallel_config(backend="threading"):
        assert resolve(_ns(n_jobs=2), "cpu", 5).n_jobs is None
    assert "ThreadingBackend runs fits in threads" in capsys.readouterr().err
    with joblib.parallel_config(backend="loky"):
        assert resolve(_ns(n_jobs=2), "cpu", 5).backend == "LokyBackend"


@pytest.mark.parametrize(
    "threads, n_jobs, shape, expected",
    [
        (None, 1, (4,), 1),  # small input, serial: 1
        (None, 1, (3, 32, 32), None),  # large input, serial: torch's default
        (None, 2, (3, 32, 32), 1),  # parallel: 1 per fit
        (3, 2, (4,), 3),  # --threads: per fit, whatever runs in parallel
        (3, 1, (3, 32, 32), 3),
    ],
)
def test_threads_per_fit(threads, n_jobs, shape, expected):
    data = argparse.Namespace(input_shape=shape)
    args = _ns(threads=threads)
    assert _fitting._resolve_threads(args, data, "cpu", n_jobs) == expected


@pytest.mark.slow
def test_ctrl_c_stops_the_workers(npz, tmp_path):
    # A terminal's Ctrl-C: SIGINT to the whole process group, workers included.
    out = tmp_path / "sigint"
    argv = ["--data", str(npz), *ARGS, "--seeds", "4", "--epochs", "300"]
    argv += ["--n-jobs", "2", "--no-progress", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "skremix", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if (out / "results.csv").exists():
            with open(out / "results.csv") as f:
                if len(f.read().splitlines()) >= 2:
                    break
    os.killpg(proc.pid, signal.SIGINT)
    start = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 30
    assert "interrupted: writing the runs finished so far" in err
    assert "Traceback" not in err
    rows, summary = read_results(out)
    assert 1 <= len(rows) < 8 and all(r["status"] == "ok" for r in rows)
    assert summary["complete"] is False
