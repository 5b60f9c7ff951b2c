"""fit(X, y, sample_weight=...): weighted losses worked out by hand, the
weights of mixed and generated rows, all-ones weights equal to none bit for
bit, sklearn's errors and metadata routing."""

import math

import numpy as np
import pytest
import sklearn
import torch
from _classifiers import all_classifiers
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.dataset import ValidSplit
from torch.utils.data import Subset

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix.base import TrainStep
from skremix.losses import batch_loss

QUICK = dict(max_epochs=2, batch_size=32, random_state=0)


class Linear(torch.nn.Module):
    """One linear layer without bias: logits ``x @ W.T``, set by hand."""

    def __init__(self, weight):
        super().__init__()
        self.fc = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, x):
        return self.fc(x)


def _ce(logits, label):
    """Cross-entropy of one row of logits, in float64 by hand."""
    logits = np.asarray(logits, dtype=np.float64)
    return math.log(np.exp(logits).sum()) - logits[label]


# ----------------------------------------------------------------- the loss
def test_batch_loss_weights_rows_then_divides_by_the_batch_size():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 1])
    sw = torch.tensor([3.0, 0.5, 0.0])
    # log(1 + e^-2), log 2, log(1 + e^-1); the third row has weight 0.
    ce = [math.log1p(math.exp(-2.0)), math.log(2.0), math.log1p(math.exp(-1.0))]
    expected = (3.0 * ce[0] + 0.5 * ce[1] + 0.0 * ce[2]) / 3
    assert batch_loss(logits, y, sample_weight=sw).item() == pytest.approx(expected)
    # Class weights and sample weights multiply.
    cw = torch.tensor([2.0, 0.25])
    expected = (2.0 * 3.0 * ce[0] + 0.25 * 0.5 * ce[1]) / 3
    got = batch_loss(logits, y, cw, sample_weight=sw).item()
    assert got == pytest.approx(expected)
    # A soft target: the row's target-weighted cross-entropy times its weight.
    soft = torch.tensor([[0.25, 0.75], [0.0, 1.0], [1.0, 0.0]])
    row0 = 0.25 * _ce([2, 0], 0) + 0.75 * _ce([2, 0], 1)
    expected = (3.0 * row0 + 0.5 * math.log(2.0)) / 3
    got = batch_loss(logits, soft, sample_weight=sw).item()
    assert got == pytest.approx(expected)
    # LDAM: margin m_y off the true logit, scale s, then the weight.
    margins, s = torch.tensor([0.5, 1.0]), 2.0
    expected = (3.0 * _ce([s * (2 - 0.5), 0], 0) + 0.5 * _ce([0, s * (0 - 1.0)], 1)) / 3
    got = batch_loss(logits, y, ldam_margins=margins, ldam_s=s, sample_weight=sw)
    assert got.item() == pytest.approx(expected)


def _class_weights(counts, beta=0.9999):
    """Effective-number weights (1 - b) / (1 - b^N) scaled to sum C, by hand."""
    w = np.array([(1 - beta) / (1 - beta**n) for n in counts])
    return w * len(counts) / w.sum()


@pytest.mark.parametrize("rebalance", [None, "rw"])
def test_first_step_loss_is_the_hand_weighted_loss(rebalance):
    """The recorded loss of the first (whole-data) batch of a fit, from the
    known initial weights of a module instance."""
    W = np.array([[1.0, -1.0], [0.5, 2.0]])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    y = np.array(["a", "a", "a", "b"])
    sw = np.array([2.0, 0.0, 0.5, 4.0])
    clf = ERMClassifier(
        Linear(W),
        rebalance=rebalance,
        batch_size=-1,
        max_epochs=1,
        lr=1e-3,
        random_state=0,
    ).fit(X, y, sample_weight=sw)
    logits = X @ W.T
    cw = _class_weights([3, 1]) if rebalance else np.ones(2)
    labels = [0, 0, 0, 1]
    expected = np.mean(
        [cw[c] * w * _ce(z, c) for z, c, w in zip(logits, labels, sw, strict=True)]
    )
    assert clf.history[0, "batches", 0, "train_loss"] == pytest.approx(expected)


