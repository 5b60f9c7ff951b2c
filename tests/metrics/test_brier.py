"""Tests of skremix.metrics: balanced Brier score and scorers."""

import inspect

import numpy as np
import pytest
from imblearn.metrics import geometric_mean_score
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate

from skremix.metrics import (
    balanced_brier_score,
    geometric_mean_scorer,
    get_scorers,
    neg_balanced_brier_scorer,
)

# scikit-learn's multi-class brier_score_loss (scale_by_half) exists from 1.7;
# the cross-checks against it are skipped with older versions.
_SKLEARN_MULTICLASS_BRIER = (
    "scale_by_half" in inspect.signature(brier_score_loss).parameters
)


class _Fixed(ClassifierMixin, BaseEstimator):
    """Classifier returning fixed predictions, to check scorers by hand."""

    def __init__(self, classes=None, proba=None, pred=None):
        self.classes = classes
        self.proba = proba
        self.pred = pred

    def fit(self, X, y=None):
        self.classes_ = np.asarray(self.classes)
        return self

    def predict_proba(self, X):
        return np.asarray(self.proba, dtype=float)

    def predict(self, X):
        return np.asarray(self.pred)


# ------------------------------------------------------ balanced_brier_score


def test_three_class_hand_computed():
    y = [0, 0, 1, 2]
    P = [
        [0.8, 0.1, 0.1],  # y=0: 0.2^2 + 0.1^2 + 0.1^2 = 0.06
        [0.5, 0.5, 0.0],  # y=0: 0.5^2 + 0.5^2 + 0   = 0.50
        [0.2, 0.6, 0.2],  # y=1: 0.2^2 + 0.4^2 + 0.2^2 = 0.24
        [0.0, 0.5, 0.5],  # y=2: 0 + 0.5^2 + 0.5^2    = 0.50
    ]
    # class means: (0.06 + 0.5) / 2 = 0.28, 0.24, 0.5 -> (0.28+0.24+0.5)/3
    assert balanced_brier_score(y, P) == pytest.approx(0.34)
    # the unbalanced multi-class Brier weighs class 0 twice: 1.3 / 4 = 0.325
    if _SKLEARN_MULTICLASS_BRIER:
        assert brier_score_loss(y, P, scale_by_half=False) == pytest.approx(0.325)


def test_binary_hand_computed_1d_and_2d():
    y = [0, 0, 0, 1]
    p = [0.1, 0.2, 0.6, 0.7]  # probability of class 1
    # The paper's binary score: per class, the mean of (p_i - y_i)^2
    # negatives: p^2 = 0.01, 0.04, 0.36 -> mean 0.41 / 3
    # positive: (1 - 0.7)^2 = 0.09
    # BBS = (0.41 / 3 + 0.09) / 2 = 0.34 / 3
    expected = 0.34 / 3
    assert balanced_brier_score(y, p) == pytest.approx(expected)
    P = np.column_stack([1 - np.asarray(p), p])
    assert balanced_brier_score(y, P) == pytest.approx(expected)
    # Summed over both columns (the multi-class formula): twice that.
    assert balanced_brier_score(y, P, scale_by_half=False) == pytest.approx(
        2 * expected
    )
    # Three labels: 'auto' never halves.
    P3 = np.column_stack([P, np.zeros(4)])
    assert balanced_brier_score(y, P3, labels=[0, 1, 2]) == pytest.approx(2 * expected)
    assert balanced_brier_score(
        y, P3, labels=[0, 1, 2], scale_by_half=True
    ) == pytest.approx(expected)


def test_scale_by_half_is_checked():
    with pytest.raises(ValueError, match="scale_by_half"):
        balanced_brier_score([0, 1], [0.2, 0.8], scale_by_half="yes")


