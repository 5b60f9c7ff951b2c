"""Data-parallel training of one net over the ranks of a torch.distributed group.

The one home of ``data_parallel``: every piece of state that spans ranks is
made consistent here, and the estimator base calls these functions at its
seams (seeding, the epoch's batches, the training step, the end of an
epoch, precise BN, checkpoints).

The design, documented in the user guide's "Scaling out":

- Every rank passes the same data to ``fit``; skremix shards it. Each epoch,
  every rank draws the same *global* batches of ``batch_size * world_size``
  (the method's own sampler, class-balanced ones included, from a stream
  seeded alike on every rank) and trains on its contiguous share of each
  (:func:`skremix.sampling.shard_bounds`). Class counts are therefore global.
- The gradient step is PyTorch's :class:`~torch.nn.parallel.DistributedDataParallel`
  over every module the net trains (``module_``, RSG's ``rsg_``), around the
  method's whole training forward (``train_forward`` and the loss), so that
  the methods' layer hooks run inside DDP's forward. Each rank's loss is
  scaled by ``n_rank * world_size / n_global``: the averaged gradient is that
  of the mean loss over the global batch, uneven shares included.
- The mixing draws come from a stream per rank, reproducible for a given
  world size; initial weights are the same on every rank.
- After each training epoch the batch records (losses, batch sizes) are
  reduced to those of the global batches and BatchNorm running statistics
  averaged (what timm's ``distribute_bn`` does), so that every rank holds the
  same history and weights and validates alike; precise BN reduces its sums
  (both in :mod:`skremix.nn._sync_batch_norm`).

Functions of torch and skorch objects; imported by the estimator base only.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import inspect
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from skremix.sampling import shard_bounds

__all__: list[str] = []

_NO_GROUP = (
    "data_parallel=True needs an initialised torch.distributed process group: "
    "launch the script with `torchrun --nproc_per_node=N script.py` and call "
    "torch.distributed.init_process_group() (or create an accelerate "
    "Accelerator) before fit."
)


def group_size():
    """The world size of the default process group, 1 without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


