"""Expected calibration error and many / medium / few-shot recall.

The binning is that of :func:`sklearn.calibration.calibration_curve`, so that
the two agree bin for bin: ``n_bins`` edges on ``[0, 1]`` (``'uniform'``) or
at the quantiles of the binned values (``'quantile'``, equal-mass bins up to
ties), each value in the bin ``np.searchsorted(edges[1:-1], value)``, i.e.
right-closed bins ``(lo, hi]`` with the first one closed, ``[0, hi]``.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.utils import check_array, column_or_1d
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_consistent_length

__all__ = ["expected_calibration_error", "shot_recall", "calibration_bins"]


def _labels_and_proba(y_true, y_proba, labels):
    """``y_true`` (1-D), ``y_proba`` (n, K) float64 and the sorted labels,
    checked against each other."""
    y_true = column_or_1d(y_true)
    y_proba = check_array(y_proba, ensure_2d=False, dtype=np.float64)
    check_consistent_length(y_true, y_proba)
    labels = np.unique(y_true) if labels is None else np.asarray(labels)
    if len(np.unique(labels)) != len(labels):
        raise ValueError(f"labels contains duplicates: {labels!r}.")
    labels = np.sort(labels)
    if y_proba.ndim == 1:
        if len(labels) != 2:
            raise ValueError(
                "A 1-D y_proba is the positive-class probability of a binary "
                f"problem; got {len(labels)} labels."
            )
        y_proba = np.column_stack([1.0 - y_proba, y_proba])
    if y_proba.shape[1] != len(labels):
        raise ValueError(
            f"y_proba has {y_proba.shape[1]} columns but there are "
            f"{len(labels)} labels; pass labels=estimator.classes_."
        )
    unknown = np.setdiff1d(np.unique(y_true), labels)
    if len(unknown):
        raise ValueError(f"y_true has labels {unknown!r} not in labels {labels!r}.")
    if y_proba.min() < 0 or y_proba.max() > 1:
        raise ValueError("y_proba has values outside [0, 1].")
    return y_true, y_proba, labels


def calibration_bins(values, hits, *, n_bins=15, strategy="uniform"):
    """Per non-empty bin: mean value, mean hit and count.

    Parameters
    ----------
    values : array-like of shape (n_samples,)
        Predicted probabilities (or confidences), in ``[0, 1]``.
    hits : array-like of shape (n_samples,)
        Whether each prediction came true (0 / 1).
    n_bins : int, default=15
        Number of bins.
    strategy : {'uniform', 'quantile'}, default='uniform'
        Equal-width bins on ``[0, 1]`` or bins at the quantiles of
        ``values``, as :func:`sklearn.calibration.calibration_curve`.

    Returns
    -------
    mean_value, mean_hit : ndarray of shape (n_nonempty_bins,)
        The mean predicted probability and the observed frequency of each
        non-empty bin (``calibration_curve``'s ``prob_pred`` and
        ``prob_true``).
    count : ndarray of shape (n_nonempty_bins,)
        The number of samples in each.
    """
    values = np.asarray(values, dtype=np.float64)
    hits = np.asarray(hits, dtype=np.float64)
    if strategy == "quantile":
        edges = np.percentile(values, np.linspace(0, 100, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], values)
    count = np.bincount(ids, minlength=n_bins)
    sum_value = np.bincount(ids, weights=values, minlength=n_bins)
    sum_hit = np.bincount(ids, weights=hits, minlength=n_bins)
    keep = count > 0
    return sum_value[keep] / count[keep], sum_hit[keep] / count[keep], count[keep]


def _binned_gap(values, hits, n_bins, strategy):
    mean_value, mean_hit, count = calibration_bins(
        values, hits, n_bins=n_bins, strategy=strategy
    )
    return float(np.sum(count / count.sum() * np.abs(mean_hit - mean_value)))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_proba": ["array-like"],
        "labels": ["array-like", None],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "strategy": [StrOptions({"uniform", "quantile"})],
        "kind": [StrOptions({"top_label", "classwise"})],
    },
    prefer_skip_nested_validation=True,
)
def expected_calibration_error(
    y_true: Any,
    y_proba: Any,
    *,
    labels: Any = None,
    n_bins: int = 15,
    strategy: str = "uniform",
    kind: str = "top_label",
) -> float:
    """Expected calibration error (ECE), top-label or class-wise.

    The mean gap between confidence and accuracy over bins of predictions,
    each bin weighted by its share of the samples (lower is better, 0 for a
    calibrated model):

    - ``kind='top_label'`` (Guo et al. 2017): the confidence of a sample is
      its largest probability ``max_k p_ik``, its hit whether that class is
      the true one; ``ECE = sum_b n_b / n * |acc_b - conf_b|``;
    - ``kind='classwise'`` (Kull et al. 2019): the same gap of every column
      ``p_ik`` against ``1[y_i = k]``, averaged over the classes, so that a
      rare class counts as much as a frequent one.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, one column per class in sorted ``labels``
        order (``predict_proba``'s); a 1-D array is the positive-class
        probability of a binary problem.
    labels : array-like of shape (n_classes,), default=None
        The classes of the columns; defaults to ``np.unique(y_true)``. Pass
        ``estimator.classes_`` whenever ``y_true`` may lack a class.
    n_bins : int, default=15
        Number of bins (15: Guo et al.'s and MiSLAS' choice).
    strategy : {'uniform', 'quantile'}, default='uniform'
        Equal-width bins on ``[0, 1]`` or equal-mass bins (edges at the
        quantiles of the binned values); the binning of
        :func:`sklearn.calibration.calibration_curve`.
    kind : {'top_label', 'classwise'}, default='top_label'
        Which probabilities are binned (above).

    Returns
    -------
    ece : float
        In ``[0, 1]``.

    See Also
    --------
    sklearn.calibration.calibration_curve : The per-bin frequencies of one
        binary column.
    ReliabilityDisplay : The top-label bins as a figure.

    Examples
    --------
    Confidences 0.9 (right), 0.9 (wrong) and 0.6 (right) in two bins: the bin
    ``(0.5, 1]`` holds all three, accuracy 2/3 against confidence 0.8:

    >>> from skremix.metrics import expected_calibration_error
    >>> y_proba = [[0.9, 0.1], [0.9, 0.1], [0.6, 0.4]]
    >>> round(expected_calibration_error([0, 1, 0], y_proba, n_bins=2), 4)
    0.1333
    """
    y_true, y_proba, labels = _labels_and_proba(y_true, y_proba, labels)
    if kind == "top_label":
        confidence = y_proba.max(axis=1)
        hits = labels[y_proba.argmax(axis=1)] == y_true
        return _binned_gap(confidence, hits, n_bins, strategy)
    gaps = [
        _binned_gap(y_proba[:, k], y_true == label, n_bins, strategy)
        for k, label in enumerate(labels)
    ]
    return float(np.mean(gaps))


@validate_params(
    {
        "y_true": ["array-like"],
        "y_pred": ["array-like"],
        "class_counts": ["array-like"],
        "labels": ["array-like", None],
        "many": [Interval(Real, 0, None, closed="left")],
        "few": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def shot_recall(
    y_true: Any,
    y_pred: Any,
    class_counts: Any,
    *,
    labels: Any = None,
    many: float = 100,
    few: float = 20,
) -> dict[str, float]:
    """Mean recall of the many-, medium- and few-shot classes.

    The long-tail literature's split of the classes by their number of
    *training* samples (Liu et al. 2019, OLTR; reported by LDAM-DRW, BALMS,
    RIDE, MiSLAS): many-shot, more than ``many``; few-shot, fewer than
    ``few``; medium-shot, the others (``few`` to ``many`` inclusive). Each
    group's score is the unweighted mean recall of its classes on the
    evaluation set.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels of the evaluation samples.
    y_pred : array-like of shape (n_samples,)
        Predicted labels.
    class_counts : array-like of shape (n_classes,)
        The number of training samples of each class, in sorted ``labels``
        order (a fitted skremix classifier's ``class_counts_``).
    labels : array-like of shape (n_classes,), default=None
        The classes of ``class_counts``; defaults to ``np.unique(y_true)``.
        Pass ``estimator.classes_``.
    many : float, default=100
        A class with more training samples is many-shot.
    few : float, default=20
        A class with fewer training samples is few-shot.

    Returns
    -------
    recalls : dict
        ``{'many': float, 'medium': float, 'few': float}``, each in
        ``[0, 1]``; NaN for a group without a class, or whose classes are
        all absent from ``y_true``.

    Examples
    --------
    >>> from skremix.metrics import shot_recall
    >>> shot_recall([0, 0, 1, 1, 2, 2], [0, 0, 1, 0, 0, 0], [500, 50, 5])
    {'many': 1.0, 'medium': 0.5, 'few': 0.0}
    """
    y_true = column_or_1d(y_true)
    y_pred = column_or_1d(y_pred)
    check_consistent_length(y_true, y_pred)
    counts = column_or_1d(class_counts).astype(np.float64)
    labels = np.unique(y_true) if labels is None else np.sort(np.asarray(labels))
    if len(counts) != len(labels):
        raise ValueError(
            f"class_counts has {len(counts)} entries but there are "
            f"{len(labels)} labels; pass labels=estimator.classes_."
        )
    if few > many:
        raise ValueError(f"few={few} must not exceed many={many}.")
    unknown = np.setdiff1d(np.unique(y_true), labels)
    if len(unknown):
        raise ValueError(f"y_true has labels {unknown!r} not in labels {labels!r}.")
    groups = {
        "many": counts > many,
        "medium": (counts >= few) & (counts <= many),
        "few": counts < few,
    }
    out = {}
    for name, members in groups.items():
        recalls = [
            float(np.mean(y_pred[y_true == label] == label))
            for label, member in zip(labels, members, strict=True)
            if member and np.any(y_true == label)
        ]
        out[name] = float(np.mean(recalls)) if recalls else float("nan")
    return out
