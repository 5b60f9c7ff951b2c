"""The steps of one skremix-bench run: plan, header, one fit, interruption, title."""

import argparse
import csv
import json
import math

import numpy as np
import pytest

from skremix.bench import _cli, _fitting, _main, _outputs, _plan, _scoring
from skremix.bench._data import BenchError, Data, Split


def _args(**kw):
    base = dict(
        eval="holdout",
        imbalance="step",
        ratio=2.0,
        folds=5,
        epochs=5,
        batch_size=16,
        lr=1e-3,
        lr_schedule=None,
    )
    return argparse.Namespace(**{**base, **kw})


def _toy_plan(fold=None, methods=("erm", "rw")):
    # 6 samples of 4 features: class "a" x4, class "b" x2; train 3 a + 1 b.
    data = Data(
        X=np.arange(24, dtype=np.float32).reshape(6, 4),
        y=np.array([0, 0, 0, 0, 1, 1]),
        classes=np.array(["a", "b"]),
        name="toy",
        notes=["a note"],
    )
    split = Split(
        seed=3, fold=fold, train=np.array([0, 1, 2, 4]), test=np.array([3, 5])
    )
    return _plan._Plan(
        methods=list(methods),
        device="cpu",
        data=data,
        seeds=[3],
        test_per_class=1,
        splits=[split],
    )


@pytest.mark.parametrize(
    "first, n, evaluation, expected",
    [
        (0, None, "holdout", [0, 1, 2, 3, 4]),  # DEFAULTS: 5 seeds
        (4, None, "cv", [4]),  # cv: one seed, its folds are the repeats
        (2, 2, "cv", [2, 3]),
        (1, 1, "holdout", [1]),
    ],
)
def test_seeds(first, n, evaluation, expected):
    assert _plan._seeds(first, n, evaluation) == expected


