"""The in-memory training loop's pieces: mini-batches of tensors already in
memory, and the batch records kept on the device until the end of an epoch.

Functions of plain tensors and skorch objects, tested on their own
(``tests/test_loop.py``); the estimator base wires them into skorch.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skorch.dataset import Dataset as SkorchDataset
from torch.utils.data import DataLoader, Subset

__all__: list[str] = []


class TensorBatches:
    """Mini-batches of tensors already in memory, re-drawn at every epoch.

    Replaces a DataLoader over a map-style Dataset: no per-sample indexing,
    no collation. Where ``X`` lives decides the path: on the device (the
    training set moved there once) batches are gathered there; on the host
    (data larger than the device, or a memmap) each batch is gathered on the
    host and moved on its own, from pinned memory when ``pin`` is set.
    With per-sample ``weights`` (on the device of ``y``), each batch is a
    :class:`WeightedBatch` carrying the weights of its rows.
    """

    def __init__(self, X, y, batches, device, n_batches, pin=False, weights=None):
        self.X = X
        self.y = y
        self.batches = batches
        self.device = device
        self.n_batches = n_batches
        self.pin = pin
        self.weights = weights

    def __iter__(self):
        for idx in self.batches():
            Xb = self.X[idx]
            yb = None if self.y is None else self.y[idx]
            wb = None if self.weights is None else self.weights[idx]
            if Xb.device != torch.device(self.device):
                if self.pin:
                    Xb = Xb.pin_memory()
                Xb = Xb.to(self.device, non_blocking=True)
                yb = None if yb is None else yb.to(self.device, non_blocking=True)
                wb = None if wb is None else wb.to(self.device, non_blocking=True)
            if wb is None:
                yield as_float(Xb), yb
            else:
                yield WeightedBatch(as_float(Xb), yb, wb)

    def __len__(self):
        # The planned count: never re-draws an epoch (that would consume the
        # random state and change the fit).
        return self.n_batches


class WeightedBatch(tuple):
    """An ``(X, y)`` batch that also carries the sample weights of its rows.

    A 2-tuple for skorch and the callbacks (``X, y = batch``); the training
    step reads ``batch.sample_weight``.
    """

    def __new__(cls, X, y, sample_weight):
        batch = super().__new__(cls, (X, y))
        batch.sample_weight = sample_weight
        return batch

    def __getnewargs__(self):
        # copy and pickle rebuild the batch with its weights.
        return (*self, self.sample_weight)


def dataset_weights(dataset, weights):
    """The rows of ``weights`` (one per sample of the data passed to ``fit``)
    that belong to ``dataset``: the whole skorch Dataset, or a Subset of it
    (a validation split); None when ``dataset`` is neither."""
    if isinstance(dataset, Subset):
        inner = dataset_weights(dataset.dataset, weights)
        if inner is None:
            return None
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        return inner[idx.to(inner.device)]
    if isinstance(dataset, SkorchDataset) and len(dataset) == len(weights):
        return weights
    return None


def dataset_tensors(dataset):
    """(X, y) tensors behind a skorch Dataset or a Subset of one, else None."""
    if isinstance(dataset, Subset):
        inner = dataset_tensors(dataset.dataset)
        if inner is None:
            return None
        X, y = inner
        idx = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        return X[idx], (None if y is None else y[idx])
    if isinstance(dataset, SkorchDataset) and isinstance(dataset.X, torch.Tensor):
        y = dataset.y
        if y is not None and not isinstance(y, torch.Tensor):
            y = torch.as_tensor(np.asarray(y))
        return dataset.X, y
    return None


def as_float(X):
    """A batch of uint8 images as float32 in [0, 1] (``X / 255``, the values
    of scaling the whole array at once); any other batch unchanged."""
    if isinstance(X, torch.Tensor) and X.dtype == torch.uint8:
        return X.to(torch.float32) / 255.0
    return X


def stays_on_device(value):
    """Whether a per-batch scalar is kept as a device tensor until the end of
    the epoch: on an accelerator, reading it (``loss.item()``) would make the
    host wait for the device at every step. On the CPU it is read at once."""
    return value.device.type != "cpu"


def chunks(order, batch_size, drop_last=False):
    """Split an index vector into batches.

    A trailing batch of one sample is merged into the previous one
    (BatchNorm cannot train on one sample); with ``drop_last``
    (``iterator_train__drop_last=True``) a final batch smaller than
    ``batch_size`` is dropped instead.
    """
    n = len(order)
    bounds = list(range(0, n, batch_size)) + [n]
    partial = len(bounds) > 1 and bounds[-1] - bounds[-2] < batch_size
    if drop_last and partial:
        del bounds[-1]
    elif batch_size > 1 and len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def read_batch_records(history, check_loss=None, lr=None):
    """Replace the device tensors among the last epoch's batch records of
    ``history`` by floats, in one device-to-host copy; then raise
    ``FloatingPointError`` if a ``check_loss`` value is not finite (``lr``
    is named in the message)."""
    rows = history[-1]["batches"]
    cells = [
        (row, key)
        for row in rows
        for key, value in row.items()
        if isinstance(value, torch.Tensor)
    ]
    if cells:
        values = torch.stack(
            [row[key].reshape(()).to(torch.float64) for row, key in cells]
        ).tolist()
        for (row, key), value in zip(cells, values, strict=True):
            row[key] = value
    for i, row in enumerate(rows if check_loss else []):
        value = row.get(check_loss)
        if value is not None and not math.isfinite(value):
            raise FloatingPointError(
                f"Training diverged: the loss became {value} in epoch "
                f"{len(history)}, batch {i}. Lower lr (now {lr}) "
                "or check the inputs for extreme values."
            )


def input_statistics(dataset_train, input_shape):
    """Per-channel (images) or per-feature (rows) mean and standard
    deviation of the training inputs, for ``standardize=True``; float64
    sums over chunks, so no copy of the data is made.

    Returns ``(mean, std)``, float32 arrays of shape ``(input_shape[0],)``;
    a constant channel gets std 1 (it is only centred).
    """
    tensors = dataset_tensors(dataset_train)
    if tensors is not None:
        X = tensors[0]
        chunks = (X[a : a + 4096] for a in range(0, len(X), 4096))
    else:  # a dataset: one pass in batches
        loader = DataLoader(
            dataset_train, batch_size=4096, generator=torch.Generator()
        )  # its own generator: the global stream is left as it is
        chunks = (b[0] for b in loader)
    axes = (0, 2, 3) if len(input_shape) == 3 else (0,)
    width = input_shape[0]
    total = torch.zeros(width, dtype=torch.float64)
    squares = torch.zeros(width, dtype=torch.float64)
    n = 0
    for chunk in chunks:
        chunk = as_float(chunk).to("cpu", torch.float64)
        total += chunk.sum(dim=axes)
        squares += (chunk * chunk).sum(dim=axes)
        n += chunk.numel()
    count = n / width
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    std[std == 0] = 1.0  # a constant channel is only centred
    return mean.to(torch.float32).numpy(), std.to(torch.float32).numpy()
