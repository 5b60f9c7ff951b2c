"""Metrics and scorers for class-imbalanced classification.

numpy / scikit-learn / imbalanced-learn only.
"""

from skremix.metrics._brier import balanced_brier_score
from skremix.metrics._scorers import (
    geometric_mean_scorer,
    get_scorers,
    neg_balanced_brier_scorer,
)

__all__ = [
    "balanced_brier_score",
    "neg_balanced_brier_scorer",
    "geometric_mean_scorer",
    "get_scorers",
]
