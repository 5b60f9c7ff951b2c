"""Metrics, scorers and displays for class-imbalanced classification.

numpy / scikit-learn / imbalanced-learn only (matplotlib for the display).
"""

from skremix.metrics._brier import balanced_brier_score
from skremix.metrics._calibration import expected_calibration_error, shot_recall
from skremix.metrics._display import ReliabilityDisplay
from skremix.metrics._scorers import (
    geometric_mean_scorer,
    get_scorers,
    make_calibration_scorer,
    make_shot_recall_scorer,
    neg_balanced_brier_scorer,
    neg_expected_calibration_error_scorer,
)

__all__ = [
    "balanced_brier_score",
    "expected_calibration_error",
    "shot_recall",
    "ReliabilityDisplay",
    "neg_balanced_brier_scorer",
    "neg_expected_calibration_error_scorer",
    "make_calibration_scorer",
    "make_shot_recall_scorer",
    "geometric_mean_scorer",
    "get_scorers",
]
