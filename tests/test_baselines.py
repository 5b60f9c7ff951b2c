"""The long-tail baselines of every classifier, with hand-worked values: the
logit-adjusted loss (Menon et al. 2021) and its post-hoc form, the focal loss
(Lin et al. 2017) and classifier re-training (cRT, Kang et al. 2020)."""

import copy
import math

import numpy as np
import pytest
import torch
from _classifiers import Headless, all_classifiers
from skorch.callbacks import Callback

from skremix import ERMClassifier, ReMixClassifier, RemixClassifier

ROWS = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
LABELS = np.array([0, 0, 0, 1])  # counts 3 and 1: priors 3/4 and 1/4


class ConstantLogits(torch.nn.Module):
    """Logits (1, 0) for every row, whatever the input: the loss of the
    first step can be worked out by hand."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([1.0, 0.0]))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0.0 * x.sum(1, keepdim=True)


def _first_step_loss(**params):
    clf = ERMClassifier(
        ConstantLogits, max_epochs=1, batch_size=-1, random_state=0, **params
    ).fit(ROWS, LABELS)
    return clf.history[0, "batches", 0, "train_loss"]


def _ce(z, y):
    return -(z[y] - math.log(sum(math.exp(v) for v in z)))


def test_logit_adjusted_training_loss_by_hand():
    a, b = math.log(0.75), math.log(0.25)
    z = [1 + a, 0 + b]
    by_hand = (3 * _ce(z, 0) + _ce(z, 1)) / 4
    assert _first_step_loss(loss="logit_adjusted") == pytest.approx(by_hand, rel=1e-6)
    z = [1 + 0.5 * a, 0.5 * b]
    by_hand = (3 * _ce(z, 0) + _ce(z, 1)) / 4
    assert _first_step_loss(loss="logit_adjusted", la_tau=0.5) == pytest.approx(
        by_hand, rel=1e-6
    )


def test_focal_training_loss_by_hand():
    p1 = math.exp(1) / (math.exp(1) + 1)  # softmax of (1, 0)
    p0 = 1 - p1
    by_hand = (3 * p0**2 * -math.log(p1) + p1**2 * -math.log(p0)) / 4
    assert _first_step_loss(loss="focal") == pytest.approx(by_hand, rel=1e-6)
    by_hand = (3 * p0**0.5 * -math.log(p1) + p1**0.5 * -math.log(p0)) / 4
    assert _first_step_loss(loss="focal", focal_gamma=0.5) == pytest.approx(
        by_hand, rel=1e-6
    )


@pytest.mark.parametrize("loss", ["logit_adjusted", "focal"])
def test_mixed_soft_targets_keep_their_mass_under_the_new_losses(loss):
    # Mixup (Remix with tau=0) of a whole batch: every row has the logits
    # (1, 0), so the batch loss is sum_c (mean_i t_ic) l_c, and the mean of
    # the mixed targets is the batch's class frequencies (3/4, 1/4) whatever
    # lam and the permutation: the loss of the unmixed batch.
    clf = RemixClassifier(
        ConstantLogits,
        tau=0.0,
        rebalance=None,
        loss=loss,
        max_epochs=1,
        batch_size=-1,
        random_state=0,
    ).fit(ROWS, LABELS)
    mixed = clf.history[0, "batches", 0, "train_loss"]
    assert mixed == pytest.approx(_first_step_loss(loss=loss), rel=1e-6)


def test_focal_with_class_weights_is_the_alpha_balanced_loss():
    # rebalance='rw': effective-number weights w multiply each row's term.
    clf = ERMClassifier(
        ConstantLogits, loss="focal", rebalance="rw", max_epochs=1, batch_size=-1
    ).fit(ROWS, LABELS)
    w = clf.class_weights_
    p1 = math.exp(1) / (math.exp(1) + 1)
    p0 = 1 - p1
    by_hand = (3 * w[0] * p0**2 * -math.log(p1) + w[1] * p1**2 * -math.log(p0)) / 4
    assert clf.history[0, "batches", 0, "train_loss"] == pytest.approx(
        by_hand, rel=1e-6
    )


def test_loss_adjusted_net_predicts_the_softmax_of_its_raw_logits():
    clf = ERMClassifier(ConstantLogits, loss="logit_adjusted", max_epochs=1).fit(
        ROWS, LABELS
    )
    z = clf.module_.bias.detach().double()
    expected = torch.softmax(z, 0).numpy()
    assert np.allclose(clf.predict_proba(ROWS[:1])[0], expected)


def test_posthoc_adjustment_by_hand():
    clf = ERMClassifier(ConstantLogits, max_epochs=1).fit(ROWS, LABELS)
    with torch.no_grad():  # raw probabilities (0.6, 0.4)
        clf.module_.bias.copy_(torch.tensor([math.log(0.6), math.log(0.4)]))
    assert np.allclose(clf.predict_proba(ROWS[:1]), [[0.6, 0.4]])
    assert clf.predict(ROWS[:1])[0] == 0
    # p_y / pi_y, normalised: (0.6 / 0.75, 0.4 / 0.25) = (0.8, 1.6) -> (1/3, 2/3)
    clf.set_params(posthoc_tau=1.0)
    assert np.allclose(clf.predict_proba(ROWS[:1]), [[1 / 3, 2 / 3]])
    assert clf.predict(ROWS[:1])[0] == 1
    # tau = 0.5: (0.6 / 0.75**0.5, 0.4 / 0.25**0.5)
    clf.set_params(posthoc_tau=0.5)
    u = np.array([0.6 / 0.75**0.5, 0.4 / 0.25**0.5])
    assert np.allclose(clf.predict_proba(ROWS[:1]), [u / u.sum()])
    clf.set_params(posthoc_tau=0.0)
    assert np.allclose(clf.predict_proba(ROWS[:1]), [[0.6, 0.4]])


def test_posthoc_adjustment_of_an_ldam_net_scales_first():
    clf = ERMClassifier(ConstantLogits, loss="ldam", ldam_s=2.0, max_epochs=1).fit(
        ROWS, LABELS
    )
    with torch.no_grad():  # scaled logits log 0.6, log 0.4
        clf.module_.bias.copy_(torch.tensor([math.log(0.6), math.log(0.4)]) / 2)
    clf.set_params(posthoc_tau=1.0)
    assert np.allclose(clf.predict_proba(ROWS[:1]), [[1 / 3, 2 / 3]])


def test_posthoc_adjustment_is_refused_on_a_loss_adjusted_net():
    with pytest.raises(ValueError, match="adjusts twice"):
        ERMClassifier(loss="logit_adjusted", posthoc_tau=1.0, max_epochs=1).fit(
            ROWS, LABELS
        )
    clf = ERMClassifier(loss="logit_adjusted", max_epochs=1).fit(ROWS, LABELS)
    clf.set_params(posthoc_tau=1.0)
    with pytest.raises(ValueError, match="adjusts twice"):
        clf.predict(ROWS)


class Loader(torch.utils.data.DataLoader):
    """A DataLoader of the user's own: skremix's batch loop steps aside."""


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(loss="balanced_softmax"), "loss"),
        (dict(la_tau=-1.0), "la_tau"),
        (dict(focal_gamma=-0.5), "focal_gamma"),
        (dict(posthoc_tau=-1.0), "posthoc_tau"),
        (dict(rebalance="CRT"), "rebalance"),
        (dict(rebalance="crt", rebalance_start=0), "at least one plain epoch"),
        (dict(rebalance="crt", rebalance_start=0.5, max_epochs=1), "plain epoch"),
        (dict(rebalance="crt", iterator_train=Loader), "iterator_train"),
        # re-sampling is drawn by the same batch loop: never silently skipped
        (dict(rebalance="rs", iterator_train=Loader), "rebalance='rs'.*iterator_train"),
        (
            dict(rebalance="drs", iterator_train=Loader),
            "rebalance='drs'.*iterator_train",
        ),
    ],
)
def test_bad_parameters_are_refused_before_training(params, match):
    clf = ERMClassifier(**{"max_epochs": 2, **params})
    with pytest.raises(ValueError, match=match):
        clf.fit(ROWS, LABELS)
    assert clf.history is None or len(clf.history) == 0


def test_remix_sampling_refuses_a_loader_that_would_not_balance():
    clf = ReMixClassifier(max_epochs=2, iterator_train=Loader)
    with pytest.raises(ValueError, match="ReMixClassifier draws class-balanced"):
        clf.fit(ROWS, LABELS)
    assert len(clf.history or []) == 0


def test_a_loader_of_ones_own_still_trains_without_resampling():
    clf = ERMClassifier(max_epochs=1, iterator_train=Loader, random_state=0)
    np.testing.assert_allclose(clf.fit(ROWS, LABELS).predict_proba(ROWS).sum(1), 1.0)


def test_crt_without_a_head_is_refused_before_training():
    clf = ERMClassifier(Headless, rebalance="crt", max_epochs=2, rebalance_start=1)
    with pytest.raises(ValueError, match="no 'head' submodule"):
        clf.fit(ROWS, LABELS)
    assert len(clf.history) == 0


# ----------------------------------------------------------------- cRT


class Snapshot(Callback):
    """The module's parameters at the end of each epoch."""

    def initialize(self):
        self.states = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states.append(copy.deepcopy(net.module_.state_dict()))