def test_only_the_training_part_is_weighted():
    """With a validation split, the training loss weights the training rows
    with their own weights; the validation loss is unweighted."""
    W = np.array([[1.0, -1.0], [0.5, 2.0]])
    X = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 1.0]])
    y = np.array([0, 0, 1, 1])
    sw = np.array([2.0, 9.0, 0.5, 4.0])

    def split(dataset, y=None):
        return Subset(dataset, [0, 2, 3]), Subset(dataset, [1])

    clf = ERMClassifier(
        Linear(W),
        train_split=split,
        batch_size=-1,
        max_epochs=1,
        lr=1e-9,  # the validation loss is measured after the step
        random_state=0,
    ).fit(X, y, sample_weight=sw)
    logits = X @ W.T
    train = np.mean([sw[i] * _ce(logits[i], y[i]) for i in (0, 2, 3)])
    assert clf.history[0, "batches", 0, "train_loss"] == pytest.approx(train)
    assert clf.history[0, "valid_loss"] == pytest.approx(_ce(logits[1], 0))


class Affine(torch.nn.Module):
    """A linear classifier without BatchNorm or dropout."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.fc = torch.nn.Linear(n_features, n_classes)

    def forward(self, x):
        return self.fc(x)


def test_integer_weights_repeat_samples_under_full_batch_sgd():
    """Weight k is k copies of the sample: the weighted loss is the
    repeated data's mean loss times sum(w) / n, so plain SGD on the whole
    batch takes the same steps as on the repeated data with the learning
    rate times sum(w) / n."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3))
    y = np.arange(12) % 3
    sw = np.array([0, 1, 2, 3, 1, 1, 2, 0, 1, 4, 1, 2])
    kw = dict(module=Affine, optimizer=torch.optim.SGD, batch_size=-1, max_epochs=5)
    lr = 0.5
    weighted = ERMClassifier(lr=lr, random_state=0, **kw).fit(X, y, sample_weight=sw)
    repeated = ERMClassifier(lr=lr * sw.sum() / len(X), random_state=0, **kw).fit(
        np.repeat(X, sw, axis=0), np.repeat(y, sw)
    )
    for a, b in zip(
        weighted.module_.parameters(), repeated.module_.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # Weight 0 removes a sample; weights change the fit.
    plain = ERMClassifier(lr=lr, random_state=0, **kw).fit(X, y)
    assert not np.allclose(plain.predict_proba(X), weighted.predict_proba(X))


# ------------------------------------------------- rows of the methods' steps
def _fitted(cls, **kw):
    X = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    y = np.array([0] * 8 + [1] * 4)
    return cls(max_epochs=1, random_state=0, **kw).fit(X, y), X, y


def _step(clf, X, y, sw, seed=0):
    """One train_forward with the host and device draws seeded by hand."""
    clf.rng_ = np.random.default_rng(seed)
    torch.manual_seed(seed)
    X, y, sw = torch.as_tensor(X), torch.as_tensor(y), torch.as_tensor(sw)
    return clf.train_forward(X, y, sample_weight=sw)


def test_remix_weights_follow_the_label_coefficient():
    clf, X, y = _fitted(RemixClassifier, alpha=1.0, kappa=1.5, tau=0.5)
    clf.class_counts_ = np.array([8, 4])
    sw = np.arange(1.0, 13.0, dtype=np.float32)
    step = _step(clf, X, y, sw, seed=3)
    lam = np.random.default_rng(3).beta(1.0, 1.0)
    torch.manual_seed(3)
    perm = torch.randperm(12).numpy()
    # Eq. 10 by hand: counts 8 vs 4 (ratio 2 >= kappa 1.5).
    lam_y = np.empty(12)
    for i in range(12):
        ni, nj = clf.class_counts_[y[i]], clf.class_counts_[y[perm[i]]]
        if ni / nj >= 1.5 and lam < 0.5:
            lam_y[i] = 0.0
        elif ni / nj <= 1 / 1.5 and 1 - lam < 0.5:
            lam_y[i] = 1.0
        else:
            lam_y[i] = lam
    expected = lam_y * sw + (1 - lam_y) * sw[perm]
    np.testing.assert_allclose(step.sample_weight.numpy(), expected, rtol=1e-6)
    # The label carries the same coefficient.
    np.testing.assert_allclose(
        step.targets.numpy()[np.arange(12), y], np.where(y == y[perm], 1.0, lam_y)
    )


def test_remix_manifold_and_resampling_mixup_weights():
    clf, X, y = _fitted(RemixClassifier, mix="manifold", tau=0.0)
    sw = np.linspace(0.5, 3.0, 12, dtype=np.float32)
    step = _step(clf, X, y, sw, seed=1)
    lam = np.random.default_rng(1).beta(clf.alpha, clf.alpha)
    torch.manual_seed(1)
    perm = torch.randperm(12).numpy()
    expected = lam * sw + (1 - lam) * sw[perm]  # tau=0: plain mixup labels
    np.testing.assert_allclose(step.sample_weight.numpy(), expected, rtol=1e-6)

    clf, X, y = _fitted(ReMixClassifier)
    step = _step(clf, X, y, sw, seed=2)
    lam = np.random.default_rng(2).beta(clf.alpha, clf.alpha)
    torch.manual_seed(2)
    perm = torch.randperm(12).numpy()
    expected = lam * sw + (1 - lam) * sw[perm]
    np.testing.assert_allclose(step.sample_weight.numpy(), expected, rtol=1e-6)


def test_mfw_keeps_each_sample_weight():
    clf, X, y = _fitted(MFWClassifier)
    sw = np.linspace(0.5, 3.0, 12, dtype=np.float32)
    clf.__dict__.pop("fit_state_", None)
    step = _step(clf, X, y, sw)
    np.testing.assert_array_equal(step.sample_weight.numpy(), sw)
    np.testing.assert_array_equal(step.targets.numpy(), y)


def test_rsg_generated_rows_take_their_rare_source_weight():
    """Batch of 4 frequent (class 0) and 2 rare (class 1) samples, beta=1:
    max(floor(4 / 2), 1) * 2 = 4 new rare rows, made from rows 4, 5, 4, 5."""
    clf, _, _ = _fitted(
        RSGClassifier, generate_from=0, frequent_ratio=0.5, transfer_strength=1.0
    )
    X = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    y = np.array([0, 0, 0, 0, 1, 1])
    sw = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 7.0], dtype=np.float32)
    clf.class_counts_ = np.array([100, 10])
    clf.__dict__.pop("fit_state_", None)
    clf.call_start_epoch_ = 0  # inside the first epoch of a call
    step = _step(clf, X, y, sw)
    assert step.records["rsg_generated"] == 4
    np.testing.assert_array_equal(step.targets.numpy(), [0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(
        step.sample_weight.numpy(), [1, 2, 3, 4, 5, 7, 5, 7, 5, 7]
    )


# ------------------------------------------------ all ones equal no weights
VARIANTS = [cls(**QUICK) for cls in all_classifiers()] + [
    RemixClassifier(mix="manifold", **QUICK),
    ERMClassifier(rebalance="rs", train_split=ValidSplit(4, stratified=True), **QUICK),
    RSGClassifier(generate_from=1, loss="ldam", **QUICK),
]


@pytest.mark.parametrize("est", VARIANTS, ids=lambda e: type(e).__name__)
def test_all_ones_weights_equal_no_weights_bit_for_bit(est, tabular_imbalanced):
    X, y = tabular_imbalanced
    plain = clone(est).fit(X, y)
    ones = clone(est).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(ones.predict_proba(X), plain.predict_proba(X))
    assert ones.history[:, "train_loss"] == plain.history[:, "train_loss"]
    # And the weights reach the loss: other weights, another fit.
    sw = np.random.default_rng(0).uniform(0.2, 3.0, len(y))
    weighted = clone(est).fit(X, y, sample_weight=sw)
    assert weighted.history[:, "train_loss"] != plain.history[:, "train_loss"]


def test_partial_fit_all_ones_and_scalar_weights(tabular_imbalanced):
    X, y = tabular_imbalanced
    a = ERMClassifier(**QUICK).partial_fit(X, y)
    b = ERMClassifier(**QUICK).partial_fit(X, y, sample_weight=1)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = ERMClassifier(**QUICK).partial_fit(X, y, sample_weight=3.0)
    # Every loss three times larger on the first batch (same initial weights).
    first = a.history[0, "batches", 0, "train_loss"]
    assert c.history[0, "batches", 0, "train_loss"] == pytest.approx(3 * first)


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "sw, match",
    [
        (np.array([1.0, -1.0, 1.0, 1.0]), "Negative values in data passed to"),
        (np.ones(5), r"sample_weight.shape == \(5,\), expected \(4,\)"),
        (np.ones((4, 2)), "Sample weights must be 1D array or scalar"),
        (np.zeros(4), "Sample weights must contain at least one non-zero number"),
        (np.array([1.0, np.nan, 1.0, 1.0]), "Input sample_weight contains NaN"),
        (np.array([1.0, 0.0, 0.0, 2.0]), "only one class has a non-zero"),
    ],
)
def test_bad_weights_are_refused_before_training(sw, match):
    X, y = np.eye(4), np.array([0, 1, 1, 0])
    clf = ERMClassifier(max_epochs=1)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y, sample_weight=sw)
    assert not clf.initialized_


