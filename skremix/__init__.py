"""skremix: training methods for class-imbalanced deep classification, as
scikit-learn classifiers on skorch and PyTorch."""

from skremix._remix import RemixClassifier

__version__ = "0.1.0.dev0"

__all__ = ["RemixClassifier", "__version__"]
