"""Tests of skremix.datasets: imbalance profiles, subsampling, splits, loaders."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from skremix.datasets import (
    balanced_split,
    imbalance_profile,
    load_breast_cancer_imbalanced,
    load_digits_images,
    load_wine_data,
    make_imbalanced,
)

# ---------------------------------------------------------------- profiles


def test_step_profile_hand_made():
    # C=10, mu=0.5 -> round(5) = 5 minority classes with int(100 / 10) = 10
    counts = imbalance_profile(100, 10, kind="step", ratio=10)
    assert counts.tolist() == [100] * 5 + [10] * 5
    assert counts.dtype == np.int64


def test_step_profile_minority_fraction():
    # C=5, mu=0.2 -> round(1.0) = 1 minority class with int(60 / 4) = 15
    assert imbalance_profile(60, 5, "step", ratio=4, mu=0.2).tolist() == [
        60,
        60,
        60,
        60,
        15,
    ]
    # C=5, mu=0.5 -> round(2.5) = 2 (round half to even), int(7 / 2) = 3
    assert imbalance_profile(7, 5, "step", ratio=2).tolist() == [7, 7, 7, 3, 3]


def test_long_tailed_profile_hand_made():
    # 100 * 100 ** (-0/2, -1/2, -2/2) = 100, 10, 1
    assert imbalance_profile(100, 3, "long_tailed", ratio=100).tolist() == [
        100,
        10,
        1,
    ]
    # 80 * 16 ** (-0/4, -1/4, ..., -4/4) = 80, 40, 20, 10, 5
    assert imbalance_profile(80, 5, "long_tailed", ratio=16).tolist() == [
        80,
        40,
        20,
        10,
        5,
    ]


def test_long_tailed_matches_cifar10_lt():
    # CIFAR-10-LT, ratio 100 (Cao et al. 2019): 12406 training images
    counts = imbalance_profile(5000, 10, "long_tailed", ratio=100)
    assert counts.tolist() == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert counts.sum() == 12406


def test_ratio_one_is_balanced():
    assert imbalance_profile(9, 4, "long_tailed", ratio=1).tolist() == [9] * 4
    assert imbalance_profile(9, 4, "step", ratio=1).tolist() == [9] * 4


def test_profile_forgives_round_off():
    # 49 * 49 ** -1.0 evaluates to 0.9999999999999999 in floating point
    assert imbalance_profile(49, 2, "long_tailed", ratio=49).tolist() == [49, 1]
    assert imbalance_profile(49, 2, "step", ratio=49).tolist() == [49, 1]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_max=100, n_classes=3, ratio=200), "ratio=200"),
        (dict(n_max=100, n_classes=3, ratio=0.5), "ratio"),
        (dict(n_max=100, n_classes=1), "n_classes"),
        (dict(n_max=0, n_classes=3), "n_max"),
        (dict(n_max=100, n_classes=3, kind="linear"), "kind"),
        (dict(n_max=100, n_classes=4, mu=0.0), "mu"),
        (dict(n_max=100, n_classes=4, mu=1.0), "mu"),
        (dict(n_max=100, n_classes=3, mu=0.1), "minority classes"),
    ],
)
def test_profile_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imbalance_profile(**kwargs)


def test_long_tailed_ratio_too_large_names_ratio():
    with pytest.raises(ValueError, match="ratio=101"):
        imbalance_profile(100, 10, "long_tailed", ratio=101)


# ---------------------------------------------------------- make_imbalanced


def _balanced(n_per_class=50, labels=(3, 7, 9), seed=0):
    rng = np.random.RandomState(seed)
    y = rng.permutation(np.repeat(labels, n_per_class))
    X = np.arange(y.size * 2, dtype=float).reshape(-1, 2)
    return X, y


def test_make_imbalanced_counts_follow_profile():
    X, y = _balanced()
    # step, C=3, mu=0.5 -> round(1.5) = 2 minority classes of int(50 / 5) = 10
    X_sub, y_sub = make_imbalanced(X, y, kind="step", ratio=5, random_state=0)
    assert [np.sum(y_sub == c) for c in (3, 7, 9)] == [50, 10, 10]
    # long-tailed, C=3: 50, 50 / 5 = 10, 50 / 25 = 2
    X_sub, y_sub = make_imbalanced(X, y, kind="long_tailed", ratio=25, random_state=0)
    assert [np.sum(y_sub == c) for c in (3, 7, 9)] == [50, 10, 2]
    assert X_sub.shape == (62, 2)


def test_make_imbalanced_indices_sorted_and_consistent():
    X, y = _balanced()
    X_sub, y_sub, idx = make_imbalanced(
        X, y, ratio=5, random_state=1, return_indices=True
    )
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(X_sub, X[idx])
    np.testing.assert_array_equal(y_sub, y[idx])


def test_make_imbalanced_n_max_default_and_explicit():
    X, y = _balanced()
    X, y = X[y != 9], y[y != 9]  # classes 3 and 7 with 50 each
    keep = np.concatenate([np.flatnonzero(y == 3), np.flatnonzero(y == 7)[:40]])
    X, y = X[keep], y[keep]  # class 3: 50, class 7: 40
    _, y_sub = make_imbalanced(X, y, ratio=4, random_state=0)
    # n_max defaults to min count = 40: [40, int(40 / 4) = 10]
    assert [np.sum(y_sub == 3), np.sum(y_sub == 7)] == [40, 10]
    _, y_sub = make_imbalanced(X, y, ratio=4, n_max=20, random_state=0)
    assert [np.sum(y_sub == 3), np.sum(y_sub == 7)] == [20, 5]


def test_make_imbalanced_seeding():
    X, y = _balanced()
    *_, a = make_imbalanced(X, y, ratio=5, random_state=0, return_indices=True)
    *_, b = make_imbalanced(X, y, ratio=5, random_state=0, return_indices=True)
    *_, c = make_imbalanced(X, y, ratio=5, random_state=1, return_indices=True)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_make_imbalanced_images_keep_shape():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 3, 4, 5).astype(np.float32)
    y = np.repeat([0, 1], 20)
    X_sub, y_sub, idx = make_imbalanced(
        X, y, ratio=4, random_state=0, return_indices=True
    )
    assert X_sub.shape == (25, 3, 4, 5)  # 20 + int(20 / 4)
    assert X_sub.dtype == np.float32
    np.testing.assert_array_equal(X_sub, X[idx])


def test_make_imbalanced_keeps_torch_type():
    torch = pytest.importorskip("torch")
    X = torch.arange(40 * 4, dtype=torch.float32).reshape(40, 1, 2, 2)
    y = torch.repeat_interleave(torch.tensor([0, 1]), 20)
    X_sub, y_sub, idx = make_imbalanced(
        X, y, ratio=4, random_state=0, return_indices=True
    )
    assert isinstance(X_sub, torch.Tensor) and isinstance(y_sub, torch.Tensor)
    assert tuple(X_sub.shape) == (25, 1, 2, 2)
    np.testing.assert_array_equal(X_sub.numpy(), X.numpy()[idx])


def test_make_imbalanced_lists_and_pandas():
    pd = pytest.importorskip("pandas")
    X_list = [[i, -i] for i in range(20)]
    y_list = [0] * 10 + [1] * 10
    X_sub, y_sub = make_imbalanced(X_list, y_list, ratio=5, random_state=0)
    assert isinstance(X_sub, np.ndarray) and X_sub.shape == (12, 2)
    df = pd.DataFrame(X_list, columns=["a", "b"])
    X_sub, y_sub = make_imbalanced(df, pd.Series(y_list), ratio=5, random_state=0)
    assert isinstance(X_sub, pd.DataFrame) and isinstance(y_sub, pd.Series)
    assert y_sub.value_counts().sort_index().tolist() == [10, 2]


def test_make_imbalanced_errors():
    X, y = _balanced()
    with pytest.raises(ValueError, match="at least two classes"):
        make_imbalanced(X[y == 3], y[y == 3])
    with pytest.raises(ValueError, match="needs 60"):
        make_imbalanced(X, y, n_max=60)
    with pytest.raises(ValueError, match="ratio"):
        make_imbalanced(X, y, ratio=0.5)
    with pytest.raises(ValueError, match="ratio=100"):
        make_imbalanced(X, y, ratio=100)  # int(50 / 100) = 0
    with pytest.raises(ValueError, match="inconsistent"):
        make_imbalanced(X[:-1], y)


# ----------------------------------------------------------- balanced_split


def test_balanced_split_exact_counts_and_partition():
    y = np.array([0] * 30 + [1] * 12 + [2] * 6)
    X = np.arange(y.size)[:, None]
    X_tr, X_te, y_tr, y_te = balanced_split(X, y, 5, random_state=0)
    assert np.bincount(y_te).tolist() == [5, 5, 5]
    assert np.bincount(y_tr).tolist() == [25, 7, 1]
    # a partition of the samples, labels carried along
    ids = np.concatenate([X_tr[:, 0], X_te[:, 0]])
    assert sorted(ids.tolist()) == list(range(y.size))
    np.testing.assert_array_equal(y[X_te[:, 0]], y_te)
    np.testing.assert_array_equal(y[X_tr[:, 0]], y_tr)


def test_balanced_split_seeding():
    y = np.repeat([0, 1], 20)
    X = np.arange(40)[:, None]
    a = balanced_split(X, y, 4, random_state=0)[1]
    b = balanced_split(X, y, 4, random_state=0)[1]
    c = balanced_split(X, y, 4, random_state=3)[1]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_balanced_split_errors():
    y = np.array([0] * 10 + [1] * 5)
    X = np.zeros((15, 2))
    with pytest.raises(ValueError, match="class 1 has 5"):
        balanced_split(X, y, 5)
    with pytest.raises(ValueError, match="test_per_class"):
        balanced_split(X, y, 0)


# ------------------------------------------------------------------ loaders


def test_load_digits_images():
    X, y = load_digits_images()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert sorted(np.unique(y).tolist()) == list(range(10))
    # grey levels are multiples of 1/16
    np.testing.assert_array_equal(X * 16, np.round(X * 16))
    bunch = load_digits_images(return_X_y=False)
    np.testing.assert_array_equal(bunch.data, X)


def test_load_wine_data():
    X, y = load_wine_data()
    assert X.shape == (178, 13) and X.dtype == np.float32
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [59, 71, 48]


@pytest.mark.parametrize("fraction", [0.02, 0.05, 0.1, 0.3])
def test_load_breast_cancer_imbalanced_fraction(fraction):
    X, y = load_breast_cancer_imbalanced(fraction, random_state=0)
    assert X.dtype == np.float32 and X.shape == (y.size, 30)
    assert y.dtype == np.int64
    n_min, n_maj = np.sum(y == 0), np.sum(y == 1)
    assert n_maj == 357  # every benign sample kept
    assert abs(n_min - fraction * y.size) <= 1


def test_load_breast_cancer_imbalanced_is_subset_and_seeded():
    X, y = load_breast_cancer_imbalanced(0.05, random_state=0)
    # f = 0.05: round(0.05 * 357 / 0.95) = round(18.79) = 19 malignant samples
    assert np.sum(y == 0) == 19
    raw = load_breast_cancer()
    full = raw.data.astype(np.float32)
    rows = {r.tobytes() for r in full}
    assert all(r.tobytes() in rows for r in X)
    X2, _ = load_breast_cancer_imbalanced(0.05, random_state=0)
    X3, _ = load_breast_cancer_imbalanced(0.05, random_state=1)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 1e-4])
def test_load_breast_cancer_imbalanced_errors(fraction):
    with pytest.raises(ValueError, match="minority_fraction"):
        load_breast_cancer_imbalanced(fraction)


def test_make_noisy_digits():
    from skremix.datasets import load_digits_images, make_noisy_digits

    X, y = make_noisy_digits(random_state=0)
    assert X.shape == (1797, 1, 16, 16) and X.dtype == np.float32
    np.testing.assert_array_equal(y, load_digits_images()[1])
    X2, _ = make_noisy_digits(random_state=0)
    np.testing.assert_array_equal(X, X2)  # deterministic
    assert not np.array_equal(X, make_noisy_digits(random_state=1)[0])
    # Without noise, each image is zero outside one 12x12 window whose
    # content sums like the upscaled digit (bilinear keeps the mean).
    clean, _ = make_noisy_digits(noise=0.0, random_state=0)
    digits = load_digits_images()[0]
    for i in range(5):
        rows = np.flatnonzero(clean[i, 0].any(axis=1))
        cols = np.flatnonzero(clean[i, 0].any(axis=0))
        assert rows[-1] - rows[0] < 12 and cols[-1] - cols[0] < 12
        assert clean[i].mean() * 256 / 144 == pytest.approx(digits[i].mean(), rel=0.05)
    # The noise has the requested spread (pixels outside the digit).
    corner = X[:, 0, :2, :2]
    with pytest.raises(ValueError, match="size"):
        make_noisy_digits(size=20)
    with pytest.raises(ValueError, match="noise"):
        make_noisy_digits(noise=-1)
    assert 0.2 < np.median(np.abs(corner)) / 0.6745 < 0.3
