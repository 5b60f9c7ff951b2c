"""Class weights derived from class counts.

This module is part of the pure :mod:`skremix.sampling` layer: it depends on
NumPy only.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["effective_number_weights", "sample_weights_from_class_weights"]


def effective_number_weights(
    class_counts: ArrayLike, beta: float = 0.9999
) -> np.ndarray:
    r"""Class weights from the effective number of samples of each class.

    Implements the class-balanced weights of Cui et al. (2019), as used by the
    deferred re-weighting (DRW) schedule of Cao et al. (2019): each class is
    weighted by the inverse of its *effective number* of samples, and the
    weights are rescaled so that they sum to the number of classes.

    Parameters
    ----------
    class_counts : array-like of shape (n_classes,)
        Number of training samples of each class. Must be one-dimensional,
        finite and non-negative. A count of ``0`` is treated as ``1``: a class
        absent from the training part (e.g. in a small cross-validation fold)
        gets the weight of a singleton class instead of an infinite weight.
    beta : float, default=0.9999
        Hyper-parameter :math:`\beta \in [0, 1)`. ``beta=0`` gives uniform
        weights (all ones); ``beta -> 1`` approaches inverse-frequency
        weighting.

    Returns
    -------
    weights : ndarray of shape (n_classes,), dtype float64
        Positive, finite class weights with ``weights.sum() == n_classes``
        (up to rounding).

    Raises
    ------
    ValueError
        If ``class_counts`` is not a non-empty one-dimensional array of finite,
        non-negative numbers, or if ``beta`` is not in ``[0, 1)``.

    Notes
    -----
    With :math:`N_c` the number of samples of class :math:`c` (clipped below
    at 1) and :math:`C` the number of classes, the effective number of samples
    is :math:`E_c = (1 - \beta^{N_c}) / (1 - \beta)`, and

    .. math::

        \tilde w_c = \frac{1}{E_c} = \frac{1 - \beta}{1 - \beta^{N_c}},
        \qquad
        w_c = C \, \frac{\tilde w_c}{\sum_{c'} \tilde w_{c'}} .

    For :math:`\beta = 0`, :math:`\tilde w_c = 1` for every class; as
    :math:`\beta \to 1`, :math:`\tilde w_c \to 1 / N_c`. The denominator is
    evaluated as ``-expm1(N_c * log(beta))`` to keep full precision when
    ``beta`` is close to 1.

    References
    ----------
    .. [1] Y. Cui, M. Jia, T.-Y. Lin, Y. Song and S. Belongie, "Class-Balanced
       Loss Based on Effective Number of Samples", CVPR, 2019.
    .. [2] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS, 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.sampling import effective_number_weights
    >>> w = effective_number_weights([100, 10], beta=0.99)
    >>> np.round(w, 4)
    array([0.2621, 1.7379])
    >>> float(w.sum())
    2.0
    >>> effective_number_weights([5, 0, 3], beta=0.0)
    array([1., 1., 1.])
    """
    counts = np.asarray(class_counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(
            "class_counts must be a non-empty one-dimensional array; got shape "
            f"{counts.shape}."
        )
    if counts.dtype.kind not in "biuf":
        raise ValueError(
            f"class_counts must contain numbers; got dtype {counts.dtype}."
        )
    counts = counts.astype(np.float64)
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("class_counts must be finite and non-negative.")
    if (
        isinstance(beta, bool)
        or not isinstance(beta, numbers.Real)
        or not 0.0 <= float(beta) < 1.0
    ):
        raise ValueError(f"beta must be a real number in [0, 1); got beta={beta!r}.")
    beta = float(beta)

    n = np.maximum(counts, 1.0)
    if beta == 0.0:
        raw = np.ones_like(n)
    else:
        # 1 - beta ** n, computed without cancellation for beta close to 1.
        denominator = -np.expm1(n * np.log(beta))
        raw = (1.0 - beta) / denominator
    n_classes = raw.shape[0]
    return raw * (n_classes / raw.sum())


def sample_weights_from_class_weights(
    labels_encoded: ArrayLike, class_weights: ArrayLike
) -> np.ndarray:
    r"""Per-sample sampling probabilities from per-class weights.

    Parameters
    ----------
    labels_encoded : array-like of int, shape (n_samples,)
        Class index of each sample, in ``range(len(class_weights))`` (for
        example the ``return_inverse`` output of :func:`numpy.unique`).
    class_weights : array-like of shape (n_classes,)
        Finite, non-negative weight of each class, aligned with the encoding.

    Returns
    -------
    probabilities : ndarray of shape (n_samples,), dtype float64
        Sampling probability of each sample, proportional to the weight of its
        class and summing to 1.

    Raises
    ------
    ValueError
        If the inputs are malformed, a label is out of range, or every sample
        has weight zero.

    Notes
    -----
    With :math:`y_i` the class of sample :math:`i` and :math:`w_c` the class
    weights,

    .. math::

        p_i = \frac{w_{y_i}}{\sum_j w_{y_j}}
            = \frac{w_{y_i}}{\sum_c N_c w_c},

    so class :math:`c` is drawn with probability :math:`N_c w_c / \sum_{c'}
    N_{c'} w_{c'}`. With :math:`w_c = 1 / N_c` every class is equally likely
    (class-balanced re-sampling).

    References
    ----------
    .. [1] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS, 2019.

    Examples
    --------
    >>> from skremix.sampling import sample_weights_from_class_weights
    >>> sample_weights_from_class_weights([0, 0, 0, 1], [1 / 3, 1.0])
    array([0.16666667, 0.16666667, 0.16666667, 0.5       ])
    """
    y = np.asarray(labels_encoded)
    w = np.asarray(class_weights)
    if y.ndim != 1:
        raise ValueError(
            f"labels_encoded must be one-dimensional; got shape {y.shape}."
        )
    if y.size and y.dtype.kind not in "iu":
        raise ValueError(f"labels_encoded must contain integers; got dtype {y.dtype}.")
    if w.ndim != 1 or w.size == 0 or w.dtype.kind not in "biuf":
        raise ValueError(
            "class_weights must be a non-empty one-dimensional array of numbers."
        )
    w = w.astype(np.float64)
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("class_weights must be finite and non-negative.")
    if y.size == 0:
        raise ValueError("labels_encoded must contain at least one sample.")
    if y.min() < 0 or y.max() >= w.shape[0]:
        raise ValueError(
            f"labels_encoded must lie in [0, {w.shape[0]}); got values in "
            f"[{y.min()}, {y.max()}]."
        )
    p = w[y.astype(np.intp)]
    total = p.sum()
    if not total > 0:
        raise ValueError("The class weights give every sample a weight of zero.")
    return p / total
