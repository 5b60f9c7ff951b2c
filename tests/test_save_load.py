"""skorch's save / load round trip: ``save_params``, then a new net's
``initialize(X)`` with the ``classes`` parameter and ``load_params``, for
every classifier (RSG's generator with ``f_rsg``)."""

import pickle

import numpy as np
import pytest
from _classifiers import all_classifiers
from sklearn.exceptions import NotFittedError

from skremix import ERMClassifier, MFWClassifier, RSGClassifier

QUICK = dict(max_epochs=2, batch_size=32, random_state=0)


def _files(tmp_path, cls):
    files = {
        "f_params": tmp_path / "params.pt",
        "f_optimizer": tmp_path / "optimizer.pt",
        "f_history": tmp_path / "history.json",
    }
    if cls is RSGClassifier:
        files["f_rsg"] = tmp_path / "rsg.pt"
    return files


@pytest.fixture(scope="module", params=all_classifiers(), ids=lambda c: c.__name__)
def saved(request, tabular_imbalanced, tmp_path_factory):
    X, y = tabular_imbalanced
    cls = request.param
    kw = dict(QUICK, beta="auto") if cls is MFWClassifier else QUICK
    fitted = cls(**kw).fit(X, y)
    files = _files(tmp_path_factory.mktemp(cls.__name__), cls)
    fitted.save_params(**files)
    return cls, kw, fitted, files


def _loaded(cls, kw, fitted, files, X):
    net = cls(classes=fitted.classes_, **kw)
    net.initialize(X[:1])
    net.load_params(**files)
    return net


def test_round_trip_predicts_the_same(saved, tabular_imbalanced):
    cls, kw, fitted, files = saved
    X, _ = tabular_imbalanced
    net = _loaded(cls, kw, fitted, files, X)
    np.testing.assert_array_equal(net.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(net.predict(X), fitted.predict(X))
    assert net.classes_.tolist() == ["major", "middle", "rare"]
    assert net.n_features_in_ == 6 and net.input_shape_ == (6,)
    assert len(net.history) == 2  # f_history


def test_round_trip_then_training_continues_bit_for_bit(saved, tabular_imbalanced):
    """The module, the optimizer state and the history (and RSG's
    generator) come back: one more partial_fit of the loaded net equals one
    more of the original. save_params keeps no class counts, which
    partial_fit adds to (a pickle keeps them): given the original's, the
    loaded net continues bit for bit; without them it counts this call's
    data alone. MFW resolves beta='auto' again from the counts."""
    cls, kw, fitted, files = saved
    X, y = tabular_imbalanced
    net = _loaded(cls, kw, fitted, files, X)
    assert not hasattr(net, "class_counts_")
    original = pickle.loads(pickle.dumps(fitted))  # the fitted net, untouched
    expected = original.partial_fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(original.class_counts_, 2 * fitted.class_counts_)
    net.class_counts_ = fitted.class_counts_.copy()
    np.testing.assert_array_equal(net.partial_fit(X, y).predict_proba(X), expected)
    if cls is MFWClassifier:
        assert net.beta_ == fitted.beta_ == 2.0  # 140 / 45 / 15: long-tailed
    if cls is RSGClassifier:
        # Without f_rsg the generator starts afresh: another fit.
        files = {k: v for k, v in files.items() if k != "f_rsg"}
        fresh = _loaded(cls, kw, fitted, files, X).partial_fit(X, y)
        assert not np.array_equal(fresh.predict_proba(X), expected)


def test_rows_from_module_n_features(tabular_imbalanced, tmp_path):
    X, y = tabular_imbalanced
    fitted = ERMClassifier(**QUICK).fit(X, y)
    fitted.save_params(f_params=tmp_path / "p.pt")
    net = ERMClassifier(classes=fitted.classes_, module__n_features=6, **QUICK)
    net.initialize()
    with pytest.raises(NotFittedError):  # random weights are not a fit
        net.predict(X)
    net.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_array_equal(net.predict_proba(X), fitted.predict_proba(X))
    with pytest.raises(ValueError, match="X has 5 features, but ERMClassifier is"):
        net.predict(X[:, :5])


def test_images_round_trip(image_imbalanced, tmp_path):
    X, y = image_imbalanced
    fitted = RSGClassifier(max_epochs=2, batch_size=16, random_state=0).fit(X, y)
    fitted.save_params(f_params=tmp_path / "p.pt", f_rsg=tmp_path / "r.pt")
    net = RSGClassifier(classes=[10, 11, 12], max_epochs=2, batch_size=16)
    net.initialize(X[:1])
    assert net.input_shape_ == (1, 8, 8)
    net.load_params(f_params=tmp_path / "p.pt", f_rsg=tmp_path / "r.pt")
    np.testing.assert_array_equal(net.predict_proba(X), fitted.predict_proba(X))
    for a, b in zip(
        net.rsg_.state_dict().values(), fitted.rsg_.state_dict().values(), strict=True
    ):
        assert np.array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "params, X, match",
    [
        ({}, None, r"set the classes parameter and call initialize\(X\)"),
        ({"classes": [0, 1]}, None, "needs the shape of the inputs"),
        (
            {"classes": [0, 1], "standardize": True},
            np.zeros((1, 3)),
            "standardize=True learns input statistics at fit",
        ),
        ({"classes": [0, 0, 1]}, np.zeros((1, 3)), "contains duplicate labels"),
    ],
)
def test_initialize_without_data_says_what_it_needs(params, X, match):
    net = ERMClassifier(**params)
    with pytest.raises(ValueError, match=match):
        net.initialize(X)
    assert not net.initialized_
