"""Small convolutional network for low-resolution images."""

from __future__ import annotations

import torch
from torch import nn

from skremix.nn._heads import NormedLinear

__all__ = ["ConvNet"]


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class ConvNet(nn.Module):
    """Three-block CNN for small images such as sklearn's 8x8 digits.

    ``block1`` is ``conv3x3 -> BN -> ReLU`` (``width`` channels), ``block2``
    is ``conv3x3 -> BN -> ReLU -> MaxPool2d(2, ceil_mode=True)``
    (``2 * width`` channels) and ``block3`` is ``conv3x3 -> BN -> ReLU``
    (``4 * width`` channels), followed by global average pooling and the
    head. All convolutions are padded and the pooling rounds up, so any
    input of height and width >= 1 works (e.g. 8x8, 5x7, 1x1, 28x28).

    Parameters
    ----------
    in_channels : int, default=1
        Number of input channels.
    n_classes : int, default=10
        Number of output logits.
    width : int, default=32
        Channels of ``block1``; ``block2`` and ``block3`` use twice and four
        times as many.
    normed_head : bool, default=False
        If True, the head is a :class:`~skremix.nn.NormedLinear` cosine
        classifier (outputs in ``[-1, 1]``) instead of a ``nn.Linear``.

    Attributes
    ----------
    block1, block2, block3 : torch.nn.Sequential
        The convolutional blocks.
    head : torch.nn.Module
        Final linear or cosine classifier on ``4 * width`` pooled features.
    default_mix_layer : str
        ``"block2"``: hidden-layer methods mix after the second block, whose
        output has shape ``(n_samples, 2 * width, ceil(H / 2), ceil(W / 2))``.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import ConvNet
    >>> net = ConvNet(in_channels=1, n_classes=10, width=8)
    >>> net(torch.randn(2, 1, 8, 8)).shape
    torch.Size([2, 10])
    >>> net.get_submodule(net.default_mix_layer)(
    ...     net.block1(torch.randn(2, 1, 8, 8))).shape
    torch.Size([2, 16, 4, 4])
    """

    default_mix_layer: str = "block2"

    def __init__(
        self,
        in_channels: int = 1,
        n_classes: int = 10,
        width: int = 32,
        normed_head: bool = False,
    ) -> None:
        super().__init__()
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}.")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}.")
        if int(width) < 1:
            raise ValueError(f"width must be >= 1, got {width}.")
        self.in_channels = int(in_channels)
        self.n_classes = int(n_classes)
        self.width = int(width)
        self.normed_head = bool(normed_head)
        w = self.width

        self.block1 = nn.Sequential(*_conv_bn_relu(self.in_channels, w))
        self.block2 = nn.Sequential(
            *_conv_bn_relu(w, 2 * w), nn.MaxPool2d(2, ceil_mode=True)
        )
        self.block3 = nn.Sequential(*_conv_bn_relu(2 * w, 4 * w))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head: nn.Module = (
            NormedLinear(4 * w, self.n_classes)
            if self.normed_head
            else nn.Linear(4 * w, self.n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the logits.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, in_channels, H, W)
            Input images, any ``H, W >= 1``.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_classes)
            Logits (cosines when ``normed_head=True``).

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import ConvNet
        >>> ConvNet(n_classes=3, width=4).eval()(torch.randn(1, 1, 5, 7)).shape
        torch.Size([1, 3])
        """
        out = self.block3(self.block2(self.block1(x)))
        return self.head(self.pool(out).flatten(1))
