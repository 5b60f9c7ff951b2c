"""The learning-rate schedules: constant (default), step and cosine."""

import math

import numpy as np
import pytest

from skremix import ERMClassifier
from skremix.callbacks import LRSchedule

X = np.random.default_rng(0).normal(size=(40, 3))
Y = np.array([0, 1] * 20)


def test_cosine_rates_by_hand():
    clf = ERMClassifier(lr=0.1, lr_schedule="cosine", max_epochs=4, random_state=0).fit(
        X, Y
    )
    # 0.1 * (1 + cos(pi * e / 4)) / 2 for e = 0..3
    expected = [
        0.1,
        0.1 * (1 + math.sqrt(0.5)) / 2,
        0.05,
        0.1 * (1 - math.sqrt(0.5)) / 2,
    ]
    assert clf.history[:, "lr"] == pytest.approx(expected)
    # the optimizer is left at its initial rate for a later partial_fit
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1)
    clf.partial_fit(X, Y)
    assert clf.history[4:, "lr"] == pytest.approx(expected)


def test_step_rates_by_hand():
    # 10 epochs, decay at rebalance_start = 0.8 -> epoch 8, then 8 + ceil(2 / 2) = 9
    clf = ERMClassifier(lr=0.1, lr_schedule="step", max_epochs=10, random_state=0).fit(
        X, Y
    )
    assert clf.history[:, "lr"] == pytest.approx([0.1] * 8 + [0.01, 0.001])
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1)
    # an int rebalance_start moves the decay with it
    clf = ERMClassifier(
        lr=0.1, lr_schedule="step", rebalance_start=3, max_epochs=6, random_state=0
    ).fit(X, Y)
    assert clf.history[:, "lr"] == pytest.approx([0.1] * 3 + [0.01, 0.01, 0.001])


@pytest.mark.parametrize(
    "total, decay, expected",
    [
        (200, 160, {0: 1.0, 159: 1.0, 160: 0.1, 179: 0.1, 180: 0.01, 199: 0.01}),
        (5, 4, {3: 1.0, 4: 0.1}),  # the second decay would fall after the end
        (4, 0, {0: 0.1, 1: 0.1, 2: 0.01}),
    ],
)
def test_step_factor(total, decay, expected):
    for epoch, factor in expected.items():
        assert LRSchedule.factor("step", epoch, total, decay) == factor


def test_constant_schedule_is_the_default_and_keeps_the_rate():
    assert ERMClassifier().lr_schedule == "constant"
    clf = ERMClassifier(lr=0.1, max_epochs=3, random_state=0).fit(X, Y)
    assert "lr" not in clf.history[-1]
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1)
