"""Precise BatchNorm: running statistics recomputed with the final weights."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__: list[str] = []


def batch_norm_layers(module: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers of ``module`` that keep running statistics."""
    return [
        m
        for m in module.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and m.track_running_stats
        and m.running_mean is not None
    ]


def recalibrate_batch_norm(
    module: nn.Module,
    inputs: Iterable[torch.Tensor],
    forward: Callable[[torch.Tensor], object] | None = None,
) -> None:
    """Set every BatchNorm layer's running statistics to the plain average of
    its per-batch statistics over ``inputs``, with the module's weights as
    they are.

    During training the running statistics are an exponential average over
    batches seen by earlier weights, and for the mixing methods over mixed
    or generated inputs, which a test input never resembles. This makes one
    pass over clean batches (the forward pass of prediction, in train mode,
    without gradients) with momentum ``None``, what
    :func:`torch.optim.swa_utils.update_bn` does: "precise BN" of Detectron2
    and pycls; Wu & Johnson, "Rethinking 'Batch' in BatchNorm" (2021).
    Batches of one sample (no batch variance) are skipped; a layer the pass
    does not reach keeps its statistics; the module's training mode and the
    layers' momenta are restored.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network.
    inputs : iterable of torch.Tensor
        Input batches, on the module's device.
    forward : callable, default=None
        Runs the module on a batch (e.g. with input standardisation);
        ``module`` itself by default.
    """
    norms = batch_norm_layers(module)
    if not norms:
        return
    forward = module if forward is None else forward
    saved = {m: (m.momentum, copy.deepcopy(m.state_dict())) for m in norms}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was_training = module.training
    module.train(True)
    try:
        with torch.no_grad():
            for x in inputs:
                if not isinstance(x, torch.Tensor) or len(x) > 1:
                    forward(x)  # one sample has no batch variance: skipped
    finally:
        for m, (momentum, state) in saved.items():
            m.momentum = momentum
            if int(m.num_batches_tracked) == 0:  # not reached
                m.load_state_dict(state)
        module.train(was_training)
