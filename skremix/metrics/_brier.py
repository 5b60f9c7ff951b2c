"""The balanced Brier score: the mean over classes of each class's Brier score."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_array, column_or_1d

__all__ = ["balanced_brier_score"]


def balanced_brier_score(
    y_true: Any,
    y_proba: Any,
    *,
    labels: Any = None,
    scale_by_half: bool | str = "auto",
) -> float:
    """Balanced (class-averaged) multi-class Brier score.

    The squared error between the predicted probability vector and the one-hot
    true label, averaged within each class and then across classes, so that
    every class weighs the same whatever its size. Lower is better: 0 for
    perfect confident predictions, 2 at worst.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, one column per class in sorted ``labels``
        order (as returned by ``predict_proba`` of an estimator with
        ``classes_``). A 1-D array is the probability of the positive class
        (the larger of two labels) of a binary problem and is expanded to the
        two columns ``[1 - p, p]``.
    labels : array-like of shape (n_classes,), default=None
        All class labels, i.e. the columns of ``y_proba`` (sorted internally).
        Defaults to ``np.unique(y_true)``; pass it (e.g. ``estimator.classes_``)
        whenever ``y_true`` may lack a class, otherwise columns and classes do
        not line up.
    scale_by_half : bool or 'auto', default='auto'
        Halve the sum over columns. 'auto' halves when there are two labels:
        the binary convention of Bellinger et al., the per-class mean of
        ``(p_i - y_i)**2`` with ``p_i`` the positive-class probability,
        in ``[0, 1]`` (as scikit-learn's ``brier_score_loss`` does). With
        three or more labels 'auto' keeps the sum over the ``K`` columns,
        the paper's multi-class definition, in ``[0, 2]``.

    Returns
    -------
    score : float
        Balanced Brier score, in ``[0, 2]`` (``[0, 1]`` when halved).

    Raises
    ------
    ValueError
        On inconsistent lengths, a number of columns that differs from the
        number of labels, a 1-D ``y_proba`` without exactly two labels, labels
        in ``y_true`` missing from ``labels``, duplicate labels, or
        probabilities outside ``[0, 1]``.

    Notes
    -----
    With classes :math:`k = 1, \\dots, K`, predicted probabilities
    :math:`p_{ik}` and the set :math:`\\mathcal{C}` of classes present in
    ``y_true``, without halving,

    .. math::

        \\mathrm{BBS} = \\frac{1}{|\\mathcal{C}|} \\sum_{c \\in \\mathcal{C}}
        \\frac{1}{n_c} \\sum_{i : y_i = c} \\sum_{k=1}^{K}
        \\left(p_{ik} - \\mathbb{1}[k = c]\\right)^2 .

    Classes absent from ``y_true`` have no per-class mean and are skipped in
    the average over classes (their columns still enter every sample's
    squared error). On a test set with equally many samples of every class
    the BBS equals the ordinary multi-class Brier score
    (``brier_score_loss(..., scale_by_half=False)``). For two classes the
    sum over both columns is twice ``(p_i - y_i)^2``, hence the halving of
    ``scale_by_half='auto'``: the binary score is then the paper's.

    Rows are not required to sum to one. This implementation follows the
    definition above; the reference binary code released with Bellinger et
    al.'s paper scores the negative-class samples with the wrong term, so its
    numbers can differ from these in the binary case.

    References
    ----------
    .. [1] C. Bellinger, R. Corizzo and N. Japkowicz, "ReMix Training for
       Calibrated Imbalanced Deep Learning" (the paper in the project's
       ``shared/papers``).
    .. [2] G. W. Brier, "Verification of forecasts expressed in terms of
       probability", Monthly Weather Review 78(1), 1950.

    Examples
    --------
    >>> from skremix.metrics import balanced_brier_score
    >>> balanced_brier_score([0, 0, 0, 1], [[1, 0], [1, 0], [1, 0], [1, 0]])
    0.5
    >>> balanced_brier_score([0, 1], [0.0, 1.0])  # 1-D: P(class 1)
    0.0
    >>> balanced_brier_score([0, 1], [1.0, 0.0])  # confidently wrong
    1.0
    >>> balanced_brier_score([0, 1], [1.0, 0.0], scale_by_half=False)
    2.0
    """
    if not (isinstance(scale_by_half, bool) or scale_by_half == "auto"):
        raise ValueError(
            f"scale_by_half must be True, False or 'auto', got {scale_by_half!r}."
        )
    y_true = column_or_1d(y_true)
    y_proba = check_array(
        y_proba, ensure_2d=False, dtype=np.float64, input_name="y_proba"
    )
    if y_proba.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"y_true and y_proba have inconsistent numbers of samples: "
            f"{y_true.shape[0]} != {y_proba.shape[0]}."
        )
    if labels is None:
        labels = np.unique(y_true)
    else:
        labels = column_or_1d(np.asarray(labels))
        if np.unique(labels).shape[0] != labels.shape[0]:
            raise ValueError(f"labels contains duplicates: {labels!r}.")
        labels = np.sort(labels)
    unknown = np.setdiff1d(np.unique(y_true), labels)
    if unknown.size:
        raise ValueError(
            f"y_true contains labels {unknown.tolist()} that are not in labels "
            f"{labels.tolist()}."
        )

    if y_proba.ndim == 1:
        if labels.shape[0] != 2:
            raise ValueError(
                "A 1-D y_proba (probability of the positive class) needs exactly "
                f"two labels, got {labels.shape[0]} ({labels.tolist()}); pass "
                "labels=[negative, positive] or a 2-D y_proba."
            )
        y_proba = np.column_stack([1.0 - y_proba, y_proba])
    elif y_proba.ndim != 2:
        raise ValueError(f"y_proba must be 1-D or 2-D, got shape {y_proba.shape}.")
    if y_proba.shape[1] != labels.shape[0]:
        raise ValueError(
            f"y_proba has {y_proba.shape[1]} columns but there are "
            f"{labels.shape[0]} labels ({labels.tolist()}); columns must match "
            "the sorted labels, pass labels=estimator.classes_."
        )
    if y_proba.min() < 0 or y_proba.max() > 1:
        raise ValueError("y_proba contains values outside [0, 1].")

    onehot = (y_true[:, None] == labels[None, :]).astype(np.float64)
    per_sample = ((y_proba - onehot) ** 2).sum(axis=1)
    class_index = onehot.argmax(axis=1)
    present = np.unique(class_index)
    per_class = [per_sample[class_index == c].mean() for c in present]
    half = labels.shape[0] == 2 if scale_by_half == "auto" else scale_by_half
    return float(np.mean(per_class)) * (0.5 if half else 1.0)
