"""Data-parallel training of one net (``data_parallel``) on 2 gloo processes.

Equivalence: one optimizer step on 2 ranks x batch b/2 equals the step on
one process x batch b (ERM, with class weights, DRW, LDAM, logit adjustment,
sample weights, an uneven last batch, and BatchNorm with
``sync_batch_norm``). Every class fits on 2 ranks, each rank trains on a
disjoint share of every epoch, every rank ends with the same net and
history, and the net pickles and predicts in this one process. Balanced
batches are balanced over the union of the ranks; a killed fit resumes on 2
ranks; the commands of ``examples/train_data_parallel.py`` run. The rank
bodies are in ``tests/_ranks.py``.
"""

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _classifiers import all_classifiers
from _ranks import (
    balanced_batches,
    different_data,
    every_class,
    fit_params,
    images,
    local_fits,
    resume,
    rows,
    run_ranks,
)

from skremix import ERMClassifier, RemixClassifier
from skremix._data_parallel import DataParallel
from skremix.callbacks import TrainingCheckpoint
from skremix.hf import AccelerateMixin
from skremix.nn._sync_batch_norm import (
    GlobalBatchNorm,
    restore_batch_norm,
    to_global_batch_norm,
)

pytestmark = pytest.mark.distributed

ROOT = Path(__file__).resolve().parents[1]
STEP = dict(
    max_epochs=1,
    random_state=0,
    precise_bn=False,
    iterator_train__shuffle=False,  # the data's order: the same batches
    lr=0.05,
)


# ------------------------------------------------- one step, 2 ranks vs 1


def _many(rank, configs):
    return [fit_params(rank, **config) for config in configs]


EQUIVALENT = {
    "plain": {},
    "rw": {"rebalance": "rw"},
    "drw": {"rebalance": "drw", "rebalance_start": 0},
    "ldam": {"loss": "ldam"},
    "logit_adjusted": {"loss": "logit_adjusted"},
    "sample_weight": {
        "fit_kwargs": {"sample_weight": np.linspace(0.2, 2.0, 96)},
        "rebalance": "rw",
    },
    "sgd_momentum": {
        "optimizer": torch.optim.SGD,
        "optimizer__momentum": 0.9,
        "max_epochs": 2,
    },
}


IMAGES = {**STEP, "data": "images", "optimizer": torch.optim.SGD, "lr": 0.5}


@pytest.fixture(scope="module")
def two_rank_steps(tmp_path_factory):
    """2 ranks x batch 48 on the 96 rows (one step), and the BatchNorm
    ConvNet with sync_batch_norm on 64 images (2 x 32)."""
    configs = [{**STEP, "batch_size": 48, **c} for c in EQUIVALENT.values()]
    # SGD: the update is linear in the gradient (Adam's first step divides
    # by |g| and turns float noise on tiny gradients into full steps).
    configs.append({**IMAGES, "batch_size": 32, "sync_batch_norm": True})
    configs.append({**IMAGES, "batch_size": 32})
    out = run_ranks(_many, tmp_path_factory.mktemp("steps"), configs=configs)
    names = [*EQUIVALENT, "images_sync", "images_local"]
    return dict(zip(names, zip(*out, strict=True), strict=True))


def _close(a, b, atol=2e-5):
    assert a.keys() == b.keys()
    for key in a:
        if a[key].is_floating_point():
            torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-4)
        else:
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("name", list(EQUIVALENT))
def test_two_ranks_step_equals_one_process(two_rank_steps, name):
    config = {**STEP, **EQUIVALENT[name]}
    one = fit_params(0, batch_size=96, **config)
    r0, r1 = two_rank_steps[name]
    assert r0["world_size"] == 2 and one["world_size"] == 1
    _close(r0["params"], one["params"])
    # The same weights, bit for bit, on both ranks; the history is the
    # global batches'.
    _close(r0["params"], r1["params"], atol=0)
    assert r0["batch_sizes"] == r1["batch_sizes"] == [96]
    np.testing.assert_allclose(r0["train_loss"], one["train_loss"], rtol=1e-5)
    np.testing.assert_array_equal(r0["proba"], r1["proba"])


def test_sync_batch_norm_step_equals_one_process(two_rank_steps):
    """BatchNorm over the global batch: the step of one process on all 64
    images; without the sync each rank normalises its 32 (not equal)."""
    one = fit_params(0, batch_size=64, **IMAGES)
    synced, _ = two_rank_steps["images_sync"]
    local, _ = two_rank_steps["images_local"]
    _close(synced["params"], one["params"])
    diff = max(
        (local["params"][k] - one["params"][k]).abs().max().item()
        for k in one["params"]
        if one["params"][k].is_floating_point()
    )
    assert diff > 1e-3


