"""The papers' details, each checked with numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.datasets import imbalance_kind, imbalance_profile
from skremix.losses import ldam_cross_entropy, ldam_logits, ldam_margins
from skremix.mixing import remix_label_factor
from skremix.nn import ResNetCifar

# ----------------------------------------------------------- Remix, kappa = 1


@pytest.mark.parametrize(
    "lam, expected",
    [
        (0.2, 0.0),  # only "lam < tau" holds: the partner's label
        (0.9, 1.0),  # only "1 - lam < tau" holds: the own label
        (0.5, 0.5),  # both hold (tau > 0.5): no minority, lam_y = lam
        (0.35, 0.35),  # both: 0.35 < 0.7 and 0.65 < 0.7
    ],
)
def test_equal_counts_with_kappa_one_is_unambiguous(lam, expected):
    n = torch.tensor([10.0])
    got = remix_label_factor(lam, n, n, kappa=1.0, tau=0.7)
    assert got.item() == pytest.approx(expected)
    # The tensor path agrees with the host-number path.
    got_t = remix_label_factor(torch.tensor(lam), n, n, kappa=1.0, tau=0.7)
    assert got_t.item() == pytest.approx(expected)


def test_kappa_one_unequal_counts_keep_eq10():
    # ratio 3 >= kappa = 1 and 1/3 <= 1 / kappa: only the count ratio picks a case
    n_i, n_j = torch.tensor([30.0]), torch.tensor([10.0])
    assert remix_label_factor(0.5, n_i, n_j, kappa=1.0, tau=0.7).item() == 0.0
    assert remix_label_factor(0.5, n_j, n_i, kappa=1.0, tau=0.7).item() == 1.0


# ------------------------------------------------------- Remix with LDAM


def _ce(logits, k):
    return math.log(sum(math.exp(v) for v in logits)) - logits[k]


def test_two_term_ldam_by_hand():
    z = [0.2, -0.1]
    m = [0.1, 0.3]
    s = 10.0
    # term of class 0: s (z - m_0 e_0) = [1, -1]; of class 1: [2, -4]
    expected = 0.4 * _ce([1.0, -1.0], 0) + 0.6 * _ce([2.0, -4.0], 1)
    assert expected == pytest.approx(3.652257, abs=1e-6)
    got = ldam_cross_entropy(
        torch.tensor([z]), torch.tensor([[0.4, 0.6]]), torch.tensor(m), s
    )
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # The one-softmax form with target-weighted margins is another loss.
    one_softmax = F.cross_entropy(
        ldam_logits(torch.tensor([z]), torch.tensor([[0.4, 0.6]]), torch.tensor(m), s),
        torch.tensor([[0.4, 0.6]]),
    )
    assert abs(one_softmax.item() - expected) > 0.5


def test_ldam_cross_entropy_one_hot_and_weights():
    torch.manual_seed(0)
    z = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    m = ldam_margins([100, 30, 10, 3])
    w = torch.tensor([0.5, 1.0, 1.5, 2.0])
    hard = ldam_cross_entropy(z, y, m, 30.0, w)
    soft = ldam_cross_entropy(z, F.one_hot(y, 4).float(), m, 30.0, w)
    assert torch.allclose(hard, soft, atol=1e-4)
    ref = w[y] * F.cross_entropy(ldam_logits(z, y, m, 30.0), y, reduction="none")
    assert torch.allclose(hard, ref, atol=1e-5)


def test_ldam_cross_entropy_finite_gradients_when_a_class_dominates():
    z = torch.tensor([[1.0, -1.0, -1.0]], requires_grad=True)
    loss = ldam_cross_entropy(
        z, torch.tensor([[0.5, 0.5, 0.0]]), torch.tensor([0.1, 0.2, 0.3])
    )
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(z.grad).all()


def test_remix_ldam_training_loss_is_the_two_term_form():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = np.array([0] * 90 + [1] * 30)
    clf = RemixClassifier(loss="ldam", rebalance=None, max_epochs=1, random_state=0)
    clf.fit(X, y)
    logits = torch.tensor([[0.3, -0.2], [0.1, 0.4]])
    targets = torch.tensor([[0.25, 0.75], [1.0, 0.0]])
    # margins 0.5 * (N_c / N_min)**-0.25 with N = 90, 30
    m = [0.5 * 3.0**-0.25, 0.5]
    s = 30.0
    rows = []
    for zr, t in zip(logits.tolist(), targets.tolist(), strict=True):
        rows.append(
            sum(
                t[k]
                * _ce([s * (zr[j] - (m[k] if j == k else 0.0)) for j in range(2)], k)
                for k in range(2)
                if t[k] > 0
            )
        )
    got = clf.get_loss(logits, targets, training=True)
    assert got.item() == pytest.approx(np.mean(rows), rel=1e-5)


# ---------------------------------------------------- default placements


@pytest.mark.parametrize(
    "cls, layer",
    [(MFWClassifier, "layer1"), (RSGClassifier, "layer2"), (RemixClassifier, "layer2")],
)
def test_paper_placement_on_the_builtin_resnet(cls, layer):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3, 8, 8)).astype(np.float32)
    y = np.array([0] * 16 + [1] * 8)
    params = dict(
        module=ResNetCifar, module__num_blocks=1, max_epochs=1, random_state=0
    )
    if cls is RemixClassifier:
        params["mix"] = "manifold"
    clf = cls(**params).fit(X, y)
    assert clf._mix_layer_name() == layer
    # an explicit mix_layer wins
    clf.set_params(mix_layer="layer3")
    assert clf._mix_layer_name() == "layer3"


# ------------------------------------------------- manifold layer lists


class _RecordingRemix(RemixClassifier):
    def _mix_layer_name(self):
        name = super()._mix_layer_name()
        self.__dict__.setdefault("seen_layers", []).append(name)
        return name


def test_manifold_mixup_draws_a_layer_per_batch():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    clf = _RecordingRemix(
        mix="manifold",
        mix_layer=["blocks.0", "blocks.1"],
        batch_size=10,
        max_epochs=2,
        random_state=0,
    ).fit(X, y)
    seen = clf.seen_layers
    assert len(seen) == 40  # one draw per training batch
    assert set(seen) == {"blocks.0", "blocks.1"}
    assert 8 <= seen.count("blocks.0") <= 32  # ~Binomial(40, 1/2)


@pytest.mark.parametrize(
    "params, match",
    [
        (
            dict(mix="input", mix_layer=["blocks.0"]),
            "acts on none: it would be ignored",
        ),
        (dict(mix="manifold", mix_layer=[]), "non-empty list"),
        (dict(mix="manifold", mix_layer=["blocks.0", 3]), "non-empty list of str"),
    ],
)
def test_mix_layer_list_errors(params, match):
    X = np.zeros((20, 3), dtype=np.float32)
    y = np.array([0, 1] * 10)
    with pytest.raises(ValueError, match=match):
        RemixClassifier(max_epochs=1, **params).fit(X, y)


def test_mix_layer_list_unknown_name():
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.array([0, 1] * 10)
    clf = RemixClassifier(mix="manifold", mix_layer=["nope"], max_epochs=1)
    with pytest.raises((ValueError, AttributeError), match="nope"):
        clf.fit(X, y)


# --------------------------------------------- ReMix, within-batch balance


def test_remix_within_batch_draws_the_plain_batch_without_replacement():
    y_np = np.array([0] * 80 + [1] * 16 + [2] * 4)
    clf = ReMixClassifier(
        balance="within_batch", batch_size=10, max_epochs=1, random_state=0
    )
    clf.fit(np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32), y_np)
    clf.rng_ = np.random.default_rng(1)
    batches = [b.tolist() for b in clf._train_batches(torch.as_tensor(y_np), 10)]
    assert len(batches) == 10
    # Re-sampling is within each plain batch, and the plain batches of an
    # epoch partition the data: no index is in two batches.
    owners = {}
    for i, batch in enumerate(batches):
        for idx in batch:
            assert owners.setdefault(idx, i) == i
        # each batch is balanced over the classes present in it
        counts = np.bincount(y_np[batch], minlength=3)
        present = counts[counts > 0]
        assert present.max() - present.min() <= 1


# ------------------------------------------------- profile-dependent settings


@pytest.mark.parametrize(
    "counts, kind",
    [
        (imbalance_profile(400, 10, "step", ratio=20), "step"),
        (imbalance_profile(400, 10, "long_tailed", ratio=50), "long_tailed"),
        ([307, 16], "step"),  # two classes
        ([50, 50, 50], "step"),  # balanced
        ([300, 280, 12, 11, 10], "step"),
        ([300, 100, 30, 10], "long_tailed"),
        ([0, 100, 10], "step"),  # an empty class is ignored
    ],
)
def test_imbalance_kind(counts, kind):
    assert imbalance_kind(counts) == kind


def _profile_data(kind):
    counts = imbalance_profile(60, 6, kind, ratio=20)
    y = np.repeat(np.arange(6), counts)
    X = np.random.default_rng(0).normal(size=(len(y), 4)).astype(np.float32)
    return X, y


@pytest.mark.parametrize(
    "kind, ratio, strength", [("step", 0.5, 0.01), ("long_tailed", 0.2, 1.0)]
)
def test_rsg_auto_takes_the_papers_setting_for_the_profile(kind, ratio, strength):
    X, y = _profile_data(kind)
    clf = RSGClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert clf.imbalance_kind_ == kind
    assert (clf.frequent_ratio_, clf.transfer_strength_) == (ratio, strength)
    assert (clf.rsg_.frequent_ratio, clf.rsg_.transfer_strength) == (ratio, strength)
    fixed = RSGClassifier(
        frequent_ratio=0.3, transfer_strength=0.5, max_epochs=1, random_state=0
    ).fit(X, y)
    assert (fixed.rsg_.frequent_ratio, fixed.rsg_.transfer_strength) == (0.3, 0.5)


@pytest.mark.parametrize("kind, beta", [("step", 0.01), ("long_tailed", 2.0)])
def test_mfw_beta_auto(kind, beta):
    X, y = _profile_data(kind)
    clf = MFWClassifier(beta="auto", max_epochs=1, random_state=0).fit(X, y)
    assert clf.beta_ == beta
    assert MFWClassifier(beta=0.5, max_epochs=1).fit(X, y).beta_ == 0.5


# ------------------------------------- partial_fit: one schedule per call


def test_schedules_count_epochs_per_call():
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = np.array([0] * 50 + [1] * 10)
    clf = ERMClassifier(
        lr=0.1,
        lr_schedule="step",
        rebalance="drw",
        rebalance_start=0.5,
        max_epochs=4,
        random_state=0,
    ).fit(X, y)
    # decay epoch 2 of 4: x0.1 from epoch 2, x0.01 from 2 + ceil(2 / 2) = 3
    lrs = [0.1, 0.1, 0.01, 0.001]
    flags = [False, False, True, True]
    assert clf.history[:, "lr"] == pytest.approx(lrs)
    assert clf.history[:, "rebalance"] == flags
    clf.partial_fit(X, y)
    assert clf.history[:, "lr"] == pytest.approx(lrs + lrs)
    assert clf.history[:, "rebalance"] == flags + flags
    clf.set_params(warm_start=True).fit(X, y)
    assert clf.history[:, "rebalance"] == flags * 3


def test_rsg_generation_starts_per_call():
    X, y = _profile_data("long_tailed")
    clf = RSGClassifier(generate_from=1, max_epochs=2, random_state=0).fit(X, y)
    generated = [sum(n) for n in clf.history[:, "batches", :, "rsg_generated"]]
    assert generated[0] == 0 and generated[1] > 0
    clf.partial_fit(X, y)
    generated = [sum(n) for n in clf.history[:, "batches", :, "rsg_generated"]]
    assert generated[2] == 0 and generated[3] > 0


# ------------------------------------------------------------ the defaults


def test_method_defaults_from_the_quality_matrix():
    X, y = _profile_data("long_tailed")
    # ERM is plain skorch training: constant rate, no re-balancing.
    erm = ERMClassifier(max_epochs=5, random_state=0).fit(X, y)
    assert erm.history[:, "rebalance"] == [False] * 5
    assert "lr" not in erm.history[-1]
    # Remix, MFW and RSG: deferred re-weighting over the last 20% of epochs.
    for cls in (RemixClassifier, MFWClassifier, RSGClassifier):
        clf = cls(max_epochs=5, random_state=0).fit(X, y)
        assert clf.history[:, "rebalance"] == [False] * 4 + [True], cls
    assert RemixClassifier().alpha == 0.4
    # ReMix: the step schedule, no re-weighting.
    remix = ReMixClassifier(lr=0.01, max_epochs=10, random_state=0).fit(X, y)
    assert remix.history[:, "lr"] == pytest.approx([0.01] * 8 + [0.001, 0.0001])
    assert remix.history[:, "rebalance"] == [False] * 10