@pytest.mark.parametrize("cls", all_classifiers(), ids=lambda c: c.__name__)
def test_crt_freezes_every_feature_parameter_bit_for_bit(cls, tabular_imbalanced):
    X, y = tabular_imbalanced
    snap = Snapshot()
    clf = cls(
        rebalance="crt",
        rebalance_start=2,
        max_epochs=4,
        lr=1e-2,
        random_state=0,
        callbacks=[("snap", snap)],
    ).fit(X, y)
    assert clf.history[:, "rebalance"] == [False, False, True, True]
    plain_end, final = snap.states[1], clf.module_.state_dict()
    names = [n for n, _ in clf.module_.named_parameters()]
    features = [n for n in names if not n.startswith("head.")]
    head = [n for n in names if n.startswith("head.")]
    assert features and head
    # The plain epochs train the features; the re-training epochs do not.
    assert not all(torch.equal(snap.states[0][n], plain_end[n]) for n in features)
    for n in features:
        assert torch.equal(plain_end[n], final[n]), n
    assert all(not torch.equal(plain_end[n], final[n]) for n in head)
    # After the fit every parameter trains again.
    assert all(p.requires_grad for p in clf.module_.parameters())


def test_crt_freezes_the_convolutions_and_batchnorm_weights(image_imbalanced):
    X, y = image_imbalanced
    snap = Snapshot()
    clf = ERMClassifier(
        rebalance="crt",
        rebalance_start=1,
        max_epochs=2,
        random_state=0,
        callbacks=[("snap", snap)],
    ).fit(X, y)
    final = clf.module_.state_dict()
    for n, _ in clf.module_.named_parameters():
        if not n.startswith("head."):
            assert torch.equal(snap.states[0][n], final[n]), n


