"""The long-tail baselines of every classifier, with hand-worked values: the
logit-adjusted loss (Menon et al. 2021) and its post-hoc form, and the focal
loss (Lin et al. 2017)."""

import math

import numpy as np
import pytest
import torch

from skremix import ERMClassifier

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


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(loss="balanced_softmax"), "loss"),
        (dict(la_tau=-1.0), "la_tau"),
        (dict(focal_gamma=-0.5), "focal_gamma"),
        (dict(posthoc_tau=-1.0), "posthoc_tau"),
    ],
)
def test_bad_parameters_are_refused_before_training(params, match):
    clf = ERMClassifier(**{"max_epochs": 2, **params})
    with pytest.raises(ValueError, match=match):
        clf.fit(ROWS, LABELS)
    assert clf.history is None or len(clf.history) == 0
