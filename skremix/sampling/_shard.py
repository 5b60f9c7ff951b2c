"""How one global batch is split among the ranks of data-parallel training.

Part of the pure :mod:`skremix.sampling` layer. Every rank draws the same
global batches (the same seed on every rank) and keeps its own contiguous
share of each, so that the union over ranks of one step is the global batch
and no position of it is trained twice. The estimators and the distributed
samplers use this one rule.
"""

from __future__ import annotations

import numbers

__all__ = ["shard_bounds"]


def _check_rank(num_replicas, rank):
    for name, value, low in (("num_replicas", num_replicas, 1), ("rank", rank, 0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Integral)
            or value < low
        ):
            raise ValueError(
                f"{name} must be an integer >= {low}; got {name}={value!r}."
            )
    if rank >= num_replicas:
        raise ValueError(
            f"rank must be smaller than num_replicas; got rank={rank} and "
            f"num_replicas={num_replicas}."
        )


def shard_bounds(n, num_replicas, rank):
    """Start and stop of rank ``rank``'s share of a global batch of ``n``.

    The shares are contiguous, in rank order, and as equal as possible: the
    first ``n % num_replicas`` ranks take one more sample
    (:func:`numpy.array_split`'s rule).

    Parameters
    ----------
    n : int
        Size of the global batch.
    num_replicas : int
        Number of ranks (the world size).
    rank : int
        This rank, in ``[0, num_replicas)``.

    Returns
    -------
    start, stop : int
        The share is ``batch[start:stop]``.

    Examples
    --------
    >>> from skremix.sampling import shard_bounds
    >>> [shard_bounds(10, 3, r) for r in range(3)]
    [(0, 4), (4, 7), (7, 10)]
    """
    _check_rank(num_replicas, rank)
    q, r = divmod(int(n), int(num_replicas))
    start = rank * q + min(rank, r)
    return start, start + q + (1 if rank < r else 0)
