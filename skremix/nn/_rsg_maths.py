"""The maths of the Rare-class Sample Generator (RSG) of Wang et al. (2021).

Small pure functions (frequent classes, generated count, generation pairs,
CESC and MV loss terms) that take their randomness as arguments. The module
(:class:`skremix.nn.RSG`, in ``_rsg_module.py``) composes them, computing the
loss terms through the fused autograd nodes of ``_rsg_autograd.py``;
:func:`center_distances`, :func:`mv_direction_loss` and :func:`mv_length_loss`
are the reference forms those nodes are tested against. Pure torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "frequent_class_mask",
    "n_generated",
    "generation_pairs",
    "center_distances",
    "mv_direction_loss",
    "mv_length_loss",
]

_EPS = 1e-8


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
    # A Python float: a float32 scalar would round the product in float32.
    frequent_ratio = float(frequent_ratio)
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
    transfer_strength = float(transfer_strength)  # not float32 arithmetic
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

    :class:`~skremix.nn.RSG` does not call this function: it computes the
    same values in a fused autograd node (``_rsg_autograd.py``). This is
    the reference form that node is tested against.

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

    :class:`~skremix.nn.RSG` does not call this function: it computes the
    same values in a fused autograd node (``_rsg_autograd.py``). This is
    the reference form that node is tested against.

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

    :class:`~skremix.nn.RSG` does not call this function: it computes the
    same values in a fused autograd node (``_rsg_autograd.py``). This is
    the reference form that node is tested against.

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
