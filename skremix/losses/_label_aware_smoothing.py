"""Label-aware smoothing of Zhong et al. (2021, MiSLAS): per-class label
smoothing, strongest for the most frequent class."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["label_aware_smoothing", "label_aware_targets"]

_SHAPES = ("concave", "linear", "convex", "exp")


def label_aware_smoothing(
    class_counts: torch.Tensor | Sequence[int] | np.ndarray,
    head: float = 0.3,
    tail: float = 0.0,
    shape: str = "concave",
    power: float | None = None,
) -> torch.Tensor:
    r"""Smoothing factor :math:`\epsilon_c` of every class, from its count.

    With :math:`N_1` the largest and :math:`N_K` the smallest count and
    :math:`x_c = (N_c - N_K) / (N_1 - N_K)` in :math:`[0, 1]`:

    .. math::

        \epsilon_c = \epsilon_K + (\epsilon_1 - \epsilon_K)\, g(x_c)

    with :math:`\epsilon_1` = ``head`` (the most frequent class),
    :math:`\epsilon_K` = ``tail`` (the rarest) and :math:`g` the shape:
    ``'concave'`` :math:`\sin(\pi x / 2)` (the paper's choice), ``'linear'``
    :math:`x`, ``'convex'`` :math:`1 - \cos(\pi x / 2)`, ``'exp'``
    :math:`x^{p}` (``power``). These are the four functions of the MiSLAS
    reference code (``methods.py``, ``LabelAwareSmoothing``), whose convex
    form :math:`\epsilon_1 + (\epsilon_1 - \epsilon_K)\sin(3\pi/2 + \pi x/2)`
    is :math:`\epsilon_K + (\epsilon_1 - \epsilon_K)(1 - \cos(\pi x / 2))`.
    Equal counts (:math:`N_1 = N_K`) make every class the most frequent:
    every factor is ``head``.

    Parameters
    ----------
    class_counts : torch.Tensor or array-like of shape (C,)
        Training-set count of every class.
    head : float, default=0.3
        :math:`\epsilon_1`, in [0, 1). 0.3 (with ``tail=0``) is the
        reference configuration for CIFAR-10-LT at imbalance 100,
        ImageNet-LT and iNaturalist 2018.
    tail : float, default=0.0
        :math:`\epsilon_K`, in [0, 1).
    shape : {'concave', 'linear', 'convex', 'exp'}, default='concave'
        The function :math:`g`.
    power : float or None, default=None
        :math:`p` of ``shape='exp'`` (> 0); required there, refused
        elsewhere.

    Returns
    -------
    smoothing : torch.Tensor of shape (C,), dtype float32
        On the device of ``class_counts`` when it is a tensor.

    See Also
    --------
    label_aware_targets : The smoothed targets of a batch.

    References
    ----------
    .. [1] Z. Zhong, J. Cui, S. Liu, J. Jia, "Improving Calibration for
       Long-Tailed Recognition", CVPR 2021.

    Examples
    --------
    >>> from skremix.losses import label_aware_smoothing
    >>> label_aware_smoothing([100, 55, 10], head=0.3, tail=0.0)  # x = 1, .5, 0
    tensor([0.3000, 0.2121, 0.0000])
    >>> label_aware_smoothing([100, 55, 10], shape="linear")
    tensor([0.3000, 0.1500, 0.0000])
    """
    for name, value in (("head", head), ("tail", tail)):
        if not 0 <= float(value) < 1:
            raise ValueError(f"{name} must be in [0, 1); got {name}={value!r}.")
    if shape not in _SHAPES:
        raise ValueError(f"shape must be one of {_SHAPES}; got shape={shape!r}.")
    if (shape == "exp") != (power is not None):
        raise ValueError(
            "power is the exponent of shape='exp' and is required there only; "
            f"got shape={shape!r}, power={power!r}."
        )
    if power is not None and not float(power) > 0:
        raise ValueError(f"power must be > 0; got power={power!r}.")
    counts = torch.as_tensor(class_counts).to(torch.float64)
    if counts.ndim != 1 or counts.numel() == 0:
        raise ValueError("class_counts must be a non-empty 1-d array of counts.")
    low, high = counts.min(), counts.max()
    if high == low:
        x = torch.ones_like(counts)
    else:
        x = (counts - low) / (high - low)
    if shape == "concave":
        g = torch.sin(x * (math.pi / 2))
    elif shape == "linear":
        g = x
    elif shape == "convex":
        g = 1 - torch.cos(x * (math.pi / 2))
    else:
        g = x.pow(float(power))
    head, tail = float(head), float(tail)
    return (tail + (head - tail) * g).to(torch.float32)


def label_aware_targets(
    targets: torch.Tensor, smoothing: torch.Tensor, n_classes: int | None = None
) -> torch.Tensor:
    r"""Soft targets with each class's label smoothed by its own factor.

    A label :math:`y` becomes :math:`(1 - \epsilon_y)\, e_y +
    \epsilon_y\, \mathbf{1} / K`, the target whose cross-entropy is the
    loss of the MiSLAS reference code, ``(1 - eps_y) * nll + eps_y *
    mean_k(-log p_k)``. The paper's Eq. 5 writes the off-class mass as
    :math:`\epsilon_y / (K - 1)` with :math:`1 - \epsilon_y` on the true
    class, which is the same family with :math:`\epsilon` scaled by
    :math:`(K - 1) / K`; skremix follows the code that produced the paper's
    figures. A soft target (a mixed pair) is smoothed linearly: row
    :math:`t` becomes :math:`\sum_c t_c \,[(1 - \epsilon_c) e_c +
    \epsilon_c \mathbf{1} / K]`.

    Parameters
    ----------
    targets : torch.Tensor of shape (B,) or (B, C)
        Encoded labels, or soft targets whose rows sum to 1.
    smoothing : torch.Tensor of shape (C,)
        :math:`\epsilon_c` of every class (:func:`label_aware_smoothing`).
    n_classes : int or None, default=None
        ``C``; None takes ``len(smoothing)``.

    Returns
    -------
    soft_targets : torch.Tensor of shape (B, C), dtype float32
        Rows sum to 1.

    Examples
    --------
    >>> import torch
    >>> from skremix.losses import label_aware_targets
    >>> eps = torch.tensor([0.3, 0.0])
    >>> label_aware_targets(torch.tensor([0, 1]), eps)  # 0.7 + 0.3 / 2
    tensor([[0.8500, 0.1500],
            [0.0000, 1.0000]])
    """
    smoothing = smoothing.to(torch.float32)
    k = len(smoothing) if n_classes is None else int(n_classes)
    if len(smoothing) != k:
        raise ValueError(
            f"smoothing has {len(smoothing)} factors for {k} classes; one per class."
        )
    if targets.ndim == 1:
        eps = smoothing.to(targets.device)[targets][:, None]
        one_hot = torch.nn.functional.one_hot(targets, k).to(torch.float32)
        return (1 - eps) * one_hot + eps / k
    soft = targets.to(torch.float32)
    eps = smoothing.to(soft.device)
    # sum_c t_c [(1 - eps_c) e_c + eps_c / K]
    return soft * (1 - eps) + (soft @ eps)[:, None] / k
