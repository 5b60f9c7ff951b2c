"""skremix: training methods for class-imbalanced deep classification, as
scikit-learn classifiers on skorch and PyTorch."""

from skremix._erm import ERMClassifier
from skremix._mfw import MFWClassifier
from skremix._mislas import MiSLASClassifier
from skremix._rebalanced_mixup import RemixClassifier
from skremix._resampling_mixup import ReMixClassifier
from skremix._rsg import RSGClassifier

__version__ = "0.1.0.dev0"

__all__ = [
    "ERMClassifier",
    "MFWClassifier",
    "MiSLASClassifier",
    "ReMixClassifier",
    "RemixClassifier",
    "RSGClassifier",
    "__version__",
]
