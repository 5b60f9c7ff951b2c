"""Samplers for data-parallel training (``torch.distributed``, DDP).

Part of the pure :mod:`skremix.sampling` layer: it depends on PyTorch and
NumPy only. Every rank builds the same sampler with the same int seed, so all
ranks draw the same global batches (or the same global stream of indices) and
each keeps its own contiguous share of it (:func:`shard_bounds`). Class
balance therefore holds over the union of the ranks' shares of one step.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch.utils.data import Sampler

from skremix.sampling._samplers import (
    _MODES,
    ClassBalancedBatchSampler,
    WeightedClassSampler,
    _check_positive_int,
    _labels_to_numpy,
)
from skremix.sampling._shard import _check_rank, shard_bounds

__all__ = ["DistributedClassBalancedBatchSampler", "DistributedWeightedClassSampler"]


def _resolve_replicas(num_replicas: object, rank: object) -> tuple[int, int]:
    """``(num_replicas, rank)``; a None is read from the process group."""
    if num_replicas is None or rank is None:
        dist = torch.distributed
        if not (dist.is_available() and dist.is_initialized()):
            missing = " and ".join(
                name
                for name, value in (("num_replicas", num_replicas), ("rank", rank))
                if value is None
            )
            raise ValueError(
                "Requires distributed package to be available and initialized "
                "(torch.distributed.init_process_group), or pass num_replicas and "
                f"rank; got {missing}=None and no process group."
            )
        if num_replicas is None:
            num_replicas = dist.get_world_size()
        if rank is None:
            rank = dist.get_rank()
    _check_rank(num_replicas, rank)
    return int(num_replicas), int(rank)


def _check_seed(random_state: object) -> int:
    """The seed shared by every rank: an int in ``[0, 2**32)``."""
    if (
        isinstance(random_state, bool)
        or not isinstance(random_state, numbers.Integral)
        or not 0 <= random_state < 2**32
    ):
        raise ValueError(
            "random_state must be an int in [0, 2**32), the same on every rank: "
            "every rank must draw the same global batches and keep its own share "
            "of them, which a per-process random state (None, a RandomState or a "
            "Generator) cannot guarantee. Pass the same int on every rank; got "
            f"random_state={random_state!r}."
        )
    return int(random_state)


def _check_epoch(epoch: object) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0; got epoch={epoch!r}.")
    return int(epoch)


class _SetEpoch:
    """``set_epoch``, shared by the distributed samplers."""

    epoch: int | None

    def set_epoch(self, epoch: int) -> None:
        """Draw the epoch ``epoch`` from ``(random_state, epoch)``.

        Call it on every rank at the start of every epoch, before iterating
        (as with :class:`torch.utils.data.distributed.DistributedSampler`).

        Parameters
        ----------
        epoch : int
            The epoch number (>= 0).
        """
        self.epoch = _check_epoch(epoch)


def _epoch_view(inner, seed: int, epoch: int | None):
    """The inner sampler, or for a set epoch a copy drawing from ``(seed, epoch)``.

    The copy shares the inner sampler's arrays; only its generator differs:
    iterating it draws what a fresh sampler built with
    ``random_state=np.random.default_rng([seed, epoch])`` draws.
    """
    if epoch is None:
        return inner
    view = copy.copy(inner)
    view._rng = np.random.default_rng([seed, epoch])
    return view


class DistributedClassBalancedBatchSampler(_SetEpoch, Sampler[list[int]]):
    r"""Class-balanced batch sampler for data-parallel training.

    Every rank builds it with the same arguments (the same int
    ``random_state``). Internally it is one
    :class:`ClassBalancedBatchSampler` at the *global* batch size
    ``batch_size * num_replicas``, identical on every rank; for each global
    batch, rank ``rank`` yields its contiguous share
    ``batch[start:stop]`` with ``start, stop = shard_bounds(len(batch),
    num_replicas, rank)``. The union over the ranks of step ``k`` (in rank
    order) is therefore exactly batch ``k`` of the single-process sampler at
    batch size ``batch_size * num_replicas``: the class shares hold
    *globally*, and no position of a global batch is trained twice. Use as
    ``DataLoader(dataset, batch_sampler=sampler)`` on every rank.

    Parameters
    ----------
    labels : array-like or torch.Tensor of shape (n_samples,)
        Label of every sample of the dataset, the same on every rank.
    batch_size : int
        Number of indices per rank in every step (>= 1), the PyTorch DDP
        convention; the global batch holds ``batch_size * num_replicas``.
    num_replicas : int or None, default=None
        Number of ranks. ``None`` reads
        :func:`torch.distributed.get_world_size` from the initialized process
        group.
    rank : int or None, default=None
        This rank, in ``[0, num_replicas)``. ``None`` reads
        :func:`torch.distributed.get_rank` from the initialized process group.
    n_batches : int or None, default=None
        Number of steps per epoch. ``None`` means
        ``ceil(n_samples / (batch_size * num_replicas))``: one pass over the
        data per epoch, across all ranks.
    replacement : bool, default=True
        As in :class:`ClassBalancedBatchSampler`, for the global batches.
        With ``False`` a class's indices are not repeated within an epoch
        before all of them have been used, across all ranks together.
    random_state : int, default=0
        The seed, an int in ``[0, 2**32)`` that must be the same on every
        rank. None, a ``RandomState`` or a ``Generator`` are refused: they
        cannot make every rank draw the same global batches.
    mode : {"global", "within_batch"}, default="global"
        As in :class:`ClassBalancedBatchSampler`, applied to the global
        batch: ``"within_batch"`` re-balances among the classes present in
        the global batch (ReMix's Algorithm 1 on the union of the ranks).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted distinct labels.
    class_counts_ : ndarray of shape (n_classes,)
        Number of samples of each class.
    num_replicas : int
        Resolved number of ranks.
    rank : int
        Resolved rank.
    n_batches : int
        Number of steps per epoch (the resolved default).
    global_batch_size : int
        ``batch_size * num_replicas``.
    epoch : int or None
        The epoch given to :meth:`set_epoch`; None until it is called.

    Raises
    ------
    ValueError
        If ``num_replicas`` or ``rank`` is None and no process group is
        initialized, if ``num_replicas < 1``, ``rank < 0`` or
        ``rank >= num_replicas``, if ``random_state`` is not an int, and for
        the invalid arguments :class:`ClassBalancedBatchSampler` refuses.

    Warns
    -----
    UserWarning
        If the global batch ``batch_size * num_replicas`` is smaller than the
        number of classes: not every class fits in a step.

    See Also
    --------
    ClassBalancedBatchSampler : The single-process sampler sharded here.
    shard_bounds : The rule splitting a global batch among the ranks.
    torch.utils.data.distributed.DistributedSampler : PyTorch's unweighted
        distributed sampler, whose ``set_epoch`` convention this follows.

    Notes
    -----
    With :math:`R` ranks and per-rank batch size :math:`b`, the global batch
    :math:`G_k` of step :math:`k` has :math:`B = Rb` indices (in both modes a
    batch of :class:`ClassBalancedBatchSampler` is exactly its batch size)
    and rank :math:`r` receives

    .. math::

        G_k[rb : (r + 1)b], \qquad \bigcup_{r=0}^{R-1} G_k[rb : (r + 1)b] = G_k,

    disjoint slices of exactly :math:`b` indices each, so every rank runs the
    same number of steps of the same size, as DDP needs. The class counts of
    :math:`G_k` follow the rule of :class:`ClassBalancedBatchSampler` with
    :math:`B`: in ``"global"`` mode :math:`\lfloor B/C \rfloor` or
    :math:`\lceil B/C \rceil` per class. One rank's share alone is not
    balanced (a slice of a shuffled balanced batch); the balance is that of
    the step, over all ranks.

    **Epochs.** After :meth:`set_epoch` ``(e)``, iterating draws the batches
    of a :class:`ClassBalancedBatchSampler` seeded with
    ``numpy.random.default_rng([random_state, e])``: they depend only on the
    seed and the epoch, so a resumed run, or a rank that skipped iterations,
    stays in step with the others; iterating again without a new
    ``set_epoch`` repeats that epoch. Without ``set_epoch``, successive
    ``iter`` calls draw successive fresh epochs from the generator seeded
    with ``random_state`` (reproducible, and the same on every rank as long
    as every rank iterates the same number of times).

    References
    ----------
    .. [1] C. Bellinger, R. Corizzo and N. Japkowicz, "ReMix: Calibrated
       Resampling for Class Imbalance in Deep Learning", arXiv:2012.02312,
       2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.sampling import (
    ...     ClassBalancedBatchSampler, DistributedClassBalancedBatchSampler)
    >>> labels = np.array([0] * 95 + [1] * 5)
    >>> shares = [
    ...     DistributedClassBalancedBatchSampler(
    ...         labels, batch_size=4, num_replicas=2, rank=r, random_state=0)
    ...     for r in range(2)
    ... ]
    >>> len(shares[0])  # ceil(100 / (4 * 2))
    13
    >>> step = [next(iter(s)) for s in shares]
    >>> [len(share) for share in step]
    [4, 4]
    >>> np.bincount(labels[step[0] + step[1]]).tolist()  # balanced over ranks
    [4, 4]
    >>> single = ClassBalancedBatchSampler(labels, batch_size=8, random_state=0)
    >>> step[0] + step[1] == next(iter(single))
    True

    Each epoch of a run calls ``set_epoch`` first, as with PyTorch's
    ``DistributedSampler``:

    >>> for epoch in range(2):
    ...     shares[0].set_epoch(epoch)
    ...     for batch in shares[0]:
    ...         pass
    """

    def __init__(
        self,
        labels: ArrayLike | torch.Tensor,
        batch_size: int,
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        n_batches: int | None = None,
        replacement: bool = True,
        random_state: int = 0,
        mode: Literal["global", "within_batch"] = "global",
    ) -> None:
        super().__init__()
        array = _labels_to_numpy(labels)
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        self.num_replicas, self.rank = _resolve_replicas(num_replicas, rank)
        self.random_state = _check_seed(random_state)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got mode={mode!r}.")
        self.mode = mode
        self.replacement = bool(replacement)
        self.global_batch_size = self.batch_size * self.num_replicas
        if n_batches is None:
            n_batches = math.ceil(array.shape[0] / self.global_batch_size)
        self.n_batches = _check_positive_int(n_batches, "n_batches")
        with warnings.catch_warnings():
            # Its warning speaks of its batch_size: the global one; ours below.
            warnings.filterwarnings(
                "ignore", message="batch_size=", category=UserWarning
            )
            self._inner = ClassBalancedBatchSampler(
                array,
                self.global_batch_size,
                n_batches=self.n_batches,
                replacement=self.replacement,
                random_state=self.random_state,
                mode=mode,
            )
        self.classes_ = self._inner.classes_
        self.class_counts_ = self._inner.class_counts_
        n_classes = self.classes_.shape[0]
        if self.global_batch_size < n_classes:
            warnings.warn(
                f"The global batch (batch_size * num_replicas = {self.batch_size} "
                f"* {self.num_replicas} = {self.global_batch_size}) is smaller "
                f"than the number of classes ({n_classes}): not every class fits "
                "in a step. Each global batch will hold one sample of each of "
                f"{self.global_batch_size} distinct classes drawn at random.",
                UserWarning,
                stacklevel=2,
            )
        self.epoch: int | None = None

    def __len__(self) -> int:
        """Number of steps per epoch.

        Returns
        -------
        n_batches : int
        """
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        """Draw an epoch: this rank's share of every global batch.

        Returns
        -------
        batches : iterator of list of int
            ``n_batches`` lists of ``batch_size`` dataset indices.
        """
        inner = _epoch_view(self._inner, self.random_state, self.epoch)
        return self._shares(iter(inner))

    def _shares(self, batches: Iterator[list[int]]) -> Iterator[list[int]]:
        for batch in batches:
            start, stop = shard_bounds(len(batch), self.num_replicas, self.rank)
            yield batch[start:stop]


class DistributedWeightedClassSampler(_SetEpoch, Sampler[int]):
    r"""Class-weighted sampler for data-parallel training.

    Every rank builds it with the same arguments (the same int
    ``random_state``). Each epoch, every rank draws the same global stream
    of ``num_samples`` indices from one :class:`WeightedClassSampler` and
    keeps its contiguous share ``stream[start:stop]``, with
    ``start, stop = shard_bounds(total_size, num_replicas, rank)``, where
    ``total_size`` is ``num_samples`` rounded *down* to a multiple of
    ``num_replicas``: every rank gets the same number of indices per epoch,
    as DDP needs (the last ``num_samples % num_replicas`` draws are
    dropped). Use as ``DataLoader(dataset, batch_size=b, sampler=sampler)``
    on every rank.

    Parameters
    ----------
    labels : array-like or torch.Tensor of shape (n_samples,)
        Label of every sample of the dataset, the same on every rank.
    class_weights : "balanced" or array-like of shape (n_classes,), default="balanced"
        Weight of each class, aligned with ``numpy.unique(labels)`` order, as
        in :class:`WeightedClassSampler`.
    num_replicas : int or None, default=None
        Number of ranks. ``None`` reads
        :func:`torch.distributed.get_world_size` from the initialized process
        group.
    rank : int or None, default=None
        This rank, in ``[0, num_replicas)``. ``None`` reads
        :func:`torch.distributed.get_rank` from the initialized process group.
    num_samples : int or None, default=None
        Length of the global stream per epoch, across all ranks; ``None``
        means ``len(labels)`` (one pass over the data per epoch). It must be
        at least ``num_replicas``.
    random_state : int, default=0
        The seed, an int in ``[0, 2**32)`` that must be the same on every
        rank. None, a ``RandomState`` or a ``Generator`` are refused: they
        cannot make every rank draw the same global stream.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted distinct labels.
    class_counts_ : ndarray of shape (n_classes,)
        Number of samples of each class.
    class_weights_ : ndarray of shape (n_classes,)
        Resolved class weights (float64).
    sample_weights_ : ndarray of shape (n_samples,)
        Drawing probability of each sample (sums to 1).
    num_replicas : int
        Resolved number of ranks.
    rank : int
        Resolved rank.
    num_samples : int
        Resolved length of the global stream per epoch.
    total_size : int
        ``num_samples`` rounded down to a multiple of ``num_replicas``: the
        number of indices per epoch over all ranks; ``len(sampler)`` is
        ``total_size // num_replicas``.
    epoch : int or None
        The epoch given to :meth:`set_epoch`; None until it is called.

    Raises
    ------
    ValueError
        If ``num_replicas`` or ``rank`` is None and no process group is
        initialized, if ``num_replicas < 1``, ``rank < 0`` or
        ``rank >= num_replicas``, if ``random_state`` is not an int, if
        ``num_samples < num_replicas``, and for the invalid arguments
        :class:`WeightedClassSampler` refuses.

    See Also
    --------
    WeightedClassSampler : The single-process sampler sharded here.
    shard_bounds : The rule splitting the global stream among the ranks.
    torch.utils.data.distributed.DistributedSampler : PyTorch's unweighted
        distributed sampler, whose ``set_epoch`` convention this follows.

    Notes
    -----
    With :math:`R` ranks, :math:`T = R \lfloor n / R \rfloor` for a global
    stream :math:`s_1, \dots, s_n` of independent draws with

    .. math::

        P(s_j = i) = \frac{w_{y_i}}{\sum_c N_c w_c},

    rank :math:`r` receives :math:`s_{rT/R + 1}, \dots, s_{(r + 1)T/R}`. The
    ranks' shares are disjoint parts of one stream whose union is its first
    :math:`T` draws; since the draws are independent, every rank's share,
    and the union of the ranks' batches of one step, has the class
    probabilities :math:`N_c w_c / \sum_{c'} N_{c'} w_{c'}`.

    **Epochs.** After :meth:`set_epoch` ``(e)``, the stream is that of a
    :class:`WeightedClassSampler` seeded with
    ``numpy.random.default_rng([random_state, e])``; iterating again without
    a new ``set_epoch`` repeats it. Without ``set_epoch``, successive
    ``iter`` calls draw successive fresh streams from the generator seeded
    with ``random_state``.

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.sampling import (
    ...     DistributedWeightedClassSampler, WeightedClassSampler)
    >>> labels = np.array(["a"] * 91 + ["b"] * 10)
    >>> shares = [
    ...     DistributedWeightedClassSampler(
    ...         labels, "balanced", num_replicas=2, rank=r, random_state=0)
    ...     for r in range(2)
    ... ]
    >>> shares[0].total_size, len(shares[0]), len(shares[1])  # 101 -> 100
    (100, 50, 50)
    >>> union = list(shares[0]) + list(shares[1])
    >>> union == list(WeightedClassSampler(labels, random_state=0))[:100]
    True
    >>> shares[0].set_epoch(1)  # at the start of every epoch, on every rank
    """

    def __init__(
        self,
        labels: ArrayLike | torch.Tensor,
        class_weights: Literal["balanced"] | ArrayLike = "balanced",
        *,
        num_replicas: int | None = None,
        rank: int | None = None,
        num_samples: int | None = None,
        random_state: int = 0,
    ) -> None:
        super().__init__()
        array = _labels_to_numpy(labels)
        self.num_replicas, self.rank = _resolve_replicas(num_replicas, rank)
        self.random_state = _check_seed(random_state)
        self.class_weights = class_weights
        self._inner = WeightedClassSampler(
            array,
            class_weights,
            num_samples=num_samples,
            random_state=self.random_state,
        )
        self.classes_ = self._inner.classes_
        self.class_counts_ = self._inner.class_counts_
        self.class_weights_ = self._inner.class_weights_
        self.sample_weights_ = self._inner.sample_weights_
        self.num_samples = self._inner.num_samples
        if self.num_samples < self.num_replicas:
            raise ValueError(
                f"num_samples must be at least num_replicas, so that every rank "
                f"draws at least one index per epoch; got num_samples="
                f"{self.num_samples} and num_replicas={self.num_replicas}."
            )
        self.total_size = self.num_samples - self.num_samples % self.num_replicas
        self._start, self._stop = shard_bounds(
            self.total_size, self.num_replicas, self.rank
        )
        self.epoch: int | None = None

    def __len__(self) -> int:
        """Number of indices per epoch on this rank.

        Returns
        -------
        n : int
            ``total_size // num_replicas``, the same on every rank.
        """
        return self._stop - self._start

    def __iter__(self) -> Iterator[int]:
        """Draw an epoch: this rank's share of the global stream.

        Returns
        -------
        indices : iterator of int
            ``len(self)`` dataset indices drawn with replacement.
        """
        inner = _epoch_view(self._inner, self.random_state, self.epoch)
        stream = list(inner)
        return iter(stream[self._start : self._stop])
