"""PyTorch samplers for class-imbalanced training.

This module is part of the pure :mod:`skremix.sampling` layer: it depends on
PyTorch and NumPy only.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.utils import check_random_state
from torch.utils.data import Sampler

from skremix.sampling._weights import sample_weights_from_class_weights

__all__ = ["ClassBalancedBatchSampler", "WeightedClassSampler"]

_MODES = ("global", "within_batch")


def _labels_to_numpy(labels: ArrayLike | torch.Tensor) -> np.ndarray:
    """Return ``labels`` as a one-dimensional NumPy array (validated)."""
    if isinstance(labels, torch.Tensor):
        array = labels.detach().cpu().numpy()
    else:
        array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be one-dimensional; got shape {array.shape}.")
    if array.shape[0] < 1:
        raise ValueError("labels must contain at least one sample.")
    return array


def _encode(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(classes, encoded, counts)`` for a one-dimensional label array."""
    classes, encoded, counts = np.unique(
        labels, return_inverse=True, return_counts=True
    )
    return classes, encoded.reshape(-1).astype(np.intp), counts.astype(np.int64)


def _check_positive_int(value: object, name: str) -> int:
    """Validate that ``value`` is an integer >= 1 and return it as ``int``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {name}={value!r}.")
    return int(value)


def _make_rng(
    random_state: int | np.random.RandomState | np.random.Generator | None,
) -> np.random.Generator:
    """Build the sampler's generator from ``random_state``.

    scikit-learn's convention (:func:`sklearn.utils.check_random_state`): an
    int seeds it, a ``RandomState`` instance or None (numpy's global
    ``RandomState``) gives it a seed drawn from that state. A ``Generator``
    (the estimators pass theirs) is used as is.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        check_random_state(random_state)  # sklearn's range check and message
        return np.random.default_rng(int(random_state))
    try:
        state = check_random_state(random_state)
    except ValueError:
        raise TypeError(
            "random_state must be an int, a numpy.random.RandomState instance, "
            f"a numpy.random.Generator or None; got {type(random_state).__name__}."
        ) from None
    return np.random.default_rng(state.randint(0, 2**32 - 1, dtype=np.uint64))


def _spawn(rng: np.random.Generator) -> np.random.Generator:
    """Draw an independent child generator for one epoch."""
    return np.random.default_rng(rng.integers(0, 2**32, size=4, dtype=np.uint64))


class _PermutationStream:
    """Endless stream over ``values``: concatenated fresh random permutations."""

    def __init__(self, values: np.ndarray, rng: np.random.Generator) -> None:
        self._values = values
        self._rng = rng
        self._buffer = rng.permutation(values)
        self._pos = 0

    def take(self, k: int) -> np.ndarray:
        out = []
        while k > 0:
            if self._pos == self._buffer.shape[0]:
                self._buffer = self._rng.permutation(self._values)
                self._pos = 0
            n = min(k, self._buffer.shape[0] - self._pos)
            out.append(self._buffer[self._pos : self._pos + n])
            self._pos += n
            k -= n
        return np.concatenate(out) if len(out) != 1 else out[0]


