"""The learning-rate schedules of skremix classifiers."""

from __future__ import annotations

import math
import numbers

from skorch.callbacks import Callback

__all__ = ["LRSchedule", "call_epoch"]


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


class LRSchedule(Callback):
    """Per-epoch learning rate of ``net.lr_schedule``, for every parameter group.

    Epoch ``e`` (0-based, counted from the start of each ``fit`` or
    ``partial_fit`` call) of ``T = net.max_epochs`` trains with
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

    ``net.lr_warmup = W > 0`` multiplies the first ``W`` epochs by
    ``(e + 1) / W``: a linear warm-up to the schedule's rate (5 epochs in
    the papers' CIFAR protocol). The rate is recorded in the history as
    ``'lr'`` (not for 'constant' without warm-up).
    At the end of training the optimizer is left at its initial rates, so a
    later ``partial_fit`` runs the schedule again from its start.

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

    @staticmethod
    def factor(kind, epoch, total, decay_epoch=None, warmup=0):
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
        ramp = (epoch + 1) / warmup if epoch < warmup else 1.0
        return ramp * LRSchedule._schedule(kind, epoch, total, decay_epoch)

    @staticmethod
    def _schedule(kind, epoch, total, decay_epoch):
        """The schedule's factor without warm-up."""
        if not isinstance(kind, str):
            factor = 1.0
            for at, value in kind:
                start = at if isinstance(at, numbers.Integral) else int(at * total)
                if epoch >= start:
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

    @staticmethod
    def _is_constant(net):
        kind = getattr(net, "lr_schedule", "constant")
        constant = isinstance(kind, str) and kind == "constant"
        return constant and not getattr(net, "lr_warmup", 0)

    def on_train_begin(self, net, **kwargs):
        """Remember each parameter group's initial learning rate."""
        self.base_lrs_ = [group["lr"] for group in net.optimizer_.param_groups]

    def on_epoch_begin(self, net, **kwargs):
        """Set every parameter group's rate for this epoch and record it."""
        kind = getattr(net, "lr_schedule", "constant")
        warmup = getattr(net, "lr_warmup", 0)
        if self._is_constant(net):
            return
        decay = getattr(net, "decay_epoch_", None)
        factor = self.factor(kind, call_epoch(net), net.max_epochs, decay, warmup)
        for group, base in zip(
            net.optimizer_.param_groups, self.base_lrs_, strict=True
        ):
            group["lr"] = base * factor
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])

    def on_train_end(self, net, **kwargs):
        """Restore the initial rates, so a later call restarts the schedule.

        A later ``partial_fit`` or warm-started ``fit`` starts from the
        optimizer's rates: left at their initial values, not the last
        epoch's.
        """
        if not self._is_constant(net):
            for group, base in zip(
                net.optimizer_.param_groups, self.base_lrs_, strict=True
            ):
                group["lr"] = base
