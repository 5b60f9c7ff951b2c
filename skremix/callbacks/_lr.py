"""The learning-rate schedules of skremix classifiers, as skorch callbacks of
old: the training loop applies ``lr_schedule`` itself now."""

from __future__ import annotations

import warnings

from skorch.callbacks import Callback

from skremix._schedule import call_epoch, lr_factor

__all__ = ["LRSchedule", "call_epoch"]


class LRSchedule(Callback):
    """The factors of ``lr_schedule``; as a callback, deprecated and inert.

    Every skremix classifier applies ``lr_schedule`` and ``lr_warmup`` in
    its own training loop (its ``on_epoch_begin``, which runs whatever
    ``callbacks`` is, ``'disable'`` included), so this callback, once a
    default callback, does nothing: adding it warns and changes no rate.
    :meth:`factor` gives the schedule's multipliers.

    Epoch ``e`` (0-based, counted from the start of each ``fit`` or
    ``partial_fit`` call) of ``T = max_epochs`` trains with
    ``lr * factor(kind, e, T, d)``, where ``lr`` is the group's rate when
    training started and ``d`` is the epoch of the deferred start
    (``rebalance_start``, default 80% of ``T``):

    - ``'constant'``: 1 (skorch's behaviour; nothing is recorded);
    - ``'step'``: 1 before ``d``, 0.1 from ``d``, 0.01 from
      ``d + ceil((T - d) / 2)``: the papers' two decays (epochs 160 and 180 of
      200), with deferred re-balancing switched on at the first one, as the
      papers do;
    - ``'cosine'``: ``(1 + cos(pi * e / T)) / 2``;
    - a sequence of ``(at, factor)`` milestones: the ``factor`` of the last
      milestone reached (1 before the first), ``at`` an epoch (int) or a
      fraction of ``T`` (float in [0, 1)). ``((0.8, 0.01), (0.9, 1e-4))`` is
      the LDAM-DRW protocol: x0.01 from epoch 160 and x0.0001 from 180 of
      200.

    ``lr_warmup = W > 0`` multiplies the first ``W`` epochs by
    ``(e + 1) / W``: a linear warm-up to the schedule's rate (5 epochs in
    the papers' CIFAR protocol). The rate is recorded in the history as
    ``'lr'`` (not for 'constant' without warm-up). At the end of training
    the optimizer is left at its initial rates, so a later ``partial_fit``
    runs the schedule again from its start.

    Examples
    --------
    >>> from skremix.callbacks import LRSchedule
    >>> [round(LRSchedule.factor("cosine", e, 4), 3) for e in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    >>> [LRSchedule.factor("step", e, 10, 8) for e in range(10)]
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.01]
    >>> [LRSchedule.factor(((0.5, 0.1), (8, 0.01)), e, 10, warmup=2)
    ...  for e in range(10)]
    [0.5, 1.0, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01, 0.01]
    """

    factor = staticmethod(lr_factor)

    def __init__(self):
        warnings.warn(
            "LRSchedule is no longer a callback: skremix classifiers apply "
            "lr_schedule in their training loop, so this callback does nothing "
            "and will be removed. Drop it from callbacks; LRSchedule.factor "
            "stays.",
            FutureWarning,
            stacklevel=2,
        )