class ClassBalancedBatchSampler(Sampler[list[int]]):
    r"""Batch sampler giving every class the same share of each batch.

    Two modes. ``"within_batch"`` is the re-sampling step of ReMix
    (Bellinger et al., Algorithm 1): a mini-batch is drawn in the standard
    way, then re-sampled with replacement to the same share of each class
    *present in it*. ``"global"`` is skremix's extension: every batch holds
    ``batch_size // C`` samples of each of the ``C`` classes, and the
    ``batch_size % C`` remaining slots go to distinct classes drawn
    uniformly at random for that batch. The batch size is therefore
    exactly ``batch_size`` and class frequencies are uniform in expectation.
    Samples of a class are drawn from that class's indices over the *whole*
    label set, so a rare class is present in every batch whenever
    ``batch_size >= C``. It can be used as
    ``torch.utils.data.DataLoader(dataset, batch_sampler=sampler)``.

    Parameters
    ----------
    labels : array-like or torch.Tensor of shape (n_samples,)
        Label of every sample of the dataset (integers, strings, ...). A
        NumPy array, list, pandas Series or tensor is accepted.
    batch_size : int
        Number of indices in every batch (>= 1).
    n_batches : int or None, default=None
        Number of batches per epoch (per call to ``iter``). ``None`` means
        ``ceil(n_samples / batch_size)``, so that one epoch draws about as many
        samples as one pass over the data.
    replacement : bool, default=True
        How a class's samples are drawn. ``True``: independently and
        uniformly with replacement. ``False``: from a stream of random
        permutations of the class's indices, reshuffled whenever exhausted and
        restarted at every epoch, so that no sample of a class repeats before
        all the class's samples have been used. In ``"within_batch"`` mode
        this applies to the plain random batch, i.e. a stream of permutations
        of all indices, as with ``DataLoader(shuffle=True)``; the re-balancing
        step is always with replacement.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the internal :class:`numpy.random.Generator`, created once at
        construction, as scikit-learn's ``random_state`` does: an int is the
        seed; a ``RandomState`` instance, or None (numpy's global random
        state, as in scikit-learn), gives a seed drawn from it at
        construction. A ``Generator`` is used as is (shared state). Each
        epoch draws fresh batches, so epochs differ, but two samplers built
        with the same int yield the same sequence of epochs. After
        construction, the global NumPy and PyTorch random states are never
        used.
    mode : {"global", "within_batch"}, default="global"
        ``"global"``: every class in every batch, drawn from the whole
        label set (an extension of the paper). ``"within_batch"``: the
        paper's Algorithm 1 (and the official ReMix code): a plain random
        batch of ``batch_size`` indices is drawn from the data (without
        replacement across the epoch when ``replacement=False``, as a
        shuffled DataLoader does), then re-balanced among the classes
        *present in that batch* only, by re-sampling with replacement within
        the batch so that each present class gets an equal share; classes
        absent from the drawn batch stay absent.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted distinct labels.
    class_indices_ : list of ndarray of int64
        ``class_indices_[c]`` holds the (sorted) dataset indices of class
        ``classes_[c]``.
    class_counts_ : ndarray of shape (n_classes,)
        Number of samples of each class.
    n_batches : int
        Number of batches per epoch (the resolved default).

    Raises
    ------
    ValueError
        If ``labels`` is not one-dimensional, is empty or holds a single class,
        if ``batch_size`` or ``n_batches`` is not an integer >= 1, or if
        ``mode`` is unknown.

    Warns
    -----
    UserWarning
        If ``batch_size < n_classes``: not every class fits in a batch, and
        each batch then holds one sample of each of ``batch_size`` distinct
        classes drawn at random.

    Notes
    -----
    **Global mode.** With :math:`B` the batch size and :math:`C` the number of
    classes, write :math:`B = qC + r` with :math:`0 \le r < C`. For each batch
    a subset :math:`R` of :math:`r` classes is drawn uniformly without
    replacement and class :math:`c` receives

    .. math::

        k_c = q + \mathbb{1}[c \in R], \qquad \sum_c k_c = B, \qquad
        \mathbb{E}[k_c] = q + \frac{r}{C} = \frac{B}{C}.

    Each of the :math:`k_c` slots is filled with an index of class :math:`c`
    drawn uniformly (probability :math:`1/N_c` each with ``replacement=True``).
    When :math:`B < C`, :math:`q = 0` and :math:`r = B`: the batch holds one
    sample of each of :math:`B` distinct random classes. The order of the
    indices within a batch is shuffled.

    **Within-batch mode.** A batch :math:`S` of :math:`B` indices is drawn
    uniformly from the data. With :math:`P` the set of the :math:`m` classes
    present in :math:`S`, the same rule as above (with :math:`m` in place of
    :math:`C`) gives each present class :math:`\lfloor B/m \rfloor` or
    :math:`\lceil B/m \rceil` slots, filled by drawing with replacement among
    the members of :math:`S` of that class. A class of prior :math:`\pi_c`
    is therefore present only with probability :math:`1 - (1 - \pi_c)^B`.

    References
    ----------
    .. [1] C. Bellinger, R. Corizzo and N. Japkowicz, "ReMix: Calibrated
       Resampling for Class Imbalance in Deep Learning", arXiv:2012.02312,
       2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.sampling import ClassBalancedBatchSampler
    >>> labels = np.array([0] * 95 + [1] * 5)
    >>> sampler = ClassBalancedBatchSampler(labels, batch_size=8, random_state=0)
    >>> len(sampler)  # ceil(100 / 8)
    13
    >>> batch = next(iter(sampler))
    >>> len(batch), np.bincount(labels[batch]).tolist()
    (8, [4, 4])

    It plugs into a :class:`~torch.utils.data.DataLoader`:

    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> dataset = TensorDataset(torch.randn(100, 3), torch.as_tensor(labels))
    >>> loader = DataLoader(dataset, batch_sampler=sampler)
    >>> xb, yb = next(iter(loader))
    >>> tuple(xb.shape), yb.sum().item()
    ((8, 3), 4)
    """

    def __init__(
        self,
        labels: ArrayLike | torch.Tensor,
        batch_size: int,
        *,
        n_batches: int | None = None,
        replacement: bool = True,
        random_state: int | np.random.Generator | None = None,
        mode: Literal["global", "within_batch"] = "global",
    ) -> None:
        super().__init__()
        array = _labels_to_numpy(labels)
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got mode={mode!r}.")
        self.mode = mode
        self.replacement = bool(replacement)
        self.random_state = random_state

        self.classes_, self._encoded, self.class_counts_ = _encode(array)
        n_classes = self.classes_.shape[0]
        if n_classes < 2:
            raise ValueError(
                f"labels must contain at least two distinct classes; got {n_classes}."
            )
        order = np.argsort(self._encoded, kind="stable").astype(np.int64)
        self._starts = np.concatenate(([0], np.cumsum(self.class_counts_)[:-1]))
        self._sorted_indices = order
        self.class_indices_ = np.split(order, np.cumsum(self.class_counts_)[:-1])

        n_samples = array.shape[0]
        if n_batches is None:
            n_batches = math.ceil(n_samples / self.batch_size)
        self.n_batches = _check_positive_int(n_batches, "n_batches")

        if self.batch_size < n_classes:
            warnings.warn(
                f"batch_size={self.batch_size} is smaller than the number of "
                f"classes ({n_classes}): not every class fits in a batch. Each "
                "batch will hold one sample of each of "
                f"{self.batch_size} distinct classes drawn at random.",
                UserWarning,
                stacklevel=2,
            )
        self._rng = _make_rng(random_state)

    def __len__(self) -> int:
        """Number of batches per epoch.

        Returns
        -------
        n_batches : int
        """
        return self.n_batches

    def __iter__(self) -> Iterator[list[int]]:
        """Draw a new epoch of batches.

        The epoch's random generator is derived from the sampler's generator
        when ``iter`` is called, so successive epochs differ and the sequence
        of epochs is reproducible.

        Returns
        -------
        batches : iterator of list of int
            ``n_batches`` lists of ``batch_size`` dataset indices.
        """
        rng = _spawn(self._rng)
        if self.mode == "global":
            return self._iter_global(rng)
        return self._iter_within_batch(rng)

    # -- helpers -----------------------------------------------------------

    def _class_quota(self, n_present: int, rng: np.random.Generator) -> np.ndarray:
        """Slots per class: ``B // m`` each plus one for ``B % m`` random ones."""
        q, r = divmod(self.batch_size, n_present)
        quota = np.full(n_present, q, dtype=np.int64)
        if r:
            quota[rng.choice(n_present, size=r, replace=False)] += 1
        return quota

    def _iter_global(self, rng: np.random.Generator) -> Iterator[list[int]]:
        n_classes = self.classes_.shape[0]
        streams = None
        if not self.replacement:
            streams = [_PermutationStream(idx, rng) for idx in self.class_indices_]
        for _ in range(self.n_batches):
            quota = self._class_quota(n_classes, rng)
            if streams is None:
                slot_class = np.repeat(np.arange(n_classes), quota)
                offsets = rng.integers(0, self.class_counts_[slot_class])
                batch = self._sorted_indices[self._starts[slot_class] + offsets]
            else:
                batch = np.concatenate(
                    [streams[c].take(int(k)) for c, k in enumerate(quota) if k]
                )
            yield rng.permutation(batch).tolist()

    def _iter_within_batch(self, rng: np.random.Generator) -> Iterator[list[int]]:
        n_samples = self._encoded.shape[0]
        stream = None
        if not self.replacement:
            stream = _PermutationStream(np.arange(n_samples, dtype=np.int64), rng)
        for _ in range(self.n_batches):
            if stream is None:
                drawn = rng.integers(0, n_samples, size=self.batch_size)
            else:
                drawn = stream.take(self.batch_size)
            drawn_classes = self._encoded[drawn]
            order = np.argsort(drawn_classes, kind="stable")
            members = drawn[order]
            _, starts, counts = np.unique(
                drawn_classes[order], return_index=True, return_counts=True
            )
            quota = self._class_quota(counts.shape[0], rng)
            slot_class = np.repeat(np.arange(counts.shape[0]), quota)
            offsets = rng.integers(0, counts[slot_class])
            batch = members[starts[slot_class] + offsets]
            yield rng.permutation(batch).tolist()


