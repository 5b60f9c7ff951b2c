"""Classifier heads shared by the built-in modules."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NormedLinear"]


class NormedLinear(nn.Module):
    """Cosine classifier head of LDAM-DRW (Cao et al., 2019).

    Both the input features and every class weight vector are L2-normalised,
    so each output is the cosine similarity between a sample's features and a
    class prototype and lies in ``[-1, 1]``. The layer has no bias.

    Parameters
    ----------
    in_features : int
        Size of each input sample.
    out_features : int
        Number of classes (size of each output sample).

    Attributes
    ----------
    weight : torch.nn.Parameter of shape (in_features, out_features)
        Class prototypes, one per column. Initialised uniformly in ``[-1, 1]``
        and column-renormalised exactly as in the LDAM-DRW reference code.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import NormedLinear
    >>> head = NormedLinear(8, 3)
    >>> out = head(torch.randn(4, 8))
    >>> out.shape
    torch.Size([4, 3])
    >>> bool(out.abs().max() <= 1.0 + 1e-6)
    True
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"in_features must be >= 1, got {in_features}.")
        if out_features < 1:
            raise ValueError(f"out_features must be >= 1, got {out_features}.")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = nn.Parameter(torch.empty(self.in_features, self.out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise the weight as in the LDAM-DRW code.

        Examples
        --------
        >>> from skremix.nn import NormedLinear
        >>> head = NormedLinear(4, 2)
        >>> head.reset_parameters()
        >>> tuple(head.weight.shape)
        (4, 2)
        """
        with torch.no_grad():
            self.weight.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the cosine similarities between ``x`` and every class weight.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, in_features)
            Input features.

        Returns
        -------
        torch.Tensor of shape (n_samples, out_features)
            Cosines in ``[-1, 1]``.

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import NormedLinear
        >>> NormedLinear(5, 2)(torch.randn(3, 5)).shape
        torch.Size([3, 2])
        """
        return F.normalize(x, dim=1).mm(F.normalize(self.weight, dim=0))

    def extra_repr(self) -> str:
        """Show the layer's sizes in the module's repr."""
        return f"in_features={self.in_features}, out_features={self.out_features}"
