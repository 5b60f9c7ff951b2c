"""Hidden-layer mixing through a temporary forward hook."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["resolve_layer", "transform_output_at"]


def resolve_layer(module: nn.Module, name: str) -> nn.Module:
    """Return the submodule called ``name``, with an error listing the choices.

    Parameters
    ----------
    module : torch.nn.Module
        The network to look in.
    name : str
        Dotted name as in ``module.named_modules()``, e.g. ``"layer2"`` or
        ``"blocks.1"``.

    Returns
    -------
    layer : torch.nn.Module
        The submodule itself (not a copy).

    Examples
    --------
    >>> from torch import nn
    >>> from skremix.mixing import resolve_layer
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> resolve_layer(net, "1")
    ReLU()
    """
    try:
        return module.get_submodule(name)
    except AttributeError:
        names = [n for n, _ in module.named_modules() if n]
        raise ValueError(
            f"mix_layer={name!r} is not a submodule of {type(module).__name__}; "
            f"choose one of {names}."
        ) from None


@contextmanager
def transform_output_at(
    module: nn.Module, name: str, fn: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Replace the output ``h`` of submodule ``name`` by ``fn(h)`` while active.

    The hook is registered on entry and removed on exit, also when the body
    raises: hidden-layer methods transform features during a training step
    only, never at validation or prediction.

    Parameters
    ----------
    module : torch.nn.Module
        The network whose submodule is hooked.
    name : str
        Dotted submodule name.
    fn : callable
        Maps the layer's output tensor to a tensor of any batch size.

    Yields
    ------
    None
        The body runs with the hook in place.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from skremix.mixing import transform_output_at
    >>> net = nn.Sequential(nn.Identity(), nn.Identity())
    >>> with transform_output_at(net, "0", lambda h: 2 * h):
    ...     net(torch.ones(1))
    tensor([2.])
    >>> net(torch.ones(1))
    tensor([1.])
    """
    layer = resolve_layer(module, name)

    def hook(_mod, _inp, out):
        return fn(out)

    handle = layer.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