class WeightedClassSampler(Sampler[int]):
    r"""Sample indices with probability proportional to their class weight.

    The re-sampling (RS) and deferred re-sampling (DRS) schemes of Cao et al.
    draw training samples with replacement, each with probability proportional
    to the weight of its class. Use as
    ``DataLoader(dataset, batch_size=..., sampler=sampler)``.

    Parameters
    ----------
    labels : array-like or torch.Tensor of shape (n_samples,)
        Label of every sample of the dataset.
    class_weights : "balanced" or array-like of shape (n_classes,), default="balanced"
        Weight of each class, aligned with ``numpy.unique(labels)`` order
        (e.g. from :func:`~skremix.sampling.effective_number_weights`).
        ``"balanced"`` uses :math:`1 / N_c`, so that every class is drawn
        equally often.
    num_samples : int or None, default=None
        Number of indices per epoch; ``None`` means ``len(labels)``.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the internal :class:`numpy.random.Generator`, created at
        construction, as in :class:`ClassBalancedBatchSampler`. Each epoch is
        re-drawn from it (epochs differ), and two samplers built with the
        same int yield the same epochs.

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
    num_samples : int
        Resolved number of indices per epoch.

    Raises
    ------
    ValueError
        If ``labels`` is empty or not one-dimensional, if ``class_weights``
        has the wrong length, negative or non-finite values or gives every
        sample weight zero, or if ``num_samples`` is not an integer >= 1.

    Notes
    -----
    Sample :math:`i` of class :math:`y_i` is drawn, independently for each of
    the ``num_samples`` draws, with probability

    .. math::

        p_i = \frac{w_{y_i}}{\sum_c N_c w_c},
        \qquad
        P(\text{class } c) = \frac{N_c w_c}{\sum_{c'} N_{c'} w_{c'}} .

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.sampling import WeightedClassSampler
    >>> labels = np.array(["a"] * 90 + ["b"] * 10)
    >>> sampler = WeightedClassSampler(labels, "balanced", random_state=0)
    >>> sampler.class_weights_.round(3).tolist()
    [0.011, 0.1]
    >>> idx = list(sampler)
    >>> len(idx), isinstance(idx[0], int)
    (100, True)
    """

    def __init__(
        self,
        labels: ArrayLike | torch.Tensor,
        class_weights: Literal["balanced"] | ArrayLike = "balanced",
        *,
        num_samples: int | None = None,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        array = _labels_to_numpy(labels)
        self.classes_, encoded, self.class_counts_ = _encode(array)
        if isinstance(class_weights, str):
            if class_weights != "balanced":
                raise ValueError(
                    "class_weights must be 'balanced' or an array of shape "
                    f"(n_classes,); got class_weights={class_weights!r}."
                )
            weights = 1.0 / self.class_counts_.astype(np.float64)
        else:
            weights = np.asarray(class_weights, dtype=np.float64)
            if weights.shape != self.classes_.shape:
                raise ValueError(
                    f"class_weights must have shape ({self.classes_.shape[0]},), "
                    f"one weight per class of np.unique(labels); got shape "
                    f"{weights.shape}."
                )
        self.class_weights_ = weights
        self.sample_weights_ = sample_weights_from_class_weights(encoded, weights)
        if num_samples is None:
            num_samples = array.shape[0]
        self.num_samples = _check_positive_int(num_samples, "num_samples")
        self.class_weights = class_weights
        self.random_state = random_state
        self._rng = _make_rng(random_state)

    def __len__(self) -> int:
        """Number of indices per epoch.

        Returns
        -------
        num_samples : int
        """
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        """Draw a new epoch of indices.

        Returns
        -------
        indices : iterator of int
            ``num_samples`` dataset indices drawn with replacement.
        """
        rng = _spawn(self._rng)
        drawn = rng.choice(
            self.sample_weights_.shape[0],
            size=self.num_samples,
            replace=True,
            p=self.sample_weights_,
        )
        return iter(drawn.tolist())
