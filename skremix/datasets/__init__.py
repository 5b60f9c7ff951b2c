"""Imbalanced data sets: imbalance profiles, subsampling, splits and loaders.

Everything here is numpy / scikit-learn only. The small data sets ship with
scikit-learn; CIFAR is read from a local copy (``load_cifar``) or downloaded
once into a cache folder by the fetchers (``fetch_cifar10_lt``,
``fetch_cifar100_lt``), the only functions here that use the network.
"""

from skremix.datasets._fetch import (
    fetch_cifar10_lt,
    fetch_cifar100_lt,
    get_data_home,
)
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
    "get_data_home",
    "fetch_cifar10_lt",
    "fetch_cifar100_lt",
]
