"""RSGClassifier: generation schedule, registration with skorch, inference
without RSG, grid search and reproducibility."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback
from torch import nn

from skremix import RSGClassifier
from skremix.nn import RSG, ConvNet

QUICK = dict(max_epochs=4, batch_size=32, lr=1e-2, random_state=0, generate_from=2)


def _per_epoch(clf, key):
    return [sum(values) for values in clf.history[:, "batches", :, key]]


@pytest.fixture(scope="module")
def fitted_tabular(tabular_imbalanced):
    X, y = tabular_imbalanced
    return RSGClassifier(**QUICK).fit(X, y), X, y


# ------------------------------------------------------------ training
def test_generation_starts_at_the_threshold(fitted_tabular):
    clf, X, y = fitted_tabular
    generated = _per_epoch(clf, "rsg_generated")
    assert generated[:2] == [0, 0] and all(n > 0 for n in generated[2:])
    # Only the frequent class (alpha = 0.2 of 3 classes -> 1: 'major', 140
    # samples) lends displacements; 'middle' and 'rare' receive new samples.
    assert clf.class_counts_.tolist() == [140, 45, 15]


def test_losses_are_in_the_history(fitted_tabular):
    clf, _, _ = fitted_tabular
    for epoch in clf.history:
        for batch in epoch["batches"]:
            assert {"rsg_cesc", "rsg_mv", "rsg_generated", "train_loss"} <= set(batch)
            assert batch["rsg_cesc"] > 0
    mv = _per_epoch(clf, "rsg_mv")
    assert mv[:2] == [0.0, 0.0] and all(v > 0 for v in mv[2:])


def test_rsg_is_registered_with_the_net(fitted_tabular):
    clf, _, _ = fitted_tabular
    assert isinstance(clf.rsg_, RSG)
    assert "rsg" in clf._modules and "rsg_" in clf.cuda_dependent_attributes_
    # in_channels from the dry forward: MLP blocks.1 gives 128-d vectors.
    assert clf.rsg_.in_channels == 128 and clf.rsg_.kernel_size == 1
    learnable = {id(p) for _, p in clf.get_all_learnable_params()}
    in_optimizer = {id(p) for g in clf.optimizer_.param_groups for p in g["params"]}
    rsg_params = {id(p) for p in clf.rsg_.parameters()}
    assert rsg_params <= learnable and rsg_params <= in_optimizer
    device = next(clf.module_.parameters()).device
    assert all(p.device == device for p in clf.rsg_.parameters())


def test_pickle_roundtrip(fitted_tabular):
    clf, X, _ = fitted_tabular
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(clone.predict_proba(X), clf.predict_proba(X))
    for (name, a), (_, b) in zip(
        clf.rsg_.state_dict().items(), clone.rsg_.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert "rsg" in clone._modules


def test_predict_does_not_invoke_rsg(fitted_tabular):
    clf, X, _ = fitted_tabular
    layer = clf.module_.get_submodule(clf._mix_layer_name())
    assert len(layer._forward_hooks) == 0  # the training hook is gone
    calls = []
    handle = clf.rsg_.register_forward_pre_hook(lambda *_: calls.append(1))
    try:
        proba = clf.predict_proba(X)
        clf.predict(X)
    finally:
        handle.remove()
    assert calls == []
    # Exactly the plain module's softmax.
    with torch.no_grad():
        logits = clf.module_.eval()(torch.as_tensor(X, dtype=torch.float32))
    np.testing.assert_allclose(
        proba, torch.softmax(logits.double(), 1).numpy(), atol=1e-6
    )


def test_contrastive_frozen_and_T_trained_only_from_the_threshold(tabular_imbalanced):
    X, y = tabular_imbalanced

    class Snapshot(Callback):
        def initialize(self):
            self.states = []
            return self

        def on_epoch_end(self, net, **kwargs):
            self.states.append({k: v.clone() for k, v in net.rsg_.state_dict().items()})

    snap = Snapshot()
    RSGClassifier(callbacks=[snap], **QUICK).fit(X, y)
    s = snap.states
    key = "contrastive.conv1.weight"
    assert not torch.equal(s[0][key], s[1][key])  # trained in epochs 1-2
    assert torch.equal(s[1][key], s[2][key]) and torch.equal(s[2][key], s[3][key])
    assert torch.equal(s[0]["transform.weight"], s[1]["transform.weight"])  # unused yet
    assert not torch.equal(s[1]["transform.weight"], s[3]["transform.weight"])
    assert not torch.equal(s[2]["centers"], s[3]["centers"])  # fitted throughout


def test_images(image_imbalanced):
    X, y = image_imbalanced
    clf = RSGClassifier(frequent_ratio=0.5, transfer_strength=0.01, **QUICK).fit(X, y)
    assert isinstance(clf.module_, ConvNet)
    # ConvNet block2: 2 * 32 channels at 4x4, 3x3 convolutions.
    assert clf.rsg_.in_channels == 64 and clf.rsg_.kernel_size == 3
    generated = _per_epoch(clf, "rsg_generated")
    assert generated[:2] == [0, 0] and generated[-1] > 0
    assert set(clf.predict(X)) <= {10, 11, 12}


@pytest.mark.parametrize(
    "data, params, width, kernel",
    [
        # Vectors: min(64, D); the default MLP's blocks.1 is 128 wide.
        ("rows", {}, 64, 1),
        ("rows", {"module__hidden_units": (16, 16)}, 16, 1),
        # An explicit width is kept on vectors.
        ("rows", {"rsg__contrastive_channels": 256}, 256, 1),
        # Maps: min(256, D); ConvNet(width=64) gives 128 channels at block2.
        ("images", {"module__width": 64}, 128, 3),
    ],
)
def test_default_contrastive_width(
    tabular_imbalanced, image_imbalanced, data, params, width, kernel
):
    X, y = tabular_imbalanced if data == "rows" else image_imbalanced
    quick = {**QUICK, "max_epochs": 1, "generate_from": 1}
    clf = RSGClassifier(**quick, **params).fit(X, y)
    assert clf.rsg_.contrastive_channels == width
    assert clf.rsg_.contrastive.conv1.out_channels == width
    assert clf.rsg_.kernel_size == kernel


def test_non_square_images_and_int_threshold():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 1, 5, 9)).astype(np.float32)
    y = np.repeat([0, 1, 2], [40, 14, 6])
    X[y == 1] += 1.0
    clf = RSGClassifier(max_epochs=2, generate_from=1, batch_size=16, random_state=0)
    clf.fit(X, y)
    generated = _per_epoch(clf, "rsg_generated")
    assert generated[0] == 0 and generated[1] > 0


def test_mix_layer_choice_and_bad_layer(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = RSGClassifier(mix_layer="blocks.0", module__hidden_units=(16, 8), **QUICK)
    assert clf.fit(X, y).rsg_.in_channels == 16
    seq = nn.Sequential(
        nn.Linear(6, 8), nn.Unflatten(1, (2, 4)), nn.Flatten(), nn.Linear(8, 3)
    )
    with pytest.raises(ValueError, match="feature maps"):
        RSGClassifier(seq, mix_layer="1", **QUICK).fit(X, y)


# ------------------------------------------------------------ parameters
def test_rsg_params_are_routed_and_grid_searchable(tabular_imbalanced):
    X, y = tabular_imbalanced
    grid = GridSearchCV(
        RSGClassifier(max_epochs=2, generate_from=1, batch_size=64, random_state=0),
        {"rsg__contrastive_channels": [4, 8], "transfer_strength": [0.5, 1.0]},
        cv=2,
        scoring="balanced_accuracy",
    ).fit(X, y)
    best = grid.best_estimator_
    assert (
        best.rsg_.contrastive_channels == grid.best_params_["rsg__contrastive_channels"]
    )
    assert best.rsg_.transfer_strength == grid.best_params_["transfer_strength"]
    # set_params on a fitted net rebuilds the generator.
    best.set_params(rsg__contrastive_channels=6)
    assert best.rsg_.contrastive_channels == 6


def test_rsg_params_that_belong_to_the_classifier(tabular_imbalanced):
    X, y = tabular_imbalanced
    with pytest.raises(ValueError, match="use its parameter 'n_centers'"):
        RSGClassifier(rsg__n_centers=3, **QUICK).fit(X, y)


@pytest.mark.parametrize(
    "params",
    [
        {"transfer_strength": 1.5},
        {"transfer_strength": 0.0},
        {"frequent_ratio": 0.0},
        {"n_centers": 0},
        {"lambda_mv": -1.0},
        {"generate_from": 1.5},
    ],
)
def test_invalid_params(tabular_imbalanced, params):
    X, y = tabular_imbalanced
    with pytest.raises(InvalidParameterError):
        RSGClassifier(**{**QUICK, **params}).fit(X, y)


def test_reproducible_and_no_rng_leak(tabular_imbalanced, no_rng_leak):
    X, y = tabular_imbalanced
    a = RSGClassifier(**QUICK).fit(X, y)
    b = RSGClassifier(**QUICK).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert _per_epoch(a, "rsg_generated") == _per_epoch(b, "rsg_generated")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = RSGClassifier(device="cuda", **QUICK).fit(X, y)
    assert next(clf.rsg_.parameters()).is_cuda
    assert _per_epoch(clf, "rsg_generated")[-1] > 0
