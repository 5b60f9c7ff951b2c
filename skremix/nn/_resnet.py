"""CIFAR-style residual networks (He et al., 2016), as used by LDAM-DRW."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from skremix.nn._heads import NormedLinear

__all__ = ["ResNetCifar", "ResNet32"]


class _ShortcutA(nn.Module):
    """Parameter-free "option A" shortcut: subsample and zero-pad channels."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        pad = planes - in_planes
        self.pad_lo = pad // 2
        self.pad_hi = pad - pad // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_lo, self.pad_hi), "constant", 0.0)


class _BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an option-A residual."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = (
            _ShortcutA(in_planes, planes, stride)
            if stride != 1 or in_planes != planes
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """Generic CIFAR ResNet with three stages of 16, 32 and 64 channels.

    Stem ``conv3x3(16) -> BN -> ReLU`` (``conv1``, ``bn1``), then ``layer1``,
    ``layer2``, ``layer3`` of ``num_blocks`` basic blocks each (strides 1, 2,
    2) with the parameter-free option-A shortcut of the LDAM-DRW code, global
    average pooling (so any input size works) and the head. Convolution and
    linear weights use Kaiming-normal initialisation. Depth is
    ``6 * num_blocks + 2``.

    Parameters
    ----------
    num_blocks : int, default=5
        Basic blocks per stage (5 gives ResNet-32).
    in_channels : int, default=3
        Number of input channels.
    n_classes : int, default=10
        Number of output logits.
    normed_head : bool, default=False
        If True, the head is a :class:`~skremix.nn.NormedLinear` cosine
        classifier (outputs in ``[-1, 1]``) instead of a ``nn.Linear``.

    Attributes
    ----------
    layer1, layer2, layer3 : torch.nn.Sequential
        The three residual stages.
    head : torch.nn.Module
        Final linear or cosine classifier on 64 pooled features.
    default_mix_layer : str
        ``"layer2"``: RSG and Manifold Mixup act after the second stage,
        whose output has shape ``(n_samples, 32, ceil(H / 2), ceil(W / 2))``
        (RSG's placement on CIFAR).
    default_mix_layers : dict
        Per-method placements that differ from ``default_mix_layer``:
        ``{"mfw": "layer1"}``, MFW's placement (see Notes).

    Notes
    -----
    MFW's paper (Ye et al.) counts the stem as group 1 and each stage as a
    group, and weakens after the 2nd group, i.e. after ``layer1``; its
    Table 5 reports 78.5 / 80.1 for that placement on CIFAR-10 LT / step with
    ``rho=100``, against 77.1 / 69.8 after ``layer2``.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import ResNetCifar
    >>> net = ResNetCifar(num_blocks=1, n_classes=4)  # ResNet-8
    >>> net(torch.randn(2, 3, 16, 16)).shape
    torch.Size([2, 4])
    """

    default_mix_layer: str = "layer2"
    default_mix_layers: dict = {"mfw": "layer1"}  # noqa: RUF012 (read-only)

    def __init__(
        self,
        num_blocks: int = 5,
        in_channels: int = 3,
        n_classes: int = 10,
        normed_head: bool = False,
    ) -> None:
        super().__init__()
        if int(num_blocks) < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}.")
        if int(in_channels) < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}.")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}.")
        self.num_blocks = int(num_blocks)
        self.in_channels = int(in_channels)
        self.n_classes = int(n_classes)
        self.normed_head = bool(normed_head)

        self.conv1 = nn.Conv2d(
            self.in_channels, 16, kernel_size=3, stride=1, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(16)
        self._planes = 16
        self.layer1 = self._make_layer(16, stride=1)
        self.layer2 = self._make_layer(32, stride=2)
        self.layer3 = self._make_layer(64, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head: nn.Module = (
            NormedLinear(64, self.n_classes)
            if self.normed_head
            else nn.Linear(64, self.n_classes)
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def _make_layer(self, planes: int, stride: int) -> nn.Sequential:
        blocks = []
        for s in [stride] + [1] * (self.num_blocks - 1):
            blocks.append(_BasicBlock(self._planes, planes, s))
            self._planes = planes
        return nn.Sequential(*blocks)

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
        >>> from skremix.nn import ResNetCifar
        >>> ResNetCifar(num_blocks=1, n_classes=2)(torch.randn(2, 3, 7, 5)).shape
        torch.Size([2, 2])
        """
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.head(self.pool(out).flatten(1))


class ResNet32(ResNetCifar):
    """CIFAR ResNet-32 of LDAM-DRW, Remix, MFW and RSG (5 blocks per stage).

    About 0.46M parameters (464,154 with 10 classes and a linear head).
    See :class:`ResNetCifar` for the architecture.

    Parameters
    ----------
    in_channels : int, default=3
        Number of input channels.
    n_classes : int, default=10
        Number of output logits.
    normed_head : bool, default=False
        If True, the head is a :class:`~skremix.nn.NormedLinear` cosine
        classifier (outputs in ``[-1, 1]``) instead of a ``nn.Linear``.

    Attributes
    ----------
    default_mix_layer : str
        ``"layer2"``; its output is ``(n_samples, 32, 16, 16)`` for 32x32
        inputs.
    default_mix_layers : dict
        ``{"mfw": "layer1"}``: MFW's paper placement (see
        :class:`ResNetCifar`).

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import ResNet32
    >>> net = ResNet32(n_classes=10)
    >>> net(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> sum(p.numel() for p in net.parameters())
    464154
    """

    def __init__(
        self, in_channels: int = 3, n_classes: int = 10, normed_head: bool = False
    ) -> None:
        super().__init__(
            num_blocks=5,
            in_channels=in_channels,
            n_classes=n_classes,
            normed_head=normed_head,
        )
