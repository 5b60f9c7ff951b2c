"""Map-style torch ``Dataset`` (and skorch ``SliceDataset``) input with the
labels given as ``y``: validated without reading the data, and served to the
training loop batch by batch, so data that does not fit in memory trains
with every method (class counts and re-sampling come from ``y``)."""

from __future__ import annotations

import numpy as np
import torch
from skorch.helper import SliceDataset
from torch.utils.data import DataLoader, Dataset, Subset

from skremix._validation import (
    _integer_input,
    _is_integer_dtype,
    check_channels_first,
    check_target_type,
    encode_labels,
    ids_source,
    keeps_integers,
)

__all__: list[str] = []


def is_dataset_input(X):
    """Whether ``X`` is a map-style dataset rather than an array."""
    return isinstance(X, (Dataset, SliceDataset)) and not isinstance(X, LabelledDataset)


def _sample(X, i=0):
    """Sample ``i`` of a dataset as a tensor; a tuple item gives its first
    element (the labels come from ``y``)."""
    item = X[i]
    if isinstance(item, (tuple, list)):
        item = item[0]
    if not isinstance(item, torch.Tensor):
        item = torch.as_tensor(np.asarray(item))
    return item


def sample_shape(estimator, X):
    """The model-side shape of one sample of ``X`` (``(d,)`` or ``(c, h, w)``),
    the sample's own shape and its dtype, from one read of ``X[0]``."""
    name = type(estimator).__name__
    if len(X) == 0:
        raise ValueError(f"Found a dataset with 0 sample(s) while {name} needs >= 1.")
    sample = _sample(X)
    raw = tuple(sample.shape)
    if sample.ndim == 2:
        return (1, *raw), raw, sample.dtype
    if sample.ndim in (1, 3):
        return raw, raw, sample.dtype
    raise ValueError(
        f"{name} needs dataset samples of shape (d,), (h, w) or (c, h, w); the "
        f"first sample has shape {tuple(sample.shape)}."
    )


def validate_dataset(estimator, X, y=None, *, reset, classes=None):
    """Validate dataset input without reading more than its first sample.

    Returns ``(X, y)`` with ``y`` encoded (None at prediction); sets
    ``input_shape_`` and ``n_features_in_`` when ``reset``.
    """
    name = type(estimator).__name__
    shape, raw, dtype = sample_shape(estimator, X)
    if reset:
        check_channels_first(
            estimator,
            raw,
            f"The dataset's samples have shape {raw}",
            fix="Return them as (channels, height, width) from the Dataset's "
            "__getitem__: torch.as_tensor(image).permute(2, 0, 1) (torchvision's "
            "ToTensor does this for PIL images).",
        )
        # Indices for integer_inputs='auto' (skremix._validation).
        estimator.__dict__["_integer_X"] = _integer_input(dtype, len(raw))
        estimator.__dict__.pop("_integer_resolved", None)
    keep = keeps_integers(estimator)
    if keep and not _is_integer_dtype(dtype):
        raise ValueError(
            f"{ids_source(estimator)} takes dataset samples of an integer dtype "
            f"(token ids, category codes) for {name}; the first sample is {dtype}. "
            "Convert the samples to int64 in the dataset."
        )
    if reset:
        estimator.input_shape_ = shape
        # The channels of images ((h, w) samples have one), as for arrays.
        estimator.n_features_in_ = int(shape[0])
    elif shape != estimator.input_shape_:
        raise ValueError(
            f"X has samples of shape {shape}, but {name} was fitted on shape "
            f"{estimator.input_shape_}."
        )
    if y is None:
        if reset:
            raise ValueError(
                f"{name} trains on a dataset X with its labels given as y (e.g. "
                "skorch.helper.SliceDataset(dataset, idx=1)); y is None."
            )
        return (IndexSamples(X) if keep else X), None
    if len(y) != len(X):
        raise ValueError(
            "Found input variables with inconsistent numbers of samples: "
            f"[{len(X)}, {len(y)}]"
        )
    y = check_target_type(y)
    return X, encode_labels(estimator, y, reset=reset, classes=classes)


class LabelledDataset(Dataset):
    """``(sample, label)`` pairs of a dataset and its encoded labels.

    Samples are tensors in the model's layout (a channel axis added to
    ``(h, w)`` images); uint8 stays uint8 (scaled per batch in the loop).
    ``y`` is None at prediction (a placeholder label is served).
    """

    def __init__(self, X, y, input_shape):
        self.X = X
        self.y = y
        self.input_shape = tuple(input_shape)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        x = _sample(self.X, i)
        if x.ndim + 1 == len(self.input_shape):
            x = x[None]
        label = self.y[i] if self.y is not None else torch.zeros((), dtype=torch.long)
        return x, label


class IndexSamples(Dataset):
    """The samples of a dataset as int64 indices (token ids, category codes)
    for a module that embeds them; uint8 samples too, which the batch loop
    would otherwise scale as pixels."""

    def __init__(self, X):
        self.X = X

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return _sample(self.X, i).to(torch.int64)


def dataset_labels(dataset):
    """The encoded labels of a ``LabelledDataset`` or a ``Subset`` chain of
    one (a validation split), else None."""
    if isinstance(dataset, Subset):
        inner = dataset_labels(dataset.dataset)
        if inner is None:
            return None
        return inner[torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)]
    if isinstance(dataset, LabelledDataset):
        return dataset.y
    return None


class EpochBatchSampler:
    """A ``batch_sampler`` for a DataLoader: each epoch's index batches drawn
    by the estimator (shuffled, or re-sampled by class)."""

    def __init__(self, draw, n_batches):
        self.draw = draw
        self.n_batches = n_batches

    def __iter__(self):
        for idx in self.draw():
            yield idx.tolist()

    def __len__(self):
        return self.n_batches


def epoch_loader(estimator, dataset, y, options):
    """Training batches served by a DataLoader: dataset input (gathered
    and collated on the host), or array input with loading options
    (``iterator_train__num_workers``, ``collate_fn``, ...).

    Each epoch's batches are drawn by the estimator's ``_epoch_batches``
    from the labels ``y`` (shuffled, re-sampled by class, or in the order
    of ``iterator_train__sampler``) and handed to the DataLoader as its
    ``batch_sampler``, with the loading options of ``options.loader``.
    """
    estimator.data_placement_ = "host"
    params = dict(options.loader)
    y = y.cpu()
    sampler = EpochBatchSampler(
        lambda: estimator._epoch_batches(y, options.batch_size),
        estimator._n_train_batches(len(y), options),
    )
    if torch.device(estimator.device).type == "cuda":
        params.setdefault("pin_memory", True)
    # A DataLoader draws its workers' base seed at every epoch from its
    # generator, by default torch's global one: its own keeps the global
    # stream (batches, mixing) the same as with array input.
    params.setdefault("generator", torch.Generator().manual_seed(0))
    return DataLoader(dataset, batch_sampler=sampler, **params)