@dataclass
class DataParallel:
    """The data-parallel state of one ``fit`` / ``partial_fit`` call."""

    rank: int
    world_size: int
    seed: int = 0
    _ddp: nn.Module | None = None
    _signature: tuple = ()
    _global_sizes: collections.deque = field(default_factory=collections.deque)

    # ------------------------------------------------------------- seeding
    def shared_seed(self, seed):
        """Rank 0's ``seed``, on every rank (``random_state=None`` draws a
        different one per process)."""
        work = _to_backend(torch.tensor([int(seed)], dtype=torch.int64))
        torch.distributed.broadcast(work, src=0)
        self.seed = int(work.item())
        return self.seed

    def _derived(self, *keys):
        return int(np.random.SeedSequence([self.seed, *keys]).generate_state(1)[0])

    def rank_seed(self):
        """The seed of this rank's own draws (mixing, augmentation)."""
        return self._derived(1, self.rank)

    @contextlib.contextmanager
    def shared_draws(self, net, epoch):
        """Draw with streams that are the same on every rank: torch's
        global generator and the net's ``rng_``, seeded from the shared seed
        and ``epoch``; the rank's own streams are restored afterwards."""
        device = torch.device(net.device)
        devices = [_cuda_index(device)] if device.type == "cuda" else []
        saved = net.__dict__.get("rng_")
        seed = self._derived(2, epoch)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            net.rng_ = np.random.default_rng(seed)
            try:
                yield
            finally:
                if saved is None:
                    net.__dict__.pop("rng_", None)
                else:
                    net.rng_ = saved

    # ------------------------------------------------------------ batches
    def global_batch_size(self, batch_size):
        return batch_size * self.world_size

    def shard(self, batches):
        """This rank's share of each global batch; a global batch that
        cannot give every rank two samples (BatchNorm trains on no fewer)
        is left out."""
        local = []
        self._global_sizes.clear()
        for batch in batches:
            n = len(batch)
            if n < 2 * self.world_size:
                continue
            start, stop = shard_bounds(n, self.world_size, self.rank)
            local.append(batch[start:stop])
            self._global_sizes.append(n)
        return local

    def n_batches(self, n_global_batches, last_size):
        """The planned number of batches of an epoch (see :meth:`shard`)."""
        dropped = n_global_batches and last_size < 2 * self.world_size
        return n_global_batches - int(bool(dropped))

    def loss_scale(self, n_local):
        """``n_rank * world_size / n_global`` of the step being trained."""
        n_global = self._global_sizes.popleft() if self._global_sizes else None
        if n_global is None:
            return 1.0
        return n_local * self.world_size / n_global

    # ---------------------------------------------------------------- step
    def forward(self, net, run, *args):
        """Run ``run(*args)`` (the method's training forward and loss) inside
        DistributedDataParallel over the net's trained modules; returns what
        ``run`` returns. DDP is built anew when the set of trained
        parameters changes (cRT's frozen phase), which broadcasts rank 0's
        weights (cRT's re-initialised head) to every rank."""
        parts = trained_modules(net)
        signature = tuple(
            (id(p), p.requires_grad) for m in parts.values() for p in m.parameters()
        )
        if self._ddp is None or signature != self._signature:
            self._ddp = _build_ddp(parts, net.device, may_skip_parameters(net))
            self._signature = signature
        holder = self._ddp.module
        holder.run = run
        loss = self._ddp(*args)
        out, holder.out = holder.out, None
        return loss, out

    def release(self):
        """Drop DDP (its gradient hooks) at the end of training."""
        self._ddp = None
        self._signature = ()

    # ----------------------------------------------------------- epoch end
    def reduce_batch_records(self, history, prefix):
        """Make this epoch's batch records those of the global batches:
        ``<prefix>_batch_size`` and integer records summed over ranks,
        every other number averaged weighted by the ranks' batch sizes."""
        batches = history[-1]["batches"]
        rows = [b for b in batches if f"{prefix}_batch_size" in b]
        if not rows:
            return
        keys = sorted(k for k, v in rows[0].items() if _is_number(v))
        size_key = f"{prefix}_batch_size"
        summed = {
            k
            for k in keys
            if k == size_key or isinstance(rows[0][k], (int, np.integer))
        }
        sizes = torch.tensor([float(r[size_key]) for r in rows], dtype=torch.float64)
        values = torch.tensor(
            [[float(r.get(k, 0.0)) for k in keys] for r in rows], dtype=torch.float64
        )
        weight = torch.stack(
            [torch.ones_like(sizes) if k in summed else sizes for k in keys], dim=1
        )
        packed = torch.cat([values * weight, sizes[:, None]], dim=1)
        packed = all_reduce_sum(packed)
        total = packed[:, -1]
        for i, row in enumerate(rows):
            for j, key in enumerate(keys):
                value = packed[i, j].item()
                if key in summed:
                    row[key] = int(round(value))
                else:
                    row[key] = value / total[i].item()

    # -------------------------------------------------------------- checks
    def check_same_data(self, name, y_train, n_samples):
        """Every rank must pass the same data: compare the training part's
        size and labels (a digest) across ranks, before any step."""
        digest = hashlib.sha1(
            np.ascontiguousarray(y_train.cpu().numpy()).tobytes()
        ).hexdigest()
        mine = (int(n_samples), digest)
        every = [None] * self.world_size
        torch.distributed.all_gather_object(every, mine)
        if any(other != every[0] for other in every):
            raise ValueError(
                f"{name} with data_parallel trains one net on the same data on "
                f"every rank and shards it itself: every rank must pass the same X "
                f"and y to fit; the ranks' training parts differ (sizes "
                f"{[e[0] for e in every]}). Pass the whole data on every rank, or "
                "data_parallel=False to fit one net per rank."
            )

    def gather(self, obj):
        """Every rank's ``obj``, in rank order, on every rank."""
        every = [None] * self.world_size
        torch.distributed.all_gather_object(every, obj)
        return every

    def barrier(self):
        torch.distributed.barrier()

    @property
    def is_main(self):
        return self.rank == 0


class _Holder(nn.Module):
    """The modules DDP wraps; its forward runs the step given to it."""

    def __init__(self, parts):
        super().__init__()
        self.parts = nn.ModuleDict(parts)
        self.run = None
        self.out = None

    def forward(self, *args):
        loss, self.out = self.run(*args)
        return loss


def may_skip_parameters(net):
    """Whether some parameters may take no gradient in a step (DDP's
    ``find_unused_parameters``, an extra walk of the autograd graph per
    step): RSG's generator before its start epoch or on a batch without a
    rare class, and a module of the user's, whose forward skremix does not
    know; not the built-in modules under the other methods."""
    return bool(getattr(net, "_skips_parameters", False)) or net.module is not None


