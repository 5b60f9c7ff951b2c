"""The in-memory loop's pieces (skremix._loop), each on hand-made inputs."""

import math

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from skorch.history import History
from torch.utils.data import Subset

from skremix import _loop


@pytest.mark.parametrize(
    "n, batch_size, sizes",
    [
        (10, 4, [4, 4, 2]),
        (9, 4, [4, 5]),  # a trailing batch of one joins the previous one
        (5, 1, [1, 1, 1, 1, 1]),  # batch_size 1 is what was asked for
        (3, 8, [3]),
        (1, 4, [1]),  # one sample: nothing to merge with
    ],
)
def test_chunks(n, batch_size, sizes):
    order = torch.arange(n)
    got = _loop.chunks(order, batch_size)
    assert [len(b) for b in got] == sizes
    assert torch.equal(torch.cat(got), order)  # every index once, in order


def test_tensor_batches_draws_each_epoch_and_len_does_not_draw():
    X, y = torch.arange(11.0)[:, None], torch.arange(11) % 3
    draws = []

    def batches():
        draws.append(1)
        return _loop.chunks(torch.randperm(11), 5)

    it = _loop.TensorBatches(X, y, batches, "cpu", n_batches=2)
    assert len(it) == 2 and draws == []
    epoch = list(it)
    assert draws == [1] and [len(xb) for xb, _ in epoch] == [5, 6]
    xs = torch.cat([xb for xb, _ in epoch])[:, 0].long()
    ys = torch.cat([yb for _, yb in epoch])
    assert torch.equal(ys, xs % 3)  # rows and labels stay paired
    assert sorted(xs.tolist()) == list(range(11))
    list(it)
    assert draws == [1, 1]


def test_dataset_tensors_of_a_subset_and_of_other_datasets():
    X, y = torch.arange(10.0)[:, None], np.arange(10) % 2
    ds = Dataset(X, y)
    Xs, ys = _loop.dataset_tensors(Subset(ds, [7, 2, 5]))
    assert Xs[:, 0].tolist() == [7.0, 2.0, 5.0] and ys.tolist() == [1, 0, 1]
    assert _loop.dataset_tensors(Dataset(X.numpy(), y)) is None  # not tensors
    assert _loop.dataset_tensors(torch.utils.data.TensorDataset(X)) is None


def test_read_batch_records_reads_tensors_once_and_checks_the_loss():
    history = History()
    history.new_epoch()
    for value, extra in [(0.5, 2), (torch.tensor(0.25), torch.tensor(3))]:
        history.new_batch()
        history.record_batch("train_loss", value)
        history.record_batch("n", extra)
    _loop.read_batch_records(history, check_loss="train_loss", lr=0.1)
    assert history[-1, "batches", :, "train_loss"] == [0.5, 0.25]
    assert history[-1, "batches", :, "n"] == [2, 3.0]
    assert all(
        not isinstance(v, torch.Tensor)
        for row in history[-1]["batches"]
        for v in row.values()
    )
    history.new_batch()
    history.record_batch("train_loss", torch.tensor(math.inf))
    with pytest.raises(
        FloatingPointError, match=r"inf in epoch 1, batch 2.*lr \(now 0.1\)"
    ):
        _loop.read_batch_records(history, check_loss="train_loss", lr=0.1)
    # Validation records are read back but not checked.
    _loop.read_batch_records(history, check_loss=None)
    assert history[-1, "batches", -1, "train_loss"] == math.inf


def test_stays_on_device_only_off_the_cpu():
    assert not _loop.stays_on_device(torch.tensor(1.0))
    meta = torch.empty((), device="meta")
    assert _loop.stays_on_device(meta)
