"""skremix-bench run in-process on tiny data: outputs, filtering, errors."""

import csv
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from _results import read_results
from skorch import NeuralNetClassifier

import skremix
from skremix.bench import ReshapeTransformer, list_methods, main, make_estimator
from skremix.bench._files import CSV_COLUMNS

# Serial (--n-jobs 1): in-process, no worker start-up; test_parallel.py runs
# the parallel path.
TINY = ["--epochs", "1", "--seeds", "1", "--no-progress", "--batch-size", "16"]
TINY += ["--n-jobs", "1"]


def _blobs(n_per_class=(30, 30, 30), d=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=4.0, size=(len(n_per_class), d))
    X = np.concatenate(
        [c + rng.normal(size=(n, d)) for c, n in zip(centers, n_per_class, strict=True)]
    )
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    return X.astype(np.float64), y


@pytest.fixture
def npz_tabular(tmp_path):
    X, y = _blobs()
    path = tmp_path / "tab.npz"
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def npz_images(tmp_path):
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 30)
    X = rng.integers(0, 255, size=(60, 6, 6)).astype(np.uint8)
    X[y == 1, :3] = 255  # a visible difference between the classes
    path = tmp_path / "img.npz"
    np.savez(path, X=X, y=y)
    return path


@pytest.fixture
def csv_file(tmp_path):
    X, y = _blobs((24, 24), d=3)
    names = np.array(["cat", "dog"])[y]
    path = tmp_path / "data.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["f0", "f1", "f2", "animal"])
        for row, label in zip(X, names, strict=True):
            writer.writerow([*(f"{v:.4f}" for v in row), label])
    return path


def _check_rows(rows, methods, n_runs):
    assert list(rows[0]) == CSV_COLUMNS
    assert [r["method"] for r in rows] == methods * n_runs
    for r in rows:
        assert r["status"] == "ok", r["status"]
        for metric in ("balanced_accuracy", "g_mean", "f1_macro"):
            assert 0.0 <= float(r[metric]) <= 1.0
        assert 0.0 <= float(r["balanced_brier"]) <= 2.0
        assert float(r["fit_time_s"]) > 0


def test_npz_tabular_holdout(npz_tabular, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        ["--data", str(npz_tabular), "--methods", "remix,erm", "--ratio", "3"]
        + TINY
        + ["--out", str(out), "--no-plot"]
    )
    assert code == 0
    rows, summary = read_results(out)
    # --methods keeps exactly the chosen methods, in the order given.
    _check_rows(rows, ["remix", "erm"], 1)
    assert list(summary["summary"]) == ["remix", "erm"]
    assert summary["config"]["methods"] == ["remix", "erm"]
    assert summary["config"]["epochs"] == 1
    assert summary["config"]["seeds"] == [0]
    assert summary["config"]["imbalance"] == "step"
    assert summary["data"]["kind"] == "tabular"
    # 30 per class, 8 per class held out; step ratio 3 on the 22 left.
    assert summary["data"]["test_counts_first_split"] == [8, 8, 8]
    assert summary["data"]["train_counts_first_split"] == [22, 7, 7]
    for key in ("skremix", "torch", "skorch", "scikit-learn", "imbalanced-learn"):
        assert summary["versions"][key]
    assert summary["device"]["device"] in ("cpu", "cuda")
    assert summary["methods"]["erm"]["classifier"] == "skorch.NeuralNetClassifier"
    net_step = summary["methods"]["erm"]["pipeline"][-1]
    assert net_step["class"] == "skorch.NeuralNetClassifier"
    assert net_step["params"]["max_epochs"] == 1
    assert net_step["params"]["module"] == "skremix.nn.MLP"
    assert summary["methods"]["remix"]["pipeline"][-1]["params"]["max_epochs"] == 1
    stats = summary["summary"]["erm"]["balanced_accuracy"]
    assert 0 <= stats["mean"] <= 1 and stats["std"] == 0
    printed = capsys.readouterr().out
    assert "bal. acc." in printed and "remix" in printed and "± " in printed
    assert not (out / "results.png").exists()


def test_csv_cv_string_labels(csv_file, tmp_path):
    out = tmp_path / "cv"
    code = main(
        ["--data", str(csv_file), "--label-column", "animal", "--eval", "cv"]
        + ["--folds", "2", "--imbalance", "none", "--methods", "erm,rw"]
        + TINY
        + ["--out", str(out), "--no-plot"]
    )
    assert code == 0
    rows, summary = read_results(out)
    assert len(rows) == 4  # 2 methods x 2 folds
    _check_rows(rows[:2], ["erm", "rw"], 1)
    _check_rows(rows, ["erm", "rw"], 2)
    assert sorted({r["fold"] for r in rows}) == ["0", "1"]
    assert summary["data"]["classes"] == ["cat", "dog"]
    assert sum(int(r["n_test"]) for r in rows if r["method"] == "erm") == 48


