"""Random crop with zero padding and horizontal flip, per sample, on the
batch's device: the standard CIFAR training augmentation without
torchvision."""

from __future__ import annotations

import torch

__all__ = ["random_crop_flip"]


def random_crop_flip(
    X: torch.Tensor, padding: int = 4, flip: bool = True
) -> torch.Tensor:
    """Randomly crop each image from its zero-padded copy, and flip half.

    Every image of the batch is padded with ``padding`` zeros on each side
    and cropped back to its size at an offset drawn uniformly from
    ``0 .. 2 * padding`` in each direction; then, with ``flip``, mirrored
    left-right with probability 1/2. Offsets and flips are drawn per sample
    from torch's generator on the batch's device (seeded by the estimators'
    ``random_state``), and nothing is read back to the host.

    Parameters
    ----------
    X : torch.Tensor of shape (B, C, H, W)
        A batch of images.
    padding : int, default=4
        Zero padding on each side: the largest shift in pixels (4 on
        32x32 CIFAR images in the papers).
    flip : bool, default=True
        Also mirror each image left-right with probability 1/2.

    Returns
    -------
    X_aug : torch.Tensor of shape (B, C, H, W)
        The augmented batch, same dtype and device.

    Examples
    --------
    >>> import torch
    >>> from skremix.augment import random_crop_flip
    >>> X = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> out = random_crop_flip(X, padding=1)
    >>> out.shape
    torch.Size([1, 1, 4, 4])
    >>> random_crop_flip(X, padding=0, flip=False).equal(X)
    True
    """
    if X.ndim != 4:
        raise ValueError(
            f"random_crop_flip needs a batch of images (B, C, H, W); got shape "
            f"{tuple(X.shape)}."
        )
    if padding < 0:
        raise ValueError(f"padding must be >= 0; got {padding}.")
    n, _, height, width = X.shape
    if padding:
        padded = torch.nn.functional.pad(X, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (n, 1), device=X.device)
        dx = torch.randint(0, 2 * padding + 1, (n, 1), device=X.device)
        rows = dy + torch.arange(height, device=X.device)  # (B, H)
        cols = dx + torch.arange(width, device=X.device)  # (B, W)
        batch = torch.arange(n, device=X.device)[:, None, None]
        # (B, H, W, C) from advanced indexing of the spatial axes, back to
        # (B, C, H, W).
        X = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
        X = X.permute(0, 3, 1, 2)
    if flip:
        mirror = torch.rand(n, device=X.device) < 0.5
        X = torch.where(mirror[:, None, None, None], X.flip(-1), X)
    return X.contiguous()
