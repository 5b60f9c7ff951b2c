"""Tiny CIFAR-10 / CIFAR-100 archives in the standard python format, made by
the tests (no download): shared by the fetcher tests and the papers' script
test."""

import io
import pickle
import tarfile

import numpy as np

N_TRAIN = 6  # training images per class in the tiny archives
N_TEST = 2  # test images per class


def _images(ids):
    """uint8 rows of 3072 whose first two bytes encode a unique image id."""
    rows = np.zeros((len(ids), 3072), dtype=np.uint8)
    ids = np.asarray(ids)
    rows[:, 0], rows[:, 1] = ids // 256, ids % 256
    rows[:, 2:] = (ids % 7)[:, None] * 30
    return rows


def image_ids(X):
    """Inverse of ``_images`` on (n, 3, 32, 32) images."""
    flat = X.reshape(len(X), -1).astype(np.int64)
    return flat[:, 0] * 256 + flat[:, 1]


def _labels(n_classes, per_class, rng):
    y = np.repeat(np.arange(n_classes), per_class)
    rng.shuffle(y)
    return y


def _tar_gz(files, top):
    """A .tar.gz holding ``top/<name>`` for each pickled ``files[name]``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        folder = tarfile.TarInfo(top)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, obj in files.items():
            data = pickle.dumps(obj)
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_cifar10(n_train=N_TRAIN):
    """Tiny CIFAR-10: ``n_train`` (6) training images per class in 5 batches,
    2 test ones."""
    rng = np.random.RandomState(0)
    y = _labels(10, n_train, rng)
    ids = np.arange(len(y))
    files = {}
    for i, part in enumerate(np.array_split(ids, 5), start=1):
        files[f"data_batch_{i}"] = {
            b"batch_label": f"training batch {i} of 5".encode(),
            b"labels": y[part].tolist(),
            b"data": _images(part),
            b"filenames": [f"img{j}.png".encode() for j in part],
        }
    y_test = _labels(10, N_TEST, rng)
    test_ids = 1000 + np.arange(len(y_test))
    files["test_batch"] = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": y_test.tolist(),
        b"data": _images(test_ids),
    }
    names = [f"c10_{k}".encode() for k in range(10)]
    files["batches.meta"] = {b"label_names": names, b"num_cases_per_batch": 12}
    archive = _tar_gz(files, "cifar-10-batches-py")
    return archive, (y, ids), (y_test, test_ids)


def make_cifar100():
    """Tiny CIFAR-100: 6 training images per class, 2 test ones."""
    rng = np.random.RandomState(1)
    y = _labels(100, N_TRAIN, rng)
    ids = np.arange(len(y))
    y_test = _labels(100, N_TEST, rng)
    test_ids = 5000 + np.arange(len(y_test))
    files = {
        "train": {
            b"fine_labels": y.tolist(),
            b"coarse_labels": (y // 5).tolist(),
            b"data": _images(ids),
        },
        "test": {
            b"fine_labels": y_test.tolist(),
            b"coarse_labels": (y_test // 5).tolist(),
            b"data": _images(test_ids),
        },
        "meta": {
            b"fine_label_names": [f"c100_{k}".encode() for k in range(100)],
            b"coarse_label_names": [f"super{k}".encode() for k in range(20)],
        },
    }
    archive = _tar_gz(files, "cifar-100-python")
    return archive, (y, ids), (y_test, test_ids)