def test_images_with_a_sampler_and_chart(npz_images, tmp_path):
    out = tmp_path / "img"
    code = main(
        ["--data", str(npz_images), "--methods", "erm,smote", "--ratio", "4"]
        + TINY
        + ["--out", str(out)]
    )
    assert code == 0
    rows, summary = read_results(out)
    _check_rows(rows, ["erm", "smote"], 1)
    assert summary["data"]["input_shape"] == [1, 6, 6]
    assert (out / "results.png").stat().st_size > 1000
    assert (out / "reliability.png").stat().st_size > 1000


def test_probabilities_file_gives_the_table_calibration(csv_file, tmp_path):
    """probabilities.npz holds each run's test labels and probabilities;
    the ECE (15 equal-width bins, top label) and balanced Brier score of
    results.csv are those of these arrays, recomputed here by hand: the
    binned |accuracy - confidence| and the per-class mean squared error."""
    out = tmp_path / "cv"
    code = main(
        ["--data", str(csv_file), "--label-column", "animal", "--eval", "cv"]
        + ["--folds", "2", "--imbalance", "none", "--methods", "erm,remix"]
        + TINY
        + ["--out", str(out), "--no-plot"]
    )
    assert code == 0
    rows, _ = read_results(out)
    saved = np.load(out / "probabilities.npz")
    assert list(saved["method"]) == [r["method"] for r in rows]
    assert list(saved["fold"]) == [int(r["fold"]) for r in rows]
    assert sorted(saved["classes"]) == ["cat", "dog"]
    for i, row in enumerate(rows):
        y, proba = saved[f"y_true_{i}"], saved[f"proba_{i}"].astype(np.float64)
        assert len(y) == int(row["n_test"]) and proba.shape == (len(y), 2)
        conf, hit = proba.max(axis=1), proba.argmax(axis=1) == y
        edges = np.linspace(0, 1, 16)
        ece = 0.0
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            inside = (conf > lo) & (conf <= hi)
            if inside.any():
                ece += inside.mean() * abs(hit[inside].mean() - conf[inside].mean())
        assert float(row["ece"]) == pytest.approx(ece, abs=1e-6)
        onehot = np.eye(2)[y]
        per_class = [((proba - onehot) ** 2).sum(1)[y == c].mean() / 2 for c in (0, 1)]
        assert float(row["balanced_brier"]) == pytest.approx(
            np.mean(per_class), abs=1e-6
        )


def test_erm_is_plain_skorch():
    for shape in [(4,), (1, 8, 8)]:
        net = make_estimator("erm", input_shape=shape, n_classes=3)[-1]
        assert type(net) is NeuralNetClassifier
        assert net.criterion is torch.nn.CrossEntropyLoss
        assert net.optimizer is torch.optim.AdamW
        assert net.train_split is None
        assert net.iterator_train__shuffle is True
        assert net.predict_nonlinearity == "auto"  # softmax for CrossEntropyLoss
    remix = make_estimator("remix", input_shape=(4,), n_classes=3)[-1]
    assert isinstance(remix, skremix.RemixClassifier)
    assert remix.max_epochs == net.max_epochs and remix.lr == net.lr


def test_sampler_pipeline_pickles():
    pipe = make_estimator("ros", input_shape=(1, 4, 4), n_classes=2, max_epochs=1)
    X = np.random.default_rng(0).random((20, 1, 4, 4)).astype(np.float32)
    y = np.array([0] * 16 + [1] * 4)
    pipe.fit(X, y)
    clone = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_allclose(clone.predict_proba(X), pipe.predict_proba(X))
    assert ReshapeTransformer((-1,)).fit_transform(X).shape == (20, 16)


def test_list_methods_and_help(capsys):
    assert main(["--list-methods"]) == 0
    printed = capsys.readouterr().out
    for name in list_methods():
        assert name in printed
    assert main(["--help"]) == 0
    assert "--imbalance" in capsys.readouterr().out


def _write_bad_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    return path


