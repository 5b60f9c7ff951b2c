"""The schedule of deferred re-weighting and re-sampling (DRW / DRS)."""

from __future__ import annotations

from skorch.callbacks import Callback

__all__ = ["RebalanceSchedule"]


class RebalanceSchedule(Callback):
    """Switch class re-balancing on at the deferred start epoch.

    At the beginning of every epoch this sets ``net.rebalance_active_`` and
    records it in the history as ``'rebalance'``. The net reads:

    - ``net.rebalance``: ``None``, ``'rw'``, ``'rs'`` (active from the first
      epoch), ``'drw'`` or ``'drs'`` (deferred);
    - ``net.plain_epochs_``: the number of plain epochs before a deferred
      start (set by the skremix base from ``rebalance_start``).

    Epoch ``e`` (counted from 1, as in the history) is re-balanced when
    ``e > plain_epochs_``. Used as a default callback of every skremix
    classifier; public params are never mutated.

    Examples
    --------
    >>> from skremix.callbacks import RebalanceSchedule
    >>> RebalanceSchedule()
    <skremix.callbacks._rebalance.RebalanceSchedule object at ...>
    """

    def on_epoch_begin(self, net, **kwargs):
        rebalance = getattr(net, "rebalance", None)
        epoch = len(net.history)
        active = rebalance is not None and epoch > getattr(net, "plain_epochs_", 0)
        net.rebalance_active_ = active
        net.history.record("rebalance", active)
