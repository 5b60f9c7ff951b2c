"""ReMixClassifier: class-balanced batches, one lambda per batch, features and
one-hot labels mixed alike over all C columns."""

import numpy as np
import pytest
import torch
from skorch.dataset import ValidSplit
from torch import nn

import skremix._resampling_mixup
from skremix import ReMixClassifier

SMALL = dict(module__hidden_units=(8,), random_state=0)


class RecordingReMix(ReMixClassifier):
    """ReMixClassifier keeping the labels and targets of every training step."""

    def train_forward(self, X, y, **fit_params):
        step = super().train_forward(X, y, **fit_params)
        self.__dict__.setdefault("steps", []).append(
            (y.clone(), step.targets.detach().clone())
        )
        return step


def _data(counts, n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng.normal(size=(len(y), n_features)).astype(np.float32) + y[:, None]
    return X, y


def _per_batch_counts(clf, n_classes):
    return np.array([np.bincount(y.numpy(), minlength=n_classes) for y, _ in clf.steps])


def test_batches_are_class_balanced_with_the_rare_class_in_every_batch():
    X, y = _data([1000, 100, 10])
    clf = RecordingReMix(max_epochs=2, batch_size=64, **SMALL).fit(X, y)
    counts = _per_batch_counts(clf, 3)
    # ceil(1110 / 64) = 18 batches per epoch, 64 = 3 * 21 + 1 samples each
    assert counts.shape == (36, 3)
    assert np.all(counts.sum(axis=1) == 64)
    assert np.all((counts == 21) | (counts == 22))  # every class in every batch
    freq = counts.sum(axis=0) / counts.sum()
    np.testing.assert_allclose(freq, 1 / 3, atol=0.01)
    # plain shuffling would give the rare class 10 / 1110 < 1% of the slots


def test_two_classes_1000_to_10():
    X, y = _data([1000, 10])
    clf = RecordingReMix(max_epochs=1, batch_size=32, **SMALL).fit(X, y)
    counts = _per_batch_counts(clf, 2)
    assert len(counts) == 32  # ceil(1010 / 32)
    assert np.all(counts == 16)


def test_within_batch_balances_only_the_classes_drawn():
    X, y = _data([1000, 10])
    clf = RecordingReMix(balance="within_batch", max_epochs=2, batch_size=32, **SMALL)
    counts = _per_batch_counts(clf.fit(X, y), 2)
    absent = counts[:, 1] == 0
    # P(no rare sample among 32 uniform draws) = (1000 / 1010) ** 32 = 0.73
    assert 0.5 < absent.mean() < 0.95
    assert np.all(counts[absent, 0] == 32)
    assert np.all(counts[~absent] == 16)  # the classes present are balanced


def test_soft_labels_keep_all_columns_when_the_top_class_is_missing():
    X, y = _data([1000, 100, 10])
    clf = RecordingReMix(balance="within_batch", max_epochs=1, batch_size=32, **SMALL)
    clf.fit(X, y)
    missing_top = 0
    for yb, targets in clf.steps:
        assert targets.shape == (len(yb), 3)
        torch.testing.assert_close(targets.sum(dim=1), torch.ones(len(yb)))
        if not (yb == 2).any():
            missing_top += 1
            assert torch.all(targets[:, 2] == 0)
    assert missing_top > 0


def test_features_and_labels_mixed_with_one_lambda_per_batch(monkeypatch):
    lams, mixes = [], []

    def fixed_lambda(alpha, rng):
        lams.append(alpha)
        return 0.25

    real_mixup = skremix._resampling_mixup.mixup

    def spy_mixup(x, lam, perm):
        out = real_mixup(x, lam, perm)
        mixes.append((x.clone(), lam, perm.clone(), out.clone()))
        return out

    monkeypatch.setattr(skremix._resampling_mixup, "sample_lambda", fixed_lambda)
    monkeypatch.setattr(skremix._resampling_mixup, "mixup", spy_mixup)
    X, y = _data([90, 30])
    clf = RecordingReMix(max_epochs=2, batch_size=20, **SMALL).fit(X, y)
    assert lams == [0.3] * 12  # default alpha, one draw per batch: 6 batches x 2
    for (x, lam, perm, out), (yb, targets) in zip(mixes, clf.steps, strict=True):
        assert lam == 0.25
        assert sorted(perm.tolist()) == list(range(20))
        torch.testing.assert_close(out, 0.25 * x + 0.75 * x[perm])
        onehot = torch.eye(2)[yb]
        torch.testing.assert_close(targets, 0.25 * onehot + 0.75 * onehot[perm])


def test_predict_does_not_mix(monkeypatch):
    X, y = _data([90, 30])
    clf = ReMixClassifier(max_epochs=1, **SMALL).fit(X, y)
    calls = []
    monkeypatch.setattr(skremix._resampling_mixup, "mixup", lambda *a: calls.append(a))
    p1 = clf.predict_proba(X)
    np.testing.assert_array_equal(p1, clf.predict_proba(X))
    assert calls == []


def test_tabular_string_labels_and_images(tabular_imbalanced, image_imbalanced):
    X, y = tabular_imbalanced
    clf = ReMixClassifier(max_epochs=2, **SMALL).fit(X, y)
    assert set(clf.predict(X)) <= {"major", "middle", "rare"}
    X, y = image_imbalanced  # uint8 (n, 8, 8), labels 10 / 11 / 12

    class Recorder(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.head = nn.Linear(2 * 8 * 8, 3)
            self.shapes = []

        def forward(self, x):
            self.shapes.append(tuple(x.shape))
            return self.head(self.conv(x).flatten(1))

    clf = RecordingReMix(Recorder(), max_epochs=1, batch_size=30, random_state=0)
    clf.fit(X, y)
    assert clf.input_shape_ == (1, 8, 8)
    # The check of the built module (two samples), then the training batches.
    assert clf.module_.shapes[0] == (2, 1, 8, 8)
    assert clf.module_.shapes[1] == (30, 1, 8, 8)
    assert np.all(_per_batch_counts(clf, 3) == 10)  # 60 / 60 / 6 balanced
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert set(clf.predict(X)) <= {10, 11, 12}


@pytest.mark.parametrize("rebalance", ["rs", "drs"])
def test_rebalance_resampling_is_rejected(rebalance):
    X, y = _data([90, 30])
    with pytest.raises(ValueError, match="already draws class-balanced batches"):
        ReMixClassifier(rebalance=rebalance, max_epochs=1).fit(X, y)


def test_deferred_reweighting_is_allowed():
    X, y = _data([90, 30])
    clf = ReMixClassifier(rebalance="drw", rebalance_start=1, max_epochs=2, **SMALL)
    assert clf.fit(X, y).history[:, "rebalance"] == [False, True]


def test_sampler_uses_the_training_part_only():
    X, y = _data([160, 40])
    clf = RecordingReMix(
        train_split=ValidSplit(0.25, stratified=True),
        max_epochs=1,
        batch_size=30,
        **SMALL,
    ).fit(X, y)
    assert clf.class_counts_.tolist() == [120, 30]
    assert len(clf.steps) == 5  # ceil(150 / 30)
    assert np.all(_per_batch_counts(clf, 2) == 15)
    assert "valid_bacc" in clf.history[-1]


def test_n_batches_and_small_data():
    X, y = _data([90, 30])
    clf = RecordingReMix(n_batches=3, max_epochs=2, batch_size=16, **SMALL).fit(X, y)
    assert len(clf.steps) == 6 and all(len(yb) == 16 for yb, _ in clf.steps)
    # a batch size above the data size gives one batch of n samples
    clf = RecordingReMix(max_epochs=1, batch_size=500, **SMALL).fit(X, y)
    assert [len(yb) for yb, _ in clf.steps] == [120]
    assert _per_batch_counts(clf, 2).tolist() == [[60, 60]]


def test_reproducible_and_no_rng_leak(no_rng_leak):
    X, y = _data([90, 30])
    a = RecordingReMix(max_epochs=2, **SMALL).fit(X, y)
    b = RecordingReMix(max_epochs=2, **SMALL).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert all(
        torch.equal(ya, yb) for (ya, _), (yb, _) in zip(a.steps, b.steps, strict=True)
    )


@pytest.mark.parametrize(
    "params", [dict(alpha=0), dict(balance="global_batch"), dict(n_batches=0)]
)
def test_bad_params(params):
    X, y = _data([90, 30])
    with pytest.raises(ValueError, match="alpha|balance|n_batches"):
        ReMixClassifier(max_epochs=1, **params).fit(X, y)
