"""Imbalanced data sets: imbalance profiles, subsampling, splits and loaders.

Everything here is numpy / scikit-learn only and works offline: the small
data sets ship with scikit-learn, and CIFAR is read from a local copy.
"""

from skremix.datasets._imbalance import (
    balanced_split,
    imbalance_profile,
    make_imbalanced,
)
from skremix.datasets._loaders import (
    load_breast_cancer_imbalanced,
    load_cifar,
    load_digits_images,
    load_wine_data,
)

__all__ = [
    "imbalance_profile",
    "make_imbalanced",
    "balanced_split",
    "load_digits_images",
    "load_breast_cancer_imbalanced",
    "load_wine_data",
    "load_cifar",
]
