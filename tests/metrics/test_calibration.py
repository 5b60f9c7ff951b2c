"""Tests of skremix.metrics: expected calibration error, shot recall, their
scorers and the reliability display, against numbers worked out by hand and
against scikit-learn's calibration_curve."""

import matplotlib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import calibration_curve
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skremix import ERMClassifier
from skremix.metrics import (
    ReliabilityDisplay,
    expected_calibration_error,
    make_calibration_scorer,
    make_shot_recall_scorer,
    neg_expected_calibration_error_scorer,
    shot_recall,
)

matplotlib.use("Agg")

# Six binary predictions, worked by hand below.
#   row  proba        y  top-label conf  hit
#   a    [.8 , .2 ]   0  .8              1
#   b    [.7 , .3 ]   1  .7              0
#   c    [.4 , .6 ]   1  .6              1
#   d    [.5 , .5 ]   0  .5 (class 0: the first of a tie, as argmax)  1
#   e    [.05, .95]   1  .95             1
#   f    [.1 , .9 ]   0  .9              0
PROBA = np.array(
    [[0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.5, 0.5], [0.05, 0.95], [0.1, 0.9]]
)
Y = np.array([0, 1, 1, 0, 1, 0])


def test_top_label_ece_of_six_predictions_in_three_bins():
    """Bins [0, 1/3], (1/3, 2/3], (2/3, 1]: c, d in the second (confidence
    .55, accuracy 1: gap .45), a, b, e, f in the third (confidence .8375,
    accuracy .5: gap .3375); ECE = (2 * .45 + 4 * .3375) / 6 = .375."""
    assert expected_calibration_error(Y, PROBA, n_bins=3) == pytest.approx(0.375)


def test_classwise_ece_of_six_predictions_in_three_bins():
    """Column 0 (.8 .7 .4 .5 .05 .1 against y == 0: 1 0 0 1 0 1): bins
    {.05, .1} mean .075 freq .5, {.4, .5} mean .45 freq .5, {.8, .7} mean
    .75 freq .5: (2 * .425 + 2 * .05 + 2 * .25) / 6 = 1.45 / 6. Column 1
    is its complement (the same gaps). Mean: 1.45 / 6."""
    got = expected_calibration_error(Y, PROBA, n_bins=3, kind="classwise")
    assert got == pytest.approx(1.45 / 6)


def test_quantile_bins_hold_equal_masses():
    """Equal-mass bins of the confidences .5 .6 .7 .8 .9 .95: edges at the
    33rd and 67th percentiles (.6667, .8333), so {.5, .6} (accuracy 1,
    confidence .55), {.7, .8} (.5 against .75), {.9, .95} (.5 against
    .925): (2 * .45 + 2 * .25 + 2 * .425) / 6 = .375."""
    got = expected_calibration_error(Y, PROBA, n_bins=3, strategy="quantile")
    assert got == pytest.approx(2.25 / 6)
    # With one bin, ECE is |accuracy - mean confidence| = |4/6 - 4.45/6|.
    one = expected_calibration_error(Y, PROBA, n_bins=1)
    assert one == pytest.approx(abs(4 / 6 - 4.45 / 6))


def test_a_calibrated_predictor_has_zero_ece_and_a_confident_wrong_one_one():
    y = [0, 0, 0, 1]
    assert expected_calibration_error(y, [[0.75, 0.25]] * 4) == pytest.approx(0)
    assert expected_calibration_error(
        [1, 1], [[1.0, 0.0]] * 2, labels=[0, 1]
    ) == pytest.approx(1)


def test_a_one_dimensional_proba_is_the_positive_class():
    assert expected_calibration_error(Y, PROBA[:, 1], n_bins=3) == pytest.approx(0.375)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_classwise_ece_agrees_with_sklearn_calibration_curve(strategy):
    """Per column, sklearn's per-bin frequencies and mean probabilities,
    weighted by the bin counts of np.histogram over the same edges (the
    values are continuous: none lies on an edge)."""
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=300)
    y = np.array([rng.choice(4, p=p) for p in proba])
    n_bins = 10
    gaps = []
    for k in range(4):
        prob_true, prob_pred = calibration_curve(
            y == k, proba[:, k], n_bins=n_bins, strategy=strategy
        )
        if strategy == "uniform":
            edges = np.linspace(0, 1, n_bins + 1)
        else:
            edges = np.percentile(proba[:, k], np.linspace(0, 100, n_bins + 1))
        counts, _ = np.histogram(proba[:, k], bins=edges)
        counts = counts[counts > 0]
        gaps.append(np.sum(counts / 300 * np.abs(prob_true - prob_pred)))
    got = expected_calibration_error(
        y, proba, n_bins=n_bins, strategy=strategy, kind="classwise"
    )
    assert got == pytest.approx(np.mean(gaps), abs=1e-12)


