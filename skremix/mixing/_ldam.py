"""The label-distribution-aware margin (LDAM) of Cao et al. (2019)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["ldam_margins", "ldam_logits"]


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
    >>> from skremix.mixing import ldam_margins
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
    """Logits of the LDAM loss: the true-class margin subtracted, then scaled.

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
    margins : torch.Tensor of shape (C,)
        From :func:`ldam_margins`.
    s : float, default=30.0
        Scale of the logits.

    Returns
    -------
    logits : torch.Tensor of shape (B, C), float32

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import ldam_logits
    >>> z = torch.tensor([[0.5, 0.25]])
    >>> m = torch.tensor([0.25, 0.5])
    >>> ldam_logits(z, torch.tensor([1]), m, s=2.0)   # 2 * (0.5, 0.25 - 0.5)
    tensor([[ 1.0000, -0.5000]])
    >>> ldam_logits(z, torch.tensor([[0.5, 0.5]]), m, s=2.0)  # 2 * (0.5 - 0.125, 0.25 - 0.25)
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