def test_uneven_last_batch_is_the_global_mean(tmp_path):
    """97 rows, batch 64 (2 x 32): the second step's global batch of 33 is
    split 17 / 16 and each rank's loss scaled by n_rank * 2 / 33."""
    X, y = rows(n=97)
    config = {**STEP, "rebalance": "rw"}

    one = ERMClassifier(batch_size=64, **config).fit(X, y)
    out = run_ranks(_fit_97, tmp_path, config=config)
    for r in out:
        _close(
            r["params"], {k: v.detach() for k, v in one.module_.state_dict().items()}
        )
        assert r["batch_sizes"] == [64, 33]


def _fit_97(rank, config):
    X, y = rows(n=97)
    clf = ERMClassifier(batch_size=32, **config).fit(X, y)
    return {
        "params": {k: v.detach().clone() for k, v in clf.module_.state_dict().items()},
        "batch_sizes": [b["train_batch_size"] for b in clf.history[-1, "batches"]],
    }


# ------------------------------------------------------ every class, 2 ranks


@pytest.fixture(scope="module")
def every_class_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("every")
    r0, r1 = run_ranks(every_class, folder, folder=str(folder))
    return folder, r0, r1


@pytest.mark.parametrize("cls", all_classifiers(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("data", ["rows", "images"])
def test_every_class_fits_on_two_ranks(every_class_run, cls, data):
    folder, r0, r1 = every_class_run
    a, b = r0[(cls.__name__, data)], r1[(cls.__name__, data)]
    assert a["world_size"] == b["world_size"] == 2
    # The same net and history on both ranks.
    np.testing.assert_array_equal(a["proba"], b["proba"])
    assert a["history"] == b["history"]
    assert np.isfinite(a["proba"]).all()
    # Each step: two shares of 16, the global batch of 32.
    steps = (96 if data == "rows" else 64) // 32
    assert len(a["seen"]) == len(b["seen"]) == 2 * steps
    for (ia, _), (ib, _) in zip(a["seen"], b["seen"], strict=True):
        assert len(ia) == len(ib) == 16
    if data == "rows" and cls.__name__ != "ReMixClassifier":
        # Shuffled epochs: every sample once per epoch, over both ranks
        # (MiSLAS's second epoch is its class-balanced stage two).
        for epoch in range(1 if cls.__name__ == "MiSLASClassifier" else 2):
            epoch_steps = range(steps * epoch, steps * (epoch + 1))
            seen = [i for s in epoch_steps for i in a["seen"][s][0] + b["seen"][s][0]]
            assert sorted(seen) == list(range(96))
    # Fitted on 2 ranks, pickled by rank 0, predicts here in one process.
    with open(folder / f"{cls.__name__}-{data}.pkl", "rb") as f:
        net = pickle.load(f)
    X, _ = rows() if data == "rows" else images()
    np.testing.assert_allclose(net.predict_proba(X), a["proba"], rtol=1e-6, atol=1e-7)
    assert net.world_size_ == 2


def test_remix_balanced_batches_are_balanced_over_the_ranks(tmp_path):
    """ReMix's class-balanced batches ('global'): each global batch of
    2 x 16 holds 32 // 3 or 32 // 3 + 1 of each class, over the union of
    the two shares (neither share alone need be balanced)."""
    r0, r1 = run_ranks(
        balanced_batches,
        tmp_path,
        cls_name="ReMixClassifier",
        max_epochs=2,
        batch_size=16,
    )
    assert len(r0) == len(r1) > 0
    for (_, ya), (_, yb) in zip(r0, r1, strict=True):
        counts = np.bincount(ya + yb, minlength=3)
        assert sorted(counts.tolist()) == [10, 11, 11]


def test_resampling_draws_the_class_weights_over_the_ranks(tmp_path):
    """rebalance='rs': each epoch draws 400 samples with probability
    proportional to the class weight; over the union of both ranks and 6
    epochs the class shares are those probabilities (within 5 standard
    errors)."""
    r0, r1 = run_ranks(
        balanced_batches,
        tmp_path,
        cls_name="ERMClassifier",
        max_epochs=6,
        batch_size=20,
        rebalance="rs",
    )
    labels = np.concatenate([np.r_[a[1], b[1]] for a, b in zip(r0, r1, strict=True)])
    _, y = rows(n=400)
    counts = np.bincount(y, minlength=3)
    w = (1 - 0.9999) / (1 - 0.9999**counts)  # effective-number weights
    p = w * counts / (w * counts).sum()
    share = np.bincount(labels, minlength=3) / len(labels)
    se = np.sqrt(p * (1 - p) / len(labels))
    assert len(labels) == 6 * 400
    assert np.all(np.abs(share - p) < 5 * se), (share, p)


# ----------------------------------------------------- checkpoints, refusals


def _resume_pair(rank, folder):
    base = Path(folder)
    whole = resume(rank, str(base / "whole"), "RemixClassifier", kill=None)
    again = resume(rank, str(base / "killed"), "RemixClassifier", kill=2)
    # A third folder keeps an unfinished checkpoint (killed, not resumed).
    try:
        resume_kill_only(rank, str(base / "left"))
    except RuntimeError:
        pass
    return whole, again


def resume_kill_only(rank, folder):
    from _ranks import StopAfter

    X, y = rows()
    RemixClassifier(
        max_epochs=4,
        batch_size=16,
        random_state=0,
        callbacks=[("ckpt", TrainingCheckpoint(folder)), ("stop", StopAfter(2))],
    ).fit(X, y)


def test_killed_fit_resumes_on_two_ranks(tmp_path):
    out = run_ranks(_resume_pair, tmp_path, folder=str(tmp_path))
    for whole, again in out:
        assert whole["resumed"] is None and again["resumed"] == 2
        _close(again["params"], whole["params"], atol=0)
    _close(out[0][0]["params"], out[1][0]["params"], atol=0)
    # Rank 0 wrote one checkpoint folder; one process cannot resume it.
    assert sorted(p.name for p in (tmp_path / "left").iterdir()) == [
        "epoch-2",
        "latest",
    ]
    X, y = rows()
    with pytest.raises(ValueError, match="written by a fit on 2 process"):
        RemixClassifier(
            max_epochs=4,
            batch_size=16,
            random_state=0,
            callbacks=[("ckpt", TrainingCheckpoint(tmp_path / "left"))],
        ).fit(X, y)


def _edges(rank):
    return {"different": different_data(rank), "local": local_fits(rank)}


def test_refusals_and_local_fits_in_a_group(tmp_path):
    r0, r1 = run_ranks(_edges, tmp_path)
    for r in (r0, r1):
        assert "every rank must pass the same X and y" in r["different"]
        assert r["local"]["world"] == 1
        assert "sync_batch_norm=True" in r["local"]["refused"]
    # data_parallel=False: one net per rank (seeds 0 and 1 differ).
    assert not np.allclose(r0["local"]["proba"], r1["local"]["proba"])


# ------------------------------------------------------ one process, no group


def test_data_parallel_true_needs_a_group():
    X, y = rows()
    with pytest.raises(ValueError, match="data_parallel=True needs an initialised"):
        ERMClassifier(max_epochs=1, data_parallel=True).fit(X, y)


def test_sync_batch_norm_needs_data_parallel():
    X, y = images()
    with pytest.raises(ValueError, match="sync_batch_norm=True synchronises"):
        ERMClassifier(max_epochs=1, sync_batch_norm=True).fit(X, y)


def test_shares_and_loss_scales_by_hand():
    """The shard rule on fake ranks (no collectives): global batches of 32
    and 7 on 3 ranks give 11 / 11 / 10 and 3 / 2 / 2; a last global batch
    of 5 (fewer than 2 per rank) is left out; the loss scales are
    n_rank * 3 / n_global."""
    batches = [torch.arange(32), torch.arange(32, 39), torch.arange(39, 44)]
    sizes, scales = [], []
    for rank in range(3):
        dp = DataParallel(rank=rank, world_size=3)
        local = dp.shard(batches)
        sizes.append([len(b) for b in local])
        scales.append([dp.loss_scale(len(b)) for b in local])
        assert dp.n_batches(3, 5) == 2
    assert sizes == [[11, 3], [11, 2], [10, 2]]
    assert scales[0] == pytest.approx([11 * 3 / 32, 3 * 3 / 7])
    assert scales[2] == pytest.approx([10 * 3 / 32, 2 * 3 / 7])
    # Over the ranks the scaled shares weigh each sample 3 / n_global:
    # DDP's mean over 3 ranks is the mean over the global batch.
    assert sum(s[0] for s in scales) == pytest.approx(3.0)


def test_global_batch_norm_is_plain_batch_norm_outside_a_group():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4))
    ref = pickle.loads(pickle.dumps(net))
    x = torch.randn(8, 1, 6, 6)
    swapped = to_global_batch_norm(net)
    assert isinstance(net[1], GlobalBatchNorm)
    assert net[1].weight is ref[1].weight or torch.equal(net[1].weight, ref[1].weight)
    torch.testing.assert_close(net(x), ref(x), atol=0, rtol=0)
    torch.testing.assert_close(net[1].running_var, ref[1].running_var)
    net.eval(), ref.eval()
    torch.testing.assert_close(net(x), ref(x), atol=0, rtol=0)
    restore_batch_norm(swapped)
    assert type(net[1]) is torch.nn.BatchNorm2d and not net[1].training


