"""What each run is scored on: the metrics and their computation."""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS"]


#: Per-run metrics: CSV column -> table header. Greater is better except for
#: the balanced Brier score, the expected calibration error and the fit time.
METRICS = {
    "balanced_accuracy": "bal. acc.",
    "g_mean": "g-mean",
    "f1_macro": "macro-F1",
    "balanced_brier": "bal. Brier",
    "ece": "ECE",
    "fit_time_s": "fit (s)",
}

#: Equal-width bins of the top-label ECE (Guo et al. 2017's 15).
ECE_BINS = 15


def _probabilities(estimator, X, n_classes):
    """``predict_proba`` in ``classes_`` order, widened to ``n_classes``
    columns when a class was absent from the training part, clipped to
    ``[0, 1]``."""
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(estimator, "classes_", np.arange(proba.shape[1])))
    if proba.shape[1] != n_classes:  # a class absent from the training part
        full = np.zeros((len(proba), n_classes))
        full[:, classes.astype(int)] = proba
        proba = full
    return np.clip(proba, 0, 1)


def _score(estimator, X, y, n_classes, proba=None):
    """The test metrics of a fitted estimator, from its predictions and its
    probabilities (``_probabilities`` unless given)."""
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from skremix.metrics import balanced_brier_score, expected_calibration_error

    y_pred = np.asarray(estimator.predict(X))
    if proba is None:
        proba = _probabilities(estimator, X, n_classes)
    labels = np.arange(n_classes)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, y_pred)),
        "g_mean": float(geometric_mean_score(y, y_pred, labels=labels)),
        "f1_macro": float(
            f1_score(y, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "balanced_brier": float(balanced_brier_score(y, proba, labels=labels)),
        "ece": float(
            expected_calibration_error(y, proba, labels=labels, n_bins=ECE_BINS)
        ),
    }
