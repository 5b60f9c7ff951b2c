"""What each run is scored on: the metrics and their computation."""

from __future__ import annotations

import numpy as np

__all__ = ["METRICS"]


#: Per-run metrics: CSV column -> table header. Greater is better except for
#: the balanced Brier score and the fit time.
METRICS = {
    "balanced_accuracy": "bal. acc.",
    "g_mean": "g-mean",
    "f1_macro": "macro-F1",
    "balanced_brier": "bal. Brier",
    "fit_time_s": "fit (s)",
}


def _score(estimator, X, y, n_classes):
    """The test metrics of a fitted estimator (probabilities widened to
    ``n_classes`` columns when a class was absent from the training part)."""
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from skremix.metrics import balanced_brier_score

    y_pred = np.asarray(estimator.predict(X))
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    classes = np.asarray(getattr(estimator, "classes_", np.arange(proba.shape[1])))
    if proba.shape[1] != n_classes:  # a class absent from the training part
        full = np.zeros((len(proba), n_classes))
        full[:, classes.astype(int)] = proba
        proba = full
    labels = np.arange(n_classes)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, y_pred)),
        "g_mean": float(geometric_mean_score(y, y_pred, labels=labels)),
        "f1_macro": float(
            f1_score(y, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "balanced_brier": float(
            balanced_brier_score(y, np.clip(proba, 0, 1), labels=labels)
        ),
    }
