"""Mixing primitives: a Beta-distributed coefficient, Mixup and CutMix pairs.

Every function takes its randomness (``lam``, ``perm``, the box centre) as an
argument, so that the maths can be tested with hand-made numbers; the
estimators draw those values and call these functions.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["sample_lambda", "mixup", "cutmix_box", "cutmix"]


def sample_lambda(alpha: float, rng: np.random.Generator) -> float:
    """Draw one mixing coefficient ``lam ~ Beta(alpha, alpha)``.

    Parameters
    ----------
    alpha : float
        Concentration of the symmetric Beta distribution, ``alpha > 0``.
        ``alpha = 1`` is uniform on ``[0, 1]``; small values push ``lam``
        toward 0 or 1.
    rng : numpy.random.Generator
        Source of randomness (the estimators seed it from ``random_state``).

    Returns
    -------
    lam : float
        A number in ``[0, 1]``.

    Notes
    -----
    The draw happens on the host and returns a Python float: one lambda per
    mini-batch costs no device synchronisation.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.mixing import sample_lambda
    >>> lam = sample_lambda(1.0, np.random.default_rng(0))
    >>> 0.0 <= lam <= 1.0
    True
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}.")
    alpha = float(alpha)
    return float(rng.beta(alpha, alpha))


def mixup(
    x: torch.Tensor, lam: float | torch.Tensor, perm: torch.Tensor
) -> torch.Tensor:
    """Convex combination of a batch with a permutation of itself.

    Parameters
    ----------
    x : torch.Tensor of shape (B, ...)
        Inputs or hidden features.
    lam : float or torch.Tensor
        Weight of ``x`` itself: a scalar, or one weight per sample of
        shape ``(B,)``.
    perm : torch.Tensor of shape (B,)
        Indices of each sample's partner.

    Returns
    -------
    mixed : torch.Tensor of shape (B, ...)
        ``lam * x + (1 - lam) * x[perm]``.

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import mixup
    >>> x = torch.tensor([[0.0], [10.0]])
    >>> mixup(x, 0.7, torch.tensor([1, 0]))
    tensor([[3.],
            [7.]])
    """
    if isinstance(lam, torch.Tensor):
        if lam.ndim == 1:
            lam = lam.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    else:  # any real: a Python number, as torch treats it (x keeps its dtype)
        lam = float(lam)
    if x.is_floating_point() and (
        not isinstance(lam, torch.Tensor) or lam.dtype == x.dtype
    ):
        # One fused kernel (and one in the backward pass) for the same sum.
        return torch.lerp(x[perm], x, lam)
    return lam * x + (1 - lam) * x[perm]


def cutmix_box(
    height: int, width: int, lam: float, cy: int, cx: int
) -> tuple[int, int, int, int]:
    """The CutMix box for a coefficient and a centre, clipped to the image.

    The box has side ratios ``sqrt(1 - lam)`` so that, before clipping, it
    covers a fraction ``1 - lam`` of the image (Yun et al. 2019).

    Parameters
    ----------
    height, width : int
        Image size.
    lam : float
        Mixing coefficient drawn for the batch.
    cy, cx : int
        Centre of the box (row, column).

    Returns
    -------
    y0, y1, x0, x1 : int
        Clipped box: rows ``y0:y1`` and columns ``x0:x1``.

    Examples
    --------
    >>> from skremix.mixing import cutmix_box
    >>> cutmix_box(8, 8, 0.75, 4, 4)  # half-side box: 4 x 4 around the centre
    (2, 6, 2, 6)
    >>> cutmix_box(8, 8, 0.75, 0, 0)  # clipped at the corner: 2 x 2
    (0, 2, 0, 2)
    """
    height, width, cy, cx = int(height), int(width), int(cy), int(cx)
    cut = math.sqrt(1.0 - float(lam))
    cut_h, cut_w = int(height * cut), int(width * cut)
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y0, y1, x0, x1


def cutmix(
    x: torch.Tensor, lam: float, perm: torch.Tensor, cy: int, cx: int
) -> tuple[torch.Tensor, float]:
    """Paste a box of each sample's partner into it (CutMix).

    Parameters
    ----------
    x : torch.Tensor of shape (B, C, H, W)
        Image batch.
    lam : float
        Coefficient drawn for the batch; the box covers ``1 - lam`` of the
        image before clipping.
    perm : torch.Tensor of shape (B,)
        Indices of each sample's partner.
    cy, cx : int
        Box centre.

    Returns
    -------
    mixed : torch.Tensor of shape (B, C, H, W)
        A new tensor; ``x`` is not modified.
    lam_area : float
        The coefficient recomputed from the clipped box: the fraction of each
        image that is still its own, ``1 - box_area / (H * W)``. Labels must
        be mixed with this value, not with ``lam``.

    Examples
    --------
    >>> import torch
    >>> from skremix.mixing import cutmix
    >>> x = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)])
    >>> mixed, lam_area = cutmix(x, 0.75, torch.tensor([1, 0]), 0, 0)
    >>> lam_area  # a 1 x 1 box survives the clipping at the corner
    0.9375
    >>> float(mixed[0].sum())
    1.0
    """
    if x.ndim != 4:
        raise ValueError(
            f"CutMix needs image batches of shape (B, C, H, W), got shape {tuple(x.shape)}."
        )
    height, width = x.shape[-2:]
    y0, y1, x0, x1 = cutmix_box(height, width, lam, cy, cx)
    mixed = x.clone()
    mixed[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
    lam_area = 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
    return mixed, lam_area
