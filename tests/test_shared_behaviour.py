"""Behaviour every classifier shares, parametrised over all of them once:
clone, set_params, pickle, grid search (also n_jobs=2), pipelines,
cross-validation, calibration, reproducibility, images."""

import pickle

import numpy as np
import pytest
from _classifiers import all_classifiers
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

CLASSIFIERS = all_classifiers()
QUICK = dict(max_epochs=3, batch_size=32, random_state=0)
CV = StratifiedKFold(2, shuffle=True, random_state=0)


@pytest.fixture(scope="module", params=CLASSIFIERS, ids=lambda c: c.__name__)
def fitted(request, tabular_imbalanced):
    X, y = tabular_imbalanced
    return request.param(**QUICK).fit(X, y)


def test_clone_and_set_params(fitted):
    cloned = clone(fitted)
    assert cloned.get_params()["max_epochs"] == 3
    assert not hasattr(cloned, "classes_inferred_")
    cloned.set_params(max_epochs=1, lr=0.5)
    assert cloned.max_epochs == 1 and cloned.lr == 0.5 and fitted.max_epochs == 3


def test_pickle(fitted, tabular_imbalanced):
    X, _ = tabular_imbalanced
    loaded = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    assert np.array_equal(loaded.predict(X), fitted.predict(X))


def test_reproducible(fitted, tabular_imbalanced, no_rng_leak):
    X, y = tabular_imbalanced
    again = clone(fitted).fit(X, y)
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))


def test_predict_proba_contract(fitted, tabular_imbalanced):
    X, y = tabular_imbalanced
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(1), 1)
    assert fitted.classes_.tolist() == sorted(set(y))
    assert fitted.class_counts_.tolist() == [140, 45, 15]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search(fitted, tabular_imbalanced, n_jobs):
    X, y = tabular_imbalanced
    grid = GridSearchCV(
        clone(fitted).set_params(max_epochs=2),
        {"lr": [1e-3, 1e-2]},
        cv=CV,
        scoring="balanced_accuracy",
        n_jobs=n_jobs,
    ).fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    assert grid.best_estimator_.max_epochs == 2


def test_pipelines_cross_validate_and_calibration(fitted, tabular_imbalanced):
    X, y = tabular_imbalanced
    est = clone(fitted).set_params(max_epochs=2)
    sk_pipe = make_pipeline(StandardScaler(), est)
    assert sk_pipe.fit(X, y).predict(X).shape == y.shape
    imb_pipe = make_imb_pipeline(
        StandardScaler(), SMOTE(random_state=0, k_neighbors=3), est
    )
    scores = cross_validate(
        imb_pipe,
        X,
        y,
        cv=CV,
        scoring={
            "bacc": "balanced_accuracy",
            "gmean": make_scorer(geometric_mean_score),
        },
    )
    assert (
        np.isfinite(scores["test_bacc"]).all()
        and np.isfinite(scores["test_gmean"]).all()
    )
    calibrated = CalibratedClassifierCV(est, cv=2).fit(X, y)
    proba = calibrated.predict_proba(X)
    assert proba.shape == (len(X), 3) and np.allclose(proba.sum(1), 1)


def test_images(request, image_imbalanced):
    X, y = image_imbalanced
    for cls in CLASSIFIERS:
        clf = cls(max_epochs=2, batch_size=16, random_state=0).fit(X, y)
        assert clf.predict_proba(X).shape == (len(X), 3), cls.__name__
        assert clf.class_counts_.tolist() == [60, 60, 6]
