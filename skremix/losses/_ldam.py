"""The label-distribution-aware margin (LDAM) of Cao et al. (2019)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["ldam_margins", "ldam_logits", "ldam_cross_entropy"]


def ldam_margins(
    class_counts: torch.Tensor | Sequence[int] | np.ndarray, max_m: float = 0.5
) -> torch.Tensor:
    """Per-class LDAM margins ``m_c ∝ N_c**-0.25``, the largest equal to ``max_m``.

    .. math::

        m_c = \\text{max\\_m} \\cdot \\frac{N_c^{-1/4}}{\\max_k N_k^{-1/4}}

    Parameters
    ----------
    class_counts : torch.Tensor or array-like of shape (C,)
        Training-set count of every class. A class with no sample is counted
        as 1 (it gets the largest margin, and never appears as a target).
    max_m : float, default=0.5
        Margin of the rarest class, > 0.

    Returns
    -------
    margins : torch.Tensor of shape (C,), dtype float32
        On the device of ``class_counts`` when it is a tensor.

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga, T. Ma, "Learning Imbalanced
       Datasets with Label-Distribution-Aware Margin Loss", NeurIPS 2019.

    Examples
    --------
    >>> from skremix.losses import ldam_margins
    >>> ldam_margins([16, 1])   # N**-0.25 = [0.5, 1], scaled to max 0.5
    tensor([0.2500, 0.5000])
    """
    if not float(max_m) > 0:
        raise ValueError(f"max_m must be > 0, got {max_m!r}.")
    counts = torch.as_tensor(class_counts).to(torch.float64).clamp_min(1.0)
    m = counts.pow(-0.25)
    return (m * (float(max_m) / m.max())).to(torch.float32)


def ldam_logits(
    logits: torch.Tensor, targets: torch.Tensor, margins: torch.Tensor, s: float = 30.0
) -> torch.Tensor:
    """Subtract the true-class margin from the logits, then scale them.

    For class-index targets this is ``s * (z - m[y] * onehot(y))``; the LDAM
    loss is the cross-entropy of the result. For probability targets ``t``
    (mixing methods) each class logit loses its margin weighted by the
    target probability, ``s * (z - t * m)``, which is the one-hot formula
    when ``t`` is one-hot: a sample mixed from classes i and j has the margins
    of both, in proportion to its label.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, C)
        Network outputs ``z`` (cosines with a :class:`~skremix.nn.NormedLinear`
        head).
    targets : torch.Tensor of shape (B,) (indices) or (B, C) (probabilities)
        Class indices, or one probability row per sample.
    margins : torch.Tensor of shape (C,)
        From :func:`ldam_margins`.
    s : float, default=30.0
        Scale of the logits.

    Returns
    -------
    logits : torch.Tensor of shape (B, C), float32
        The margined, scaled logits, whose cross-entropy is the LDAM loss.

    Examples
    --------
    >>> import torch
    >>> from skremix.losses import ldam_logits
    >>> z = torch.tensor([[0.5, 0.25]])
    >>> m = torch.tensor([0.25, 0.5])
    >>> ldam_logits(z, torch.tensor([1]), m, s=2.0)   # 2 * (0.5, 0.25 - 0.5)
    tensor([[ 1.0000, -0.5000]])
    >>> # 2 * (0.5 - 0.125, 0.25 - 0.25):
    >>> ldam_logits(z, torch.tensor([[0.5, 0.5]]), m, s=2.0)
    tensor([[0.7500, 0.0000]])
    """
    z = logits.float()
    margins = margins.to(device=z.device, dtype=z.dtype)
    if targets.ndim == 1:
        idx = targets.long().to(z.device)[:, None]
        shift = torch.zeros_like(z).scatter_(1, idx, margins[idx])
    else:
        shift = targets.to(device=z.device, dtype=z.dtype) * margins[None, :]
    return float(s) * (z - shift)


def ldam_cross_entropy(
    logits: torch.Tensor,
    targets: torch.Tensor,
    margins: torch.Tensor,
    s: float = 30.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Per-sample LDAM loss; a soft target is a weighted sum of one-hot terms.

    For a class-index target ``y`` this is the cross-entropy of
    :func:`ldam_logits`. For a probability target ``t`` (Remix, ReMix) it is

    .. math::

        \ell = \sum_k w_k \, t_k \,
            \mathrm{CE}\big(s\,(z - m_k e_k),\, k\big),

    the loss of each class the target names, each with its own class's
    margin, weighted by the target: for a Remix label ``lam_y e_i + (1 -
    lam_y) e_j`` that is ``lam_y L(z, y_i) + (1 - lam_y) L(z, y_j)``, the
    two-term form of the Remix and LDAM code (which calls the criterion once
    per label). A target-weighted margin inside one softmax
    (:func:`ldam_logits` with soft targets) is a different loss.

    Parameters
    ----------
    logits : torch.Tensor of shape (B, C)
        Network outputs ``z``.
    targets : torch.Tensor of shape (B,) (indices) or (B, C) (probabilities)
        Class indices, or one probability row per sample.
    margins : torch.Tensor of shape (C,)
        From :func:`ldam_margins`.
    s : float, default=30.0
        Scale of the logits.
    weight : torch.Tensor of shape (C,), optional
        Class weights ``w`` (re-weighting).

    Returns
    -------
    loss : torch.Tensor of shape (B,), float32
        One loss per sample.

    Examples
    --------
    A 0.4 / 0.6 mix of classes 0 and 1, each term with its own margin:

    >>> import torch
    >>> from skremix.losses import ldam_cross_entropy
    >>> z = torch.tensor([[0.2, 0.1, -0.3]])
    >>> m = torch.tensor([0.1, 0.5, 0.3])
    >>> loss = ldam_cross_entropy(z, torch.tensor([[0.4, 0.6, 0.0]]), m, s=10.0)
    >>> ce = torch.nn.functional.cross_entropy
    >>> two_terms = (
    ...     0.4 * ce(10 * (z - torch.tensor([0.1, 0, 0])), torch.tensor([0]))
    ...     + 0.6 * ce(10 * (z - torch.tensor([0, 0.5, 0])), torch.tensor([1]))
    ... )
    >>> torch.allclose(loss, two_terms)
    True
    """
    if targets.ndim == 1:
        y = targets.long().to(logits.device)
        return torch.nn.functional.cross_entropy(
            ldam_logits(logits, y, margins, s),
            y,
            weight=None if weight is None else weight.float(),
            reduction="none",
        )
    # log-sum-exp of the logits with class k's margin taken off, for every
    # k: LSE_k = log(sum_{j != k} exp(s z_j) + exp(s (z_k - m_k))), from the
    # LSE without class k, computed in float64 (1 - p_k can be tiny).
    z = float(s) * logits.double()
    sm = float(s) * margins.to(device=z.device, dtype=z.dtype)[None, :]
    log_p = torch.log_softmax(z, dim=1)
    lse = torch.logsumexp(z, dim=1, keepdim=True)
    # p_k is kept below 1 so that the log and its gradient stay finite when
    # class k dominates by more than ~35 nats (its term is ~0 there anyway).
    lse_without = lse + torch.log1p(-log_p.exp().clamp(max=1.0 - 1e-15))
    lse_k = torch.logaddexp(lse_without, z - sm)
    per_class = lse_k - (z - sm)  # CE(s (z - m_k e_k), k), shape (B, C)
    t = targets.to(device=z.device, dtype=z.dtype)
    if weight is not None:
        t = t * weight.to(device=z.device, dtype=z.dtype)[None, :]
    return (t * per_class).sum(dim=1).float()
