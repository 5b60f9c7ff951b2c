"""benchmarks/reproduce_papers.py end to end on a tiny CIFAR-10 the test
writes (one epoch, no download): results next to the papers' figures, and a
rerun that skips what is done."""

import importlib.util
import tarfile
from pathlib import Path

import pytest
from _cifar_files import make_cifar10

from skremix import RSGClassifier

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "reproduce_papers.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("reproduce_papers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    """The extracted tiny archive in a data folder: a cache hit, no request."""
    home = tmp_path_factory.mktemp("skremix_data")
    archive = home / "tiny.tar.gz"
    archive.write_bytes(make_cifar10(n_train=20)[0])
    with tarfile.open(archive) as tar:
        tar.extractall(home, filter="data")
    archive.unlink()
    return home


def test_one_epoch_smoke_run_and_resume(script, data_home, tmp_path, capsys):
    argv = [
        "--settings", "cifar10-lt-10",
        "--rows", "erm,remix_drw,mfw_drw,ldam_drw_rsg",
        "--epochs", "1", "--n-max", "20", "--subset", "60",
        "--data-home", str(data_home), "--no-download", "--out", str(tmp_path),
    ]  # fmt: skip
    assert script.main(argv) == 0
    out = capsys.readouterr().out
    rows = script._read(tmp_path / "results.csv")
    assert [r["row"] for r in rows] == ["erm", "remix_drw", "mfw_drw", "ldam_drw_rsg"]
    for r in rows:
        assert 0.0 <= float(r["accuracy"]) <= 100.0 and r["epochs"] == "1"
    # The published figures of this setting, and the difference to them.
    erm = rows[0]
    assert erm["paper"] == "86.22"
    assert float(erm["difference"]) == pytest.approx(float(erm["accuracy"]) - 86.22)
    assert rows[3]["paper"] == ""  # RSG published no ratio-10 figure
    assert "ERM" in out and "86.22" in out and "89.02" in out  # Remix-DRW
    # A rerun skips every finished fit and trains nothing.
    original = RSGClassifier.fit
    RSGClassifier.fit = None  # would fail if called
    try:
        assert script.main(argv) == 0
    finally:
        RSGClassifier.fit = original
    assert capsys.readouterr().out.count("done before, skipped") == 4
    assert script._read(tmp_path / "results.csv") == rows


def test_estimators_follow_each_papers_protocol(script):
    ldam = script.make_estimator("ldam_drw_rsg", "cifar10-step-100", None, 0, "cpu")
    assert ldam.max_epochs == 200 and ldam.lr_warmup == 5
    assert ldam.lr_schedule == ((0.8, 0.01), (0.9, 1e-4))
    assert (ldam.loss, ldam.rebalance, ldam.generate_from) == ("ldam", "drw", 0.8)
    assert ldam.get_params()["rsg__contrastive_channels"] == 256
    remix = script.make_estimator("remix_drw", "cifar100-lt-100", None, 0, "cpu")
    assert remix.max_epochs == 300 and remix.alpha == 1.0
    assert remix.rebalance_start == pytest.approx(250 / 300)  # the second decay
    mfw = script.make_estimator("mfw", "cifar100-lt-10", None, 0, "cpu")
    assert (mfw.alpha, mfw.beta, mfw.lr_schedule, mfw.rebalance) == (
        0.2, "auto", "cosine", None,
    )  # fmt: skip
    mixup = script.make_estimator("mixup", "cifar10-lt-100", 3, 0, "cpu")
    assert mixup.tau == 0.0 and mixup.max_epochs == 3 and mixup.lr_warmup == 0
    for row in script.ROWS:
        clf = script.make_estimator(row, "cifar10-lt-100", None, 0, "cpu")
        assert clf.augment == "crop_flip" and clf.standardize
        assert clf.batch_size == 128 and clf.lr == 0.1


def test_bad_arguments_fail_with_a_message(script, capsys):
    with pytest.raises(SystemExit):
        script.main(["--rows", "erm,nope"])
    assert "unknown rows ['nope']" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        script.main(["--epochs", "0"])
    assert "--epochs must be >= 1" in capsys.readouterr().err


def test_training_set_sizes_and_the_time_estimate(script, capsys):
    # Cao et al.'s profiles: CIFAR-10-LT, ratio 100, keeps 12406 images.
    assert script.n_train("cifar10-lt-100") == 12406
    assert script.n_train("cifar10-step-10") == 5 * 5000 + 5 * 500
    assert script.n_train("cifar100-step-100") == 50 * 500 + 50 * 5
    argv = ["--time-epoch", "64", "--rows", "erm", "--device", "cpu"]
    assert script.main(argv) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("ERM") and "images/s" in line and "200-epoch row" in line