def test_string_labels_sorted_columns():
    # columns in sorted label order: "cat", "dog"
    y = ["dog", "cat"]
    P = [[0.0, 1.0], [1.0, 0.0]]
    assert balanced_brier_score(y, P) == 0.0
    assert balanced_brier_score(y, P, labels=["dog", "cat"]) == 0.0


def test_extremes():
    assert balanced_brier_score([0, 1, 1], [0.0, 1.0, 1.0]) == 0.0
    # perfectly confident and wrong: (1 + 1) per sample, halved for binary
    assert balanced_brier_score([0, 1, 1], [1.0, 0.0, 0.0]) == 1.0
    assert balanced_brier_score([0, 1, 1], [1.0, 0.0, 0.0], scale_by_half=False) == 2.0
    P = [[1, 0, 0], [0, 0, 1]]
    assert balanced_brier_score([2, 0], P, labels=[0, 1, 2]) == 2.0


def test_balanced_binary_equals_binary_brier():
    # With n samples per class, the two-column sum is (S_0 + S_1)/(2n), and
    # each sample's two-column error is (1-p-(1-y))^2 + (p-y)^2 = 2 (p - y)^2:
    # twice the binary Brier; halved ('auto'), the binary Brier itself.
    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.4, 0.7, 0.9, 0.5, 0.3])
    assert balanced_brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    assert balanced_brier_score(y, p, scale_by_half=False) == pytest.approx(
        2 * brier_score_loss(y, p)
    )


@pytest.mark.skipif(
    not _SKLEARN_MULTICLASS_BRIER, reason="multi-class brier_score_loss: sklearn >= 1.7"
)
def test_balanced_multiclass_equals_multiclass_brier():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], 4)
    P = rng.dirichlet(np.ones(3), size=12)
    assert balanced_brier_score(y, P) == pytest.approx(
        brier_score_loss(y, P, labels=[0, 1, 2], scale_by_half=False)
    )


