"""Imbalanced data sets: imbalance profiles, subsampling, splits and loaders.

Everything here is numpy / scikit-learn only, but for the photographs and
faces, which ship inside the scikit-image wheel. The small data sets ship with
scikit-learn; CIFAR is read from a local copy (``load_cifar``) or downloaded
once into a cache folder by the fetchers (``fetch_cifar10_lt``,
``fetch_cifar100_lt``), the only functions here that use the network.
"""

from skremix.datasets._cifar import fetch_cifar10_lt, fetch_cifar100_lt, load_cifar
from skremix.datasets._download import get_data_home
from skremix.datasets._images import (
    load_faces,
    load_photo_patches,
    make_shapes,
)
from skremix.datasets._imbalance import (
    balanced_split,
    imbalance_kind,
    imbalance_profile,
    make_imbalanced,
)
from skremix.datasets._loaders import (
    load_breast_cancer_imbalanced,
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
    "make_shapes",
    "load_photo_patches",
    "load_faces",
    "load_breast_cancer_imbalanced",
    "load_wine_data",
    "load_cifar",
    "get_data_home",
    "fetch_cifar10_lt",
    "fetch_cifar100_lt",
]
