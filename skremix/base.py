"""The base a training method extends, and the contract of its training step.

Every skremix classifier is :class:`BaseImbalancedClassifier` with one hook
overridden: :meth:`~BaseImbalancedClassifier.train_forward`, the forward pass
of a training step, which returns a :class:`TrainStep`. During ``fit`` the
loop keeps a :class:`FitState` with the class statistics of the data being
trained on. The user guide's "Write your own method" page shows a complete
method.
"""

from __future__ import annotations

from skremix._net import BaseImbalancedClassifier
from skremix._step import FitState, TrainStep

__all__ = ["BaseImbalancedClassifier", "FitState", "TrainStep"]