@pytest.fixture
def npz_30_per_class(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tab.npz"
    np.savez(path, X=rng.normal(size=(90, 4)), y=np.repeat([0, 1, 2], 30))
    return path


def _parsed(argv):
    return _cli.build_parser().parse_args(argv)


def test_plan_holdout(npz_30_per_class):
    plan = _plan._plan(
        _parsed(["--data", str(npz_30_per_class), "--imbalance", "none"])
    )
    assert plan.methods == list(_main.DEFAULT_METHODS)
    assert plan.device in ("cpu", "cuda")
    assert plan.seeds == [0, 1, 2, 3, 4]
    # a quarter of the smallest class: 30 / 4 = 7.5, rounded to 8
    assert plan.test_per_class == 8
    assert [(s.seed, s.fold) for s in plan.splits] == [(k, None) for k in range(5)]
    assert plan.first_split_counts() == ([22, 22, 22], [8, 8, 8])


def test_default_methods_are_known_and_all_runs_every_method():
    assert set(_main.DEFAULT_METHODS) <= set(_main.list_methods())
    # Each paper's class at its defaults and the plain skorch reference.
    for name in ("erm", "remix", "remix_sampling", "mfw", "rsg"):
        assert name in _main.DEFAULT_METHODS
    assert _plan._resolve_methods("all") == _main.list_methods()
    assert _plan._resolve_methods("mfw, erm") == ["mfw", "erm"]


def test_plan_cv(npz_30_per_class):
    argv = ["--data", str(npz_30_per_class), "--imbalance", "none", "--eval", "cv"]
    plan = _plan._plan(_parsed(argv + ["--folds", "2", "--methods", "rw,erm"]))
    assert plan.methods == ["rw", "erm"]
    assert plan.seeds == [0] and plan.test_per_class is None
    assert [(s.seed, s.fold) for s in plan.splits] == [(0, 0), (0, 1)]
    assert plan.first_split_counts() == ([15, 15, 15], [15, 15, 15])


def test_plan_reports_the_methods_before_the_data(tmp_path):
    argv = ["--data", str(tmp_path / "missing.npz"), "--methods", "nope"]
    with pytest.raises(BenchError, match="unknown method"):
        _plan._plan(_parsed(argv))


def test_header_holdout():
    lines = _plan._header(_args(), _toy_plan(), n_threads=2)
    assert lines == [
        "data: toy, tabular 4, 6 samples, 2 classes",
        "note: a note",
        "evaluation: holdout, balanced test set of 1 per class, imbalance step "
        "ratio 2 on the training part; 1 seed(s) [3]",
        "train counts per class (first split): [3, 1]; test: [1, 1]",
        "budget: 5 epochs, batch size 16, AdamW lr 0.001 (each method: its "
        "default schedule), device cpu (2 CPU thread(s)); methods: erm, rw",
    ]


def test_header_parallel():
    lines = _plan._header(_args(), _toy_plan(), n_threads=1, n_parallel=2)
    assert "device cpu (2 fits at a time, each 1 CPU thread(s))" in lines[-1]


def test_header_cv_without_imbalance():
    args = _args(eval="cv", imbalance="none", lr_schedule="cosine")
    lines = _plan._header(args, _toy_plan(fold=0), n_threads=1)
    assert lines[2] == (
        "evaluation: 5-fold stratified CV (shuffled) on the data with imbalance "
        "none; 1 seed(s) [3]"
    )
    assert "AdamW lr 0.001 (cosine), device cpu (1 CPU thread(s))" in lines[4]


@pytest.mark.parametrize(
    "kw, keys, expected",
    [
        ({}, [(0, None)], "toy, step ratio 2.5, 5 epochs, holdout (1 seed)"),
        (
            {"eval": "cv", "imbalance": "none"},
            [(0, 0), (0, 0), (0, 1)],  # two methods on fold 0, one on fold 1
            "toy, none, 5 epochs, cv (2 folds)",
        ),
    ],
)
def test_plot_title(kw, keys, expected):
    rows = [{"seed": s, "fold": f} for s, f in keys]
    assert _outputs._plot_title(_args(ratio=2.5, **kw), "toy", rows) == expected


def test_fit_one_failure_is_a_row(monkeypatch, capsys):
    def failing_fit(*args, **kwargs):
        raise ValueError("boom\nsecond line")

    monkeypatch.setattr(_fitting, "_fit", failing_fit)
    plan = _toy_plan(fold=1)
    row = _fitting._fit_one(_args(), plan, "erm", plan.splits[0])
    assert row["status"] == "error: ValueError: boom"
    assert (row["method"], row["seed"], row["fold"]) == ("erm", 3, 1)
    assert (row["n_train"], row["n_test"]) == (4, 2)
    assert all(math.isnan(row[m]) for m in _scoring.METRICS)
    # the note comes from the main process, a worker's stderr may be a log
    assert capsys.readouterr().err == ""
    _fitting._note_failure(_fitting._run_label("erm", plan.splits[0]), row)
    assert "note: erm seed 3 fold 1 failed: ValueError: boom" in capsys.readouterr().err


def test_interrupt_keeps_the_finished_runs(
    npz_30_per_class, tmp_path, monkeypatch, capsys
):
    real_fit, calls = _fitting._fit, []

    def fit_then_interrupt(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # the warm-up, erm seed 0, then rw seed 0
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(_fitting, "_fit", fit_then_interrupt)
    out = tmp_path / "out"
    argv = ["--data", str(npz_30_per_class), "--methods", "erm,rw", "--ratio", "3"]
    tiny = ["--epochs", "1", "--seeds", "2", "--no-progress", "--no-plot"]
    tiny += ["--n-jobs", "1"]  # in this process, where _fit is patched
    assert _main.main(argv + tiny + ["--out", str(out)]) == 130
    assert "interrupted: writing the runs finished so far" in capsys.readouterr().err
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["method"], r["seed"], r["status"]) for r in rows] == [("erm", "0", "ok")]
    with open(out / "summary.json") as f:
        summary = json.load(f)
    assert summary["complete"] is False
    assert summary["summary"]["rw"]["n_runs"] == 0


def test_summary_names_classes_by_their_public_path():
    import torch

    import skremix

    assert _outputs._jsonable(skremix.ERMClassifier) == "skremix.ERMClassifier"
    assert _outputs._jsonable(torch.optim.AdamW) == "torch.optim.AdamW"
    assert _outputs._jsonable(torch.nn.CrossEntropyLoss) == "torch.nn.CrossEntropyLoss"
    assert _outputs._jsonable([None, (1, "a")]) == [None, [1, "a"]]

    class Local:  # not importable from any module: its own path
        pass

    assert _outputs._jsonable(Local) == f"{Local.__module__}.{Local.__qualname__}"
