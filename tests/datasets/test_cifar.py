"""Tests of skremix.datasets.load_cifar on tiny fake CIFAR pickle folders."""

import pickle

import numpy as np
import pytest

from skremix.datasets import load_cifar


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def _batch(rng, n, n_classes, label_key):
    # real layout: uint8 rows of 3072 = 1024 red, 1024 green, 1024 blue,
    # each a 32x32 image in row-major order
    data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    labels = rng.randint(0, n_classes, size=n).tolist()
    return {b"data": data, label_key: labels, b"batch_label": b"fake"}


@pytest.fixture
def cifar10_root(tmp_path):
    rng = np.random.RandomState(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = []
    for i in range(1, 6):  # five training batches of 2 images
        b = _batch(rng, 2, 10, b"labels")
        _dump(folder / f"data_batch_{i}", b)
        batches.append(b)
    test = _batch(rng, 3, 10, b"labels")
    _dump(folder / "test_batch", test)
    names = [f"class{k}".encode() for k in range(10)]
    _dump(folder / "batches.meta", {b"label_names": names, b"num_vis": 3072})
    return tmp_path, batches, test


@pytest.fixture
def cifar100_root(tmp_path):
    rng = np.random.RandomState(1)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train = _batch(rng, 5, 100, b"fine_labels")
    train[b"coarse_labels"] = [0] * 5
    test = _batch(rng, 2, 100, b"fine_labels")
    test[b"coarse_labels"] = [1] * 2
    _dump(folder / "train", train)
    _dump(folder / "test", test)
    names = [f"fine{k}".encode() for k in range(100)]
    _dump(folder / "meta", {b"fine_label_names": names, b"coarse_label_names": []})
    return tmp_path, train, test


def _pixel(row, c, i, j):
    return row[c * 1024 + i * 32 + j]


def test_cifar10_train_shapes_labels_pixels(cifar10_root):
    root, batches, _ = cifar10_root
    X, y = load_cifar(root, "cifar10", train=True)
    assert X.shape == (10, 3, 32, 32) and X.dtype == np.uint8
    assert y.shape == (10,) and y.dtype == np.int64
    # batches concatenated in order data_batch_1, ..., data_batch_5
    expected_labels = sum((b[b"labels"] for b in batches), [])
    assert y.tolist() == expected_labels
    rows = np.concatenate([b[b"data"] for b in batches])
    for n, c, i, j in [(0, 0, 0, 0), (3, 1, 5, 7), (9, 2, 31, 30), (4, 2, 0, 31)]:
        assert X[n, c, i, j] == _pixel(rows[n], c, i, j)
    # the whole green plane of image 7
    np.testing.assert_array_equal(X[7, 1].ravel(), rows[7, 1024:2048])


def test_cifar10_test_split_and_folder_root(cifar10_root):
    root, _, test = cifar10_root
    X, y = load_cifar(root / "cifar-10-batches-py", "cifar10", train=False)
    assert X.shape == (3, 3, 32, 32)
    assert y.tolist() == test[b"labels"]
    assert X[2, 0, 1, 2] == _pixel(test[b"data"][2], 0, 1, 2)
    X_parent, _ = load_cifar(str(root), "cifar10", train=False)
    np.testing.assert_array_equal(X, X_parent)


def test_cifar10_bunch_names(cifar10_root):
    root, _, _ = cifar10_root
    bunch = load_cifar(root, return_X_y=False)
    assert bunch.data.shape == (10, 3, 32, 32)
    assert bunch.target_names.tolist() == [f"class{k}" for k in range(10)]


def test_cifar100_fine_labels(cifar100_root):
    root, train, test = cifar100_root
    X, y = load_cifar(root, "cifar100", train=True)
    assert X.shape == (5, 3, 32, 32) and X.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == train[b"fine_labels"]
    assert X[4, 2, 10, 20] == _pixel(train[b"data"][4], 2, 10, 20)
    X_te, y_te = load_cifar(root / "cifar-100-python", "cifar100", train=False)
    assert X_te.shape == (2, 3, 32, 32) and y_te.tolist() == test[b"fine_labels"]
    bunch = load_cifar(root, "cifar100", return_X_y=False)
    assert bunch.target_names[99] == "fine99"


def test_missing_folder_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_cifar(tmp_path, "cifar10")
    msg = str(info.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert "cifar-10-python.tar.gz" in msg
    with pytest.raises(FileNotFoundError, match="cifar-100-python.tar.gz") as info:
        load_cifar(tmp_path, "cifar100", train=False)
    assert str(tmp_path / "cifar-100-python" / "test") in str(info.value)


def test_missing_batch_named(cifar10_root):
    root, _, _ = cifar10_root
    (root / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="missing: .*data_batch_3"):
        load_cifar(root, "cifar10")
    # the test split does not need the training batches
    X, _ = load_cifar(root, "cifar10", train=False)
    assert X.shape[0] == 3


def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="cifar10"):
        load_cifar(tmp_path, "cifar1000")
