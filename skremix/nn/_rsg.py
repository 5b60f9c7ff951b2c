"""The Rare-class Sample Generator (RSG) of Wang et al. (2021) as a torch module.

The maths are small pure functions (frequent classes, generated count,
generation pairs, CESC and MV loss terms) that take their randomness as
arguments; :class:`RSG` composes them. Pure torch: no skorch, no estimator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "RSG",
    "RSGOutput",
    "frequent_class_mask",
    "n_generated",
    "generation_pairs",
    "center_distances",
    "mv_direction_loss",
    "mv_length_loss",
]

_EPS = 1e-8


def _centre_tap(weight: torch.Tensor) -> torch.Tensor:
    """The (out, in) matrix of a convolution kernel's centre tap: a view of
    a 1x1 kernel (one op, and a view in the backward too)."""
    if weight.shape[2] == 1 and weight.shape[3] == 1:
        return weight.flatten(1)
    return weight[:, :, weight.shape[2] // 2, weight.shape[3] // 2]


def _conv(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """Stride-1 convolution padded to keep the size. On 1x1 maps (vector
    features) only the kernel's centre tap ever meets the input, so the same
    function is a matrix product: much cheaper than a convolution call.
    Vectors ``(n, D)`` are taken as 1x1 maps and stay vectors."""
    if x.ndim == 2:
        return F.linear(x, _centre_tap(weight), bias)
    if x.shape[2] == 1 and x.shape[3] == 1:
        out = F.linear(x[:, :, 0, 0], _centre_tap(weight), bias)
        return out[:, :, None, None]
    return F.conv2d(
        x, weight, bias, padding=(weight.shape[2] // 2, weight.shape[3] // 2)
    )


def _class_dot(
    pooled: torch.Tensor, table: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """``einsum("nd,nkd->nk", pooled, table[y])`` for a per-class table of
    shape (C, K, D), as one matrix product with every class followed by a
    gather of the own class. Same values; the backward is a matrix product
    instead of a scatter of ``(n, K, D)`` gradients into the table, which
    dominated the small-network step on the CPU."""
    n_classes, n_centers, dim = table.shape
    every = (pooled @ table.reshape(n_classes * n_centers, dim).T).view(
        -1, n_classes, n_centers
    )
    return every.gather(1, y.view(-1, 1, 1).expand(-1, 1, n_centers)).squeeze(1)


def _take(t: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``t[idx]`` along dim 0. ``index_select`` because the backward of
    advanced indexing with repeated indices accumulates in a thread-dependent
    order on the CPU (two fits with one seed would differ in the last bits)."""
    return torch.index_select(t, 0, idx)


