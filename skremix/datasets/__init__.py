"""Imbalanced data sets: imbalance profiles, subsampling, splits and loaders.

Everything here is numpy / scikit-learn only and works offline: the small
data sets ship with scikit-learn, and CIFAR is read from a local copy.
"""

from skremix.datasets._imbalance import (
    balanced_split,
    imbalance_kind,
    imbalance_profile,
    make_imbalanced,
)
from skremix.datasets._loaders import (
    load_breast_cancer_imbalanced,
    load_cifar,
    load_digits_images,
    load_wine_data,
    make_noisy_digits,
)

__all__ = [
    "imbalance_kind",
    "imbalance_profile",
    "make_imbalanced",
    "balanced_split",
    "load_digits_images",
    "make_noisy_digits",
    "load_breast_cancer_imbalanced",
    "load_wine_data",
    "load_cifar",
]