def trained_modules(net):
    """The net's registered modules that hold parameters (``module_``,
    RSG's ``rsg_``), by name."""
    parts = {}
    for name in net._modules:
        module = getattr(net, name + "_", None)
        if isinstance(module, nn.Module) and any(True for _ in module.parameters()):
            parts[name] = module
    return parts


_DDP_TAKES = set(inspect.signature(nn.parallel.DistributedDataParallel).parameters)


def _build_ddp(parts, device, find_unused):
    device = torch.device(device)
    holder = _Holder(parts)
    device_ids = [_cuda_index(device)] if device.type == "cuda" else None
    # No buffer broadcast at each forward: BatchNorm statistics are averaged
    # after each epoch instead of overwritten by rank 0's (torch 2.13 names
    # the option forward_sync_buffers; earlier releases broadcast_buffers).
    no_sync = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in _DDP_TAKES
        else {"broadcast_buffers": False}
    )
    return nn.parallel.DistributedDataParallel(
        holder, device_ids=device_ids, find_unused_parameters=find_unused, **no_sync
    )


def _cuda_index(device):
    return device.index if device.index is not None else torch.cuda.current_device()


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    )


def _backend_device():
    backend = torch.distributed.get_backend()
    if backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _to_backend(tensor):
    device = _backend_device()
    return tensor if tensor.device == device else tensor.to(device)


def all_reduce_sum(tensor):
    """The sum over ranks of ``tensor`` (a new tensor on its device)."""
    work = _to_backend(tensor.detach().clone())
    torch.distributed.all_reduce(work)
    return work.to(tensor.device)


def local_rank(rank):
    """This process's GPU among those of its machine (torchrun's
    ``LOCAL_RANK``)."""
    value = os.environ.get("LOCAL_RANK")
    if value is not None:
        return int(value)
    return rank % max(torch.cuda.device_count(), 1)


def resolve(estimator):
    """The :class:`DataParallel` of this call, or None to train locally.

    ``data_parallel='auto'``: data-parallel when a default process group of
    two or more processes is initialised; ``True``: a process group is
    required; ``False``: local training (one net per process).
    """
    mode = estimator.data_parallel
    if mode is False:
        return None
    dist = torch.distributed
    ready = dist.is_available() and dist.is_initialized()
    if not ready:
        if mode is True:
            raise ValueError(_NO_GROUP)
        return None
    world = dist.get_world_size()
    if world < 2:
        return None
    return DataParallel(rank=dist.get_rank(), world_size=world)


@torch.no_grad()
def sync_first_centers(dp, rsg, before):
    """RSG sets a class's K centers from the first batch that holds it
    (:class:`skremix.nn.RSG`); each rank sees other batches. After a step
    in which some rank set a class's centers, every rank takes those of the
    lowest such rank, so that the weights stay the same on every rank (the
    same rank-0-wins rule as DDP's broadcast at its start). ``before``: the
    classes that had centers before the step, the same on every rank.
    Called after each step until every class has centers on every rank
    (the same decision on every rank: it depends on synced flags only)."""
    centers, flags = rsg.centers, rsg.centers_initialized
    newly = flags & ~before
    owner = torch.where(newly, dp.rank, dp.world_size).to(torch.int64)
    work = _to_backend(owner.clone())
    torch.distributed.all_reduce(work, op=torch.distributed.ReduceOp.MIN)
    owner = work.to(flags.device)
    mine = (owner == dp.rank)[:, None, None]
    summed = all_reduce_sum(torch.where(mine, centers, torch.zeros_like(centers)))
    taken = owner < dp.world_size
    centers.copy_(torch.where(taken[:, None, None], summed, centers))
    union = before | taken
    flags.copy_(union)
    rsg._centers_pending = not bool(union.all())


def _silent(*args, **kwargs):
    """The sink of the other ranks' logs."""


def quiet_logs(net, dp):
    """Silence skorch's ``PrintLog`` on every rank but 0 (which prints the
    table once); returns what :func:`restore_logs` needs."""
    from skorch.callbacks import PrintLog

    if dp.is_main:
        return ()
    quieted = []
    for _, callback in getattr(net, "callbacks_", ()):
        if isinstance(callback, PrintLog):
            quieted.append((callback, callback.sink))
            callback.sink = _silent
    return quieted


def restore_logs(quieted):
    for callback, sink in quieted:
        callback.sink = sink


def current(net):
    """The running call's :class:`DataParallel`, or None."""
    return net.__dict__.get("_data_parallel")