def _no_autocast(device_type: str):
    """A context without autocast when autocast is on (else None): the fused
    CESC center term runs in float32 under ``precision='bf16'``, forward and
    backward alike."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return None


class _CenterTerm(torch.autograd.Function):
    """The CESC center term with its gradient in one autograd node.

    ``mean_n sum_k gamma_nk d_nk``, with ``gamma`` the soft assignment
    (:meth:`RSG.assignment`) and ``d`` the squared distances to the own
    class's centers (:func:`center_distances`): the same function as those
    two compose, with the backward written out. Composed, autograd records
    dozens of small operations and backward nodes for this term, whose
    fixed costs dominate RSG's step on a small network.

    Each sample needs its products with the K centers and K assignment
    weights of its own class. ``grouped`` (the CPU) computes only those: the
    samples are laid out by class (zero-padded to the largest class of the
    batch) and multiplied with their class's table in one batched product.
    Otherwise (CUDA, where the layout's size would be read back to the host
    at every step) one matrix product with every class's table, then a
    gather of the own class: C times the arithmetic, no synchronisation.

    Inputs: detached features (``pooled`` (n, D), ``sq`` (n,) the sum of
    squares of each sample's map), ``y``, ``n_pos`` (positions per map),
    ``want_nearest``, ``grouped``, then the parameters ``centers``,
    ``weight`` (C, K, D) and ``bias`` (C, K). Returns the loss and, when
    ``want_nearest``, the flat index ``y * K + argmax(gamma)`` of each
    sample's nearest center (else None).
    """

    @staticmethod
    def forward(
        ctx, pooled, sq, y, n_pos, want_nearest, grouped, centers, weight, bias
    ):
        n = pooled.shape[0]
        n_classes, n_centers, dim = centers.shape
        width = 2 * n_centers
        table = torch.cat([centers, weight], dim=1)  # (C, 2K, D)
        if grouped:
            m, slot = _class_layout(y, n_classes)
            layout = pooled.new_zeros(n_classes * m, dim).index_copy_(0, slot, pooled)
            layout = layout.view(n_classes, m, dim)
            own = torch.bmm(layout, table.transpose(1, 2)).view(-1, width)
            own = own.index_select(0, slot)
            ctx.save_for_backward(layout, slot, centers)
        else:
            idx = y.view(n, 1, 1).expand(n, 1, width)
            every = torch.mm(pooled, table.view(-1, dim).T).view(n, n_classes, width)
            own = every.gather(1, idx).view(n, width)
            # Vector features are passed as they are: a copy is kept, as the
            # network may change them in place after the hook.
            ctx.save_for_backward(
                pooled.clone() if n_pos == 1 else pooled, idx, centers
            )
        logits = own[:, n_centers:] + bias.index_select(0, y)
        # softmax written out: torch's kernel is slower on rows of 15
        # (the default K), a width its vector path does not take.
        gamma = (logits - logits.amax(dim=1, keepdim=True)).exp_()
        gamma = gamma.div_(gamma.sum(dim=1, keepdim=True))
        # sq + n_pos (|c|^2 - 2 cross), as center_distances computes it (the
        # same roundings: -2 cross is exact, the additions commute).
        norms = centers.pow(2).sum(dim=-1).index_select(0, y)
        pre = torch.add(norms, own[:, :n_centers], alpha=-2.0)
        if n_pos != 1:
            pre = pre.mul_(n_pos)
        pre = pre.add_(sq[:, None])
        dist = pre.clamp_min(0.0)
        per_sample = (gamma * dist).sum(dim=1)
        ctx.extra = (gamma, dist, pre, per_sample, n_pos, grouped)
        loss = per_sample.mean()
        if not want_nearest:
            return loss, None
        nearest = y * n_centers + gamma.argmax(dim=1)
        ctx.mark_non_differentiable(nearest)
        return loss, nearest

    @staticmethod
    def backward(ctx, grad, _grad_nearest):
        context = _no_autocast(grad.device.type)
        if context is None:
            return _CenterTerm._backward(ctx, grad)
        with context:
            return _CenterTerm._backward(ctx, grad)

    @staticmethod
    def _backward(ctx, grad):
        gamma, dist, pre, per_sample, n_pos, grouped = ctx.extra
        first, second, centers = ctx.saved_tensors
        n = len(gamma)
        n_classes, n_centers, dim = centers.shape
        width = 2 * n_centers
        g = gamma * (grad / n)  # d loss / d dist
        g_dist = g * (pre >= 0.0)  # through clamp_min
        g_logit = g * (dist - per_sample[:, None])  # through the softmax
        # Gradients of each sample's own-class products: d/d cross is
        # -2 n_pos g_dist, d/d logits is g_logit.
        own = torch.cat([g_dist * (-2.0 * n_pos), g_logit], dim=1)
        if grouped:
            layout, slot = first, second
            m = layout.shape[1]
            slots = own.new_zeros(n_classes * m, width).index_copy_(0, slot, own)
            slots = slots.view(n_classes, m, width)
            g_table = torch.bmm(slots.transpose(1, 2), layout)  # (C, 2K, D)
            totals = slots.sum(dim=1)  # (C, 2K)
        else:
            pooled, idx = first, second
            slots = own.new_zeros(n, n_classes, width).scatter_(1, idx, own[:, None])
            g_table = torch.mm(slots.view(n, -1).T, pooled).view(n_classes, width, dim)
            totals = slots.sum(dim=0)
        # The norms term n_pos |c|^2 adds 2 n_pos c sum(g_dist) = -c totals.
        g_centers = torch.addcmul(
            g_table[:, :n_centers], centers, totals[:, :n_centers, None], value=-1.0
        )
        g_weight, g_bias = g_table[:, n_centers:], totals[:, n_centers:]
        return None, None, None, None, None, None, g_centers, g_weight, g_bias


def _class_layout(y: torch.Tensor, n_classes: int) -> tuple[int, torch.Tensor]:
    """The largest class count ``m`` of a CPU batch and the row of each
    sample in a (C, m) layout by class: ``y * m`` plus its rank in its class
    (in batch order). Integer work on a few hundred labels: numpy's calls
    cost a fraction of torch's."""
    labels = y.numpy()
    counts = np.bincount(labels, minlength=n_classes)
    m = int(counts.max())
    order = np.argsort(labels, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(labels)) - np.repeat(np.cumsum(counts) - counts, counts)
    return m, torch.from_numpy(labels * m + rank)


def _mv_terms(
    transformed: torch.Tensor,
    rare_displacement: torch.Tensor,
    frequent_displacement: torch.Tensor,
) -> torch.Tensor:
    """``mv_direction_loss(t, r) + mv_length_loss(t, v)`` with one norm of
    ``t`` for both (cosines computed as :func:`torch.nn.functional.cosine_similarity`
    does); vectors ``(n, D)`` are 1x1 maps. Per new sample, shape (n,)."""
    t, r, v = transformed, rare_displacement, frequent_displacement
    norm_t = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    norm_r = torch.linalg.vector_norm(r, dim=1, keepdim=True)
    cos = ((t / norm_t.clamp_min(_EPS)) * (r / norm_r.clamp_min(_EPS))).sum(dim=1)
    length = norm_t.squeeze(1) - torch.linalg.vector_norm(v, dim=1)
    terms = (cos - 1.0).abs() + length.abs()
    return terms if terms.ndim == 1 else terms.sum(dim=(1, 2))


def _tap_grad(grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The gradient of a convolution weight from that of its centre tap
    (:func:`_centre_tap`): the other taps never meet a 1x1 map."""
    if weight.shape[2] == 1 and weight.shape[3] == 1:
        return grad.view(weight.shape)
    full = grad.new_zeros(weight.shape)
    full[:, :, weight.shape[2] // 2, weight.shape[3] // 2] = grad
    return full


class _FlatGeneration(torch.autograd.Function):
    """Generation (Eq. 4) and ``L_MV`` (Eq. 6) on vector features, in one
    autograd node with its backward written out.

    Inputs: ``picked`` (2 s, D), the s frequent partners then the s rare
    samples (gradient: the new samples' classification gradient), ``near``
    (2 s, D) their nearest centers (detached), the weight of ``T``, then the
    contrastive module's six parameters (frozen: no gradient). Returns the s
    new samples ``T v + x_rare`` (``v = x_freq - near``) and ``L_MV``, whose
    gradient reaches ``T`` only. The same values as the module's map path
    (:func:`mv_direction_loss`, :func:`mv_length_loss`, the frozen
    contrastive module); ``T v`` is computed once for both.
    """

    @staticmethod
    def forward(ctx, picked, near, t_w, conv1_w, b1, conv2_w, b2, wl, bl):
        n_new = picked.shape[0] // 2
        disp = picked - near
        v, r = disp[:n_new], disp[n_new:]
        t = torch.mm(v, _centre_tap(t_w).T)
        new = t + picked[n_new:]
        w1, w2 = _centre_tap(conv1_w), _centre_tap(conv2_w)
        z = torch.cat([t, picked[:n_new]], dim=1)
        h1 = torch.addmm(b1, z, w1.T).relu_()
        log_p = torch.log_softmax(
            torch.addmm(bl, torch.addmm(b2, h1, w2.T), wl.T), dim=1
        )
        norm_t = torch.linalg.vector_norm(t, dim=1, keepdim=True)
        t_len = norm_t.clamp_min(_EPS)
        r_unit = r / torch.linalg.vector_norm(r, dim=1, keepdim=True).clamp_min(_EPS)
        cos = ((t / t_len) * r_unit).sum(dim=1)
        length = norm_t.squeeze(1) - torch.linalg.vector_norm(v, dim=1)
        mv = ((cos - 1.0).abs() + length.abs() - log_p[:, 1]).mean()
        ctx.save_for_backward(t_w, conv1_w, conv2_w, wl)
        ctx.extra = (v, t, h1, log_p, norm_t, t_len, r_unit, cos, length)
        return new, mv

    @staticmethod
    def backward(ctx, g_new, g_mv):
        t_w, conv1_w, conv2_w, wl = ctx.saved_tensors
        v, t, h1, log_p, norm_t, t_len, r_unit, cos, length = ctx.extra
        n_new, dim = t.shape
        w_t = _centre_tap(t_w)
        scale = g_mv / n_new
        # -log p[1] of the frozen contrastive module: (softmax - e_1) on its
        # logits, back through it to t (the first D inputs of its layer 1).
        d_logits = log_p.exp()
        d_logits[:, 1] -= 1.0
        d_logits.mul_(scale)
        d_h2 = d_logits @ wl
        d_h1 = torch.ops.aten.threshold_backward(d_h2 @ _centre_tap(conv2_w), h1, 0.0)
        d_t = d_h1 @ _centre_tap(conv1_w)[:, :dim]
        # |cos - 1| and | |t| - |v| |; u = t / |t| is the gradient of |t|.
        unit = torch.where(norm_t > 0.0, t / norm_t, 0.0)
        d_cos = (r_unit - (cos[:, None] * (norm_t >= _EPS)) * unit) / t_len
        geometric = torch.sign(cos - 1.0)[:, None] * d_cos
        d_t = d_t.addcmul_(geometric.addcmul_(torch.sign(length)[:, None], unit), scale)
        d_picked = torch.cat([g_new @ w_t, g_new])  # v's rows, the rare rows
        g_t_w = _tap_grad((d_t.add_(g_new)).T @ v, t_w)
        return (d_picked, None, g_t_w) + (None,) * 6


def _float32(function, *args):
    """``function.apply(*args)``, in float32 with autocast off when autocast
    is on (``precision='bf16'``): the written-out backward passes need one
    dtype throughout."""
    context = _no_autocast(args[0].device.type)
    if context is None:
        return function.apply(*args)
    with context:
        return function.apply(
            *(
                a.float()
                if isinstance(a, torch.Tensor) and a.is_floating_point()
                else a
                for a in args
            )
        )


def frequent_class_mask(
    class_counts: torch.Tensor | Sequence[int] | np.ndarray, frequent_ratio: float
) -> torch.Tensor:
    """Mark the top ``frequent_ratio * C`` classes by training count as frequent.

    RSG splits the classes into frequent ones (whose feature displacements are
    transferred) and rare ones (which receive new samples). The choice is by
    count, never by class index: on step-imbalanced data the large classes
    need not come first.

    Parameters
    ----------
    class_counts : torch.Tensor or array-like of shape (C,)
        Training-set count of every class.
    frequent_ratio : float
        ``alpha`` of the paper, in ``(0, 1]``. The number of frequent classes
        is ``floor(alpha * C + 0.5)`` (rounded half up), at least 1 and at
        most C; ``alpha = 1`` makes every class frequent (nothing generated).

    Returns
    -------
    mask : torch.Tensor of shape (C,), dtype bool
        True for the frequent classes, on the device of ``class_counts`` when
        it is a tensor. Ties in count are broken by class index (lower first).

    Examples
    --------
    >>> from skremix.nn import frequent_class_mask
    >>> frequent_class_mask([5, 50, 5, 50], frequent_ratio=0.5)
    tensor([False,  True, False,  True])
    >>> frequent_class_mask([100, 30, 10], frequent_ratio=0.2)
    tensor([ True, False, False])
    """
    if not 0.0 < float(frequent_ratio) <= 1.0:
        raise ValueError(f"frequent_ratio must be in (0, 1], got {frequent_ratio!r}.")
    counts = torch.as_tensor(class_counts)
    if counts.ndim != 1 or counts.numel() < 1:
        raise ValueError(
            f"class_counts must be a non-empty 1-d sequence, got shape {tuple(counts.shape)}."
        )
    n_classes = counts.numel()
    n_frequent = min(
        max(math.floor(frequent_ratio * n_classes + 0.5 + 1e-9), 1), n_classes
    )
    order = torch.argsort(counts, descending=True, stable=True)
    mask = torch.zeros(n_classes, dtype=torch.bool, device=counts.device)
    mask[order[:n_frequent]] = True
    return mask


def n_generated(n_frequent: int, n_rare: int, transfer_strength: float) -> int:
    """Number of new samples of a mini-batch, ``s_new`` of the paper.

    .. math::

        s_{new} = \\max\\left(\\left\\lfloor \\beta\\, s_{freq} / s_{rare}
        \\right\\rfloor, 1\\right) s_{rare}

    so each rare sample of the batch receives
    ``max(floor(beta * s_freq / s_rare), 1)`` new samples. A batch without a
    frequent or without a rare sample generates nothing.

    Parameters
    ----------
    n_frequent : int
        ``s_freq``, frequent-class samples in the batch.
    n_rare : int
        ``s_rare``, rare-class samples in the batch.
    transfer_strength : float
        ``beta`` in ``(0, 1]``: the share of the batch's frequent samples whose
        displacement is transferred.

    Returns
    -------
    s_new : int
        Number of new rare-class samples, a multiple of ``n_rare``.

    Examples
    --------
    >>> from skremix.nn import n_generated
    >>> n_generated(10, 3, 1.0)   # floor(10 / 3) = 3 per rare sample
    9
    >>> n_generated(10, 3, 0.01)  # at least one per rare sample
    3
    >>> n_generated(0, 3, 1.0), n_generated(10, 0, 1.0)
    (0, 0)
    """
    if not 0.0 < float(transfer_strength) <= 1.0:
        raise ValueError(
            f"transfer_strength must be in (0, 1], got {transfer_strength!r}."
        )
    n_frequent, n_rare = int(n_frequent), int(n_rare)
    if n_frequent < 1 or n_rare < 1:
        return 0
    # The small tolerance keeps e.g. 0.7 * 10 / 7 from flooring to 0.
    per_rare = max(math.floor(transfer_strength * n_frequent / n_rare + 1e-9), 1)
    return per_rare * n_rare


def generation_pairs(
    is_frequent: torch.Tensor,
    transfer_strength: float,
    perm: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair frequent and rare samples of a batch for generation.

    New sample ``i`` is ``T(x[freq_idx[i]] - center) + x[rare_idx[i]]``. Every
    rare sample appears ``k = s_new / s_rare`` times; the frequent partners are
    taken in the order ``perm`` and cycled when ``s_new > s_freq`` (only when
    the batch holds more rare than frequent samples), so each frequent sample
    is used at most ``ceil(s_new / s_freq)`` times.

    Parameters
    ----------
    is_frequent : torch.Tensor of shape (B,), dtype bool
        Whether each sample of the batch belongs to a frequent class.
    transfer_strength : float
        ``beta`` in ``(0, 1]``, see :func:`n_generated`.
    perm : torch.Tensor of shape (s_freq,), optional
        A permutation of ``range(s_freq)``: the random order in which frequent
        samples are picked. Drawn with :func:`torch.randperm` when None.

    Returns
    -------
    freq_idx, rare_idx : torch.Tensor of shape (s_new,), dtype int64
        Batch indices, on the device of ``is_frequent``; empty when the batch
        lacks frequent or rare samples.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import generation_pairs
    >>> is_freq = torch.tensor([True, False, True, True, False])
    >>> freq, rare = generation_pairs(is_freq, 1.0, perm=torch.tensor([2, 0, 1]))
    >>> freq.tolist(), rare.tolist()
    ([3, 0], [1, 4])
    """
    device = is_frequent.device
    if is_frequent.dtype != torch.bool:
        is_frequent = is_frequent.to(torch.bool)
    freq_all = torch.nonzero(is_frequent).flatten()
    rare_all = torch.nonzero(~is_frequent).flatten()
    s_freq, s_rare = freq_all.numel(), rare_all.numel()
    s_new = n_generated(s_freq, s_rare, transfer_strength)
    if s_new == 0:
        empty = freq_all.new_zeros(0)
        return empty, empty.clone()
    if perm is None:
        perm = torch.randperm(s_freq, device=device)
    elif perm.device != device:
        perm = perm.to(device)
    if s_new <= s_freq:  # no frequent sample used twice: no cycling
        pick = perm[:s_new]
    else:
        pick = torch.index_select(perm, 0, torch.arange(s_new, device=device) % s_freq)
    rare = rare_all if s_new == s_rare else rare_all.repeat(s_new // s_rare)
    return torch.index_select(freq_all, 0, pick), rare


def center_distances(
    x: torch.Tensor, centers: torch.Tensor, y: torch.Tensor | None = None
) -> torch.Tensor:
    """Squared distance of each feature map to each of its class's centers.

    ``d_nk = sum_{d,j,k} (x_{n,d,j,k} - up(C_{n,k})_d)**2``, the inner sum of
    the CESC center term (Eq. 5), computed in closed form from the sum of
    squares and the spatial mean (no ``(n, K, D, H, W)`` tensor).

    Parameters
    ----------
    x : torch.Tensor of shape (n, D, H, W)
        Feature maps.
    centers : torch.Tensor of shape (n, K, D), or (C, K, D) with ``y``
        The K centers of each sample's class; with ``y``, the centers of
        every class, indexed by ``y`` without gathering a ``(n, K, D)`` copy:
        one matrix product with every class's centers, then a gather.
    y : torch.Tensor of shape (n,), optional
        Class index of each sample, when ``centers`` is the per-class table.

    Returns
    -------
    distances : torch.Tensor of shape (n, K)
        Squared distance of sample ``n``'s feature map to center ``k``.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import center_distances
    >>> x = torch.tensor([[[[1.0, 3.0]]]])          # (1, 1, 1, 2)
    >>> centers = torch.tensor([[[0.0], [2.0]]])     # (1, 2, 1)
    >>> center_distances(x, centers)                 # 1 + 9, 1 + 1
    tensor([[10.,  2.]])
    """
    n_pos = x.shape[2] * x.shape[3]
    sq = x.pow(2).sum(dim=(1, 2, 3))
    pooled = x.mean(dim=(2, 3))
    norms = centers.pow(2).sum(dim=-1)
    if y is None:
        cross = torch.einsum("nd,nkd->nk", pooled, centers)
    else:
        cross, norms = _class_dot(pooled, centers, y), _take(norms, y)
    return (sq[:, None] + n_pos * (norms - 2.0 * cross)).clamp_min(0.0)


def mv_direction_loss(
    transformed: torch.Tensor, rare_displacement: torch.Tensor
) -> torch.Tensor:
    """First MV term: ``sum_{j,k} |cos(T(v)^{(j,k)}, d_rare^{(j,k)}) - 1|``.

    Cosines are between per-position channel vectors: at every spatial
    position ``(j, k)`` the vector is ``x[n, :, j, k]`` (not a ``view(-1, C)``
    of the NCHW tensor).

    Parameters
    ----------
    transformed : torch.Tensor of shape (n, D, H, W)
        ``T(x_fd_freq)``, the transformed frequent-class displacements.
    rare_displacement : torch.Tensor of shape (n, D, H, W)
        ``x_fd_rare``, each rare sample's displacement from its nearest center.

    Returns
    -------
    loss : torch.Tensor of shape (n,)
        One value per new sample (average it over the ``s_new`` samples).

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import mv_direction_loss
    >>> t = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])   # vectors (1,0), (0,1)
    >>> d = torch.tensor([[[[2.0, 1.0]], [[0.0, 0.0]]]])   # vectors (2,0), (1,0)
    >>> mv_direction_loss(t, d)                             # |1 - 1| + |0 - 1|
    tensor([1.])
    """
    cos = F.cosine_similarity(transformed, rare_displacement, dim=1, eps=_EPS)
    return (cos - 1.0).abs().sum(dim=(1, 2))


def mv_length_loss(
    transformed: torch.Tensor, frequent_displacement: torch.Tensor
) -> torch.Tensor:
    """Second MV term: ``sum_{j,k} | ||T(v)^{(j,k)}||_2 - ||v^{(j,k)}||_2 |``.

    Norms of per-position channel vectors ``x[n, :, j, k]``: the transformation
    keeps the length of the frequent-class displacement ``v`` at every
    position.

    Parameters
    ----------
    transformed : torch.Tensor of shape (n, D, H, W)
        ``T(v)``.
    frequent_displacement : torch.Tensor of shape (n, D, H, W)
        ``v = x_fd_freq``.

    Returns
    -------
    loss : torch.Tensor of shape (n,)
        One value per new sample (average it over the ``s_new`` samples).

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import mv_length_loss
    >>> t = torch.tensor([[[[3.0, 0.0]], [[4.0, 1.0]]]])   # norms 5, 1
    >>> v = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]]]])   # norms 1, 2
    >>> mv_length_loss(t, v)                                # |5 - 1| + |1 - 2|
    tensor([5.])
    """
    diff = torch.linalg.vector_norm(transformed, dim=1) - torch.linalg.vector_norm(
        frequent_displacement, dim=1
    )
    return diff.abs().sum(dim=(1, 2))


class RSGOutput(NamedTuple):
    """What :meth:`RSG.forward` returns.

    A named tuple: the fields below are read as attributes (``out.features``)
    or unpacked in this order.

    Parameters
    ----------
    features : torch.Tensor of shape (B + s_new, ...)
        The input features with the new rare-class samples appended, in the
        layout of the input (``(B, D)`` or ``(B, D, H, W)``).
    targets : torch.Tensor of shape (B + s_new,)
        The labels, the new samples' rare labels appended.
    cesc_loss : torch.Tensor
        Scalar ``L_CESC`` (Eq. 5), unweighted.
    mv_loss : torch.Tensor
        Scalar ``L_MV`` (Eq. 6), unweighted; zero when nothing is generated.
    n_generated : int
        ``s_new``.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import RSG
    >>> rsg = RSG(in_channels=4, n_classes=2, n_centers=1, contrastive_channels=4)
    >>> out = rsg(torch.randn(3, 4), torch.tensor([0, 0, 1]), [30, 3])
    >>> features, targets, cesc_loss, mv_loss, n_new = out
    >>> type(out).__name__, out.n_generated, targets.tolist()
    ('RSGOutput', 0, [0, 0, 1])
    """

    features: torch.Tensor
    targets: torch.Tensor
    cesc_loss: torch.Tensor
    mv_loss: torch.Tensor
    n_generated: int


class _ContrastiveModule(nn.Module):
    """``gamma* = softmax(A* ave(h(cat[x1, x2])) + b*)`` (Eq. 2); output 1 is
    "the two samples belong to different classes"."""

    def __init__(self, in_channels: int, hidden: int, kernel_size: int) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(2 * in_channels, hidden, kernel_size, padding=pad)
        self.conv2 = nn.Conv2d(hidden, hidden, kernel_size, padding=pad)
        self.linear = nn.Linear(hidden, 2)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, frozen: bool = False
    ) -> torch.Tensor:
        # frozen: gradients reach the inputs but not the module's parameters.
        def p(t: torch.Tensor) -> torch.Tensor:
            return t.detach() if frozen else t

        # Feature maps (n, D, H, W), or vectors (n, D) taken as 1x1 maps.
        z = torch.cat([x1, x2], dim=1)
        z = F.relu(_conv(z, p(self.conv1.weight), p(self.conv1.bias)))
        z = _conv(z, p(self.conv2.weight), p(self.conv2.bias))
        if z.ndim == 4:
            z = z.mean(dim=(2, 3))
        return F.linear(z, p(self.linear.weight), p(self.linear.bias))


class RSG(nn.Module):
    """Rare-class Sample Generator: a training-only module at a feature map.

    Given the feature maps ``x`` of a mini-batch (at one layer of a network)
    and their labels, it

    1. fits K centers per class with soft assignment
       ``gamma^l = softmax(A^l ave(x) + b^l)`` (center estimation, Eq. 1);
    2. trains a contrastive module to tell whether two samples share a class
       (Eq. 2), while ``generate`` is False; it is frozen afterwards;
    3. when ``generate`` is True, takes frequent-class displacements
       ``v = x_freq - up(C_K)`` from each sample's nearest center (Eq. 3),
       transforms them with one convolution ``T`` and adds them to real
       rare-class samples (Eq. 4): ``s_new`` new rare samples appended to the
       batch.

    Vector features ``(B, D)`` (after an MLP layer) are treated as
    ``(B, D, 1, 1)`` maps and returned as vectors. Every new tensor takes the
    device of the input.

    Parameters
    ----------
    in_channels : int
        ``D``, channels of the feature maps (or size of the feature vectors).
    n_classes : int
        Number of classes C.
    n_centers : int, default=15
        K, centers per class.
    frequent_ratio : float, default=0.2
        ``alpha`` in ``(0, 1]``: the top ``alpha * C`` classes by count are
        frequent (:func:`frequent_class_mask`). 0.2 for long-tailed, 0.5 for
        step imbalance in the paper.
    transfer_strength : float, default=1.0
        ``beta`` in ``(0, 1]`` (:func:`n_generated`). 1.0 for long-tailed,
        0.01 for step imbalance in the paper.
    contrastive_channels : int or None, default=None
        Channels of the two convolutions of the contrastive module. None
        means ``min(256, in_channels)``: the paper's 256 ("throughout the
        paper") wherever the features have at least 256 channels, as in its
        ImageNet-scale networks, and no wider than the features below that
        (see Notes). Pass 256 to reproduce the paper's CIFAR setting exactly.
    kernel_size : int, default=3
        Kernel of the contrastive convolutions and of ``T`` (odd, padded to
        keep the size). On 1x1 maps a 3x3 kernel only ever uses its centre tap,
        so 1 is the same function with 9 times fewer weights.

    Attributes
    ----------
    centers : torch.nn.Parameter of shape (C, K, D)
        The class centers ``C_i^l``. Standard-normal at construction; the
        first forward pass that sees class ``l`` sets its K centers to the
        pooled features of K random samples of ``l`` in the batch (see Notes).
    centers_initialized : torch.Tensor of shape (C,), dtype bool
        Buffer: whether each class's centers were set from data. Set it to
        True to keep centers given by hand.
    assign_weight : torch.nn.Parameter of shape (C, K, D)
        ``A^l`` of the soft assignment.
    assign_bias : torch.nn.Parameter of shape (C, K)
        ``b^l`` of the soft assignment.
    contrastive : torch.nn.Module
        The contrastive module (two convolutions, ReLU between, global average
        pooling, a linear layer to 2 outputs).
    transform : torch.nn.Conv2d
        ``T``, a bias-free convolution from D to D channels (a linear map).

    Notes
    -----
    With ``gamma`` the soft assignment and ``gamma*`` the contrastive
    module's probability that two samples come from different classes,

    .. math::

        L_{CESC} = \\Big\\langle \\sum_i \\gamma_i^l
            \\sum_{d,j,k} (x^l - up(C_i^l))^2_{d,j,k} \\Big\\rangle_s
            - \\big\\langle y \\log\\gamma^* + (1-y)\\log(1-\\gamma^*)
            \\big\\rangle_{s/2}

        L_{MV} = \\Big\\langle \\sum_{j,k} |\\cos(T(v)^{(j,k)},
            x_{fd-rare}^{(j,k)}) - 1|
            + \\sum_{j,k} \\big| \\|T(v)^{(j,k)}\\| - \\|v^{(j,k)}\\| \\big|
            - \\log\\gamma^*(T(v), x_{freq}) \\Big\\rangle_{s_{new}}

    Gradients follow Algorithm 1 of the paper: ``L_CESC`` is computed on
    detached features and trains the centers, the assignment and (before
    generation) the contrastive module; ``L_MV`` trains ``T`` only (its inputs
    and the frozen contrastive module are detached); the classification loss
    of the appended samples reaches ``T`` and the backbone, not the centers.
    The ``s/2`` contrastive pairs come from a random permutation, so odd
    batches work (the last sample sits out).

    The paper does not say how centers start. Random centers far from the
    features make the displacements ``x - up(C)`` mostly class offset, not
    intra-class variation, until ``L_CESC`` has pulled the centers in; with
    an adaptive optimizer (steps of about ``lr`` whatever the gradient) that
    takes thousands of steps at ``lr=1e-3``. So each class's centers start at
    the pooled features of samples of that class (a k-means style start),
    which is where ``L_CESC`` would take them.

    The contrastive module is no wider than the features by default because
    on a small network 256 channels cost more than the backbone: on the
    32-channel 16x16 maps of ResNet-32's ``layer2``, two 3x3 convolutions of
    width 256 take about 189 M multiply-adds per pair, 2.7 times the 69 M of
    a whole ResNet-32 forward pass on a 32x32 image (counted from the layer
    shapes).

    On a small network RSG's step is many small operations, so the forward
    pass computes the CESC center term as one autograd node with its
    backward written out, and on vector features (or 1x1 maps) the new
    samples with ``L_MV`` as another; the values are those of
    :meth:`assignment`, :func:`center_distances`, :func:`mv_direction_loss`
    and :func:`mv_length_loss` to float rounding. On the CPU each sample is
    multiplied with its own class's centers only (the batch laid out by
    class); on other devices with every class's, which needs no read-back of
    the layout's size. What this saves is timed by
    ``benchmarks/bench_cost.py`` (``benchmarks/results/cost/``).

    References
    ----------
    .. [1] J. Wang, T. Lukasiewicz, X. Hu, J. Cai, Z. Xu, "RSG: A Simple but
       Effective Module for Learning Imbalanced Datasets", CVPR 2021.

    Examples
    --------
    >>> import torch
    >>> from skremix.nn import RSG
    >>> rsg = RSG(in_channels=4, n_classes=3, n_centers=2, contrastive_channels=8)
    >>> x, y = torch.randn(6, 4, 5, 3), torch.tensor([0, 0, 0, 0, 1, 2])
    >>> out = rsg(x, y, class_counts=torch.tensor([100, 20, 5]), generate=True)
    >>> out.n_generated, out.features.shape, out.targets[6:].tolist()
    (4, torch.Size([10, 4, 5, 3]), [1, 2, 1, 2])
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        n_centers: int = 15,
        frequent_ratio: float = 0.2,
        transfer_strength: float = 1.0,
        contrastive_channels: int | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        for name, value, low in [
            ("in_channels", in_channels, 1),
            ("n_classes", n_classes, 2),
            ("n_centers", n_centers, 1),
            (
                "contrastive_channels",
                1 if contrastive_channels is None else contrastive_channels,
                1,
            ),
            ("kernel_size", kernel_size, 1),
        ]:
            if int(value) != value or int(value) < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if int(kernel_size) % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size!r}.")
        if not 0.0 < float(frequent_ratio) <= 1.0:
            raise ValueError(
                f"frequent_ratio must be in (0, 1], got {frequent_ratio!r}."
            )
        if not 0.0 < float(transfer_strength) <= 1.0:
            raise ValueError(
                f"transfer_strength must be in (0, 1], got {transfer_strength!r}."
            )
        self.in_channels = int(in_channels)
        self.n_classes = int(n_classes)
        self.n_centers = int(n_centers)
        self.frequent_ratio = float(frequent_ratio)
        self.transfer_strength = float(transfer_strength)
        self.contrastive_channels = (
            min(256, self.in_channels)
            if contrastive_channels is None
            else int(contrastive_channels)
        )
        self.kernel_size = int(kernel_size)

        shape = (self.n_classes, self.n_centers, self.in_channels)
        self.centers = nn.Parameter(torch.randn(shape))
        self.register_buffer(
            "centers_initialized", torch.zeros(self.n_classes, dtype=torch.bool)
        )
        self._centers_pending = True
        bound = 1.0 / math.sqrt(self.in_channels)
        self.assign_weight = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.assign_bias = nn.Parameter(torch.zeros(self.n_classes, self.n_centers))
        self.contrastive = _ContrastiveModule(
            self.in_channels, self.contrastive_channels, self.kernel_size
        )
        self.transform = nn.Conv2d(
            self.in_channels,
            self.in_channels,
            self.kernel_size,
            padding=self.kernel_size // 2,
            bias=False,
        )

    @torch.no_grad()
    def _init_centers(self, pooled: torch.Tensor, y: torch.Tensor) -> None:
        """Set the centers of classes seen for the first time to the pooled
        features of K random samples of theirs in the batch (independent
        picks, so with replacement)."""
        if not self._centers_pending:
            return
        n_classes, n_centers = self.n_classes, self.n_centers
        present = torch.zeros(n_classes, dtype=torch.bool, device=y.device)
        present[y] = True
        todo = present & ~self.centers_initialized
        # For every (class, center) the batch sample of that class with the
        # highest random score: no loop. The one host synchronisation below
        # happens only until every class has been seen.
        scores = torch.rand(n_centers, y.numel(), device=y.device)
        own = y[None, :] == torch.arange(n_classes, device=y.device)[:, None]
        masked = torch.where(own[:, None, :], scores[None], -1.0)  # (C, K, B)
        picked = pooled[masked.argmax(dim=2)]  # (C, K, D)
        self.centers.copy_(torch.where(todo[:, None, None], picked, self.centers))
        self.centers_initialized |= present
        self._centers_pending = not bool(self.centers_initialized.all())

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        # As after the last batch that initialised centers: a loaded module
        # whose classes all have centers draws no initialisation scores (which
        # would consume the random stream of a resumed fit).
        self._centers_pending = not bool(self.centers_initialized.all())

    def assignment(self, pooled: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Soft assignment ``gamma^l = softmax(A^l pooled + b^l)`` (Eq. 1).

        Parameters
        ----------
        pooled : torch.Tensor of shape (n, D)
            Globally average-pooled features.
        y : torch.Tensor of shape (n,)
            Class indices.

        Returns
        -------
        gamma : torch.Tensor of shape (n, K)
            Each sample's weights over the K centers of its class (rows sum
            to 1).

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import RSG
        >>> rsg = RSG(in_channels=3, n_classes=2, n_centers=4, contrastive_channels=4)
        >>> rsg.assignment(torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])).shape
        torch.Size([5, 4])
        """
        logits = _class_dot(pooled, self.assign_weight, y)
        return torch.softmax(logits + _take(self.assign_bias, y), dim=1)

    def contrastive_loss(
        self, x: torch.Tensor, y: torch.Tensor, perm: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Second CESC term: cross-entropy of "different class" on ``B // 2`` pairs.

        Pair ``i`` is ``(perm[i], perm[B // 2 + i])``; with an odd batch the
        last sample of ``perm`` sits out, and a single sample gives 0.

        Parameters
        ----------
        x : torch.Tensor of shape (B, D, H, W) or (B, D)
            Feature maps, or feature vectors (1x1 maps); detach them to keep
            the backbone out of it.
        y : torch.Tensor of shape (B,)
            Class indices.
        perm : torch.Tensor of shape (B,), optional
            Random permutation of the batch; drawn when None.

        Returns
        -------
        loss : torch.Tensor
            Scalar.

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import RSG
        >>> rsg = RSG(in_channels=2, n_classes=2, n_centers=1, contrastive_channels=4)
        >>> rsg.contrastive_loss(torch.randn(1, 2, 3, 3), torch.tensor([0]))
        tensor(0.)
        """
        half = x.shape[0] // 2
        if half == 0:
            return x.new_zeros(())
        if perm is None:
            perm = torch.randperm(x.shape[0], device=x.device)
        pairs = perm[: 2 * half]
        xs, ys = _take(x, pairs), _take(y, pairs)
        logits = self.contrastive(xs[:half], xs[half:])
        return F.cross_entropy(logits, (ys[:half] != ys[half:]).long())

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        class_counts: torch.Tensor | Sequence[int] | np.ndarray,
        generate: bool = False,
    ) -> RSGOutput:
        """Compute the step's losses and, with ``generate``, the augmented batch.

        Parameters
        ----------
        x : torch.Tensor of shape (B, D, H, W) or (B, D)
            Feature maps (any ``H x W``, square or not) or feature vectors.
        y : torch.Tensor of shape (B,)
            Class indices in ``[0, C)``.
        class_counts : torch.Tensor or array-like of shape (C,)
            Training-set class counts, for the frequent / rare split.
        generate : bool, default=False
            False before the epoch threshold: train the contrastive module,
            generate nothing. True after it: contrastive module frozen, new
            rare-class samples generated and ``L_MV`` computed.

        Returns
        -------
        output : RSGOutput
            ``(features, targets, cesc_loss, mv_loss, n_generated)``.

        Examples
        --------
        >>> import torch
        >>> from skremix.nn import RSG
        >>> rsg = RSG(in_channels=8, n_classes=2, n_centers=3, contrastive_channels=4)
        >>> out = rsg(torch.randn(5, 8), torch.tensor([0, 0, 0, 1, 1]), [30, 3])
        >>> out.n_generated, out.features.shape
        (0, torch.Size([5, 8]))
        """
        if x.ndim not in (2, 4):
            raise ValueError(
                "RSG takes feature maps (B, D, H, W) or feature vectors (B, D); "
                f"got a tensor of shape {tuple(x.shape)}."
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"RSG was built for {self.in_channels} channels but the features "
                f"have {x.shape[1]} (shape {tuple(x.shape)})."
            )
        # Vectors and 1x1 maps are computed on as (B, D) vectors: the same
        # values as 1x1 maps, without the reshapes.
        flat = x.ndim == 2 or x.shape[2] * x.shape[3] == 1
        h = x.flatten(1) if flat and x.ndim == 4 else x
        if y.dtype != torch.long or y.device != x.device:
            y = y.to(device=x.device, dtype=torch.long)
        hd = h.detach()
        if flat:
            pooled, n_pos = hd, 1
            sq = hd.pow(2).sum(dim=1)
        else:
            pooled, n_pos = hd.mean(dim=(2, 3)), x.shape[2] * x.shape[3]
            sq = hd.pow(2).sum(dim=(1, 2, 3))
        self._init_centers(pooled, y)
        cesc, nearest = _float32(
            _CenterTerm,
            pooled,
            sq,
            y,
            n_pos,
            generate,
            x.device.type == "cpu",
            self.centers,
            self.assign_weight,
            self.assign_bias,
        )
        if not generate:
            cesc = cesc + self.contrastive_loss(hd, y)

        s_new = 0
        if generate:
            is_frequent = torch.index_select(
                self._frequent(class_counts, y.device), 0, y
            )
            freq_idx, rare_idx = generation_pairs(is_frequent, self.transfer_strength)
            s_new = int(freq_idx.numel())
        if s_new == 0:
            return RSGOutput(x, y, cesc, h.new_zeros(()), 0)
        # Rows of the new samples' frequent partners, then their rare ones,
        # with the displacement of each from its nearest center (Eq. 3);
        # centers do not receive the classification gradient.
        rows = torch.cat([freq_idx, rare_idx])
        picked = _take(h, rows)
        near = _take(
            self.centers.detach().view(-1, self.in_channels), _take(nearest, rows)
        )
        if flat:  # Eq. 4 and L_MV in one node, its gradient written out
            c = self.contrastive
            frozen = [
                p.detach()
                for p in (c.conv1.weight, c.conv1.bias, c.conv2.weight, c.conv2.bias)
            ]
            frozen += [c.linear.weight.detach(), c.linear.bias.detach()]
            new, mv = _float32(
                _FlatGeneration, picked, near, self.transform.weight, *frozen
            )
        else:
            disp = picked - near[:, :, None, None]
            v = disp[:s_new]
            new = _conv(v, self.transform.weight, None) + picked[s_new:]  # Eq. 4
            # L_MV trains T only: detached inputs, frozen contrastive module.
            v_d = v.detach()
            t_mv = _conv(v_d, self.transform.weight, None)
            log_diff = F.log_softmax(
                self.contrastive(t_mv, picked[:s_new].detach(), frozen=True), dim=1
            )[:, 1]
            mv = (_mv_terms(t_mv, disp[s_new:].detach(), v_d) - log_diff).mean()
        features = torch.cat([h, new], dim=0)
        if features.ndim != x.ndim:  # 1x1 maps, computed on as vectors
            features = features.view(-1, *x.shape[1:])
        targets = torch.cat([y, _take(y, rare_idx)], dim=0)
        return RSGOutput(features, targets, cesc, mv, s_new)

    def _frequent(self, class_counts, device: torch.device) -> torch.Tensor:
        """``frequent_class_mask(class_counts, frequent_ratio)`` on ``device``,
        kept while the same counts tensor (unmodified) and ratio come back:
        computed once per fit, not at every step."""
        version = getattr(class_counts, "_version", None)
        key = (self.frequent_ratio, device, version)
        cached = self.__dict__.get("_frequent_cache")
        if cached is not None and cached[0] is class_counts and cached[1] == key:
            return cached[2]
        counts = torch.as_tensor(class_counts, device=device)
        mask = frequent_class_mask(counts, self.frequent_ratio)
        if version is not None:  # a tensor: its identity and version key it
            self.__dict__["_frequent_cache"] = (class_counts, key, mask)
        return mask

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_frequent_cache", None)
        return state

    def extra_repr(self) -> str:
        """Show the constructor's arguments in the module's repr."""
        return (
            f"in_channels={self.in_channels}, n_classes={self.n_classes}, "
            f"n_centers={self.n_centers}, frequent_ratio={self.frequent_ratio}, "
            f"transfer_strength={self.transfer_strength}, "
            f"contrastive_channels={self.contrastive_channels}, "
            f"kernel_size={self.kernel_size}"
        )
