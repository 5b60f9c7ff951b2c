"""PerClassTrainingProgress: per-class training accuracy and classification
ratio (Ye et al. 2021, Eq. 13), on skremix and plain skorch classifiers."""

import math

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import ValidSplit
from torch import nn

from skremix import ERMClassifier, MFWClassifier
from skremix.callbacks import PerClassTrainingProgress


def _data(counts=(60, 30, 10), seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng.normal(size=(len(y), 4)) + 0.8 * y[:, None]
    return X.astype(np.float32), y


def _by_hand(y, pred, n_classes):
    acc, ratio = [], []
    for c in range(n_classes):
        n_c = int(np.sum(y == c))
        acc.append(np.sum((y == c) & (pred == c)) / n_c if n_c else math.nan)
        ratio.append(np.sum(pred == c) / n_c if n_c else math.nan)
    return acc, ratio


def _recorded(history, key):
    return [row[key] for row in history if key in row]


def test_values_equal_accuracy_from_predict():
    X, y = _data()
    labels = np.array(["a", "b", "c"])[y]  # string labels: lists follow classes_
    clf = MFWClassifier(
        max_epochs=4,
        module__hidden_units=(16, 16),
        callbacks=[("progress", PerClassTrainingProgress())],
        random_state=0,
    ).fit(X, labels)
    acc = _recorded(clf.history, "train_class_acc")
    ratio = _recorded(clf.history, "train_class_ratio")
    assert len(acc) == len(ratio) == 4
    assert all(len(row) == 3 for row in acc + ratio)
    pred = np.searchsorted(clf.classes_, clf.predict(X))
    exp_acc, exp_ratio = _by_hand(y, pred, 3)
    assert acc[-1] == pytest.approx(exp_acc)
    assert ratio[-1] == pytest.approx(exp_ratio)
    # the ratios weigh each class's predictions by its count: sum N_c r_c = N
    assert np.dot(ratio[-1], [60, 30, 10]) == pytest.approx(100)


def test_plain_skorch_classifier_numpy_input():
    X, y = _data()
    torch.manual_seed(0)
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)),
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-2,
        max_epochs=3,
        batch_size=32,
        train_split=None,
        iterator_train__shuffle=True,
        callbacks=[PerClassTrainingProgress()],
    ).fit(X, y)
    acc = _recorded(net.history, "train_class_acc")
    ratio = _recorded(net.history, "train_class_ratio")
    assert len(acc) == 3 and len(acc[-1]) == 3
    exp_acc, exp_ratio = _by_hand(y, net.predict(X), 3)
    assert acc[-1] == pytest.approx(exp_acc)
    assert ratio[-1] == pytest.approx(exp_ratio)


def test_plain_skorch_with_validation_split_uses_the_training_part():
    X, y = _data(counts=(80, 40, 20))
    net = NeuralNetClassifier(
        nn.Sequential(nn.Linear(4, 3)),
        criterion=nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=ValidSplit(0.25, stratified=True),
        callbacks=[PerClassTrainingProgress(prefix="fit")],
    ).fit(X, y)
    ratio = _recorded(net.history, "fit_ratio")
    assert len(ratio) == 2
    # training part counts 60 / 30 / 15: sum N_c r_c = 105 samples classified
    assert np.dot(ratio[-1], [60, 30, 15]) == pytest.approx(105)
    assert all(0.0 <= a <= 1.0 for a in _recorded(net.history, "fit_acc")[-1])


def test_every_k_epochs():
    X, y = _data()
    clf = ERMClassifier(
        max_epochs=5,
        module__hidden_units=(8,),
        callbacks=[("progress", PerClassTrainingProgress(every=2))],
        random_state=0,
    ).fit(X, y)
    assert ["train_class_acc" in row for row in clf.history] == [
        False,
        True,
        False,
        True,
        False,
    ]
    with pytest.raises(ValueError, match="every"):
        ERMClassifier(max_epochs=1, callbacks=[PerClassTrainingProgress(every=0)]).fit(
            X, y
        )


@pytest.mark.parametrize("training", [True, False])
def test_restores_the_module_mode(training):
    X, y = _data()
    clf = ERMClassifier(max_epochs=1, random_state=0).fit(X, y)
    dataset = clf.get_dataset(torch.from_numpy(X), torch.from_numpy(y))
    clf.module_.train(training)
    callback = PerClassTrainingProgress().initialize()
    clf.history.new_epoch()
    with torch.enable_grad():
        callback.on_epoch_end(clf, dataset_train=dataset)
    assert clf.module_.training is training
    assert len(clf.history[-1, "train_class_acc"]) == 3


def test_class_absent_from_training_gets_nan():
    X, y = _data()
    clf = ERMClassifier(
        max_epochs=1,
        classes=[0, 1, 2],
        module__hidden_units=(8,),
        callbacks=[("progress", PerClassTrainingProgress())],
        random_state=0,
    )
    keep = y < 2
    clf.fit(X[keep], y[keep])
    acc = clf.history[-1, "train_class_acc"]
    ratio = clf.history[-1, "train_class_ratio"]
    assert len(acc) == 3 and math.isnan(acc[2]) and math.isnan(ratio[2])
    assert not math.isnan(acc[0])
