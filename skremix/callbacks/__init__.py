"""skorch callbacks: learning-rate schedules, deferred re-balancing,
validation balanced accuracy, per-class training progress and checkpoints a
fit resumes from."""

from skremix.callbacks._checkpoint import TrainingCheckpoint
from skremix.callbacks._lr import LRSchedule, call_epoch
from skremix.callbacks._progress import PerClassTrainingProgress
from skremix.callbacks._rebalance import RebalanceSchedule
from skremix.callbacks._scoring import ValidBalancedAccuracy

__all__ = [
    "LRSchedule",
    "PerClassTrainingProgress",
    "RebalanceSchedule",
    "TrainingCheckpoint",
    "ValidBalancedAccuracy",
    "call_epoch",
]
