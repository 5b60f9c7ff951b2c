"""precise_bn: BatchNorm running statistics recomputed after training, on
clean inputs, checked against statistics computed here by hand."""

import numpy as np
import pytest
import torch
from torch import nn

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)


class InputNorm(nn.Module):
    """BatchNorm on the raw input, then a linear head: the layer's running
    statistics are statistics of X itself, known without the net."""

    def __init__(self, n_features=3, n_classes=2):
        super().__init__()
        self.norm = nn.BatchNorm1d(n_features)
        self.hidden = nn.Sequential(nn.Linear(n_features, 8), nn.ReLU())
        self.head = nn.Linear(8, n_classes)
        self.unused = nn.BatchNorm1d(8)  # never called by forward
        self.default_mix_layer = "hidden"

    def forward(self, x):
        return self.head(self.hidden(self.norm(x)))


def _rows(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], [72, n - 72])
    X = rng.normal(size=(n, 3)).astype(np.float32) * [1.0, 2.0, 0.5] + 3.0 * y[:, None]
    return X.astype(np.float32), y


def _fit(cls=ERMClassifier, **params):
    X, y = _rows()
    params = {"max_epochs": 3, "random_state": 0, "module": InputNorm, **params}
    return cls(**params).fit(X, y), X


def test_one_batch_gives_the_mean_and_unbiased_variance_of_the_data():
    clf, X = _fit(batch_size=-1)
    norm = clf.module_.norm
    np.testing.assert_allclose(norm.running_mean.numpy(), X.mean(0), rtol=1e-5)
    np.testing.assert_allclose(norm.running_var.numpy(), X.var(0, ddof=1), rtol=1e-5)
    assert norm.momentum == 0.1  # restored
    assert int(norm.num_batches_tracked) == 1


def test_equal_batches_average_to_the_data_mean():
    # 96 rows in batches of 32: every row once, so the mean of the three
    # batch means is the mean of X, whatever the shuffle.
    clf, X = _fit(batch_size=32)
    norm = clf.module_.norm
    np.testing.assert_allclose(norm.running_mean.numpy(), X.mean(0), rtol=1e-5)
    assert int(norm.num_batches_tracked) == 3
    # The variance is the average of per-batch variances: at most the
    # whole data's (between-batch spread of the means is left out).
    assert np.all(norm.running_var.numpy() <= X.var(0, ddof=1) * 1.05)