# ------------------------------------------------------- the example's commands


def _launch(args, tmp_path):
    env = {
        **os.environ,
        "SKREMIX_EXAMPLE_OUT": str(tmp_path / "net.pkl"),
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "trained on 2 process(es)" in done.stdout
    with open(tmp_path / "net.pkl", "rb") as f:
        net = pickle.load(f)
    assert net.world_size_ == 2
    return net


def test_torchrun_command(tmp_path):
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    net = _launch(
        [*torchrun, "--nproc_per_node=2", "examples/train_data_parallel.py"],
        tmp_path,
    )
    assert type(net) is RemixClassifier


def test_accelerate_launch_command(tmp_path, monkeypatch):
    pytest.importorskip("accelerate")
    # The example defines its class in its __main__; here it is unpickled
    # as this test's equal of it (the user guide's pitfall of classes
    # defined in a script).
    local = type("AcceleratedRemix", (AccelerateMixin, RemixClassifier), {})
    monkeypatch.setattr(sys.modules["__main__"], "AcceleratedRemix", local, False)
    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable))
    if launcher is None:
        pytest.skip("the accelerate command is not installed beside python")
    net = _launch(
        [
            launcher,
            "launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "examples/train_data_parallel.py",
            "--accelerate",
        ],
        tmp_path,
    )
    # Pickled without its Accelerator; predicts here like any other net.
    assert net.accelerator is None
    X = np.zeros((2, 64), dtype=np.float32)
    assert net.predict_proba(X).shape == (2, 10)


