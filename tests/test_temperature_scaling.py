"""Tests of skremix.calibration.TemperatureScaling: a known temperature
recovered, the balanced objective against a brute-force minimum, the prior
shift by hand and against posthoc_tau, scikit-learn's own temperature
scaling, refusals and purity."""

import inspect

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skremix import ERMClassifier
from skremix.calibration import TemperatureScaling


class FixedLogits(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose sample ``i`` (X holds indices) has the
    logits ``logits[i]``."""

    def __init__(self, logits=None, counts=None):
        self.logits = logits
        self.counts = counts

    def fit(self, X=None, y=None):
        self.classes_ = np.arange(np.asarray(self.logits).shape[1])
        if self.counts is not None:
            self.class_counts_ = np.asarray(self.counts)
        return self

    def predict_proba(self, X):
        idx = np.asarray(X).ravel().astype(int)
        return softmax(np.asarray(self.logits, dtype=np.float64)[idx], axis=1)


def _draw(n, k, true_t, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=(n, k))
    p = softmax(z / true_t, axis=1)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, y


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_a_known_temperature_is_recovered(true_t):
    """Labels drawn from softmax(z / T0): the NLL minimiser is T0 (20000
    samples, within 5%)."""
    z, y = _draw(20000, 4, true_t)
    base = FixedLogits(z).fit()
    ts = TemperatureScaling(base).fit(np.arange(len(y)), y)
    assert ts.temperature_ == pytest.approx(true_t, rel=0.05)


def _brute(z, y, weights):
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 20001))
    losses = [
        -np.sum(weights * np.log(softmax(z / t, axis=1)[np.arange(len(y)), y]))
        for t in grid
    ]
    return grid[int(np.argmin(losses))]


def test_the_balanced_objective_weighs_each_class_equally():
    """Three classes: the frequent class 0 (its samples among 300 drawn at
    T = 2), 60 and 12 samples of classes 1 and 2 drawn at T = 0.4: the
    'balanced' temperature is the minimiser of the mean of the per-class
    mean NLLs (a brute-force grid, written here), the 'nll' one that of the
    plain mean; and they differ."""
    z0, y0 = _draw(300, 3, 2.0, seed=1)
    z1, y1 = _draw(400, 3, 0.4, seed=2)
    keep = np.concatenate([np.flatnonzero(y0 == 0)[:300]])
    z = np.concatenate([z0[keep], z1[y1 == 1][:60], z1[y1 == 2][:12]])
    y = np.concatenate([y0[keep], y1[y1 == 1][:60], y1[y1 == 2][:12]])
    counts = np.bincount(y)
    base = FixedLogits(z).fit()
    idx = np.arange(len(y))
    balanced = TemperatureScaling(base, objective="balanced").fit(idx, y)
    plain = TemperatureScaling(base).fit(idx, y)
    w_bal = 1.0 / (counts[y] * 3)
    w_plain = np.full(len(y), 1.0 / len(y))
    assert balanced.temperature_ == pytest.approx(_brute(z, y, w_bal), rel=1e-3)
    assert plain.temperature_ == pytest.approx(_brute(z, y, w_plain), rel=1e-3)
    assert balanced.temperature_ < 0.8 * plain.temperature_


def test_the_prior_shift_by_hand():
    """Probabilities [.6, .4] trained under prior [.8, .2], deployed under a
    uniform one: p ∝ [.6 / .8, .4 / .2] = [.75, 2] -> [3/11, 8/11]."""
    base = FixedLogits(np.log([[0.6, 0.4]]), counts=[80, 20]).fit()
    ts = TemperatureScaling(base, temperature=1.0, test_prior="uniform").fit([0], [0])
    np.testing.assert_allclose(ts.predict_proba([0]), [[3 / 11, 8 / 11]])
    # An explicit prior, unnormalised, in classes_ order: q = [.25, .75].
    ts = TemperatureScaling(base, temperature=1.0, test_prior=[1, 3]).fit([0], [0])
    want = np.array([0.6 / 0.8 * 0.25, 0.4 / 0.2 * 0.75])
    np.testing.assert_allclose(ts.predict_proba([0]), [want / want.sum()])
    # With a temperature the scaling comes first: softmax(log p / 2 + shift).
    ts = TemperatureScaling(base, temperature=2.0, test_prior="uniform").fit([0], [0])
    z = np.log([0.6, 0.4]) / 2 + np.log([0.5, 0.5]) - np.log([0.8, 0.2])
    np.testing.assert_allclose(ts.predict_proba([0]), [softmax(z)])


@pytest.fixture(scope="module")
def fitted_net():
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=240, p=[0.7, 0.2, 0.1])
    X = (rng.normal(size=(240, 5)) + y[:, None]).astype(np.float32)
    net = ERMClassifier(max_epochs=5, random_state=0).fit(X[:160], y[:160])
    return net, X, y


def test_uniform_prior_at_temperature_one_is_posthoc_tau_one(fitted_net):
    """The logit-adjustment identity: softmax(z - log pi) is both."""
    net, X, y = fitted_net
    ts = TemperatureScaling(net, temperature=1.0, test_prior="uniform").fit(X, y)
    net.set_params(posthoc_tau=1.0)  # settable after fit; restored below
    try:
        want = net.predict_proba(X)
    finally:
        net.set_params(posthoc_tau=None)
    np.testing.assert_allclose(ts.predict_proba(X), want, atol=1e-6)


def test_the_fitted_temperature_minimises_the_held_out_nll(fitted_net):
    net, X, y = fitted_net
    ts = TemperatureScaling(net).fit(X[160:], y[160:])
    p = net.predict_proba(X[160:])

    def nll(t):
        q = softmax(np.log(p) / t, axis=1)
        return -np.mean(np.log(q[np.arange(80), y[160:]]))

    t = ts.temperature_
    assert nll(t) <= nll(1.05 * t) + 1e-9 and nll(t) <= nll(t / 1.05) + 1e-9
    assert nll(t) <= nll(1.0) + 1e-9


def test_fit_and_prediction_never_change_the_estimator(fitted_net):
    net, X, y = fitted_net
    before = net.predict_proba(X)
    params = net.get_params()
    ts = TemperatureScaling(net, objective="balanced", test_prior="uniform").fit(X, y)
    first = ts.predict_proba(X)
    np.testing.assert_array_equal(ts.predict_proba(X), first)
    np.testing.assert_array_equal(net.predict_proba(X), before)
    assert net.get_params().keys() == params.keys()
    assert all(net.get_params()[k] is params[k] for k in ("posthoc_tau", "tau_norm"))
    # Without a prior shift the ranking is the estimator's.
    plain = TemperatureScaling(net).fit(X, y)
    np.testing.assert_array_equal(plain.predict(X), net.predict(X))


def test_a_pipeline_gives_its_last_steps_counts():
    rng = np.random.default_rng(1)
    y = rng.choice(2, size=120, p=[0.8, 0.2])
    X = rng.normal(size=(120, 3)) + y[:, None]
    pipe = make_pipeline(StandardScaler(), ERMClassifier(max_epochs=2, random_state=0))
    pipe.fit(X.astype(np.float32), y)
    ts = TemperatureScaling(pipe, test_prior="uniform").fit(X.astype(np.float32), y)
    pi = pipe[-1].class_counts_ / pipe[-1].class_counts_.sum()
    np.testing.assert_allclose(ts.log_prior_shift_, np.log(0.5) - np.log(pi))


_HAS_SKLEARN_TEMPERATURE = "temperature" in inspect.getsource(
    __import__("sklearn.calibration", fromlist=["CalibratedClassifierCV"])
)


@pytest.mark.skipif(
    not _HAS_SKLEARN_TEMPERATURE, reason="method='temperature': sklearn >= 1.8"
)
def test_nll_temperature_agrees_with_sklearn():
    """scikit-learn's CalibratedClassifierCV(method='temperature') on a
    frozen estimator fits the same single temperature to the same NLL."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.frozen import FrozenEstimator

    rng = np.random.default_rng(3)
    y = rng.choice(3, size=600, p=[0.6, 0.3, 0.1])
    X = rng.normal(size=(600, 4)) + y[:, None]
    clf = LogisticRegression(C=1000, max_iter=5000).fit(X[:300], y[:300])
    ours = TemperatureScaling(clf).fit(X[300:], y[300:])
    theirs = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature")
    theirs.fit(X[300:], y[300:])
    np.testing.assert_allclose(
        ours.predict_proba(X[:50]), theirs.predict_proba(X[:50]), atol=2e-3
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"objective": "ece"}, "'objective' parameter of TemperatureScaling"),
        ({"temperature": 0.0}, "'temperature' parameter of TemperatureScaling"),
        (
            {"test_prior": [0.5, 0.5]},
            "test_prior has 2 entries but the estimator has 3",
        ),
        ({"test_prior": [0.5, 0.0, 0.5]}, "test_prior must be positive"),
        ({"bounds": (2.0, 1.0)}, "bounds must be two floats"),
    ],
)
def test_bad_parameters_are_refused_before_any_fitting(kwargs, match):
    base = FixedLogits(np.zeros((2, 3)), counts=[5, 3, 1]).fit()
    with pytest.raises(ValueError, match=match):
        TemperatureScaling(base, **kwargs).fit([0, 1], [0, 1])


def test_refusals_name_the_problem(fitted_net):
    net, X, y = fitted_net
    with pytest.raises(NotFittedError):
        TemperatureScaling(ERMClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="labels .* that the estimator does not know"):
        TemperatureScaling(net).fit(X[:3], [0, 1, 7])
    no_counts = FixedLogits(np.zeros((2, 2))).fit()
    with pytest.raises(ValueError, match="has no class_counts_; pass train_prior"):
        TemperatureScaling(no_counts, test_prior="uniform").fit([0, 1], [0, 1])
    ok = TemperatureScaling(no_counts, test_prior="uniform", train_prior=[3, 1])
    np.testing.assert_allclose(
        ok.fit([0, 1], [0, 1]).log_prior_shift_, np.log(0.5) - np.log([0.75, 0.25])
    )
    net.set_params(posthoc_tau=1.0)
    try:
        with pytest.raises(ValueError, match="shift the prior twice"):
            TemperatureScaling(net, test_prior="uniform").fit(X, y)
    finally:
        net.set_params(posthoc_tau=None)