def test_invariant_to_class_sizes():
    # duplicating every sample of class 0 ten times leaves each class mean,
    # hence the BBS, unchanged
    y = np.array([0, 1, 1])
    P = np.array([[0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    y_big = np.concatenate([np.repeat(y[:1], 10), y[1:]])
    P_big = np.concatenate([np.repeat(P[:1], 10, axis=0), P[1:]])
    # class 0: 0.4^2 * 2 = 0.32; class 1: (0.18 + 0.5) / 2 = 0.34; halved
    assert balanced_brier_score(y, P) == pytest.approx(0.165)
    assert balanced_brier_score(y_big, P_big) == pytest.approx(0.165)


def test_absent_class_skipped_with_labels():
    y = [0, 2]
    P = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]
    # class 0: 0.09 + 0.04 + 0.01 = 0.14; class 2: 0.01 + 0.09 + 0.16 = 0.26
    # class 1 absent: (0.14 + 0.26) / 2
    assert balanced_brier_score(y, P, labels=[0, 1, 2]) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="3 columns but there are 2 labels"):
        balanced_brier_score(y, P)


@pytest.mark.parametrize(
    "y, P, labels, match",
    [
        ([0, 1], [[0.5, 0.5]], None, "inconsistent"),
        ([0, 1, 2], [0.5, 0.5, 0.5], None, "exactly two labels"),
        ([0, 0], [0.5, 0.5], None, "exactly two labels"),
        ([0, 3], [[0.5, 0.5], [0.5, 0.5]], [0, 1], r"labels \[3\]"),
        ([0, 1], [[0.5, 0.5], [0.5, 0.5]], [0, 0, 1], "duplicates"),
        ([0, 1], [[1.5, -0.5], [0.5, 0.5]], None, r"outside \[0, 1\]"),
    ],
)
def test_errors(y, P, labels, match):
    with pytest.raises(ValueError, match=match):
        balanced_brier_score(y, P, labels=labels)


# ----------------------------------------------------------------- scorers


def test_neg_scorer_sign_and_value():
    est = _Fixed(classes=[0, 1], proba=[[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
    est.fit(None)
    y = [0, 0, 0, 1]
    # negatives: p^2 = 0.01, 0.04, 0.36; positive: 0.3^2 = 0.09 (binary: halved)
    assert neg_balanced_brier_scorer(est, None, y) == pytest.approx(-0.34 / 3)


def test_neg_scorer_fold_missing_class():
    est = _Fixed(classes=[0, 1, 2], proba=[[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]]).fit(None)
    # evaluation fold lacks class 1: columns still aligned on classes_
    assert neg_balanced_brier_scorer(est, None, [0, 2]) == pytest.approx(-0.2)


def test_neg_scorer_class_unseen_in_training():
    est = _Fixed(classes=[0, 2], proba=[[0.9, 0.1], [0.2, 0.8]]).fit(None)
    # class 1 unknown to the estimator gets probability 0:
    # y=1 row [0.9, 0, 0.1]: 0.81 + 1 + 0.01 = 1.82
    # y=2 row [0.2, 0, 0.8]: 0.04 + 0 + 0.04 = 0.08 -> mean 0.95
    assert neg_balanced_brier_scorer(est, None, [1, 2]) == pytest.approx(-0.95)


def test_geometric_mean_scorer_hand_computed():
    y = [0, 0, 0, 0, 1, 1]
    est = _Fixed(classes=[0, 1], pred=[0, 1, 1, 1, 1, 1]).fit(None)
    # recalls 1/4 and 1 -> sqrt(1/4) = 0.5
    assert geometric_mean_scorer(est, None, y) == pytest.approx(0.5)


def _imbalanced_blobs():
    rng = np.random.RandomState(0)
    n = [60, 20, 10]
    X = np.concatenate([rng.randn(k, 2) + 2.5 * c for c, k in enumerate(n)])
    y = np.repeat([0, 1, 2], n)
    return X, y


def test_scorers_in_cross_validate():
    X, y = _imbalanced_blobs()
    clf = LogisticRegression(max_iter=1000)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    res = cross_validate(clf, X, y, cv=cv, scoring=get_scorers())
    brier = res["test_neg_balanced_brier"]
    assert np.all(brier <= 0) and np.all(brier >= -2)
    assert np.all((res["test_g_mean"] >= 0) & (res["test_g_mean"] <= 1))
    # the scorer is minus the score of each fold's predictions
    train, test = next(iter(cv.split(X, y)))
    fitted = LogisticRegression(max_iter=1000).fit(X[train], y[train])
    assert brier[0] == pytest.approx(
        -balanced_brier_score(y[test], fitted.predict_proba(X[test]))
    )
    assert res["test_g_mean"][0] == pytest.approx(
        geometric_mean_score(y[test], fitted.predict(X[test]))
    )


def test_cross_validate_folds_missing_classes():
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.randn(k, 2) + 2.5 * c for c, k in enumerate([40, 20, 30])])
    y = np.repeat([0, 1, 2], [40, 20, 30])
    # unshuffled KFold(3) on sorted labels: the folds are samples 0-29 (class 0
    # only), 30-59 (classes 0 and 1; class 1 absent from training) and 60-89
    # (class 2 only, absent from training)
    res = cross_validate(
        LogisticRegression(max_iter=1000),
        X,
        y,
        cv=KFold(3),
        scoring={"neg_balanced_brier": neg_balanced_brier_scorer},
        error_score="raise",
    )
    scores = res["test_neg_balanced_brier"]
    assert np.all(np.isfinite(scores))
    # an unseen class has probability 0: error >= 1 + sum_k p_k^2 >= 1.5
    assert scores[-1] <= -1.5 + 1e-12


def test_get_scorers_returns_fresh_dict():
    a, b = get_scorers(), get_scorers()
    assert set(a) == {"balanced_accuracy", "g_mean", "f1_macro", "neg_balanced_brier"}
    a.pop("g_mean")
    assert "g_mean" in b and "g_mean" in get_scorers()