# ------------------------------------------- skremix.hf.AccelerateMixin, here


class Accelerated(AccelerateMixin, RemixClassifier):
    """Remix under an Accelerator (module level: it pickles)."""


@pytest.fixture
def accelerated():
    return Accelerated, pytest.importorskip("accelerate")


def test_accelerate_mixin_in_one_process_is_the_plain_class(accelerated):
    """One process: the accelerator's device (the CPU) and no process group:
    the fit of the class without the mixin, bit for bit."""
    Accelerated, accelerate = accelerated
    X, y = rows()
    params = dict(max_epochs=2, batch_size=16, random_state=0)
    acc = accelerate.Accelerator(cpu=True)
    a = Accelerated(accelerator=acc, **params).fit(X, y)
    b = RemixClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.device == "cpu" and a.get_params()["accelerator"] is acc
    # clone (GridSearchCV) shares the accelerator; a pickle drops it.
    from sklearn.base import clone

    assert clone(a).accelerator is acc
    loaded = pickle.loads(pickle.dumps(a))
    assert loaded.accelerator is None
    np.testing.assert_array_equal(loaded.predict_proba(X), b.predict_proba(X))


class _FakeAccelerator:
    """What the mixin reads of an Accelerator."""

    def __init__(self, mixed_precision="no", gradient_accumulation_steps=1):
        self.mixed_precision = mixed_precision
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.device = torch.device("cpu")


@pytest.mark.parametrize(
    "settings, precision, match",
    [
        ({"mixed_precision": "fp16"}, "fp32", "no loss scaling"),
        ({"mixed_precision": "fp8"}, "fp32", "no loss scaling"),
        ({"mixed_precision": "bf16"}, "fp32", "set precision='bf16'"),
        ({"gradient_accumulation_steps": 4}, "fp32", "does not accumulate"),
    ],
)
def test_accelerate_mixin_refuses_what_it_would_ignore(
    accelerated, settings, precision, match
):
    Accelerated, _ = accelerated
    X, y = rows()
    clf = Accelerated(
        accelerator=_FakeAccelerator(**settings), precision=precision, max_epochs=1
    )
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not clf.__sklearn_is_fitted__()


def test_accelerate_mixin_bf16_with_precision_bf16_trains(accelerated):
    Accelerated, _ = accelerated
    X, y = rows()
    clf = Accelerated(
        accelerator=_FakeAccelerator(mixed_precision="bf16"),
        precision="bf16",
        max_epochs=1,
    ).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()