class ResetHead(torch.nn.Linear):
    """A head whose re-initialisation is recognisable: all 0.25."""

    resets = 0

    def reset_parameters(self):
        type(self).resets += 1
        with torch.no_grad():
            self.weight.fill_(0.25)
            if self.bias is not None:
                self.bias.fill_(0.25)


class WithResetHead(torch.nn.Module):
    def __init__(self, n_features, n_classes):
        super().__init__()
        self.body = torch.nn.Linear(n_features, 4)
        self.head = ResetHead(4, n_classes)
        with torch.no_grad():  # the initial head: all 0.5
            self.head.weight.fill_(0.5)
            self.head.bias.fill_(0.5)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


@pytest.mark.parametrize("rebalance", ["crt", None])
def test_crt_reinitialises_the_head_once(rebalance, tabular_imbalanced):
    X, y = tabular_imbalanced
    ResetHead.resets = 0
    # A learning rate too small to move any weight: what is left is the
    # re-initialisation.
    clf = ERMClassifier(
        WithResetHead,
        rebalance=rebalance,
        rebalance_start=1,
        max_epochs=3,
        lr=1e-30,
        random_state=0,
    ).fit(X, y)
    resets_at_build = 1  # nn.Linear's constructor
    head = clf.module_.head
    if rebalance == "crt":
        assert ResetHead.resets == resets_at_build + 1
        assert torch.all(head.weight == 0.25) and torch.all(head.bias == 0.25)
    else:
        assert ResetHead.resets == resets_at_build
        assert torch.all(head.weight == 0.5) and torch.all(head.bias == 0.5)


class BatchLabels(Callback):
    """The labels of every training batch, per epoch."""

    def initialize(self):
        self.epochs = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.epochs.append([])

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.epochs[-1].append(batch[1].cpu().numpy())


@pytest.mark.parametrize("cls", [ERMClassifier, RemixClassifier])
def test_crt_batches_are_class_balanced(cls):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3)).astype(np.float32)
    y = np.r_[np.zeros(900, int), np.ones(100, int)]
    labels = BatchLabels()
    cls(
        rebalance="crt",
        rebalance_start=1,
        max_epochs=3,
        batch_size=100,
        random_state=0,
        callbacks=[("labels", labels)],
    ).fit(X, y)
    plain, *crt = [np.concatenate(e) for e in labels.epochs]
    # The plain epoch is one shuffled pass: the counts of the data.
    assert np.bincount(plain).tolist() == [900, 100]
    # Re-training: 1000 draws per epoch, each class with probability 1/2
    # (binomial standard deviation 16): far from the data's 900 / 100.
    for epoch in crt:
        assert len(epoch) == 1000
        assert 430 <= np.bincount(epoch, minlength=2)[1] <= 570


def test_crt_partial_fit_trains_the_features_in_its_plain_epochs(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(
        rebalance="crt", rebalance_start=1, max_epochs=2, random_state=0
    )
    clf.partial_fit(X, y)
    before = copy.deepcopy(clf.module_.blocks.state_dict())
    clf.partial_fit(X, y)  # one plain epoch, then one of re-training
    after = clf.module_.blocks.state_dict()
    assert not all(torch.equal(before[n], after[n]) for n in before)
