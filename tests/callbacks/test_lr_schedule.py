"""The default cosine learning-rate schedule."""

import math

import numpy as np
import pytest

from skremix import ERMClassifier

X = np.random.default_rng(0).normal(size=(40, 3))
Y = np.array([0, 1] * 20)


def test_cosine_rates_by_hand():
    clf = ERMClassifier(lr=0.1, max_epochs=4, random_state=0).fit(X, Y)
    # 0.1 * (1 + cos(pi * e / 4)) / 2 for e = 0..3
    expected = [0.1, 0.1 * (1 + math.sqrt(0.5)) / 2, 0.05, 0.1 * (1 - math.sqrt(0.5)) / 2]
    assert clf.history[:, "lr"] == pytest.approx(expected)
    # the optimizer is left at its initial rate for a later partial_fit
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1)
    clf.partial_fit(X, Y)
    assert clf.history[4:, "lr"] == pytest.approx(expected)


def test_constant_schedule_keeps_the_rate():
    clf = ERMClassifier(lr=0.1, lr_schedule="constant", max_epochs=3, random_state=0).fit(X, Y)
    assert "lr" not in clf.history[-1]
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1)
