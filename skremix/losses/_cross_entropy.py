"""Cross-entropy with soft targets and class weights, and the batch loss of
the skremix training loop."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from skremix.losses._focal import focal_loss
from skremix.losses._ldam import ldam_cross_entropy, ldam_logits

__all__ = ["soft_cross_entropy", "batch_loss"]


def soft_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    r"""Per-sample cross-entropy with soft targets and optional class weights.

    .. math::

        \ell_i = -\sum_k w_k \, t_{ik} \log \operatorname{softmax}(z_i)_k

    For a one-hot target this is ``w_{y_i} * CE(z_i, y_i)``; for a Remix
    target it is ``lam_y w_{y_i} CE(z_i, y_i) + (1 - lam_y) w_{y_j} CE(z_i,
    y_j)``, the per-sample loss of the paper. Reduce it with ``.mean()``: the
    batch loss is divided by the batch size, never by the sum of weights.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, C)
        Network outputs.
    targets : torch.Tensor of shape (B, C) (probabilities) or (B,) (indices)
        One probability row per sample, or class indices.
    weight : torch.Tensor of shape (C,), optional
        Class weights.

    Returns
    -------
    loss : torch.Tensor of shape (B,)
        One loss per sample.

    Examples
    --------
    >>> import torch
    >>> from skremix.losses import soft_cross_entropy
    >>> logits = torch.zeros(1, 2)  # softmax = (0.5, 0.5)
    >>> soft_cross_entropy(logits, torch.tensor([[0.3, 0.7]]))  # log 2
    tensor([0.6931])
    """
    log_p = F.log_softmax(logits.float(), dim=1)
    if targets.ndim == 1:
        loss = -log_p.gather(1, targets.long()[:, None]).squeeze(1)
        if weight is not None:
            loss = loss * weight[targets.long()]
        return loss
    if weight is not None:
        targets = targets * weight[None, :]
    return -(targets * log_p).sum(dim=1)


def batch_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None = None,
    *,
    ldam_margins: torch.Tensor | None = None,
    ldam_s: float = 30.0,
    sample_weight: torch.Tensor | None = None,
    logit_adjustment: torch.Tensor | None = None,
    focal_gamma: float | None = None,
) -> torch.Tensor:
    """The training loss of a skremix batch: the mean per-sample loss.

    Cross-entropy, with class weights ``weight`` when given (re-weighting),
    LDAM margins when ``ldam_margins`` is given, the logits shifted by
    ``logit_adjustment`` when given (the logit-adjusted loss), the focal
    loss instead of the cross-entropy when ``focal_gamma`` is given, and
    each row's loss times its ``sample_weight`` when given. The LDAM
    margins combine with neither of the other two. The weighted per-sample
    losses are
    divided by the batch size, never by the sum of the weights (the
    reference DRW code divides by the weights' sum): every method and every
    re-balancing mode gets the same normalisation.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, C)
        Network outputs.
    targets : torch.Tensor of shape (B,) or (B, C)
        Class indices, or probabilities (soft labels).
    weight : torch.Tensor of shape (C,), default=None
        Class weights.
    ldam_margins : torch.Tensor of shape (C,), default=None
        Per-class LDAM margins (:func:`ldam_margins`): the loss of
        :func:`ldam_logits` for class indices, the target-weighted sum of
        one LDAM term per class (:func:`ldam_cross_entropy`) for soft
        targets.
    ldam_s : float, default=30.0
        Logit scale of LDAM; used only with ``ldam_margins``.
    sample_weight : torch.Tensor of shape (B,), default=None
        Per-row weights multiplying each row's (class-weighted) loss before
        the mean over the rows; None weights every row 1.
    logit_adjustment : torch.Tensor of shape (C,), default=None
        Per-class offsets added to the logits before the loss
        (:func:`logit_adjustment`, ``tau * log(pi)``); soft targets stay as
        they are.
    focal_gamma : float, default=None
        The focusing parameter of :func:`focal_loss`; None for the
        cross-entropy.

    Returns
    -------
    loss : torch.Tensor
        A scalar.

    See Also
    --------
    soft_cross_entropy : The per-sample loss without margins.
    focal_loss : The per-sample loss with ``focal_gamma``.

    Examples
    --------
    >>> import torch
    >>> from skremix.losses import batch_loss
    >>> logits = torch.zeros(2, 2)  # softmax = (0.5, 0.5): each loss is log 2
    >>> batch_loss(logits, torch.tensor([0, 1]), torch.tensor([1.0, 3.0]))
    tensor(1.3863)

    Sample weights multiply the rows' losses: ``(0 + 2 log 2) / 2``.

    >>> batch_loss(logits, torch.tensor([0, 1]), sample_weight=torch.tensor([0.0, 2.0]))
    tensor(0.6931)

    Logit adjustment: logits (0, 0) shifted by ``log(1/2), log(1/2)`` give the
    same softmax, so the same loss; by ``log(3/4), log(1/4)``, the class-1
    loss is ``log 4``.

    >>> batch_loss(torch.zeros(1, 2), torch.tensor([1]),
    ...            logit_adjustment=torch.log(torch.tensor([0.75, 0.25])))
    tensor(1.3863)
    """
    if ldam_margins is not None and (
        logit_adjustment is not None or focal_gamma is not None
    ):
        raise ValueError(
            "ldam_margins cannot be combined with logit_adjustment or "
            "focal_gamma: each defines its own loss of the logits."
        )
    if logit_adjustment is not None:
        logits = logits.float() + logit_adjustment.to(
            device=logits.device, dtype=torch.float32
        )
    if focal_gamma is not None:
        loss = focal_loss(logits, targets, focal_gamma, weight)
        if sample_weight is not None:
            loss = loss * sample_weight.to(device=loss.device, dtype=torch.float32)
        return loss.mean()
    if sample_weight is not None:
        return (
            _per_sample_loss(logits, targets, weight, ldam_margins, ldam_s)
            .mul(sample_weight.to(device=logits.device, dtype=torch.float32))
            .mean()
        )
    if ldam_margins is not None:
        if targets.ndim == 2:
            return ldam_cross_entropy(
                logits, targets, ldam_margins, ldam_s, weight
            ).mean()
        logits = ldam_logits(logits, targets, ldam_margins, ldam_s)
    if targets.ndim == 1:  # class indices: the fused kernel, same values
        if weight is None:
            return F.cross_entropy(logits.float(), targets.long())
        return F.cross_entropy(
            logits.float(), targets.long(), weight=weight, reduction="none"
        ).mean()
    return soft_cross_entropy(logits, targets, weight).mean()


def _per_sample_loss(logits, targets, weight, ldam_margins, ldam_s):
    """The per-row losses that :func:`batch_loss` averages."""
    if ldam_margins is not None:
        if targets.ndim == 2:
            return ldam_cross_entropy(logits, targets, ldam_margins, ldam_s, weight)
        logits = ldam_logits(logits, targets, ldam_margins, ldam_s)
    if targets.ndim == 1:
        return F.cross_entropy(
            logits.float(), targets.long(), weight=weight, reduction="none"
        )
    return soft_cross_entropy(logits, targets, weight)
