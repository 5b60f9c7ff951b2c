"""Epoch arithmetic of the training loop: which epoch of a call this is, an
epoch threshold given as an epoch or a fraction of ``max_epochs``, and the
learning-rate factor of each ``lr_schedule``.

The one home of these rules: the deferred re-balancing start, the step
schedule's decays, RSG's generation start, cRT's re-training phase and the
validation of ``lr_schedule`` milestones all read them from here. Pure
functions, no torch, no skorch.
"""

from __future__ import annotations

import math
import numbers

__all__: list[str] = []


def epoch_threshold(at, max_epochs):
    """An epoch threshold as a number of epochs.

    Parameters
    ----------
    at : int or float
        An epoch (an integer, Python's or NumPy's) or a fraction of
        ``max_epochs`` (a float in [0, 1)).
    max_epochs : int
        Epochs of the call.

    Returns
    -------
    epochs : int
        ``at`` itself for an integer, ``int(at * max_epochs)`` for a fraction.
    """
    if isinstance(at, numbers.Integral):
        return int(at)
    return int(float(at) * int(max_epochs))


def call_epoch(net):
    """Return the 0-based epoch within the current ``fit`` / ``partial_fit`` call.

    Every schedule of a skremix classifier (learning rate, deferred
    re-balancing, RSG's generation start) counts epochs from the start of
    the call, so that each call is one complete run of ``max_epochs``
    epochs. Valid from ``on_epoch_begin`` on (the history row of the epoch
    exists).

    Parameters
    ----------
    net : skorch.NeuralNet
        The net being trained. A skremix classifier records the epoch its
        call started at; any other net counts from its first epoch.

    Returns
    -------
    epoch : int
        Epochs of the current call before this one.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skorch.callbacks import Callback
    >>> from skremix import ERMClassifier
    >>> from skremix.callbacks import call_epoch
    >>> class Show(Callback):
    ...     def on_epoch_begin(self, net, **kwargs):
    ...         print(len(net.history) - 1, call_epoch(net))
    >>> X, y = make_classification(n_samples=40, random_state=0)
    >>> clf = ERMClassifier(max_epochs=2, callbacks=[Show()], train_split=None,
    ...                     verbose=0, random_state=0)
    >>> clf = clf.fit(X, y)
    0 0
    1 1
    >>> clf = clf.partial_fit(X, y)
    2 0
    3 1
    """
    return len(net.history) - 1 - getattr(net, "call_start_epoch_", 0)


def is_constant_schedule(kind, warmup):
    """Whether ``lr_schedule=kind`` with ``lr_warmup=warmup`` leaves every
    rate as the optimizer has it (skorch's behaviour)."""
    return isinstance(kind, str) and kind == "constant" and not warmup


def lr_factor(kind, epoch, total, decay_epoch=None, warmup=0):
    """Return the multiplier of the initial rate at 0-based ``epoch`` of ``total``.

    Parameters
    ----------
    kind : {'constant', 'step', 'cosine'} or sequence of (at, factor)
        The schedule (any other string is constant).
    epoch : int
        0-based epoch within the call.
    total : int
        Epochs of the call, ``T``.
    decay_epoch : int, default=None
        First epoch of the 'step' schedule's first decay, ``d``; None
        means ``int(0.8 * total)``. Unused by the other schedules.
    warmup : int, default=0
        Epochs of linear warm-up: epoch ``e < warmup`` is multiplied by
        ``(e + 1) / warmup``.

    Returns
    -------
    factor : float
        1 for 'constant' after the warm-up; positive otherwise.
    """
    warmup = int(warmup)
    ramp = (epoch + 1) / warmup if epoch < warmup else 1.0
    return ramp * _schedule_factor(kind, epoch, int(total), decay_epoch)


def _schedule_factor(kind, epoch, total, decay_epoch):
    """The schedule's factor without warm-up."""
    if not isinstance(kind, str):
        factor = 1.0
        for at, value in kind:
            if epoch >= epoch_threshold(at, total):
                factor = float(value)
        return factor
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, total) / max(total, 1)))
    if kind == "step":
        first = int(0.8 * total) if decay_epoch is None else int(decay_epoch)
        second = first + math.ceil((total - first) / 2)
        if epoch >= second and second < total:
            return 0.01
        return 0.1 if epoch >= first else 1.0
    return 1.0
