"""The LDAM loss: margins and logits by hand, and loss='ldam' in the base."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import InvalidParameterError
from torch import nn

from skremix import ERMClassifier, RemixClassifier, RSGClassifier
from skremix.losses import ldam_logits, ldam_margins
from skremix.nn import MLP, NormedLinear

QUICK = dict(max_epochs=3, batch_size=32, lr=1e-2, random_state=0)


# ------------------------------------------------------------ pure functions
def test_margins_by_hand():
    # N**-0.25 = [0.5, 1] -> scaled to a maximum of 0.5.
    assert ldam_margins([16, 1]).tolist() == pytest.approx([0.25, 0.5])
    # [81, 16, 1] -> [1/3, 1/2, 1] -> * 0.5.
    assert ldam_margins(np.array([81, 16, 1])).tolist() == pytest.approx(
        [1 / 6, 1 / 4, 1 / 2]
    )
    assert ldam_margins([81, 16, 1], max_m=1.0).tolist() == pytest.approx(
        [1 / 3, 1 / 2, 1]
    )
    # Equal counts: every margin is max_m; an empty class counts as one.
    assert ldam_margins([5, 5]).tolist() == pytest.approx([0.5, 0.5])
    assert ldam_margins([16, 0]).tolist() == pytest.approx([0.25, 0.5])
    counts = torch.tensor([16, 1])
    assert ldam_margins(counts).device == counts.device
    with pytest.raises(ValueError, match="max_m"):
        ldam_margins([16, 1], max_m=0.0)


def test_ldam_logits_by_hand():
    z = torch.tensor([[0.2, -0.1, 0.4], [0.0, 0.5, -0.5]])
    m = torch.tensor([1 / 6, 1 / 4, 1 / 2])
    # s * (z - m[y] onehot(y)): class 2 loses 0.5, class 1 loses 0.25.
    out = ldam_logits(z, torch.tensor([2, 1]), m, s=30.0)
    expected = [[6.0, -3.0, -3.0], [0.0, 7.5, -15.0]]
    assert torch.allclose(out, torch.tensor(expected))
    # Soft target (0.5, 0, 0.5): margins weighted by the target.
    out = ldam_logits(z[:1], torch.tensor([[0.5, 0.0, 0.5]]), m, s=30.0)
    assert torch.allclose(out, torch.tensor([[3.5, -3.0, 4.5]]))
    # A one-hot soft target is the hard-label formula.
    onehot = F.one_hot(torch.tensor([2, 1]), 3).float()
    assert torch.allclose(
        ldam_logits(z, onehot, m), ldam_logits(z, torch.tensor([2, 1]), m)
    )


# ------------------------------------------------------------ in the base
@pytest.fixture(scope="module")
def fitted_ldam(tabular_imbalanced):
    X, y = tabular_imbalanced
    return ERMClassifier(loss="ldam", rebalance="drw", **QUICK).fit(X, y), X, y


def test_ldam_drw_fit(fitted_ldam):
    clf, X, y = fitted_ldam
    assert isinstance(clf.module_.head, NormedLinear)  # the cosine classifier
    assert clf.history[:, "rebalance"] == [False, False, True]
    assert np.isfinite(clf.history[:, "train_loss"]).all()
    assert (clf.predict(X) == y).mean() > 0.8


def test_training_loss_is_ldam(fitted_ldam):
    clf, _, _ = fitted_ldam
    z = torch.tensor([[0.2, -0.1, 0.4], [0.0, 0.5, -0.5]])
    y = torch.tensor([2, 1])
    m = ldam_margins(clf.class_counts_)  # counts 140 / 45 / 15
    clf.rebalance_active_ = False
    expected = F.cross_entropy(30.0 * (z - m[y][:, None] * F.one_hot(y, 3)), y)
    assert torch.allclose(clf.get_loss(z, y, training=True), expected)
    # DRW weights multiply the per-sample LDAM losses (divided by B).
    clf.rebalance_active_ = True
    w = torch.as_tensor(clf.class_weights_, dtype=torch.float32)
    per_sample = F.cross_entropy(
        30.0 * (z - m[y][:, None] * F.one_hot(y, 3)), y, reduction="none"
    )
    assert torch.allclose(clf.get_loss(z, y, training=True), (w[y] * per_sample).mean())
    # Soft targets, as mixing methods pass them: one LDAM term per target
    # class, each with its own margin (the two-term Remix-LDAM loss).
    clf.rebalance_active_ = False
    t = torch.tensor([[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    terms = [
        F.cross_entropy(
            30.0 * (z - m[k] * F.one_hot(torch.tensor([k, k]), 3)),
            torch.tensor([k, k]),
            reduction="none",
        )
        for k in range(3)
    ]
    expected = sum(t[:, k] * terms[k] for k in range(3)).mean()
    assert torch.allclose(clf.get_loss(z, t, training=True), expected)
    # Validation: the scale, no margin.
    assert torch.allclose(clf.get_loss(z, y), F.cross_entropy(30.0 * z, y))


def test_predict_proba_is_softmax_of_scaled_logits(fitted_ldam):
    clf, X, _ = fitted_ldam
    with torch.no_grad():
        cos = clf.module_.eval()(torch.as_tensor(X, dtype=torch.float32))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(
        proba, torch.softmax(30.0 * cos.double(), 1).numpy(), atol=1e-6
    )
    # Cosines alone would give near-uniform probabilities.
    assert proba.max(1).mean() > torch.softmax(cos.double(), 1).max(1).values.mean()
    assert np.array_equal(clf.predict(X), clf.classes_[cos.argmax(1).numpy()])


def test_normed_head_choice(tabular_imbalanced):
    X, y = tabular_imbalanced
    one = dict(QUICK, max_epochs=1)
    clf = ERMClassifier(loss="ldam", module__normed_head=False, **one).fit(X, y)
    assert isinstance(clf.module_.head, nn.Linear)
    assert isinstance(
        ERMClassifier(MLP, loss="ldam", **one).fit(X, y).module_.head, NormedLinear
    )
    assert isinstance(ERMClassifier(**one).fit(X, y).module_.head, nn.Linear)
    # An instance is used as given; a class without normed_head is fine.
    instance = MLP(n_features=6, n_classes=3)
    assert isinstance(
        ERMClassifier(instance, loss="ldam", **one).fit(X, y).module_.head, nn.Linear
    )

    class Plain(nn.Module):
        def __init__(self, n_features, n_classes):
            super().__init__()
            self.fc = nn.Linear(n_features, n_classes)

        def forward(self, x):
            return self.fc(x)

    assert (
        ERMClassifier(Plain, loss="ldam", **one).fit(X, y).predict(X).shape == y.shape
    )


def test_ldam_with_mixing_and_rsg(tabular_imbalanced):
    X, y = tabular_imbalanced
    remix = RemixClassifier(loss="ldam", rebalance="drw", **QUICK).fit(X, y)
    assert np.isfinite(remix.history[:, "train_loss"]).all()
    rsg = RSGClassifier(loss="ldam", rebalance="drw", generate_from=2, **QUICK).fit(
        X, y
    )
    assert isinstance(rsg.module_.head, NormedLinear)
    assert sum(rsg.history[-1, "batches", :, "rsg_generated"]) > 0


@pytest.mark.parametrize(
    "params", [{"loss": "hinge"}, {"ldam_s": 0.0}, {"ldam_max_m": -0.5}]
)
def test_invalid_ldam_params(tabular_imbalanced, params):
    X, y = tabular_imbalanced
    with pytest.raises(InvalidParameterError):
        ERMClassifier(**{**QUICK, **params}).fit(X, y)
