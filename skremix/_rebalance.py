"""Class re-balancing (``rebalance``): what each value does, and from which epoch.

One small strategy per value, chosen once at fit (:func:`make_rebalance`)
from ``rebalance``, ``rebalance_start`` and ``max_epochs``, and applied by
the training loop itself at every epoch (the estimator's own
``on_epoch_begin``, which no callback setting removes):

========  ===============  ==========================================
value     active from      while active
========  ===============  ==========================================
None      never            plain training
``'rw'``  epoch 0          class weights in the training loss
``'rs'``  epoch 0          batches re-sampled by class weight
``'drw'`` the start epoch  class weights in the training loss
``'drs'`` the start epoch  batches re-sampled by class weight
``'crt'`` the start epoch  features frozen, head re-initialised and
                           re-trained on class-balanced batches
========  ===============  ==========================================

The start epoch is ``rebalance_start`` as an epoch, or as a fraction of
``max_epochs`` (:func:`skremix._schedule.epoch_threshold`), counted from the
start of each ``fit`` / ``partial_fit`` call. Functions of tensors and plain
values; no skorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from skremix._schedule import epoch_threshold

__all__: list[str] = []

_DEFERRED = ("drw", "drs", "crt")


@dataclass(frozen=True)
class Rebalance:
    """The re-balancing of one fit: its mode and the first epoch it acts in.

    Parameters
    ----------
    mode : {None, 'rw', 'rs', 'drw', 'drs', 'crt'}
        The ``rebalance`` parameter.
    start : int
        First 0-based epoch of a call in which it is active: 0 for the
        immediate modes, the deferred start for the others.
    """

    mode: str | None
    start: int

    def active(self, epoch):
        """Whether it acts in 0-based ``epoch`` of the call."""
        return self.mode is not None and epoch >= self.start

    @property
    def reweights(self):
        """Class weights in the training loss while active ('rw', 'drw')."""
        return self.mode in ("rw", "drw")

    @property
    def resamples(self):
        """Batches re-sampled by class weight while active ('rs', 'drs')."""
        return self.mode in ("rs", "drs")

    @property
    def retrains_head(self):
        """Classifier re-training while active ('crt')."""
        return self.mode == "crt"

    @property
    def draws_batches(self):
        """Whether it decides the batches (re-sampling, cRT's balanced
        batches), so that no other batch order may be asked for."""
        return self.resamples or self.retrains_head


def make_rebalance(mode, start, max_epochs):
    """The :class:`Rebalance` of ``rebalance=mode``.

    Parameters
    ----------
    mode : {None, 'rw', 'rs', 'drw', 'drs', 'crt'}
        The ``rebalance`` parameter.
    start : int or float
        ``rebalance_start``: an epoch, or a fraction of ``max_epochs``; used
        by the deferred modes only.
    max_epochs : int
        Epochs of a call.

    Returns
    -------
    rebalance : Rebalance
    """
    if mode in _DEFERRED:
        return Rebalance(mode, epoch_threshold(start, max_epochs))
    return Rebalance(mode, 0)


def epoch_order(rebalance, active, y, state=None):
    """The sample order of one training epoch, on the device of ``y``.

    Shuffled; while re-sampling is active, ``len(y)`` draws with replacement,
    each sample with probability proportional to its class weight; in cRT's
    re-training phase, class-balanced sampling (Kang et al. 2020): each draw
    picks a class uniformly, then a sample of it uniformly, i.e. probability
    proportional to ``1 / N_c``.

    Parameters
    ----------
    rebalance : Rebalance
        The fit's re-balancing.
    active : bool
        Whether it acts in this epoch.
    y : torch.Tensor of shape (n,)
        Encoded labels of the training part.
    state : skremix.base.FitState, default=None
        The fit's class weights and counts on the device of ``y``; needed
        only where re-sampling or cRT is active.

    Returns
    -------
    order : torch.Tensor of shape (n,)
        Indices into ``y``, drawn from torch's global generator.
    """
    n = len(y)
    if active and rebalance.resamples:
        return torch.multinomial(state.weights[y], n, replacement=True)
    if active and rebalance.retrains_head:
        inverse = 1.0 / state.counts.clamp_min(1).float()
        return torch.multinomial(inverse[y], n, replacement=True)
    return torch.randperm(n, device=y.device)
