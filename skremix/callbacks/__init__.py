"""skorch callbacks: deferred re-balancing, validation balanced accuracy and
per-class training progress."""

from skremix.callbacks._lr import LRSchedule, call_epoch
from skremix.callbacks._progress import PerClassTrainingProgress
from skremix.callbacks._rebalance import RebalanceSchedule
from skremix.callbacks._scoring import ValidBalancedAccuracy

__all__ = [
    "LRSchedule",
    "PerClassTrainingProgress",
    "RebalanceSchedule",
    "ValidBalancedAccuracy",
    "call_epoch",
]
