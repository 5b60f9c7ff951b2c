"""The focal loss of Lin et al. (2017), with hard or soft targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["focal_loss"]


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 2.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Per-sample focal loss, for class indices or probability targets.

    With :math:`p = \operatorname{softmax}(z)` and a class index ``y``, the
    loss of Lin et al. [1]_ (Eq. 5) with class weights ``w`` in the place of
    its :math:`\alpha_t`:

    .. math::

        \ell = -w_y \, (1 - p_y)^\gamma \log p_y .

    For a probability target ``t`` (the soft labels of the mixing methods)
    it is the target-weighted sum of the one-hot losses,

    .. math::

        \ell = -\sum_k w_k \, t_k \, (1 - p_k)^\gamma \log p_k ,

    which is the formula above for a one-hot ``t``, and, like the
    cross-entropy, linear in the target: a Remix label ``lam_y e_i + (1 -
    lam_y) e_j`` gives ``lam_y FL(z, y_i) + (1 - lam_y) FL(z, y_j)``. At
    ``gamma = 0`` the factor is exactly 1 and the loss is the (soft-target,
    class-weighted) cross-entropy :func:`soft_cross_entropy`, bit for bit.
    The modulating factor is not detached: its gradient flows, as in the
    paper.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, C)
        Network outputs ``z``.
    targets : torch.Tensor of shape (B,) (indices) or (B, C) (probabilities)
        Class indices, or one probability row per sample.
    gamma : float, default=2.0
        Focusing parameter, >= 0 (2 in the paper).
    weight : torch.Tensor of shape (C,), optional
        Class weights (re-weighting; the paper's :math:`\alpha`).

    Returns
    -------
    loss : torch.Tensor of shape (B,), float32
        One loss per sample.

    See Also
    --------
    soft_cross_entropy : The loss at ``gamma = 0``.

    References
    ----------
    .. [1] T.-Y. Lin, P. Goyal, R. Girshick, K. He, P. Dollar, "Focal Loss for
       Dense Object Detection", ICCV 2017.

    Examples
    --------
    Logits (0, 0): ``p = (1/2, 1/2)``, so the loss is ``(1/2)**2 log 2``:

    >>> import torch
    >>> from skremix.losses import focal_loss
    >>> focal_loss(torch.zeros(1, 2), torch.tensor([1]))
    tensor([0.1733])
    """
    if not float(gamma) >= 0:
        raise ValueError(f"gamma must be >= 0, got {gamma!r}.")
    log_p = F.log_softmax(logits.float(), dim=1)
    # 1 - p as -expm1(log p): exact for p near 1. Kept above the smallest
    # normal float so that (1 - p)**gamma has a finite gradient for gamma < 1.
    factor = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
    factor = factor.pow(float(gamma))
    if targets.ndim == 1:
        idx = targets.long().to(log_p.device)[:, None]
        loss = -(factor.gather(1, idx) * log_p.gather(1, idx)).squeeze(1)
        if weight is not None:
            loss = loss * weight.to(log_p.device)[targets.long()]
        return loss
    t = targets.to(device=log_p.device, dtype=log_p.dtype)
    if weight is not None:
        t = t * weight.to(device=log_p.device, dtype=log_p.dtype)[None, :]
    return -(t * (factor * log_p)).sum(dim=1)
