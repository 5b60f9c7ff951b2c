"""Shared fixtures: seeded imbalanced data and the RNG-leak guard. Helpers the
tests import live in helper modules (``_classifiers.py``, ``_cifar_files.py``),
not here."""

import numpy as np
import pytest
import torch

# Small nets on 2 cores: one intra-op thread avoids OpenMP spin-waiting when
# tests run beside other processes (GridSearchCV n_jobs=2, CI neighbours).
torch.set_num_threads(1)


@pytest.fixture
def no_rng_leak():
    """Fail a test that changes the global torch or numpy RNG state."""
    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    yield
    assert torch.equal(torch.random.get_rng_state(), torch_state), (
        "global torch RNG changed"
    )
    assert np.array_equal(np.random.get_state()[1], np_state), (
        "global numpy RNG changed"
    )


@pytest.fixture(scope="session")
def tabular_imbalanced():
    """200 x 6 rows, 3 classes with counts 140 / 45 / 15, string labels."""
    rng = np.random.default_rng(0)
    counts = [140, 45, 15]
    centers = rng.normal(scale=3.0, size=(3, 6))
    X = np.concatenate(
        [c + rng.normal(size=(n, 6)) for c, n in zip(centers, counts, strict=True)]
    )
    y = np.repeat(np.array(["major", "middle", "rare"]), counts)
    return X.astype(np.float64), y


@pytest.fixture(scope="session")
def image_imbalanced():
    """Digits 0-2 as (n, 8, 8) uint8 images, step imbalance 60 / 60 / 6."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X, y = digits.images, digits.target
    idx = np.concatenate(
        [np.flatnonzero(y == c)[:n] for c, n in [(0, 60), (1, 60), (2, 6)]]
    )
    return (X[idx] * 255 / 16).astype(np.uint8), y[idx] + 10
