"""BatchNorm across the ranks of a process group: statistics of the global
batch, and running statistics made the same on every rank.

:class:`torch.nn.SyncBatchNorm` runs on GPUs only ("SyncBatchNorm expected
input tensor to be on GPU"); this one computes the global statistics with
one differentiable all-reduce (:class:`_AllReduceSum`), on any device and
backend (gloo on CPUs, NCCL on GPUs). skremix swaps it in
for the BatchNorm layers of the module during data-parallel training with
``sync_batch_norm=True`` and back afterwards, sharing their parameters and
buffers, so the fitted module keeps its own classes.
"""

from __future__ import annotations

import torch
from torch import nn

from skremix._data_parallel import all_reduce_sum
from skremix.nn._batch_norm import batch_norm_layers

__all__: list[str] = []

_PLAIN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class _AllReduceSum(torch.autograd.Function):
    """The sum over ranks; its gradient is the sum over ranks of the
    gradients (each rank's loss depends on every rank's input)."""

    @staticmethod
    def forward(ctx, tensor):
        out = tensor.clone()
        torch.distributed.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out = grad.clone()
        torch.distributed.all_reduce(out)
        return out


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch: the per-channel mean and (biased)
    variance of the union of every rank's batch, the unbiased variance in the
    running statistics, as :class:`torch.nn.BatchNorm2d` computes them on
    that union in one process. Outside training, or without a process group
    of two or more ranks, it is the plain BatchNorm it replaced."""

    def __init__(self, source):
        super().__init__(
            source.num_features,
            eps=source.eps,
            momentum=source.momentum,
            affine=source.affine,
            track_running_stats=source.track_running_stats,
            device="meta",
        )
        # The source's own tensors: the optimizer keeps training them.
        self.weight, self.bias = source.weight, source.bias
        self.running_mean = source.running_mean
        self.running_var = source.running_var
        self.num_batches_tracked = source.num_batches_tracked
        self.training = source.training

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input):
        dist = torch.distributed
        world = dist.get_world_size() if dist.is_initialized() else 1
        if not self.training or world < 2:
            return super().forward(input)
        self._check_input_dim(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.dim())]
        x = input.float()
        count = torch.full((1,), x.numel() // channels, dtype=x.dtype, device=x.device)
        local = torch.cat([x.sum(dims), (x * x).sum(dims), count])
        total = _AllReduceSum.apply(local)
        n = total[-1]
        mean = total[:channels] / n
        var = (total[channels : 2 * channels] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                unbiased = var.detach() * (n / (n - 1).clamp_min(1))
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased)
        shape = [1, channels] + [1] * (input.dim() - 2)
        out = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(input.dtype)


def to_global_batch_norm(module):
    """Swap every BatchNorm layer of ``module`` for a
    :class:`GlobalBatchNorm` sharing its tensors; returns what
    :func:`restore_batch_norm` needs."""
    swapped = []
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if type(child) in _PLAIN:
                setattr(parent, name, GlobalBatchNorm(child))
                swapped.append((parent, name, child))
    return swapped


def restore_batch_norm(swapped):
    """Put back the layers :func:`to_global_batch_norm` replaced."""
    for parent, name, child in swapped:
        child.training = getattr(parent, name).training
        setattr(parent, name, child)


def average_running_stats(modules, world_size):
    """Average the BatchNorm running statistics of ``modules`` over the
    ranks (what timm's ``distribute_bn`` does after each epoch), so that
    every rank validates and predicts alike."""
    for module in modules:
        for bn in batch_norm_layers(module):
            for name in ("running_mean", "running_var"):
                buf = getattr(bn, name)
                buf.copy_(all_reduce_sum(buf) / world_size)


def reduce_precise_stats(module):
    """Combine the ranks' precise-BN averages (each the plain average of its
    per-batch statistics, :func:`skremix.nn._batch_norm.recalibrate_batch_norm`)
    into the average over every rank's batches, weighted by the batches each
    rank passed."""
    for bn in batch_norm_layers(module):
        count = bn.num_batches_tracked.to(torch.float64)
        packed = torch.cat(
            [
                bn.running_mean.double() * count,
                bn.running_var.double() * count,
                count.reshape(1),
            ]
        )
        packed = all_reduce_sum(packed)
        total = packed[-1]
        if total <= 0:
            continue
        c = bn.running_mean.numel()
        bn.running_mean.copy_(packed[:c] / total)
        bn.running_var.copy_(packed[c : 2 * c] / total)
        bn.num_batches_tracked.fill_(int(total.item()))
