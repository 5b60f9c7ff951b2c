"""RemixClassifier: the training step produces the paper's targets."""

import numpy as np
import pytest
import torch
from imblearn.over_sampling import RandomOverSampler
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

import skremix._rebalanced_mixup as remix_module
from skremix import RemixClassifier


@pytest.fixture
def step_inputs(monkeypatch):
    """A fitted net with lam and perm pinned, and a hand-made batch."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(130, 4)).astype(np.float32)
    y = np.array([0] * 90 + [1] * 30 + [2] * 10)  # counts 90 / 30 / 10
    clf = RemixClassifier(max_epochs=1, random_state=0).fit(X, y)
    clf.rng_ = np.random.default_rng(0)
    perm = torch.tensor([1, 0, 3, 2])
    monkeypatch.setattr(torch, "randperm", lambda n, device=None: perm)
    return clf, torch.from_numpy(X[[0, 120, 90, 121]]), torch.tensor([0, 2, 1, 2]), perm


@pytest.mark.parametrize(
    "lam, expected",
    [
        # pairs: (class0 N=90, class2 N=10) ratio 9; (2, 0) ratio 1/9;
        #        (class1 N=30, class2 N=10) ratio 3; (2, 1) ratio 1/3
        (0.3, [[0, 0, 1], [0.7, 0, 0.3], [0, 0, 1], [0, 0.7, 0.3]]),
        (0.7, [[0.7, 0, 0.3], [0, 0, 1], [0, 0.7, 0.3], [0, 0, 1]]),
    ],
)
def test_training_targets_follow_eq10(step_inputs, monkeypatch, lam, expected):
    clf, Xb, yb, _ = step_inputs
    monkeypatch.setattr(remix_module, "sample_lambda", lambda alpha, rng: lam)
    logits, targets, extra, _, weights = clf.train_forward(Xb, yb)
    assert logits.shape == (4, 3) and extra == {} and weights is None
    assert torch.allclose(targets, torch.tensor(expected, dtype=torch.float32))


def test_tau_zero_gives_mixup_targets(step_inputs, monkeypatch):
    clf, Xb, yb, perm = step_inputs
    clf.set_params(tau=0.0)
    monkeypatch.setattr(remix_module, "sample_lambda", lambda alpha, rng: 0.3)
    targets = clf.train_forward(Xb, yb).targets
    onehot = torch.nn.functional.one_hot(yb, 3).float()
    assert torch.allclose(targets, 0.3 * onehot + 0.7 * onehot[perm])


def test_input_mixup_feeds_mixed_inputs(step_inputs, monkeypatch):
    clf, Xb, yb, perm = step_inputs
    seen = {}
    monkeypatch.setattr(remix_module, "sample_lambda", lambda alpha, rng: 0.25)
    monkeypatch.setattr(
        clf, "infer", lambda x, **kw: seen.setdefault("x", x) @ torch.zeros(4, 3)
    )
    clf.train_forward(Xb, yb)
    assert torch.allclose(seen["x"], 0.25 * Xb + 0.75 * Xb[perm])


def test_manifold_mixes_the_hidden_layer_in_training_only(step_inputs, monkeypatch):
    clf, Xb, yb, perm = step_inputs
    clf.set_params(mix="manifold")
    layer = clf.module_.get_submodule(clf.module_.default_mix_layer)
    outputs = []
    handle = layer.register_forward_hook(lambda m, i, o: outputs.append(o.detach()))
    monkeypatch.setattr(remix_module, "sample_lambda", lambda alpha, rng: 0.4)
    clf.module_.eval()  # dropout-free comparison
    clf.train_forward(Xb, yb)
    clf.module_(Xb)  # a plain forward after the step: the hook is gone
    handle.remove()
    # our recorder runs before the mixing hook: outputs[0] is the clean feature
    # the mixing hook received, outputs[1] the clean features of the plain pass
    assert torch.allclose(outputs[0], outputs[1])
    assert not layer._forward_hooks


def test_cutmix_labels_use_the_unmasked_area(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 8, 8), dtype=np.float32)
    y = np.array([0] * 30 + [1] * 10)
    clf = RemixClassifier(mix="cutmix", tau=0.0, max_epochs=1, random_state=0).fit(X, y)
    clf.rng_ = np.random.default_rng(1)
    perm = torch.tensor([1, 0])
    monkeypatch.setattr(torch, "randperm", lambda n, device=None: perm)
    monkeypatch.setattr(remix_module, "sample_lambda", lambda alpha, rng: 0.75)
    Xb = torch.stack([torch.zeros(1, 8, 8), torch.ones(1, 8, 8)])
    seen = {}
    original_infer = clf.infer
    monkeypatch.setattr(
        clf, "infer", lambda x, **kw: original_infer(seen.setdefault("x", x))
    )
    targets = clf.train_forward(Xb, torch.tensor([0, 1])).targets
    pasted_share = float(seen["x"][0].mean())  # ones pasted into the zero image
    assert 0 < pasted_share <= 0.25
    assert targets[0].tolist() == pytest.approx([1 - pasted_share, pasted_share])


def test_cutmix_needs_images_and_says_so():
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="cutmix.*images"):
        RemixClassifier(mix="cutmix").fit(X, [0, 1] * 10)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(alpha=0), "alpha"),
        (dict(kappa=0.5), "kappa"),
        (dict(tau=1.5), "tau"),
        (dict(mix="mixup"), "mix"),
    ],
)
def test_method_parameters_out_of_range(params, match):
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match=match):
        RemixClassifier(**params).fit(X, [0, 1] * 10)


def test_grid_search_over_tau_and_kappa_in_an_imblearn_pipeline(tabular_imbalanced):
    X, y = tabular_imbalanced
    pipe = make_imb_pipeline(
        StandardScaler(),
        RandomOverSampler(random_state=0),
        RemixClassifier(max_epochs=2, random_state=0),
    )
    grid = GridSearchCV(
        pipe,
        {"remixclassifier__tau": [0.0, 0.5], "remixclassifier__kappa": [1.5, 3.0]},
        cv=StratifiedKFold(2, shuffle=True, random_state=0),
        scoring="balanced_accuracy",
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["remixclassifier__tau"] in (0.0, 0.5)
    assert grid.predict(X[:3]).dtype == y.dtype
