"""MiSLAS (Zhong et al. 2021): label-aware smoothing by hand-worked numbers,
its two stages (mixup, then the head re-trained from its trained weights on
smoothed targets), the shifted BatchNorm and the refusals."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skorch.callbacks import Callback

from skremix import ERMClassifier, MiSLASClassifier
from skremix._head import crt_freeze
from skremix.losses import (
    label_aware_smoothing,
    label_aware_targets,
    soft_cross_entropy,
)

# ------------------------------------------------------------ the factors


def test_factors_by_hand():
    counts = [500, 100, 20, 5]
    # x = (N - 5) / (500 - 5): 1, 95/495, 15/495, 0
    x = [1.0, 95 / 495, 15 / 495, 0.0]
    expected = {
        "concave": [0.1 + 0.2 * math.sin(math.pi * v / 2) for v in x],
        "linear": [0.1 + 0.2 * v for v in x],
        "convex": [0.1 + 0.2 * (1 - math.cos(math.pi * v / 2)) for v in x],
    }
    for shape, values in expected.items():
        got = label_aware_smoothing(counts, head=0.3, tail=0.1, shape=shape)
        np.testing.assert_allclose(got.numpy(), values, rtol=1e-6)
    got = label_aware_smoothing(counts, 0.3, 0.1, shape="exp", power=2.0)
    np.testing.assert_allclose(got.numpy(), [0.1 + 0.2 * v**2 for v in x], rtol=1e-6)


def test_reference_code_convex_form_is_the_same():
    # The reference writes the convex shape as head + (head - tail) *
    # sin(1.5 pi + pi x / 2).
    counts = np.array([300, 120, 40, 7])
    head, tail = 0.4, 0.1
    x = (counts - 7) / (300 - 7)
    reference = head + (head - tail) * np.sin(1.5 * np.pi + x * np.pi / 2)
    got = label_aware_smoothing(counts, head, tail, shape="convex")
    np.testing.assert_allclose(got.numpy(), reference, rtol=1e-6)


def test_equal_counts_smooth_every_class_as_the_head():
    got = label_aware_smoothing([7, 7, 7], head=0.2, tail=0.05)
    np.testing.assert_allclose(got.numpy(), [0.2, 0.2, 0.2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(head=1.0), "head must be in"),
        (dict(tail=-0.1), "tail must be in"),
        (dict(shape="sigmoid"), "shape must be one of"),
        (dict(shape="exp"), "power is the exponent"),
        (dict(power=2.0), "power is the exponent"),
        (dict(shape="exp", power=0.0), "power must be > 0"),
    ],
)
def test_factor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        label_aware_smoothing([10, 5], **kwargs)


# ----------------------------------------------------------- the targets


def test_hard_targets_by_hand():
    eps = torch.tensor([0.3, 0.15, 0.0])
    got = label_aware_targets(torch.tensor([0, 1, 2]), eps)
    expected = torch.tensor(
        [
            [0.7 + 0.1, 0.1, 0.1],  # 0.3 / 3 everywhere, 0.7 on the class
            [0.05, 0.85 + 0.05, 0.05],
            [0.0, 0.0, 1.0],
        ]
    )
    torch.testing.assert_close(got, expected)


def test_soft_targets_smooth_each_component():
    eps = torch.tensor([0.3, 0.1, 0.0])
    hard = label_aware_targets(torch.tensor([0, 2]), eps)
    soft = torch.tensor([[0.25, 0.0, 0.75]])
    got = label_aware_targets(soft, eps)
    torch.testing.assert_close(got[0], 0.25 * hard[0] + 0.75 * hard[1])
    assert got.sum().item() == pytest.approx(1.0)


def test_the_loss_is_the_reference_codes():
    # (1 - eps_y) * nll + eps_y * mean_k(-log p_k), methods.py of MiSLAS.
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 2])
    eps = label_aware_smoothing([90, 40, 12, 3], head=0.3, tail=0.0)
    logp = F.log_softmax(logits, dim=1)
    nll = -logp.gather(1, y[:, None]).squeeze(1)
    reference = ((1 - eps[y]) * nll + eps[y] * (-logp.mean(dim=1))).mean()
    got = soft_cross_entropy(logits, label_aware_targets(y, eps)).mean()
    torch.testing.assert_close(got, reference)


# ------------------------------------------------------------- the stages


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [120, 30, 8])
    X = (rng.normal(size=(len(y), 6)) + y[:, None]).astype(np.float32)
    return X, y


class Stages(Callback):
    """The head's weight at the end of stage one and after the first step
    of stage two, the feature weights at the end of stage one, and every
    training target."""

    def __init__(self, start):
        self.start = start

    def initialize(self):
        self.head_end_one = self.head_first_two = self.features_end_one = None
        self.targets = []
        return self

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.start:
            self.head_end_one = net.module_.head.weight.detach().clone()
            self.features_end_one = {
                n: p.detach().clone()
                for n, p in net.module_.named_parameters()
                if not n.startswith("head.")
            }

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training and len(net.history) == self.start + 1:
            if self.head_first_two is None:
                self.head_first_two = net.module_.head.weight.detach().clone()


class RecordTargets(MiSLASClassifier):
    """MiSLAS recording the targets of every training batch."""

    def get_loss(self, y_pred, y_true, X=None, training=False, sample_weight=None):
        if training:
            self.__dict__.setdefault("seen_targets", []).append(
                (len(self.history) - 1, y_true.detach().clone())  # 0-based
            )
        return super().get_loss(y_pred, y_true, X, training, sample_weight)


SMALL = dict(max_epochs=4, rebalance_start=3, batch_size=32, random_state=0)


def test_stage_two_goes_on_from_the_trained_head(rows):
    X, y = rows
    moves = {}
    for cls in (MiSLASClassifier, ERMClassifier):
        probe = Stages(start=3)
        kw = dict(SMALL, rebalance="crt", lr=1e-4, callbacks=[probe])
        cls(**kw).fit(X, y)
        moves[cls] = (probe.head_first_two - probe.head_end_one).norm().item()
    # One step of lr 1e-4 moves the head by ~1e-4; cRT's re-initialisation
    # moves it by the size of the weights.
    assert moves[MiSLASClassifier] < 0.01 * moves[ERMClassifier]


def test_features_frozen_in_stage_two(rows):
    X, y = rows
    probe = Stages(start=3)
    clf = MiSLASClassifier(**SMALL, callbacks=[probe], precise_bn=False).fit(X, y)
    after = dict(clf.module_.named_parameters())
    for name, before in probe.features_end_one.items():
        torch.testing.assert_close(after[name].detach(), before, rtol=0, atol=0)


def test_targets_mixed_then_smoothed(rows):
    X, y = rows
    clf = RecordTargets(**SMALL).fit(X, y)
    eps = torch.as_tensor(clf.smoothing_)
    k = len(clf.classes_)
    stage_one = [t for epoch, t in clf.seen_targets if epoch < 3]
    stage_two = [t for epoch, t in clf.seen_targets if epoch == 3]
    assert stage_one and stage_two
    for t in stage_one:
        # Mixup: at most two classes per row, one lam for the batch.
        assert ((t > 0).sum(dim=1) <= 2).all()
        assert len({round(v, 5) for v in t.max(dim=1).values.tolist()}) <= 2
    for t in stage_two:
        cls = t.argmax(dim=1)
        expected = label_aware_targets(cls, eps, k)
        torch.testing.assert_close(t, expected)
    # Class counts 120, 30, 8: eps = 0.3 sin(pi/2 * (N - 8) / 112).
    x = (np.array([120, 30, 8]) - 8) / 112
    np.testing.assert_allclose(clf.smoothing_, 0.3 * np.sin(np.pi / 2 * x), rtol=1e-6)


def test_stage_two_draws_class_balanced_batches(rows):
    X, y = rows
    clf = RecordTargets(**{**SMALL, "max_epochs": 8, "rebalance_start": 4}).fit(X, y)
    labels = torch.cat([t.argmax(dim=1) for epoch, t in clf.seen_targets if epoch >= 4])
    shares = torch.bincount(labels, minlength=3).double() / len(labels)
    # Each draw picks a class uniformly: 1/3 each, binomial SE on ~630 draws.
    se = math.sqrt(1 / 3 * 2 / 3 / len(labels))
    assert (shares - 1 / 3).abs().max() < 5 * se


def test_shifted_batch_norm_updates_statistics_not_parameters():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], [90, 12])
    X = (rng.normal(size=(len(y), 1, 8, 8)) + y[:, None, None, None]).astype(np.float32)

    class BNProbe(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                bn = next(
                    m
                    for m in net.module_.modules()
                    if isinstance(m, torch.nn.BatchNorm2d)
                )
                self.bn, self.mean = bn, bn.running_mean.clone()
                self.weight = bn.weight.detach().clone()

    probe = BNProbe()
    MiSLASClassifier(
        max_epochs=3,
        rebalance_start=2,
        batch_size=16,
        precise_bn=False,
        random_state=0,
        callbacks=[probe],
    ).fit(X, y)
    assert not torch.equal(probe.bn.running_mean, probe.mean)  # shifted
    torch.testing.assert_close(probe.bn.weight.detach(), probe.weight, rtol=0, atol=0)


def test_crt_freeze_keeps_the_head_without_reset():
    module = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    head = module[1]
    before = head.weight.detach().clone()
    frozen = crt_freeze(module, head, reset_head=False)
    assert frozen == ["0.weight", "0.bias"]
    assert torch.equal(head.weight, before)
    crt_freeze(module, head)  # cRT: a new head
    assert not torch.equal(head.weight, before)


# ------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(rebalance="drw"), "two stages"),
        (dict(rebalance=None), "two stages"),
        (dict(loss="ldam"), "does not compose"),
        (dict(las_shape="exp"), "las_power is the exponent"),
        (dict(las_power=2.0), "las_power is the exponent"),
        (dict(las_head=1.0), "las_head"),
        (dict(alpha=0.0), "alpha"),
    ],
)
def test_refusals_before_training(rows, params, match):
    X, y = rows
    clf = RecordTargets(max_epochs=2, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert "seen_targets" not in clf.__dict__  # not one training step
