"""Scorers for imbalanced classification, for ``scoring=`` arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import get_scorer, make_scorer
from sklearn.utils import column_or_1d

from skremix.metrics._brier import balanced_brier_score

__all__ = [
    "neg_balanced_brier_scorer",
    "geometric_mean_scorer",
    "get_scorers",
]


def neg_balanced_brier_scorer(estimator: Any, X: Any, y_true: Any) -> float:
    """Scorer: minus the balanced Brier score of ``estimator.predict_proba(X)``.

    Negated, like scikit-learn's ``neg_*`` scorers, so that greater is better
    in model selection (``cross_validate``, ``GridSearchCV``, ...).

    Parameters
    ----------
    estimator : fitted classifier
        Must implement ``predict_proba`` and have ``classes_``.
    X : array-like
        Evaluation samples.
    y_true : array-like of shape (n_samples,)
        Their true labels.

    Returns
    -------
    score : float
        ``-balanced_brier_score(y_true, proba, labels=...)``, in ``[-2, 0]``
        (``[-1, 0]`` for two classes, halved as the paper's binary score).

    Notes
    -----
    The columns of ``predict_proba`` are aligned with ``estimator.classes_``
    (passed as ``labels``), so the score is right even when the evaluation
    fold lacks some class. A class seen in ``y_true`` but not in
    ``classes_`` (absent from the training fold) gets probability 0: a zero
    column is inserted for it.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skremix.metrics import neg_balanced_brier_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> -0.2 < neg_balanced_brier_scorer(clf, X, y) <= 0
    True
    """
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = np.asarray(estimator.classes_)
    y_arr = column_or_1d(y_true)
    labels = np.union1d(classes, np.unique(y_arr))
    if labels.shape[0] != classes.shape[0]:
        full = np.zeros((proba.shape[0], labels.shape[0]), dtype=np.float64)
        full[:, np.searchsorted(labels, classes)] = proba
        proba = full
    return -balanced_brier_score(y_arr, proba, labels=labels)


#: Scorer for the geometric mean of per-class recalls
#: (:func:`imblearn.metrics.geometric_mean_score`, greater is better).
geometric_mean_scorer = make_scorer(geometric_mean_score)


def get_scorers() -> dict[str, Callable[..., float]]:
    """Return the scorers for imbalanced classification, for ``scoring=`` arguments.

    Returns
    -------
    scorers : dict of str to callable
        A new dict with

        * ``"balanced_accuracy"``: mean per-class recall (scikit-learn);
        * ``"g_mean"``: geometric mean of per-class recalls
          (:data:`geometric_mean_scorer`, from imbalanced-learn);
        * ``"f1_macro"``: unweighted mean of per-class F1 (scikit-learn);
        * ``"neg_balanced_brier"``: :func:`neg_balanced_brier_scorer`.

        All are greater-is-better.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_validate
    >>> from skremix.metrics import get_scorers
    >>> X, y = load_iris(return_X_y=True)
    >>> res = cross_validate(LogisticRegression(max_iter=500), X, y, cv=3,
    ...                      scoring=get_scorers())
    >>> sorted(k for k in res if k.startswith("test_"))
    ['test_balanced_accuracy', 'test_f1_macro', 'test_g_mean',
     'test_neg_balanced_brier']
    """
    return {
        "balanced_accuracy": get_scorer("balanced_accuracy"),
        "g_mean": geometric_mean_scorer,
        "f1_macro": get_scorer("f1_macro"),
        "neg_balanced_brier": neg_balanced_brier_scorer,
    }
