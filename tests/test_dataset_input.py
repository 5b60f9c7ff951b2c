"""Map-style torch Dataset and skorch SliceDataset input with the labels as
``y``: the same fit as from arrays, re-sampling and class counts from y, a
grid search, and the errors."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from skorch.dataset import ValidSplit
from skorch.helper import SliceDataset
from torch.utils.data import Dataset

from skremix import ERMClassifier, MFWClassifier, ReMixClassifier, RemixClassifier


class ImageFolderLike(Dataset):
    """Images read one at a time (here from an array; from files in practice),
    returning ``(image, label)`` as torchvision datasets do."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.reads = 0

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.reads += 1
        return self.X[i], int(self.y[i])


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(90, 3, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1, 2], [60, 20, 10])
    return X, y


@pytest.mark.parametrize(
    "cls, kw",
    [
        (ERMClassifier, {}),
        (ERMClassifier, {"rebalance": "rs"}),
        (RemixClassifier, {}),
        (ReMixClassifier, {}),
        (MFWClassifier, {"standardize": True}),
    ],
)
def test_dataset_fit_equals_the_array_fit(images, cls, kw):
    X, y = images
    kw = dict(max_epochs=2, batch_size=32, random_state=0, **kw)
    from_arrays = cls(**kw).fit(X, y)
    ds = ImageFolderLike(X, y)
    from_dataset = cls(**kw).fit(ds, y)
    assert from_dataset.data_placement_ == "host"
    np.testing.assert_array_equal(from_dataset.class_counts_, [60, 20, 10])
    # Same batches (drawn from y by the same seed), same probabilities.
    np.testing.assert_allclose(
        from_dataset.predict_proba(ds), from_arrays.predict_proba(X), rtol=1e-6
    )
    np.testing.assert_array_equal(from_dataset.predict(X), from_arrays.predict(X))


def test_the_data_is_read_in_batches_not_loaded(images):
    X, y = images
    ds = ImageFolderLike(X, y)
    clf = ERMClassifier(max_epochs=2, batch_size=32, random_state=0).fit(ds, y)
    # The shape probe, two epochs, then the BatchNorm recalibration's pass
    # (precise_bn; the default ConvNet has BatchNorm layers).
    assert ds.reads == 1 + 3 * len(X)
    clf.predict_proba(ds)
    assert ds.reads == 1 + 4 * len(X) + 1
    ds.reads = 0
    ERMClassifier(max_epochs=2, batch_size=32, precise_bn=False).fit(ds, y)
    assert ds.reads == 1 + 2 * len(X)


def test_slice_dataset_in_a_grid_search_and_a_validation_split(images):
    X, y = images
    ds = ImageFolderLike(X, y)
    search = GridSearchCV(
        RemixClassifier(max_epochs=1, batch_size=32, random_state=0),
        {"tau": [0.0, 0.5]},
        cv=3,
        scoring="balanced_accuracy",
    )
    search.fit(SliceDataset(ds, idx=0), y)
    assert search.best_params_["tau"] in (0.0, 0.5)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    clf = ERMClassifier(
        max_epochs=2, train_split=ValidSplit(0.25, stratified=True), random_state=0
    ).fit(ds, y)
    assert clf.class_counts_.sum() < len(y)  # counts of the training part
    assert "valid_bacc" in clf.history[-1]


def test_two_dimensional_samples_get_a_channel(images):
    X, y = images
    ds = ImageFolderLike(X[:, 0], y)  # (h, w) samples
    clf = ERMClassifier(max_epochs=1, random_state=0).fit(ds, y)
    assert clf.input_shape_ == (1, 8, 8) and clf.n_features_in_ == 1  # as arrays
    assert clf.predict_proba(X[:, 0]).shape == (90, 3)


def test_dataset_errors(images):
    X, y = images
    ds = ImageFolderLike(X, y)
    with pytest.raises(ValueError, match="labels given as y.*y is None"):
        ERMClassifier().fit(ds, None)
    with pytest.raises(
        ValueError, match=r"inconsistent numbers of samples: \[90, 89\]"
    ):
        ERMClassifier().fit(ds, y[:-1])
    with pytest.raises(ValueError, match="0 sample"):
        ERMClassifier().fit(ImageFolderLike(X[:0], y[:0]), y[:0])
    clf = ERMClassifier(max_epochs=1).fit(ds, y)
    with pytest.raises(ValueError, match=r"shape \(3, 4, 4\).*\(3, 8, 8\)"):
        clf.predict_proba(ImageFolderLike(X[:, :, :4, :4], y))
    with pytest.raises(ValueError, match="not seen in classes_"):
        clf.partial_fit(ds, y + 5)
    assert torch.is_tensor(ds[0][0]) or isinstance(ds[0][0], np.ndarray)


def test_dataset_labels_are_encoded_as_array_labels_are():
    # One label encoder for both inputs: an unsorted `classes` parameter
    # refused valid dataset labels as "not seen" (the dataset path searched
    # the unsorted labels), and duplicates in it went through.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.repeat([2, 0, 1], 20)
    X[y == 2] += 3.0
    X[y == 1] -= 3.0
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(X))
    proba = []
    for data in (X, dataset):
        clf = ERMClassifier(classes=[2, 0, 1], max_epochs=3, random_state=0)
        proba.append(clf.fit(data, y).predict_proba(X))
        assert clf.classes_.tolist() == [2, 0, 1]
    np.testing.assert_array_equal(proba[0], proba[1])
    with pytest.raises(ValueError, match="'classes' parameter contains duplicate"):
        ERMClassifier(classes=[0, 1, 0], max_epochs=1).fit(dataset, y % 2)
    with pytest.raises(ValueError, match="Multilabel and multioutput"):
        ERMClassifier(max_epochs=1).fit(dataset, np.eye(60, 2, dtype=int))