def test_top_label_ece_agrees_with_sklearn_calibration_curve():
    rng = np.random.default_rng(1)
    proba = rng.dirichlet(np.ones(5) * 0.5, size=400)
    y = np.array([rng.choice(5, p=p) for p in proba])
    conf, hit = proba.max(axis=1), proba.argmax(axis=1) == y
    prob_true, prob_pred = calibration_curve(hit, conf, n_bins=15)
    counts, _ = np.histogram(conf, bins=np.linspace(0, 1, 16))
    want = np.sum(counts[counts > 0] / 400 * np.abs(prob_true - prob_pred))
    assert expected_calibration_error(y, proba) == pytest.approx(want, abs=1e-12)


def test_labels_align_the_columns_when_y_lacks_a_class():
    """Three columns, labels 0 1 2; y holds 0 and 2 only: the columns are
    still those of 0, 1, 2 (without labels= there are only two labels and
    the call is refused)."""
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    got = expected_calibration_error([0, 2], proba, labels=[0, 1, 2], n_bins=2)
    # One bin (0.5, 1]: confidences .6 and .6, both right: gap .4.
    assert got == pytest.approx(0.4)
    with pytest.raises(ValueError, match="3 columns but there are 2 labels"):
        expected_calibration_error([0, 2], proba)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_bins": 0}, "'n_bins' parameter of expected_calibration_error must be"),
        ({"strategy": "equal"}, "'strategy' parameter of expected_calibration_error"),
        ({"kind": "marginal"}, "'kind' parameter of expected_calibration_error"),
    ],
)
def test_bad_parameters_are_refused_in_sklearn_words(kwargs, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(Y, PROBA, **kwargs)


def test_bad_probabilities_are_refused():
    with pytest.raises(ValueError, match="outside"):
        expected_calibration_error(Y, PROBA * 2)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        expected_calibration_error(Y[:5], PROBA)
    with pytest.raises(ValueError, match="not in labels"):
        expected_calibration_error([0, 3], PROBA[:2], labels=[0, 1])


# ------------------------------------------------------------- shot recall


def test_shot_groups_follow_the_thresholds_at_their_edges():
    """Counts 101 / 100 / 20 / 19: many-shot is > 100 (class 0), few-shot
    < 20 (class 3), medium 20 to 100 inclusive (classes 1 and 2). Recalls
    by hand: class 0 2/2, class 1 1/2, class 2 0/2, class 3 1/2."""
    y = [0, 0, 1, 1, 2, 2, 3, 3]
    pred = [0, 0, 1, 0, 0, 1, 3, 0]
    got = shot_recall(y, pred, [101, 100, 20, 19])
    assert got == {"many": 1.0, "medium": 0.25, "few": 0.5}
    moved = shot_recall(y, pred, [101, 100, 20, 19], many=99, few=21)
    assert moved["many"] == 0.75 and moved["few"] == 0.25
    assert np.isnan(moved["medium"])


def test_a_group_without_classes_is_nan():
    got = shot_recall([0, 1], [0, 1], [500, 300])
    assert got["many"] == 1.0 and np.isnan(got["medium"]) and np.isnan(got["few"])


def test_shot_recall_refuses_misaligned_counts_and_thresholds():
    with pytest.raises(ValueError, match="class_counts has 2 entries"):
        shot_recall([0, 1, 2], [0, 1, 2], [5, 6])
    with pytest.raises(ValueError, match="must not exceed"):
        shot_recall([0, 1], [0, 1], [5, 6], many=10, few=20)
    with pytest.raises(ValueError, match="'many' parameter of shot_recall"):
        shot_recall([0, 1], [0, 1], [5, 6], many=-1)


# ----------------------------------------------------------------- scorers


class FixedClassifier(ClassifierMixin, BaseEstimator):
    """A classifier with fixed outputs and training counts."""

    def __init__(self, classes=None, proba=None, counts=None):
        self.classes = classes
        self.proba = proba
        self.counts = counts

    def fit(self, X, y=None):
        self.classes_ = np.asarray(self.classes)
        if self.counts is not None:
            self.class_counts_ = np.asarray(self.counts)
        return self

    def predict_proba(self, X):
        return np.asarray(self.proba, dtype=float)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def test_the_ece_scorer_is_minus_the_hand_worked_ece():
    est = FixedClassifier(classes=[0, 1], proba=PROBA).fit(None)
    # 15 bins: c (.6) and d (.5) apart, (.8375 ...) split: worked out as
    # the sum of |accuracy - confidence| / 6 of the singleton bins
    # .5 (1), .6 (1), .7 (0), .8 (1), .9 and .95 (one bin (.8667, .9333]
    # holds .9 alone, (.9333, 1] holds .95): .5 + .4 + .7 + .2 + .9 + .05.
    want = (0.5 + 0.4 + 0.7 + 0.2 + 0.9 + 0.05) / 6
    assert neg_expected_calibration_error_scorer(est, None, Y) == pytest.approx(-want)
    three = make_calibration_scorer(n_bins=3)
    assert three(est, None, Y) == pytest.approx(-0.375)
    classwise = make_calibration_scorer(n_bins=3, kind="classwise")
    assert classwise(est, None, Y) == pytest.approx(-1.45 / 6)


def test_make_calibration_scorer_checks_its_parameters_at_once():
    with pytest.raises(ValueError, match="'n_bins' parameter"):
        make_calibration_scorer(n_bins=0)


def test_shot_recall_scorer_takes_the_counts_from_the_fitted_estimator():
    proba = np.eye(3)[[0, 0, 1, 0, 2, 2]]
    y = [0, 0, 1, 1, 2, 2]
    est = FixedClassifier(classes=[0, 1, 2], proba=proba, counts=[500, 50, 5]).fit(None)
    assert make_shot_recall_scorer("many")(est, None, y) == 1.0
    assert make_shot_recall_scorer("medium")(est, None, y) == 0.5
    assert make_shot_recall_scorer("few")(est, None, y) == 1.0
    # Thresholds move class 1 (50 samples) into the few-shot group.
    assert make_shot_recall_scorer("few", few=60)(est, None, y) == 0.75
    no_counts = FixedClassifier(classes=[0, 1, 2], proba=proba).fit(None)
    with pytest.raises(ValueError, match="no class_counts_"):
        make_shot_recall_scorer("few")(no_counts, None, y)
    with pytest.raises(ValueError, match="group must be one of"):
        make_shot_recall_scorer("rare")
    with pytest.raises(ValueError, match="must not exceed"):
        make_shot_recall_scorer("few", many=10, few=20)


def test_scorers_in_a_search_over_a_skremix_pipeline():
    """cross_validate and GridSearchCV take the new scorers beside the
    usual ones; the shot groups come from each fold's class_counts_ (of
    the pipeline's last step)."""
    X, y = make_classification(
        n_samples=300,
        n_features=8,
        n_informative=5,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    X = X.astype(np.float32)
    pipe = make_pipeline(StandardScaler(), ERMClassifier(max_epochs=2, random_state=0))
    scoring = {
        "neg_ece": neg_expected_calibration_error_scorer,
        "neg_cw_ece": make_calibration_scorer(kind="classwise"),
        "many": make_shot_recall_scorer("many", many=100, few=30),
        "few": make_shot_recall_scorer("few", many=100, few=30),
    }
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    res = cross_validate(pipe, X, y, cv=cv, scoring=scoring, return_estimator=True)
    for k, est in enumerate(res["estimator"]):
        test = list(cv.split(X, y))[k][1]
        pred = est.predict(X[test])
        counts = est[-1].class_counts_
        assert counts.sum() == 200
        want = shot_recall(y[test], pred, counts, many=100, few=30)
        assert res["test_many"][k] == pytest.approx(want["many"])
        assert res["test_few"][k] == pytest.approx(want["few"])
        proba = est.predict_proba(X[test])
        assert res["test_neg_ece"][k] == pytest.approx(
            -expected_calibration_error(y[test], proba)
        )
    search = GridSearchCV(
        LogisticRegression(max_iter=300),
        {"C": [0.01, 1.0]},
        scoring={"neg_ece": neg_expected_calibration_error_scorer},
        refit="neg_ece",
        cv=3,
    ).fit(X, y)
    assert search.best_score_ <= 0


# ----------------------------------------------------------------- display


def test_reliability_display_holds_the_hand_worked_bins():
    disp = ReliabilityDisplay.from_predictions(Y, PROBA, n_bins=3, name="fixed")
    np.testing.assert_allclose(disp.mean_confidence, [0.55, 0.8375])
    np.testing.assert_allclose(disp.accuracy, [1.0, 0.5])
    np.testing.assert_array_equal(disp.counts, [2, 4])
    assert disp.ece == pytest.approx(0.375)
    x, yy = disp.line_.get_data()
    np.testing.assert_allclose(x, [0.55, 0.8375])
    np.testing.assert_allclose(yy, [1.0, 0.5])
    assert "fixed (ECE 37.5%)" in [t.get_text() for t in disp.ax_.get_legend().texts]
    assert disp.figure_ is disp.ax_.figure


def test_reliability_display_from_estimator_draws_on_the_given_axes():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    est = FixedClassifier(classes=[0, 1], proba=PROBA).fit(None)
    disp = ReliabilityDisplay.from_estimator(est, None, Y, n_bins=3, ax=ax)
    assert disp.ax_ is ax and disp.counts.sum() == 6
    assert "FixedClassifier" in disp.line_.get_label()
    # Without the reference line, one line only.
    disp2 = ReliabilityDisplay.from_estimator(
        est, None, Y, n_bins=3, ref_line=False, ax=plt.subplots()[1]
    )
    assert len(disp2.ax_.lines) == 1
    plt.close("all")
