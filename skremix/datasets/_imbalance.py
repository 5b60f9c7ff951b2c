"""Synthetic class imbalance: target profiles, subsampling and balanced splits."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "imbalance_kind",
    "imbalance_profile",
    "make_imbalanced",
    "balanced_split",
]

_KINDS = ("step", "long_tailed")

# Relative slack used when truncating a real-valued class count to an integer,
# so that e.g. ``49 * 49 ** -1.0 == 0.9999999999999999`` still counts as 1.
_ROUND_OFF = 1e-12


def _floor(value: float) -> int:
    """Truncate a non-negative count, forgiving floating-point round-off."""
    return int(math.floor(value * (1.0 + _ROUND_OFF)))


def imbalance_profile(
    n_max: int,
    n_classes: int,
    kind: str = "step",
    ratio: float = 10.0,
    mu: float = 0.5,
) -> np.ndarray:
    """Per-class sample counts of a step or long-tailed imbalance profile.

    Follows the construction of Cao et al. (2019), used to build CIFAR-10-LT,
    CIFAR-100-LT and their step-imbalanced counterparts. Class ``0`` is the
    largest class; the imbalance ratio is ``counts[0] / counts[-1]`` (up to the
    truncation to integers).

    Parameters
    ----------
    n_max : int
        Number of samples of the largest class (class ``0``), at least 1.
    n_classes : int
        Number of classes ``C``, at least 2.
    kind : {"step", "long_tailed"}, default="step"
        Shape of the profile (see Notes).
    ratio : float, default=10.0
        Imbalance ratio ``rho = n_max / n_min``, at least 1.
    mu : float, default=0.5
        Step profile only: fraction of minority classes, in ``(0, 1)``.
        Ignored for ``kind="long_tailed"``.

    Returns
    -------
    counts : ndarray of shape (n_classes,), dtype int64
        Target number of samples of each class, non-increasing, all >= 1.

    Raises
    ------
    ValueError
        If an argument is out of range, or if ``n_max / ratio < 1`` so that the
        smallest class would be empty.

    Notes
    -----
    With ``C`` classes indexed ``c = 0, ..., C - 1`` and imbalance ratio
    :math:`\\rho`:

    * long-tailed (exponential) profile:
      :math:`n_c = \\lfloor n_{\\max} \\, \\rho^{-c / (C - 1)} \\rfloor`;
    * step profile: the first :math:`C - \\operatorname{round}(\\mu C)` classes
      keep :math:`n_{\\max}` samples and the remaining
      :math:`\\operatorname{round}(\\mu C)` (minority) classes get
      :math:`\\lfloor n_{\\max} / \\rho \\rfloor`. ``round`` is Python's
      (round half to even), so ``mu=0.5`` with ``C=5`` gives 2 minority classes.
      ``mu`` must leave at least one majority and one minority class.

    The truncation forgives floating-point round-off (a relative slack of
    ``1e-12``), so that an exactly integer count such as ``49 / 49`` is not
    truncated to 0; for the standard benchmarks (``n_max`` of 5000 or 500,
    ``ratio`` in 10, 20, 50, 100, 200) the counts are those of Cao et al.'s code,
    e.g. CIFAR-10-LT with ``ratio=100``:
    ``[5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]``.

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS 2019.
    .. [2] M. Buda, A. Maki and M. A. Mazurowski, "A systematic study of the
       class imbalance problem in convolutional neural networks", Neural
       Networks 106, 2018 (step imbalance with minority fraction ``mu``).

    Examples
    --------
    >>> from skremix.datasets import imbalance_profile
    >>> imbalance_profile(100, 4, kind="step", ratio=10)
    array([100, 100,  10,  10])
    >>> imbalance_profile(100, 3, kind="long_tailed", ratio=100)
    array([100,  10,   1])
    >>> imbalance_profile(5000, 10, kind="long_tailed", ratio=100).tolist()
    [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    """
    if not isinstance(n_max, numbers.Integral) or isinstance(n_max, bool) or n_max < 1:
        raise ValueError(f"n_max must be an integer >= 1, got {n_max!r}.")
    if (
        not isinstance(n_classes, numbers.Integral)
        or isinstance(n_classes, bool)
        or n_classes < 2
    ):
        raise ValueError(
            f"n_classes must be an integer >= 2 (an imbalance needs at least "
            f"two classes), got {n_classes!r}."
        )
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}.")
    if not isinstance(ratio, numbers.Real) or not ratio >= 1:
        raise ValueError(f"ratio (n_max / n_min) must be a number >= 1, got {ratio!r}.")
    n_max = int(n_max)
    n_classes = int(n_classes)
    ratio = float(ratio)
    if not math.isfinite(ratio):
        raise ValueError(f"ratio must be finite, got {ratio!r}.")
    n_min = _floor(n_max / ratio)
    if n_min < 1:
        raise ValueError(
            f"ratio={ratio:g} cannot be imposed with n_max={n_max}: the smallest "
            f"class would get int({n_max} / {ratio:g}) = 0 samples. Use a ratio "
            f"<= {n_max} or a larger n_max."
        )

    if kind == "long_tailed":
        exponents = np.arange(n_classes) / (n_classes - 1)
        counts = [_floor(n_max * ratio ** (-e)) for e in exponents]
    else:
        if not isinstance(mu, numbers.Real) or not 0 < mu < 1:
            raise ValueError(
                f"mu (fraction of minority classes) must be in (0, 1), got {mu!r}."
            )
        n_minority = round(mu * n_classes)
        if not 1 <= n_minority <= n_classes - 1:
            raise ValueError(
                f"mu={mu:g} with n_classes={n_classes} gives round(mu * n_classes)"
                f" = {n_minority} minority classes; a step profile needs between "
                f"1 and {n_classes - 1}."
            )
        counts = [n_max] * (n_classes - n_minority) + [n_min] * n_minority
    return np.asarray(counts, dtype=np.int64)


def imbalance_kind(class_counts: Any, tolerance: float = 0.1) -> str:
    """Tell a step profile from a long-tailed one, from the class counts.

    A profile is ``"step"`` when every class's log-count lies within
    ``tolerance`` of the log-range from either end, i.e. ``N_c`` is near
    ``max N`` or near ``min N`` on a log scale, and ``"long_tailed"``
    otherwise (some class sits in between). Two classes, or equal counts,
    are a step. Classes with no sample are ignored. The skremix methods
    whose papers give different settings for the two profiles (MFW's
    ``beta``, RSG's ``frequent_ratio`` and ``transfer_strength``) use this
    when their parameter is ``'auto'``.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Training count of every class.
    tolerance : float, default=0.1
        Allowed distance from an end, as a fraction of
        ``log(max N / min N)``.

    Returns
    -------
    kind : {"step", "long_tailed"}
        The profile of the counts.

    Examples
    --------
    >>> from skremix.datasets import imbalance_kind, imbalance_profile
    >>> imbalance_kind(imbalance_profile(500, 10, "step", ratio=100))
    'step'
    >>> imbalance_kind(imbalance_profile(500, 10, "long_tailed", ratio=100))
    'long_tailed'
    >>> imbalance_kind([300, 290, 12, 11, 10])  # two levels, a little noise
    'step'
    """
    counts = np.asarray(class_counts, dtype=np.float64).ravel()
    counts = counts[counts > 0]
    if counts.size <= 2 or counts.min() == counts.max():
        return "step"
    logs = np.log(counts)
    low, high = logs.min(), logs.max()
    slack = tolerance * (high - low)
    near_end = (logs <= low + slack) | (logs >= high - slack)
    return "step" if bool(near_end.all()) else "long_tailed"


def _take(data: Any, indices: np.ndarray) -> Any:
    """Index ``data`` with an integer array, keeping its type when possible."""
    if isinstance(data, np.ndarray):
        return data[indices]
    if hasattr(data, "iloc"):  # pandas Series / DataFrame
        return data.iloc[indices]
    if hasattr(data, "shape") and hasattr(data, "__getitem__"):
        # array-likes supporting integer-array indexing (torch tensors, ...)
        return data[indices]
    return np.asarray(data)[indices]


def _num_samples(data: Any) -> int:
    shape = getattr(data, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(data)


def _check_labels(X: Any, y: Any) -> np.ndarray:
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be 1-D, got an array of shape {y_arr.shape}.")
    n_x = _num_samples(X)
    if n_x != y_arr.shape[0]:
        raise ValueError(
            f"X and y have inconsistent numbers of samples: {n_x} != {y_arr.shape[0]}."
        )
    return y_arr


def make_imbalanced(
    X: Any,
    y: Any,
    *,
    kind: str = "step",
    ratio: float = 10.0,
    mu: float = 0.5,
    n_max: int | None = None,
    random_state: int | np.random.RandomState | None = None,
    return_indices: bool = False,
) -> tuple[Any, Any] | tuple[Any, Any, np.ndarray]:
    """Subsample a (roughly balanced) data set to a step or long-tailed profile.

    Classes are taken in the order of ``np.unique(y)``; the ``c``-th class keeps
    ``imbalance_profile(n_max, C, kind, ratio, mu)[c]`` samples drawn uniformly
    without replacement, so the first class is the largest.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples, of any dimensionality (tabular rows or ``(n, C, H, W)``
        images). Anything indexable by an integer array and having a ``shape``
        (numpy arrays, torch tensors) is indexed directly and keeps its type;
        pandas objects are indexed with ``.iloc``; other inputs (lists) are
        converted with ``np.asarray``.
    y : array-like of shape (n_samples,)
        Class labels. Indexed like ``X``.
    kind : {"step", "long_tailed"}, default="step"
        Imbalance profile, see :func:`imbalance_profile`.
    ratio : float, default=10.0
        Imbalance ratio ``n_max / n_min``, at least 1.
    mu : float, default=0.5
        Fraction of minority classes of the step profile.
    n_max : int, default=None
        Samples kept in the largest class. Defaults to the smallest class count
        in ``y``, so that every class can supply its target count.
    random_state : int, RandomState instance or None, default=None
        Seed of the subsampling.
    return_indices : bool, default=False
        Also return the (sorted) indices of the kept samples into ``X``.

    Returns
    -------
    X_sub : same type as X, shape (n_kept, ...)
        Kept samples, in their original relative order.
    y_sub : same type as y, shape (n_kept,)
        Their labels.
    indices : ndarray of shape (n_kept,), dtype int64
        Sorted indices of the kept samples; only if ``return_indices=True``.

    Raises
    ------
    ValueError
        If ``y`` holds fewer than two classes, if an argument is out of range
        (see :func:`imbalance_profile`), or if a class has fewer samples than
        its target count.

    Notes
    -----
    The long-tailed CIFAR benchmarks of Cao et al. (2019) are obtained from the
    full training sets with ``n_max=5000`` (CIFAR-10) or ``n_max=500``
    (CIFAR-100)::

        X, y = load_cifar(root, "cifar10", train=True)
        X_lt, y_lt = make_imbalanced(X, y, kind="long_tailed", ratio=100,
                                     n_max=5000, random_state=0)

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.datasets import make_imbalanced
    >>> X = np.arange(40, dtype=float).reshape(20, 2)
    >>> y = np.repeat([0, 1], 10)
    >>> X_sub, y_sub = make_imbalanced(X, y, ratio=5, random_state=0)
    >>> np.bincount(y_sub)
    array([10,  2])
    >>> X_sub.shape
    (12, 2)
    """
    y_arr = _check_labels(X, y)
    classes, y_idx, class_counts = np.unique(
        y_arr, return_inverse=True, return_counts=True
    )
    if classes.shape[0] < 2:
        raise ValueError(
            f"y must contain at least two classes to be made imbalanced, got "
            f"{classes.shape[0]}."
        )
    if n_max is None:
        n_max = int(class_counts.min())
    targets = imbalance_profile(n_max, classes.shape[0], kind=kind, ratio=ratio, mu=mu)
    short = [
        f"class {cls!r} has {have} samples but needs {need}"
        for cls, have, need in zip(classes.tolist(), class_counts, targets, strict=True)
        if have < need
    ]
    if short:
        raise ValueError(
            "Not enough samples to impose the imbalance profile "
            f"{targets.tolist()} (classes in np.unique(y) order): "
            + "; ".join(short)
            + ". Lower n_max."
        )
    rng = check_random_state(random_state)
    chosen = [
        rng.choice(np.flatnonzero(y_idx == c), size=int(n_c), replace=False)
        for c, n_c in enumerate(targets)
    ]
    indices = np.sort(np.concatenate(chosen)).astype(np.int64)
    X_sub, y_sub = _take(X, indices), _take(y, indices)
    if return_indices:
        return X_sub, y_sub, indices
    return X_sub, y_sub


def balanced_split(
    X: Any,
    y: Any,
    test_per_class: int,
    random_state: int | np.random.RandomState | None = None,
) -> tuple[Any, Any, Any, Any]:
    """Split off a class-balanced test set with ``test_per_class`` per class.

    The imbalanced-learning literature evaluates on balanced test sets; this
    draws exactly ``test_per_class`` samples of every class (uniformly, without
    replacement) for testing and keeps all remaining samples for training.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples, indexed as in :func:`make_imbalanced` (type kept).
    y : array-like of shape (n_samples,)
        Class labels.
    test_per_class : int
        Number of test samples of each class, at least 1.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Returns
    -------
    X_train, X_test : same type as X
        Training and test samples, each in the original relative order.
    y_train, y_test : same type as y
        Their labels.

    Raises
    ------
    ValueError
        If a class has ``test_per_class`` samples or fewer (it would leave no
        training sample), or ``test_per_class < 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.datasets import balanced_split
    >>> X = np.zeros((30, 2))
    >>> y = np.array([0] * 20 + [1] * 10)
    >>> X_tr, X_te, y_tr, y_te = balanced_split(X, y, 5, random_state=0)
    >>> np.bincount(y_te), np.bincount(y_tr)
    (array([5, 5]), array([15,  5]))
    """
    if (
        not isinstance(test_per_class, numbers.Integral)
        or isinstance(test_per_class, bool)
        or test_per_class < 1
    ):
        raise ValueError(
            f"test_per_class must be an integer >= 1, got {test_per_class!r}."
        )
    y_arr = _check_labels(X, y)
    classes, y_idx, class_counts = np.unique(
        y_arr, return_inverse=True, return_counts=True
    )
    short = [
        f"class {cls!r} has {have}"
        for cls, have in zip(classes.tolist(), class_counts, strict=True)
        if have <= test_per_class
    ]
    if short:
        raise ValueError(
            f"Every class needs more than test_per_class={test_per_class} "
            "samples to leave at least one for training: " + "; ".join(short) + "."
        )
    rng = check_random_state(random_state)
    test_mask = np.zeros(y_arr.shape[0], dtype=bool)
    for c in range(classes.shape[0]):
        test_mask[
            rng.choice(np.flatnonzero(y_idx == c), size=test_per_class, replace=False)
        ] = True
    train_idx = np.flatnonzero(~test_mask)
    test_idx = np.flatnonzero(test_mask)
    return (
        _take(X, train_idx),
        _take(X, test_idx),
        _take(y, train_idx),
        _take(y, test_idx),
    )