def test_a_method_without_sample_weight_is_refused():
    class Custom(ERMClassifier):
        def train_forward(self, X, y, **fit_params):
            return TrainStep(self.infer(X, **fit_params), y)

    X, y = np.eye(4), np.array([0, 1, 1, 0])
    clf = Custom(max_epochs=1)
    with pytest.raises(TypeError, match="train_forward takes no sample_weight"):
        clf.fit(X, y, sample_weight=np.arange(1.0, 5.0))
    assert not clf.initialized_
    Custom(max_epochs=1).fit(X, y, sample_weight=np.ones(4))  # no weights: runs


def test_dataset_input_refuses_weights():
    X = torch.utils.data.TensorDataset(torch.eye(4))
    with pytest.raises(ValueError, match="not supported with a Dataset"):
        ERMClassifier(max_epochs=1).fit(X, [0, 1, 1, 0], sample_weight=[1, 2, 1, 1])


# ---------------------------------------------------------------- routing
def test_metadata_routing_and_pipeline_step_params(tabular_imbalanced):
    X, y = tabular_imbalanced
    sw = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    Xs = StandardScaler().fit_transform(X)
    direct = ERMClassifier(**QUICK).fit(Xs, y, sample_weight=sw).predict_proba(Xs)
    # Without routing: the pipeline's step parameters.
    pipe = make_pipeline(StandardScaler(), ERMClassifier(**QUICK))
    pipe.fit(X, y, ermclassifier__sample_weight=sw)
    np.testing.assert_array_equal(pipe.predict_proba(X), direct)
    with sklearn.config_context(enable_metadata_routing=True):
        clf = ERMClassifier(**QUICK).set_fit_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        routed = make_pipeline(scaler, clf).fit(X, y, sample_weight=sw)
        np.testing.assert_array_equal(routed.predict_proba(X), direct)
        # Not requested: sklearn refuses to drop the weights silently.
        unset = make_pipeline(
            StandardScaler().set_fit_request(sample_weight=False),
            ERMClassifier(**QUICK),
        )
        with pytest.raises(ValueError, match="sample_weight"):
            unset.fit(X, y, sample_weight=sw)
