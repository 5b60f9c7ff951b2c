"""Class weights and PyTorch samplers for class-imbalanced training.

A pure layer: it depends on PyTorch and NumPy only, never on skorch or the
skremix estimators.
"""

from skremix.sampling._distributed import (
    DistributedClassBalancedBatchSampler,
    DistributedWeightedClassSampler,
)
from skremix.sampling._samplers import ClassBalancedBatchSampler, WeightedClassSampler
from skremix.sampling._shard import shard_bounds
from skremix.sampling._weights import (
    effective_number_weights,
    sample_weights_from_class_weights,
)

__all__ = [
    "ClassBalancedBatchSampler",
    "DistributedClassBalancedBatchSampler",
    "DistributedWeightedClassSampler",
    "WeightedClassSampler",
    "effective_number_weights",
    "sample_weights_from_class_weights",
    "shard_bounds",
]
