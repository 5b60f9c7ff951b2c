"""The default learning-rate schedule of skremix classifiers."""

from __future__ import annotations

import math

from skorch.callbacks import Callback

__all__ = ["CosineLRSchedule"]


class CosineLRSchedule(Callback):
    """Cosine annealing of every parameter group's learning rate, per epoch.

    Epoch ``e`` (0-based, counted from the start of each ``fit`` or
    ``partial_fit`` call) of ``T = net.max_epochs`` trains with
    ``lr_e = lr * (1 + cos(pi * e / T)) / 2``, where ``lr`` is the group's
    learning rate when training started. The rate is recorded in the history
    as ``'lr'``. Does nothing unless ``net.lr_schedule == 'cosine'``.

    The papers start deferred re-weighting at a learning-rate decay (Remix:
    the second decay; RSG: where the rate falls to 0.001); with the default
    ``rebalance_start=0.8`` the cosine rate is below 10% of ``lr`` there too.
    Each ``partial_fit`` call runs one cosine cycle (a warm restart).

    Examples
    --------
    >>> from skremix.callbacks import CosineLRSchedule
    >>> cb = CosineLRSchedule()
    >>> [round(cb.factor(e, 4), 3) for e in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    """

    @staticmethod
    def factor(epoch, total):
        """Multiplier of the initial rate at 0-based ``epoch`` of ``total``."""
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch, total) / max(total, 1)))

    def on_train_begin(self, net, **kwargs):
        self.start_epoch_ = len(net.history)
        self.base_lrs_ = [group["lr"] for group in net.optimizer_.param_groups]

    def on_epoch_begin(self, net, **kwargs):
        if getattr(net, "lr_schedule", None) != "cosine":
            return
        factor = self.factor(len(net.history) - 1 - self.start_epoch_, net.max_epochs)
        for group, base in zip(net.optimizer_.param_groups, self.base_lrs_, strict=True):
            group["lr"] = base * factor
        net.history.record("lr", net.optimizer_.param_groups[0]["lr"])

    def on_train_end(self, net, **kwargs):
        # Leave the optimizer at its initial rates: a later partial_fit or a
        # warm-started fit restarts the cycle from there.
        if getattr(net, "lr_schedule", None) == "cosine":
            for group, base in zip(net.optimizer_.param_groups, self.base_lrs_, strict=True):
                group["lr"] = base
