"""Built-in network modules and classifier heads.

Every module declares ``default_mix_layer``, the dotted submodule name (as
accepted by :meth:`torch.nn.Module.get_submodule`) after which hidden-layer
methods mix features.
"""

from __future__ import annotations

from torch import nn

from skremix.nn._convnet import ConvNet
from skremix.nn._heads import NormedLinear
from skremix.nn._mlp import MLP
from skremix.nn._resnet import ResNet32, ResNetCifar
from skremix.nn._rsg_maths import (
    center_distances,
    frequent_class_mask,
    generation_pairs,
    mv_direction_loss,
    mv_length_loss,
    n_generated,
)
from skremix.nn._rsg_module import RSG, RSGOutput

__all__ = [
    "MLP",
    "ConvNet",
    "ResNet32",
    "ResNetCifar",
    "NormedLinear",
    "default_module",
    "RSG",
    "RSGOutput",
    "center_distances",
    "frequent_class_mask",
    "generation_pairs",
    "mv_direction_loss",
    "mv_length_loss",
    "n_generated",
]


def default_module(input_shape: tuple[int, ...]) -> type[nn.Module]:
    """Pick the built-in module class for one sample's shape.

    The rule is:

    * ``(n_features,)`` (tabular data) -> :class:`MLP`;
    * ``(channels, height, width)`` with ``min(height, width) >= 32`` ->
      :class:`ResNet32`;
    * ``(channels, height, width)`` with a smaller side -> :class:`ConvNet`;
    * any other shape -> ``ValueError``.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of a single sample, without the batch dimension.

    Returns
    -------
    type of torch.nn.Module
        The module class (not an instance).

    Raises
    ------
    ValueError
        If ``input_shape`` has neither 1 nor 3 dimensions, or a dimension is
        smaller than 1.

    Examples
    --------
    >>> from skremix.nn import default_module
    >>> default_module((20,)).__name__
    'MLP'
    >>> default_module((1, 8, 8)).__name__
    'ConvNet'
    >>> default_module((3, 32, 32)).__name__
    'ResNet32'
    """
    shape = tuple(int(d) for d in input_shape)
    if any(d < 1 for d in shape):
        raise ValueError(f"input_shape dimensions must be >= 1, got {shape}.")
    if len(shape) == 1:
        return MLP
    if len(shape) == 3:
        return ResNet32 if min(shape[1:]) >= 32 else ConvNet
    raise ValueError(
        "input_shape must be (n_features,) for tabular data or "
        f"(channels, height, width) for images, got {shape}."
    )
