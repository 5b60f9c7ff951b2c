"""The batches of a training epoch: ``iterator_train__*`` honoured or refused.

skremix draws every epoch's training batches itself (re-sampling, cRT's
and ReMix's class-balanced batches, the in-memory loop of
``skremix._loop``), so the DataLoader options a PyTorch user passes as
``iterator_train__*`` are read here, once, and each is either honoured by
that loop or refused before any training:

- ``batch_size``, ``shuffle`` (``False``: the data's order), ``drop_last``
  (no partial final batch) and ``sampler`` (the epoch's indices, e.g. a
  ``WeightedRandomSampler``, PyTorch users' imbalance idiom) decide the
  batch order;
- the loading options (``num_workers``, ``collate_fn``, ``pin_memory``,
  ...) are given to a DataLoader that serves the same batches;
- ``batch_sampler`` and ``generator`` are refused: skremix draws the
  batches, seeded by ``random_state``.

A sampler or ``shuffle=False`` is refused where the method draws its own
batches (``rebalance='rs'``, ``'drs'``, ``'crt'``; ReMix).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader

__all__: list[str] = []

# Options of the batch order, honoured by skremix's own loop.
_ORDER = ("batch_size", "shuffle", "sampler", "drop_last")
# Options that replace skremix's drawing of the batches.
_REFUSED = {
    "batch_sampler": (
        "skremix draws each epoch's batches itself (shuffled, re-sampled by "
        "class, or in the order of iterator_train__sampler): pass the order as "
        "iterator_train__sampler and the size as batch_size instead"
    ),
    "generator": (
        "the batch order is drawn from torch's generator seeded by "
        "random_state: set random_state instead"
    ),
}


def _loader_arguments():
    """The keyword arguments of torch's DataLoader (they vary with torch)."""
    names = inspect.signature(DataLoader).parameters
    return {name for name in names if name != "dataset"}


@dataclass(frozen=True)
class BatchOptions:
    """The training batches a fit asked for through ``iterator_train__*``.

    Parameters
    ----------
    batch_size : int
        Rows per batch; ``-1`` (the whole training part) already resolved
        by the caller where the data size is known.
    shuffle : bool
        False: the data's order (no re-drawing).
    sampler : iterable of int or None
        The epoch's indices into the training part, drawn anew each epoch.
    drop_last : bool
        Drop a final batch smaller than ``batch_size``.
    loader : dict
        Loading options for a DataLoader serving the batches.
    """

    batch_size: int
    shuffle: bool = True
    sampler: object = None
    drop_last: bool = False
    loader: dict = field(default_factory=dict)


def draws_own_batches(estimator):
    """What, if anything, makes the method draw its own batches: a
    description for messages, or None."""
    rebalance = getattr(estimator, "rebalance", None)
    if rebalance in ("rs", "drs", "crt"):
        return f"rebalance={rebalance!r} draws class-balanced batches"
    if getattr(estimator, "_balanced_batches", False):
        return f"{type(estimator).__name__} draws class-balanced batches"
    return None


def batch_options(estimator):
    """Read and check ``iterator_train__*`` (with the DataLoader as
    ``iterator_train``); a ValueError or TypeError names what is refused.

    Parameters
    ----------
    estimator : skremix classifier
        Its ``iterator_train__*`` parameters and ``batch_size``.

    Returns
    -------
    options : BatchOptions
    """
    name = type(estimator).__name__
    params = dict(estimator.get_params_for("iterator_train"))
    unknown = sorted(set(params) - _loader_arguments())
    if unknown:
        raise TypeError(
            f"iterator_train__{unknown[0]} is not an argument of "
            f"torch.utils.data.DataLoader, the iterator_train of {name}; its "
            f"arguments are {sorted(_loader_arguments())}."
        )
    for key, why in _REFUSED.items():
        if key in params:
            raise ValueError(
                f"iterator_train__{key} cannot be used with {name}: {why}."
            )
    sampler = params.pop("sampler", None)
    shuffle = params.pop("shuffle", None)
    if sampler is not None and shuffle:
        # torch's DataLoader rule, in its words.
        raise ValueError(
            "iterator_train__sampler option is mutually exclusive with "
            "iterator_train__shuffle=True: leave shuffle unset with a sampler."
        )
    own = draws_own_batches(estimator)
    if own and (sampler is not None or shuffle is False):
        what = "iterator_train__sampler" if sampler is not None else "shuffle=False"
        raise ValueError(
            f"{what} cannot be used with {name}: {own} each epoch, which "
            f"replaces the order {what} asks for. Use rebalance=None (or 'rw' / "
            "'drw', which only weight the loss) with a sampler of your own."
        )
    if sampler is not None and not hasattr(sampler, "__iter__"):
        raise TypeError(
            "iterator_train__sampler must be an iterable of sample indices "
            f"(a torch Sampler); got {type(sampler).__name__}."
        )
    batch_size = params.pop("batch_size", estimator.batch_size)
    drop_last = bool(params.pop("drop_last", False))
    return BatchOptions(
        batch_size=int(batch_size),
        shuffle=True if shuffle is None else bool(shuffle),
        sampler=sampler,
        drop_last=drop_last,
        loader=params,
    )


def sampler_order(sampler, n, device):
    """One epoch of a user's sampler as an index tensor on ``device``,
    checked against the ``n`` samples of the training part."""
    order = torch.as_tensor(list(iter(sampler)), dtype=torch.long)
    if order.ndim != 1:
        raise ValueError(
            "iterator_train__sampler must yield one sample index at a time; it "
            f"yielded an array of shape {tuple(order.shape)}."
        )
    if len(order) and (int(order.min()) < 0 or int(order.max()) >= n):
        bad = int(order.max()) if int(order.max()) >= n else int(order.min())
        raise ValueError(
            f"iterator_train__sampler drew the index {bad}, but the training part "
            f"has {n} samples (train_split holds out the rest): build the "
            "sampler over the samples trained on, or use train_split=None."
        )
    return order.to(device)


def n_samples_drawn(options, n):
    """Samples drawn per epoch: the sampler's length, else ``n``."""
    if options.sampler is not None:
        try:
            return len(options.sampler)
        except TypeError:
            return n
    return n