def _write_one_class(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, X=np.zeros((10, 2)), y=np.zeros(10))
    return path


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda p, t: ["--data", str(t / "missing.npz")], "not found"),
        (
            lambda p, t: ["--data", str(_write_bad_csv(t)), "--label-column", "nope"],
            "no column 'nope'",
        ),
        (lambda p, t: ["--data", str(_write_bad_csv(t))], "--label-column"),
        (
            lambda p, t: ["--data", str(_write_bad_csv(t)), "--label-column", "label"],
            "non-numeric value 'oops'",
        ),
        (lambda p, t: ["--data", str(_write_one_class(t))], "single class"),
        (lambda p, t: ["--data", str(p), "--ratio", "500"], "cannot impose"),
        (lambda p, t: ["--data", str(p), "--methods", "erm,nope"], "unknown method"),
        (lambda p, t: ["--ratio", "0"], "--ratio"),
        (lambda p, t: ["--dataset", "iris"], "--dataset"),
        (lambda p, t: ["--data", str(p), "--eval", "cv", "--folds", "40"], "--folds"),
        (lambda p, t: ["--data", str(p), "--n-jobs", "0"], "--n-jobs"),
    ],
    ids=[
        "missing-file",
        "missing-label-column",
        "no-label-column",
        "bad-csv",
        "one-class",
        "ratio",
        "unknown-method",
        "bad-ratio-value",
        "unknown-dataset",
        "too-many-folds",
        "n-jobs-0",
    ],
)
def test_errors_exit_2_with_one_line(make_args, message, npz_tabular, tmp_path, capsys):
    out = tmp_path / "err"
    code = main(make_args(npz_tabular, tmp_path) + ["--out", str(out)] + TINY)
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("skremix-bench: error: ")
    assert err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in err
    assert not (out / "results.csv").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_an_error(npz_tabular, tmp_path, capsys):
    code = main(
        ["--data", str(npz_tabular), "--device", "cuda", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "CUDA" in capsys.readouterr().err


@pytest.mark.parametrize("schedule", ["cosine", "step", "constant"])
def test_plain_skorch_gets_the_same_lr_schedule(schedule):
    X, y = _blobs((20, 20))
    rates = {}
    for name in ("erm", "remix"):
        pipe = make_estimator(
            name, input_shape=(4,), n_classes=3, max_epochs=4, lr_schedule=schedule
        )
        history = pipe.fit(X, y)[-1].history
        # skorch's LRScheduler records 'event_lr', skremix's schedule 'lr'.
        rates[name] = [e.get("lr", e.get("event_lr")) for e in history]
    if schedule == "cosine":
        np.testing.assert_allclose(rates["erm"], rates["remix"])
        np.testing.assert_allclose(rates["erm"][0], 1e-3)
        assert rates["erm"][-1] < 2e-4
    elif schedule == "step":
        # 4 epochs: x0.1 from int(0.8 * 4) = 3; the second decay is past the end
        np.testing.assert_allclose(rates["erm"], rates["remix"])
        np.testing.assert_allclose(rates["erm"], [1e-3, 1e-3, 1e-3, 1e-4])
    else:
        assert rates["erm"] == rates["remix"] == [None] * 4


def test_without_matplotlib_the_chart_is_skipped(
    npz_tabular, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    out = tmp_path / "nompl"
    code = main(
        ["--data", str(npz_tabular), "--methods", "erm"] + TINY + ["--out", str(out)]
    )
    assert code == 0
    assert (out / "results.csv").is_file() and not (out / "results.png").exists()
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_python_dash_m_skremix_runs_the_bench():
    proc = subprocess.run(
        [sys.executable, "-m", "skremix", "--list-methods"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "erm"


def test_paired_interval_against_erm(npz_tabular, tmp_path, capsys):
    out = tmp_path / "paired"
    args = ["--data", str(npz_tabular), "--methods", "erm,rw", "--ratio", "3"]
    tiny = [a if a != "1" or i != 3 else "2" for i, a in enumerate(TINY)]  # 2 seeds
    assert tiny[2:4] == ["--seeds", "2"]
    code = main(args + tiny + ["--out", str(out), "--no-plot"])
    assert code == 0
    rows, summary = read_results(out)
    acc = {(r["method"], int(r["seed"])): float(r["balanced_accuracy"]) for r in rows}
    diffs = [acc[("rw", s)] - acc[("erm", s)] for s in (0, 1)]
    paired = summary["paired_vs_erm"]["rw"]
    assert paired["n"] == 2
    assert paired["mean"] == pytest.approx(np.mean(diffs), abs=1e-5)
    # t(0.975, 1) = 12.706; half-width 12.706 * sd / sqrt(2)
    half = 12.706 * np.std(diffs, ddof=1) / np.sqrt(2)
    assert paired["hi"] - paired["lo"] == pytest.approx(2 * half, rel=1e-3, abs=1e-5)
    assert "vs erm (95% CI)" in capsys.readouterr().out


def test_default_data_is_noisy_digits_long_tailed(tmp_path):
    out = tmp_path / "default"
    code = main(["--methods", "erm"] + TINY + ["--out", str(out), "--no-plot"])
    assert code == 0
    _, summary = read_results(out)
    assert summary["data"]["name"] == "digits_noisy"
    assert summary["data"]["input_shape"] == [1, 16, 16]
    assert summary["config"]["imbalance"] == "long_tailed"
    assert summary["config"]["ratio"] == 50
    # 44 test images per class (a quarter of the smallest class, 174) leave
    # 130 in the smallest: the long-tailed profile from 130 down to 130 / 50
    assert summary["data"]["train_counts_first_split"] == [
        130,
        84,
        54,
        35,
        22,
        14,
        9,
        6,
        4,
        2,
    ]
