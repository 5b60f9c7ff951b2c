"""Deferred re-weighting and re-sampling (DRW / DRS), as a skorch callback of
old: the training loop applies ``rebalance`` itself now
(``skremix._rebalance``)."""

from __future__ import annotations

import warnings

from skorch.callbacks import Callback

__all__ = ["RebalanceSchedule"]


class RebalanceSchedule(Callback):
    """Deprecated and inert: the training loop switches re-balancing on.

    Every skremix classifier decides in its own training loop (its
    ``on_epoch_begin``, which runs whatever ``callbacks`` is, ``'disable'``
    included) whether ``rebalance`` acts in an epoch, sets
    ``rebalance_active_`` and records it in the history as
    ``'rebalance'``. This callback, once a default callback that did so,
    does nothing: adding it warns and changes nothing.

    Examples
    --------
    >>> import warnings
    >>> from skremix.callbacks import RebalanceSchedule
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     callback = RebalanceSchedule()
    >>> caught[0].category.__name__
    'FutureWarning'
    """

    def __init__(self):
        warnings.warn(
            "RebalanceSchedule is no longer needed: skremix classifiers apply "
            "rebalance in their training loop, so this callback does nothing and "
            "will be removed. Drop it from callbacks.",
            FutureWarning,
            stacklevel=2,
        )
