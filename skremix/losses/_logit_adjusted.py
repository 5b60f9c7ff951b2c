"""The logit adjustment of Menon et al. (2021), for the loss and for prediction."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["logit_adjustment"]


def logit_adjustment(
    class_counts: torch.Tensor | Sequence[int] | np.ndarray, tau: float = 1.0
) -> torch.Tensor:
    r"""Per-class logit offsets ``tau * log(pi_c)`` of the training priors.

    .. math::

        \delta_c = \tau \log \pi_c, \qquad \pi_c = \frac{N_c}{\sum_k N_k}

    Added to the logits inside the cross-entropy, this gives the
    logit-adjusted loss of Menon et al. [1]_ (Eq. 10),
    :math:`-\log \operatorname{softmax}(f(x) + \delta)_y`, whose minimiser
    predicts well under balanced class priors; at ``tau = 1`` it is the
    Balanced Softmax of Ren et al. [2]_ (the same loss, one implementation).
    Subtracted from a plainly trained net's logits it gives their post-hoc
    adjustment, ``argmax_y f_y(x) - tau log pi_y`` (Menon et al., Eq. 9).

    Parameters
    ----------
    class_counts : torch.Tensor or array-like of shape (C,)
        Training-set count of every class. A class with no sample is counted
        as 1 (a finite offset; it never appears as a target).
    tau : float, default=1.0
        Scale of the log priors, >= 0; 0 gives no adjustment.

    Returns
    -------
    offsets : torch.Tensor of shape (C,), dtype float32
        On the device of ``class_counts`` when it is a tensor.

    References
    ----------
    .. [1] A. K. Menon, S. Jayasumana, A. S. Rawat, H. Jain, A. Veit, S. Kumar,
       "Long-tail learning via logit adjustment", ICLR 2021.
    .. [2] J. Ren, C. Yu, S. Sheng, X. Ma, H. Zhao, S. Yi, H. Li, "Balanced
       Meta-Softmax for Long-Tailed Visual Recognition", NeurIPS 2020.

    Examples
    --------
    >>> from skremix.losses import logit_adjustment
    >>> logit_adjustment([3, 1]).exp()  # the priors 3/4, 1/4
    tensor([0.7500, 0.2500])
    >>> logit_adjustment([3, 1], tau=0.5).exp()  # their square roots
    tensor([0.8660, 0.5000])
    """
    if not float(tau) >= 0:
        raise ValueError(f"tau must be >= 0, got {tau!r}.")
    counts = torch.as_tensor(class_counts).to(torch.float64).clamp_min(1.0)
    return (float(tau) * torch.log(counts / counts.sum())).to(torch.float32)
