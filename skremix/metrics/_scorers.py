"""Scorers for imbalanced classification, for ``scoring=`` arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import get_scorer, make_scorer
from sklearn.utils import column_or_1d

from skremix.metrics._brier import balanced_brier_score
from skremix.metrics._calibration import expected_calibration_error, shot_recall

__all__ = [
    "neg_balanced_brier_scorer",
    "neg_expected_calibration_error_scorer",
    "make_calibration_scorer",
    "make_shot_recall_scorer",
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
    y_arr, proba, labels = _aligned_proba(estimator, X, y_true)
    return -balanced_brier_score(y_arr, proba, labels=labels)


def _aligned_proba(estimator, X, y_true):
    """``y_true``, ``predict_proba(X)`` and its labels, with a zero column
    for each class of ``y_true`` that ``estimator.classes_`` lacks."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = np.asarray(estimator.classes_)
    y_arr = column_or_1d(y_true)
    labels = np.union1d(classes, np.unique(y_arr))
    if labels.shape[0] != classes.shape[0]:
        full = np.zeros((proba.shape[0], labels.shape[0]), dtype=np.float64)
        full[:, np.searchsorted(labels, classes)] = proba
        proba = full
    return y_arr, proba, labels


def neg_expected_calibration_error_scorer(estimator: Any, X: Any, y_true: Any) -> float:
    """Scorer: minus the top-label ECE of ``estimator.predict_proba(X)``.

    The ECE of :func:`expected_calibration_error`'s defaults (15 equal-width
    bins). Negated like scikit-learn's ``neg_*`` scorers (greater is better);
    columns aligned with ``estimator.classes_`` as in
    :func:`neg_balanced_brier_scorer`. For other bins or the class-wise ECE,
    :func:`make_calibration_scorer`.

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
        ``-expected_calibration_error(y_true, proba, labels=...)``, in
        ``[-1, 0]``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skremix.metrics import neg_expected_calibration_error_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=500).fit(X, y)
    >>> -0.2 < neg_expected_calibration_error_scorer(clf, X, y) <= 0
    True
    """
    y_arr, proba, labels = _aligned_proba(estimator, X, y_true)
    return -expected_calibration_error(y_arr, proba, labels=labels)


def make_calibration_scorer(
    *, n_bins: int = 15, strategy: str = "uniform", kind: str = "top_label"
) -> Callable[..., float]:
    """Make a scorer of minus the expected calibration error.

    Parameters
    ----------
    n_bins : int, default=15
        Number of bins (checked here, before any fit, as the two below).
    strategy : {'uniform', 'quantile'}, default='uniform'
        Equal-width or equal-mass bins (:func:`expected_calibration_error`).
    kind : {'top_label', 'classwise'}, default='top_label'
        Which probabilities are binned.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``: ``-expected_calibration_error`` of
        ``estimator.predict_proba(X)``, columns aligned with
        ``estimator.classes_``; greater is better.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from skremix.metrics import make_calibration_scorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = make_calibration_scorer(kind="classwise", strategy="quantile")
    >>> s = cross_val_score(LogisticRegression(max_iter=500), X, y, scoring=scorer)
    >>> bool((s <= 0).all())
    True
    """
    # Checked now, with the metric's own messages, not at the first score.
    expected_calibration_error(
        [0, 1], [[1.0, 0.0], [0.0, 1.0]], n_bins=n_bins, strategy=strategy, kind=kind
    )

    def scorer(estimator, X, y_true):
        y_arr, proba, labels = _aligned_proba(estimator, X, y_true)
        return -expected_calibration_error(
            y_arr, proba, labels=labels, n_bins=n_bins, strategy=strategy, kind=kind
        )

    scorer.__name__ = f"neg_{kind}_ece_scorer"
    return scorer


def _final_step(estimator):
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def make_shot_recall_scorer(
    group: str, *, many: float = 100, few: float = 20
) -> Callable[..., float]:
    """Make a scorer of the mean recall of one shot group.

    Parameters
    ----------
    group : {'many', 'medium', 'few'}
        The group scored (:func:`shot_recall`).
    many : float, default=100
        A class with more training samples is many-shot.
    few : float, default=20
        A class with fewer training samples is few-shot.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``: the group's mean recall of
        ``estimator.predict(X)``, the groups taken from the training counts
        of the fitted estimator (``class_counts_``; a pipeline's last
        step's); greater is better. NaN when the group has no class (a
        search then ranks the candidate last, as scikit-learn does with
        NaN scores).

    Raises
    ------
    ValueError
        At once for an unknown group or ``few > many``; when scoring, for an
        estimator without ``class_counts_``.

    Examples
    --------
    >>> from skremix.metrics import make_shot_recall_scorer
    >>> few_shot = make_shot_recall_scorer("few", many=50, few=10)
    """
    if group not in ("many", "medium", "few"):
        raise ValueError(
            f"group must be one of 'many', 'medium', 'few'; got {group!r}."
        )
    shot_recall([0], [0], [1], many=many, few=few)  # checks the thresholds

    def scorer(estimator, X, y_true):
        final = _final_step(estimator)
        counts = getattr(final, "class_counts_", None)
        if counts is None:
            raise ValueError(
                f"{type(final).__name__} has no class_counts_: the shot groups "
                "are the classes' training counts of a fitted skremix classifier."
            )
        y_arr = column_or_1d(y_true)
        classes = np.asarray(final.classes_)
        known = np.isin(y_arr, classes)
        pred = np.asarray(estimator.predict(X))
        recalls = shot_recall(
            y_arr[known], pred[known], counts, labels=classes, many=many, few=few
        )
        return recalls[group]

    scorer.__name__ = f"{group}_shot_recall_scorer"
    return scorer


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
