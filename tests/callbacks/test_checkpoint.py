"""Exact resume: a fit killed (a separate process, SIGKILL) after epoch k and
resumed from its TrainingCheckpoint equals the uninterrupted fit, for every
method; the checkpoint writes are atomic; Ctrl-C leaves a usable net."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.callbacks import TrainingCheckpoint

ROOT = Path(__file__).resolve().parents[2]

# Each method with settings that make the resumed part depend on the saved
# state: the step schedule and deferred re-balancing switch during the
# epochs after the kill, and RSG starts generating after it.
CASES = {
    "erm_ldam_drw": (ERMClassifier, dict(loss="ldam", rebalance="drw")),
    "remix": (RemixClassifier, dict(lr_schedule="step")),
    "remix_sampling": (ReMixClassifier, dict()),
    "mfw": (MFWClassifier, dict(lr_warmup=2, optimizer__weight_decay=1e-3)),
    "rsg": (RSGClassifier, dict(generate_from=4)),
}
EPOCHS, KILL_AFTER = 6, 3


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)).astype(np.float32)
    y = np.repeat([0, 1, 2], [100, 35, 15])
    X[y == 1] += 1.0
    X[y == 2] -= 1.0
    return X, y


def _make(case, dirname, **extra):
    cls, kw = CASES[case]
    return cls(
        max_epochs=EPOCHS,
        batch_size=32,
        random_state=0,
        callbacks=[TrainingCheckpoint(dirname)],
        **kw,
        **extra,
    )


def _history(clf):
    """The history without timings, which differ between runs."""
    return [
        {
            k: (
                [{b: v for b, v in row.items() if b != "dur"} for row in val]
                if k == "batches"
                else val
            )
            for k, val in epoch.items()
            if k != "dur"
        }
        for epoch in clf.history
    ]


_CHILD = textwrap.dedent(
    """
    import sys, time
    import torch
    torch.set_num_threads({threads})  # as the resuming process: same reductions
    sys.path.insert(0, {tests!r})
    from skorch.callbacks import Callback
    from callbacks.test_checkpoint import _data, _make

    class Stall(Callback):
        # After the checkpoint of epoch {k} is written, wait to be killed.
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == {k}:
                print("saved", flush=True)
                time.sleep(600)

    X, y = _data()
    clf = _make({case!r}, {dirname!r})
    clf.set_params(callbacks=clf.callbacks + [Stall()])
    clf.fit(X, y)
    """
)


def _killed_after_epoch_k(case, dirname):
    code = _CHILD.format(
        tests=str(ROOT / "tests"),
        k=KILL_AFTER,
        case=case,
        dirname=str(dirname),
        threads=torch.get_num_threads(),
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        line = proc.stdout.readline()  # blocks until the child says it saved
        assert line.strip() == "saved", f"child ended early (rc {proc.poll()})"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("case", list(CASES))
def test_killed_fit_resumes_to_the_uninterrupted_result(case, tmp_path):
    X, y = _data()
    _killed_after_epoch_k(case, tmp_path / "ckpt")
    assert (tmp_path / "ckpt" / "latest").read_text() == f"epoch-{KILL_AFTER}"
    resumed = _make(case, tmp_path / "ckpt").fit(X, y)
    assert resumed.callbacks[0].resumed_from_ == KILL_AFTER
    whole = _make(case, tmp_path / "fresh").fit(X, y)
    assert whole.callbacks[0].resumed_from_ is None
    assert len(resumed.history) == EPOCHS
    assert _history(resumed) == _history(whole)
    np.testing.assert_array_equal(resumed.predict_proba(X), whole.predict_proba(X))


def test_a_finished_fit_is_not_resumed_and_old_checkpoints_go(tmp_path):
    X, y = _data()
    first = _make("remix", tmp_path).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"epoch-{EPOCHS}", "latest"]
    again = _make("remix", tmp_path).fit(X, y)  # starts anew, same result
    assert again.callbacks[0].resumed_from_ is None
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    X, y = _data()

    class CrashOnThirdSave(TrainingCheckpoint):
        def save(self, net):
            if len(net.history) == 3:
                import torch

                def broken(obj, f):
                    f.write(b"partial")
                    raise OSError("disk unplugged")

                monkeypatch.setattr(torch, "save", broken)
            super().save(net)

    clf = ERMClassifier(
        max_epochs=EPOCHS, random_state=0, callbacks=[CrashOnThirdSave(tmp_path)]
    )
    with pytest.raises(OSError, match="disk unplugged"):
        clf.fit(X, y)
    monkeypatch.undo()
    assert (tmp_path / "latest").read_text() == "epoch-2"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]
    resumed = _make("erm_ldam_drw", tmp_path)
    resumed.set_params(loss="ce", rebalance=None)
    resumed.fit(X, y)
    assert resumed.callbacks[0].resumed_from_ == 2


def test_a_checkpoint_of_another_estimator_is_refused(tmp_path):
    X, y = _data()

    class StopAt2(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    rsg = _make("rsg", tmp_path)
    rsg.set_params(callbacks=rsg.callbacks + [StopAt2()]).fit(X, y)
    with pytest.raises(ValueError, match="does not match RemixClassifier.*rsg_"):
        _make("remix", tmp_path).fit(X, y)


def test_keyboard_interrupt_leaves_a_usable_net():
    X, y = _data()

    class CtrlC(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    start = time.perf_counter()
    clf = RemixClassifier(max_epochs=EPOCHS, random_state=0, callbacks=[CtrlC()])
    clf.fit(X, y)
    assert time.perf_counter() - start < 60
    assert len(clf.history) == 2  # the epochs finished before the interrupt
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)
