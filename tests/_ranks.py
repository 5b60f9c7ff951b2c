"""Run a function on several processes of a gloo process group.

``run_ranks(fn, workdir, **kwargs)`` spawns ``world_size`` processes, each
with one torch thread, a gloo group (a file rendezvous in ``folder``: no
port) and ``fn(rank, **kwargs)``; it returns every rank's result, in rank
order (pickled through ``folder``). An exception on a rank is re-raised in
the caller by torch.multiprocessing. The worker functions below are the
tests' bodies (module level, so that the spawned processes import them).
"""

import os
import pickle
import sys

import numpy as np
import torch
import torch.distributed as dist
from _classifiers import all_classifiers
from skorch.callbacks import Callback

from skremix import ERMClassifier
from skremix.callbacks import TrainingCheckpoint

TIMEOUT_S = 120


def run_ranks(fn, workdir, world_size=2, **kwargs):
    folder = str(workdir)
    torch.multiprocessing.start_processes(
        _entry,
        args=(fn, folder, world_size, kwargs),
        nprocs=world_size,
        start_method="spawn",
        join=True,
    )
    out = []
    for rank in range(world_size):
        with open(os.path.join(folder, f"rank{rank}.pkl"), "rb") as f:
            out.append(pickle.load(f))
    return out


def _entry(rank, fn, folder, world_size, kwargs):
    import datetime

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{folder}/rendezvous",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=TIMEOUT_S),
    )
    try:
        result = fn(rank, **kwargs)
    finally:
        dist.destroy_process_group()
    with open(os.path.join(folder, f"rank{rank}.pkl"), "wb") as f:
        pickle.dump(result, f)
    # Leave without interpreter finalisation. With torch 2.13 a process
    # group that a DistributedDataParallel was built on outlives
    # destroy_process_group(), and a gloo worker thread that drops its last
    # reference to a Python tensor while the interpreter finalises aborts
    # the process (SIGABRT, "terminate called without an active
    # exception"; seen in 4 of about 100 runs here, after every result was
    # written). The user guide's "Scaling out" page gives scripts the same
    # ending.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


# --------------------------------------------------------------- the data


def rows(n=96, n_features=6, seed=0):
    """Rows whose first column is the sample's index (to see which samples
    each rank trained on); three classes of 70 / 20 / 10 percent."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    X = rng.normal(size=(n, n_features)).astype(np.float32)
    X[:, 1:] += y[:, None].astype(np.float32)
    X[:, 0] = np.arange(n)
    return X, y


def images(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(2, size=n, p=[0.75, 0.25])
    X = rng.normal(size=(n, 1, 8, 8)).astype(np.float32) + y[:, None, None, None]
    return X, y


class SeenRows(Callback):
    """Record the first input column (the sample index) and labels of
    every training batch."""

    def on_train_begin(self, net, **kwargs):
        self.batches_ = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            Xb, yb = batch[0], batch[1]
            self.batches_.append((Xb[:, 0].round().long().tolist(), yb.cpu().tolist()))


class StopAfter(Callback):
    """Raise at the end of an epoch: a killed fit."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epochs:
            raise RuntimeError("killed")


def _params(net):
    return {k: v.detach().cpu().clone() for k, v in net.module_.state_dict().items()}


# -------------------------------------------------------------- the bodies


def fit_params(rank, cls=ERMClassifier, data="rows", fit_kwargs=None, **params):
    """A fit's final weights, history losses and probabilities."""
    X, y = rows() if data == "rows" else images()
    clf = cls(**params).fit(X, y, **(fit_kwargs or {}))
    return {
        "params": _params(clf),
        "train_loss": [h["train_loss"] for h in clf.history],
        "batch_sizes": [b["train_batch_size"] for b in clf.history[-1, "batches"]],
        "proba": clf.predict_proba(X),
        "world_size": clf.world_size_,
    }


def every_class(rank, folder):
    """Every class on rows and images: probabilities, the rows each rank
    trained on, and (rank 0) the pickled net."""
    out = {}
    for cls in all_classifiers():
        for data in ("rows", "images"):
            X, y = rows() if data == "rows" else images()
            seen = SeenRows()
            clf = cls(
                max_epochs=2,
                batch_size=16,
                random_state=0,
                callbacks=[("seen", seen)],
            ).fit(X, y)
            key = (cls.__name__, data)
            out[key] = {
                "proba": clf.predict_proba(X),
                "seen": seen.batches_,
                "history": [
                    {k: v for k, v in h.items() if k not in ("dur", "batches")}
                    for h in clf.history
                ],
                "world_size": clf.world_size_,
            }
            if rank == 0:
                with open(
                    os.path.join(folder, f"{cls.__name__}-{data}.pkl"), "wb"
                ) as f:
                    pickle.dump(clf, f)
    return out


def balanced_batches(rank, cls_name, **params):
    """The labels of every rank's training batches of a re-sampling fit."""
    import skremix

    X, y = rows(n=400)
    seen = SeenRows()
    cls = getattr(skremix, cls_name)
    cls(callbacks=[("seen", seen)], random_state=0, **params).fit(X, y)
    return seen.batches_


def resume(rank, folder, cls_name, kill):
    """A fit with a TrainingCheckpoint, killed after ``kill`` epochs and
    resumed (or not killed: ``kill=None``): the final weights."""
    import skremix

    X, y = rows()
    cls = getattr(skremix, cls_name)

    def make(extra):
        return cls(
            max_epochs=4,
            batch_size=16,
            random_state=0,
            callbacks=[("ckpt", TrainingCheckpoint(folder)), *extra],
        )

    if kill is not None:
        try:
            make([("stop", StopAfter(kill))]).fit(X, y)
        except RuntimeError as exc:
            assert "killed" in str(exc)
    clf = make([]).fit(X, y)
    return {
        "params": _params(clf),
        "resumed": dict(clf.callbacks_)["ckpt"].resumed_from_,
    }


def different_data(rank):
    """Each rank passes other rows: refused on every rank."""
    X, y = rows(seed=rank)
    try:
        ERMClassifier(max_epochs=1).fit(X, y)
    except ValueError as exc:
        return str(exc)
    return None


def local_fits(rank):
    """data_parallel=False inside a group: one net per rank (different
    seeds give different nets), and sync_batch_norm refused there."""
    X, y = rows()
    clf = ERMClassifier(max_epochs=2, random_state=rank, data_parallel=False)
    clf.fit(X, y)
    try:
        ERMClassifier(max_epochs=1, data_parallel=False, sync_batch_norm=True).fit(X, y)
        refused = None
    except ValueError as exc:
        refused = str(exc)
    return {"proba": clf.predict_proba(X), "world": clf.world_size_, "refused": refused}