def test_off_keeps_the_exponential_average_of_training():
    on, X = _fit(batch_size=-1)
    off, _ = _fit(batch_size=-1, precise_bn=False)
    # 3 steps of momentum 0.1 from (0, 1) on the same single batch.
    expected = (1 - 0.9**3) * X.mean(0)
    np.testing.assert_allclose(
        off.module_.norm.running_mean.numpy(), expected, rtol=1e-5
    )
    assert int(off.module_.norm.num_batches_tracked) == 3
    # The weights are the same: only the statistics differ.
    for a, b in zip(on.module_.parameters(), off.module_.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_layer_the_forward_pass_does_not_reach_keeps_its_statistics():
    clf, _ = _fit()
    unused = clf.module_.unused
    assert int(unused.num_batches_tracked) == 0
    assert torch.equal(unused.running_mean, torch.zeros(8))


@pytest.mark.parametrize(
    "cls, params",
    [
        (RemixClassifier, {}),  # input mixing
        (RemixClassifier, {"mix": "manifold"}),
        (MFWClassifier, {"rebalance": None}),
        (RSGClassifier, {"rebalance": None}),
    ],
)
def test_mixing_methods_recalibrate_on_clean_inputs(cls, params):
    # Trained on mixed inputs or features; the recalibrated statistics of
    # the input layer are those of the clean data.
    clf, X = _fit(cls, batch_size=-1, **params)
    np.testing.assert_allclose(
        clf.module_.norm.running_mean.numpy(), X.mean(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        clf.module_.norm.running_var.numpy(), X.var(0, ddof=1), rtol=1e-5
    )


def test_resampling_methods_recalibrate_on_their_own_batches():
    # ReMix trains on class-balanced batches: its statistics are of those
    # (rare class 1, mean 3 higher, drawn as often as class 0), not of X.
    clf, X = _fit(ReMixClassifier, batch_size=32)
    _, y = _rows()
    mean = clf.module_.norm.running_mean.numpy()
    balanced = 0.5 * (X[y == 0].mean(0) + X[y == 1].mean(0))
    assert abs(mean - balanced).max() < abs(mean - X.mean(0)).max()


def test_default_modules_without_batchnorm_are_untouched():
    X, y = _rows()
    on = ERMClassifier(max_epochs=2, random_state=0).fit(X, y)
    off = ERMClassifier(max_epochs=2, random_state=0, precise_bn=False).fit(X, y)
    np.testing.assert_array_equal(on.predict_proba(X), off.predict_proba(X))


def test_convnet_statistics_change_and_fit_stays_deterministic():
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 8, 8), dtype=np.float32)
    y = np.repeat([0, 1], [30, 10])
    params = dict(max_epochs=2, batch_size=20, random_state=0)
    a = RemixClassifier(**params).fit(X, y)
    b = RemixClassifier(**params).fit(X, y)
    off = RemixClassifier(precise_bn=False, **params).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    bn = [m for m in a.module_.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_off = [m for m in off.module_.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn and not torch.allclose(bn[0].running_mean, bn_off[0].running_mean)
    # The first BatchNorm follows the first convolution, whose input is the
    # clean images: two equal batches of 20 average to the mean of the
    # convolution's output over all 40 images.
    conv = a.module_.block1[0]
    with torch.no_grad():
        out = conv(torch.from_numpy(X))
    per_channel = out.mean(dim=(0, 2, 3)).numpy()
    np.testing.assert_allclose(
        bn[0].running_mean.numpy(), per_channel, rtol=1e-4, atol=1e-6
    )


def test_partial_fit_recalibrates_each_call():
    X, y = _rows()
    clf = ERMClassifier(module=InputNorm, batch_size=-1, max_epochs=1, random_state=0)
    clf.partial_fit(X, y)
    clf.partial_fit(X + 1.0, y)
    np.testing.assert_allclose(
        clf.module_.norm.running_mean.numpy(), (X + 1.0).mean(0), rtol=1e-5
    )


def test_precise_bn_is_validated():
    X, y = _rows()
    for bad in ("yes", 0, -1, 1.5):
        with pytest.raises(ValueError, match="precise_bn"):
            ERMClassifier(precise_bn=bad).fit(X, y)


def test_a_batch_count_bounds_the_pass():
    # Batches in data order (shuffle=False): the first two of 32 rows are
    # rows 0-63, so the running mean is the mean of those two batch means
    # and the variance the mean of their unbiased variances.
    X, _ = _rows()
    clf, _ = _fit(batch_size=32, precise_bn=2, iterator_train__shuffle=False)
    norm = clf.module_.norm
    assert int(norm.num_batches_tracked) == 2
    halves = X[:32], X[32:64]
    np.testing.assert_allclose(
        norm.running_mean.numpy(), np.mean([h.mean(0) for h in halves], 0), rtol=1e-5
    )
    np.testing.assert_allclose(
        norm.running_var.numpy(),
        np.mean([h.var(0, ddof=1) for h in halves], 0),
        rtol=1e-5,
    )
    # A count above the pass's 3 batches is the whole pass.
    whole, _ = _fit(batch_size=32, precise_bn=True)
    bounded, _ = _fit(batch_size=32, precise_bn=10)
    assert int(bounded.module_.norm.num_batches_tracked) == 3
    torch.testing.assert_close(
        bounded.module_.norm.running_mean, whole.module_.norm.running_mean
    )


class TokenNorm(nn.Module):
    """Token ids -> EmbeddingBag -> BatchNorm -> head."""

    def __init__(self, n_classes=2):
        super().__init__()
        self.embed = nn.EmbeddingBag(50, 4)
        self.norm = nn.BatchNorm1d(4)
        self.head = nn.Linear(4, n_classes)

    def forward(self, x):
        return self.head(self.norm(self.embed(x)))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
def test_token_ids_reach_the_module_as_integers_in_the_recalibration(dtype):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 50, size=(40, 6)).astype(dtype)
    y = np.repeat([0, 1], [30, 10])
    clf = ERMClassifier(
        module=TokenNorm,
        integer_inputs="keep",
        batch_size=-1,
        max_epochs=2,
        random_state=0,
    ).fit(X, y)
    with torch.no_grad():
        bags = clf.module_.embed(torch.as_tensor(X, dtype=torch.int64))
    np.testing.assert_allclose(
        clf.module_.norm.running_mean.numpy(),
        bags.mean(0).numpy(),
        rtol=1e-5,
        atol=1e-7,
    )


def test_sample_weights_do_not_change_the_recalibration_data():
    # The pass normalises with the clean inputs; weights only scale losses.
    X, y = _rows()
    w = np.linspace(0.5, 2.0, len(y))
    clf = ERMClassifier(module=InputNorm, batch_size=-1, max_epochs=2, random_state=0)
    clf.fit(X, y, sample_weight=w)
    np.testing.assert_allclose(
        clf.module_.norm.running_mean.numpy(), X.mean(0), rtol=1e-5
    )
