"""The training-step contract: what a method's forward pass gives the shared
loop (:class:`TrainStep`) and the class statistics it reads during ``fit``
(:class:`FitState`). Public as :mod:`skremix.base`; plain torch, below the
estimators."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import torch

__all__ = ["FitState", "TrainStep"]

_EMPTY: Mapping = MappingProxyType({})


class TrainStep(NamedTuple):
    """The result of a method's forward pass in one training step.

    Parameters
    ----------
    logits : torch.Tensor of shape (B', C)
        Network outputs of the batch (``B' >= B`` when a method appends
        generated samples, as RSG does).
    targets : torch.Tensor of shape (B',) or (B', C)
        Class indices, or one probability row per sample (soft labels of the
        mixing methods). The loop's loss is the mean over the rows of the
        (class-weighted, LDAM-margined) cross-entropy against them.
    extra_losses : mapping of str to torch.Tensor, default={}
        Scalar tensors added to the loss; each is recorded per batch in
        ``history_`` under its name (the mean per epoch is
        ``history[:, 'batches', :, name]``).
    records : mapping of str to object, default={}
        Other per-batch values to record in ``history_`` (e.g. RSG's number
        of generated samples). Device tensors are read back once per epoch.
    sample_weight : torch.Tensor of shape (B',) or None, default=None
        Per-row weights of the loss, when ``fit`` was given
        ``sample_weight``: each row's loss is multiplied by its weight
        before the mean over the rows. A mixed row's weight is mixed with
        the coefficient of its label (:func:`skremix.mixing.mixup` of the
        batch's weights); a generated row takes the weight of the sample it
        was made from. None weights every row 1.

    See Also
    --------
    FitState : The class statistics a method reads during ``fit``.

    Examples
    --------
    >>> import torch
    >>> from skremix.base import TrainStep
    >>> step = TrainStep(torch.zeros(2, 3), torch.tensor([0, 2]))
    >>> step.targets.tolist(), dict(step.extra_losses)
    ([0, 2], {})
    """

    logits: torch.Tensor
    targets: torch.Tensor
    extra_losses: Mapping[str, torch.Tensor] = _EMPTY
    records: Mapping[str, object] = _EMPTY
    sample_weight: torch.Tensor | None = None


@dataclass(frozen=True)
class FitState:
    """Class statistics of one ``fit`` / ``partial_fit`` call, on its device.

    Built once per call from the training part's class counts (after any
    validation split) and read through ``self.fit_state(device)`` inside a
    method's :meth:`~skremix.ERMClassifier.train_forward`; gone after
    training. A method needing more per-fit tensors subclasses it and
    overrides ``_make_fit_state`` (see :class:`~skremix.MFWClassifier`).

    Parameters
    ----------
    device : torch.device
        Device of the tensors.
    counts : torch.Tensor of shape (C,)
        Samples per class (int64), aligned with ``classes_``.
    weights : torch.Tensor of shape (C,)
        Effective-number class weights (float32, sum C): ``class_weights_``.
    ldam_margins : torch.Tensor of shape (C,) or None
        Per-class LDAM margins with ``loss='ldam'``, else None.
    logit_adjustment : torch.Tensor of shape (C,) or None
        Per-class logit offsets ``tau * log(pi)`` with
        ``loss='logit_adjusted'`` (:func:`skremix.losses.logit_adjustment`),
        else None.

    See Also
    --------
    TrainStep : What a method's training forward pass returns.

    Examples
    --------
    >>> import torch
    >>> from skremix.base import FitState
    >>> state = FitState.from_counts([90, 10], [0.2, 1.8], device="cpu")
    >>> state.counts.tolist(), state.ldam_margins is None
    ([90, 10], True)
    """

    device: torch.device
    counts: torch.Tensor
    weights: torch.Tensor
    ldam_margins: torch.Tensor | None = None
    logit_adjustment: torch.Tensor | None = None

    @classmethod
    def from_counts(
        cls, counts, weights, device, ldam_margins=None, logit_adjustment=None, **extra
    ):
        """Build the state from host class counts and weights.

        Parameters
        ----------
        counts : array-like of shape (C,)
            Samples per class.
        weights : array-like of shape (C,)
            Class weights.
        device : str or torch.device
            Where the tensors live.
        ldam_margins : callable or None, default=None
            Called with the device ``counts`` tensor to give the margins.
        logit_adjustment : callable or None, default=None
            Called with the device ``counts`` tensor to give the logit
            offsets.
        **extra : dict
            Further fields of a subclass.

        Returns
        -------
        state : FitState
            The state, of the class it is called on.
        """
        device = torch.device(device)
        counts_t = torch.as_tensor(counts, device=device)
        return cls(
            device=device,
            counts=counts_t,
            weights=torch.as_tensor(weights, dtype=torch.float32, device=device),
            ldam_margins=None if ldam_margins is None else ldam_margins(counts_t),
            logit_adjustment=(
                None if logit_adjustment is None else logit_adjustment(counts_t)
            ),
            **extra,
        )
