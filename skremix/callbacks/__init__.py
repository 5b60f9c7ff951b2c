"""skorch callbacks: validation balanced accuracy, per-class training progress
and checkpoints a fit resumes from; ``call_epoch`` and the learning-rate
factors (the training loop applies ``lr_schedule`` and ``rebalance`` itself:
``LRSchedule`` and ``RebalanceSchedule`` are inert, kept for old code)."""

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
