"""Multi-layer perceptron for tabular data."""

from __future__ import annotations

import torch
from torch import nn

from skremix.nn._heads import NormedLinear

__all__ = ["MLP"]


class MLP(nn.Module):
    """Fully connected ReLU network for tabular (or flattened) inputs.

    Every hidden layer is a block ``Linear -> ReLU -> Dropout``; there is no
    batch normalisation, so the network trains with a batch of one sample.

    Parameters
    ----------
    n_features : int
        Number of input features. Inputs of any shape ``(n_samples, ...)``
        are flattened to ``(n_samples, n_features)`` first.
    n_classes : int, default=2
        Number of output logits.
    hidden_units : tuple of int, default=(128, 128, 128)
        Width of each hidden layer; at least one layer is required.
    dropout : float, default=0.0
        Dropout probability after every hidden ReLU, in ``[0, 1)``.
    normed_head : bool, default=False
        If True, the head is a :class:`~skremix.nn.NormedLinear` cosine
        classifier (outputs in ``[-1, 1]``) instead of a ``nn.Linear``.

    Attributes
    ----------
    blocks : torch.nn.Sequential
        The hidden blocks; ``blocks[i]`` is ``Sequential(Linear, ReLU,
        Dropout)``.
    head : torch.nn.Module
        Final linear or cosine classifier.
    default_mix_layer : str
        Dotted submodule name after which hidden-layer methods mix features:
        ``"blocks.1"`` (after the second hidden block), or ``"blocks.0"`` when
        there is a single hidden layer.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import MLP
    >>> net = MLP(n_features=4, n_classes=3, hidden_units=(16, 16))
    >>> net(torch.randn(5, 4)).shape
    torch.Size([5, 3])
    >>> net.default_mix_layer
    'blocks.1'
    """

    default_mix_layer: str = "blocks.1"

    def __init__(
        self,
        n_features: int,
        n_classes: int = 2,
        hidden_units: tuple[int, ...] = (128, 128, 128),
        dropout: float = 0.0,
        normed_head: bool = False,
    ) -> None:
        super().__init__()
        if int(n_features) < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}.")
        if int(n_classes) < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}.")
        hidden_units = tuple(int(h) for h in hidden_units)
        if len(hidden_units) == 0:
            raise ValueError("hidden_units must contain at least one layer, got ().")
        if any(h < 1 for h in hidden_units):
            raise ValueError(f"hidden_units must all be >= 1, got {hidden_units}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.hidden_units = hidden_units
        self.dropout = float(dropout)
        self.normed_head = bool(normed_head)

        widths = (self.n_features, *hidden_units)
        self.blocks = nn.Sequential(
            *[
                nn.Sequential(
                    nn.Linear(w_in, w_out), nn.ReLU(), nn.Dropout(self.dropout)
                )
                for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
            ]
        )
        last = hidden_units[-1]
        self.head: nn.Module = (
            NormedLinear(last, self.n_classes)
            if self.normed_head
            else nn.Linear(last, self.n_classes)
        )
        self.default_mix_layer = f"blocks.{min(1, len(hidden_units) - 1)}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Compute the logits.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, ...)
            Input batch; flattened to ``(n_samples, n_features)``.

        Returns
        -------
        torch.Tensor of shape (n_samples, n_classes)
            Logits (cosines when ``normed_head=True``).

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import MLP
        >>> MLP(6, hidden_units=(8,))(torch.randn(2, 2, 3)).shape
        torch.Size([2, 2])
        """
        return self.head(self.blocks(x.flatten(1)))
