"""The schedule of deferred re-weighting and re-sampling (DRW / DRS)."""

from __future__ import annotations

from skorch.callbacks import Callback

from skremix.callbacks._lr import call_epoch

__all__ = ["RebalanceSchedule"]


class RebalanceSchedule(Callback):
    """Switch class re-balancing on at the deferred start epoch.

    At the beginning of every epoch this sets ``net.rebalance_active_`` and
    records it in the history as ``'rebalance'``. The net reads:

    - ``net.rebalance``: ``None``, ``'rw'``, ``'rs'`` (active from the first
      epoch), ``'drw'`` or ``'drs'`` (deferred);
    - ``net.plain_epochs_``: the number of plain epochs before a deferred
      start (set by the skremix base from ``rebalance_start``).

    Epoch ``e`` (0-based, counted from the start of each ``fit`` or
    ``partial_fit`` call, like the learning-rate schedule) is re-balanced
    when ``e >= plain_epochs_``. Used as a default callback of every skremix
    classifier; public params are never mutated.

    Examples
    --------
    >>> from skremix.callbacks import RebalanceSchedule
    >>> RebalanceSchedule()
    <skremix.callbacks._rebalance.RebalanceSchedule object at ...>
    """

    def on_epoch_begin(self, net, **kwargs):
        """Set ``net.rebalance_active_`` for this epoch and record it."""
        rebalance = getattr(net, "rebalance", None)
        active = rebalance is not None and call_epoch(net) >= getattr(
            net, "plain_epochs_", 0
        )
        net.rebalance_active_ = active
        net.history.record("rebalance", active)
