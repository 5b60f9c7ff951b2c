"""MFWClassifier: weakening only in training, per sample, at the named layer,
labels unchanged, gradients into the partner feature."""

import math

import numpy as np
import pytest
import torch
from skorch.dataset import ValidSplit
from torch import nn

import skremix._mfw
from skremix import MFWClassifier


class Probe(nn.Module):
    """Linear -> Identity (the mix layer) -> Linear, recording the feature z
    before the mix layer and h after it (the hook replaces the Identity's
    output)."""

    default_mix_layer = "mid"

    def __init__(self, n_features=4, n_classes=2):
        super().__init__()
        self.body = nn.Linear(n_features, 5)
        self.mid = nn.Identity()
        self.head = nn.Linear(5, n_classes)
        self.calls = []  # (training, z, h) of every forward

    def forward(self, x):
        z = self.body(x)
        if z.requires_grad:
            z.retain_grad()
        h = self.mid(z)
        self.calls.append((self.training, z, h))
        return self.head(h)


class FixedBeta:
    """Stand-in for skremix._mfw._beta_draws: every raw draw is 0.8."""

    concentrations = []

    def __call__(self, rng, alpha, n):
        FixedBeta.concentrations.append(float(alpha))
        return torch.full((n,), 0.8)


class RecordingMFW(MFWClassifier):
    """MFWClassifier that keeps the labels of every training batch."""

    def train_forward(self, X, y, **fit_params):
        self.__dict__.setdefault("batch_labels", []).append(y.clone())
        return super().train_forward(X, y, **fit_params)


def _data(n_major=90, n_minor=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_major + n_minor, 4)).astype(np.float32)
    X[n_major:] += 2.0
    y = np.array([0] * n_major + [1] * n_minor)
    return X, y


def _s_by_hand(counts, beta):
    mu = math.exp(sum(math.log(max(n, 1)) for n in counts) / len(counts))
    mean = sum(counts) / len(counts)
    gamma = math.sqrt(sum((n - mean) ** 2 for n in counts) / len(counts))
    return [0.5 / (1.0 + math.exp(-(n - mu) / (beta * gamma))) for n in counts]


@pytest.fixture
def spy(monkeypatch):
    """Record lam and perm of every call to mfw_mix inside the estimator."""
    calls = []
    real = skremix._mfw.mfw_mix

    def wrapped(h, lam, perm):
        calls.append((lam.clone(), perm.clone()))
        return real(h, lam, perm)

    monkeypatch.setattr(skremix._mfw, "mfw_mix", wrapped)
    return calls


def test_mixes_in_training_only_at_the_layer_labels_unchanged(spy, monkeypatch):
    monkeypatch.setattr(skremix._mfw, "_beta_draws", FixedBeta())
    FixedBeta.concentrations.clear()
    X, y = _data()
    clf = RecordingMFW(
        Probe(), alpha=0.5, beta=2.0, max_epochs=2, batch_size=25, random_state=0
    ).fit(X, y)
    # 100 samples in batches of 25, 2 epochs: one weakening per training step
    assert len(spy) == 8
    assert FixedBeta.concentrations == [0.5] * 8
    s_maj, s_min = _s_by_hand([90, 10], 2.0)

    train_calls = [c for c in clf.module_.calls if c[0]]
    assert len(train_calls) == 8
    seen = []
    for (_, z, h), (lam, perm) in zip(train_calls, spy, strict=True):
        # h = (1 - lam) z + lam z[perm], recomputed here from z, lam, perm
        lam_col = lam[:, None]
        assert torch.allclose(h, (1 - lam_col) * z + lam_col * z[perm], atol=1e-6)
        seen.append(lam)
        assert sorted(perm.tolist()) == list(range(25))
    lam = torch.cat(seen)
    y_seen = torch.cat(clf.batch_labels)
    # lam_n = 0.8 * s(N_{y_n}), per sample: the majority is scaled more
    expected = torch.where(y_seen == 0, 0.8 * s_maj, 0.8 * s_min).float()
    assert torch.allclose(lam, expected, atol=1e-6)
    assert s_maj > s_min > 0 and int((y_seen == 1).sum()) == 20  # 10 per epoch

    # prediction: no mixing, the head sees z itself
    clf.module_.calls.clear()
    n_spy = len(spy)
    clf.predict_proba(X)
    clf.predict(X[:3])
    assert len(spy) == n_spy
    assert clf.module_.calls and all(not t for t, _, _ in clf.module_.calls)
    assert all(torch.equal(z, h) for _, z, h in clf.module_.calls)
    assert not clf.module_.mid._forward_hooks  # hook removed


def test_lambda_per_sample_and_scaled_by_class(spy):
    X, y = _data(n_major=180, n_minor=20)
    clf = RecordingMFW(
        Probe(), alpha=1.0, beta=2.0, max_epochs=5, batch_size=50, random_state=0
    ).fit(X, y)
    s_maj, s_min = _s_by_hand([180, 20], 2.0)
    lam = torch.cat([lam for lam, _ in spy])
    y_seen = torch.cat(clf.batch_labels)
    assert lam.shape == (1000,)
    assert len(torch.unique(lam)) > 900  # one draw per sample, not per batch
    lam_maj, lam_min = lam[y_seen == 0], lam[y_seen == 1]
    assert float(lam_maj.max()) <= s_maj + 1e-6 and float(lam_min.max()) <= s_min + 1e-6
    assert float(lam.min()) >= 0.0
    # Beta(1, 1) is uniform on [0, 1]: E[s * u] = s / 2, sd s / sqrt(12 n);
    # 900 majority and 100 minority draws, bound at 5 sd.
    assert float(lam_maj.mean()) == pytest.approx(
        s_maj / 2, abs=5 * s_maj / math.sqrt(12 * 900)
    )
    assert float(lam_min.mean()) == pytest.approx(
        s_min / 2, abs=5 * s_min / math.sqrt(12 * 100)
    )


def test_defaults_and_step_beta_leaves_minority_unweakened(spy):
    X, y = _data()
    clf = RecordingMFW(Probe(), max_epochs=1, random_state=0)
    assert clf.beta == 2.0 and clf.alpha == 1.0
    clf.set_params(beta=0.01, max_epochs=2, batch_size=50).fit(X, y)
    lam = torch.cat([lam for lam, _ in spy])
    y_seen = torch.cat(clf.batch_labels)
    # beta = 0.01 on two classes: s = 0.5 for the majority, ~0 for the minority
    assert float(lam[y_seen == 1].max()) < 1e-6
    assert float(lam[y_seen == 0].max()) <= 0.5
    assert float(lam[y_seen == 0].mean()) == pytest.approx(0.25, abs=0.05)


def test_gradient_reaches_the_partner_feature(monkeypatch):
    monkeypatch.setattr(skremix._mfw, "_beta_draws", FixedBeta())
    X, y = _data()
    clf = MFWClassifier(Probe(), beta=2.0, max_epochs=1, random_state=0).fit(X, y)
    module = clf.module_
    module.calls.clear()
    torch.manual_seed(3)
    Xt, yt = torch.as_tensor(X[85:95]), torch.as_tensor(y[85:95])
    perm_used = []
    real = skremix._mfw.mfw_mix

    def recording(h, lam, perm):
        perm_used.append((lam, perm))
        return real(h, lam, perm)

    monkeypatch.setattr(skremix._mfw, "mfw_mix", recording)
    module.train()
    clf.rng_ = np.random.default_rng(0)  # the host generator of a training step
    logits, targets, extra, records, weights = clf.train_forward(Xt, yt)
    assert (
        torch.equal(targets, yt) and extra == {} and records == {} and weights is None
    )  # hard, unchanged labels, no sample weights
    (lam, perm), (_, z, _) = perm_used[0], module.calls[0]
    i = int(torch.nonzero(perm != torch.arange(10))[0])  # a sample with a partner
    logits[i].sum().backward()
    p = int(perm[i])
    lam_i = float(lam[i])
    assert lam_i > 0
    # d h_i / d z_i = (1 - lam_i), d h_i / d z_p = lam_i; no other sample is touched
    assert torch.count_nonzero(z.grad[p]) > 0
    assert torch.allclose(z.grad[p] * (1 - lam_i), z.grad[i] * lam_i, atol=1e-6)
    others = [k for k in range(10) if k not in (i, p)]
    assert torch.count_nonzero(z.grad[others]) == 0


def test_validation_split_is_not_mixed_and_counts_are_the_training_part(spy):
    X, y = _data(n_major=160, n_minor=40)
    clf = MFWClassifier(
        Probe(),
        max_epochs=2,
        batch_size=40,
        train_split=ValidSplit(0.25, stratified=True),
        random_state=0,
    ).fit(X, y)
    assert clf.class_counts_.tolist() == [120, 30]
    # 150 training samples in batches of 40: 4 steps per epoch
    assert len(spy) == 8
    assert all(len(lam) <= 40 for lam, _ in spy)
    assert "valid_bacc" in clf.history[-1]
    eval_calls = [c for c in clf.module_.calls if not c[0]]
    assert eval_calls and all(torch.equal(z, h) for _, z, h in eval_calls)


def test_mix_layer_param_and_missing_default():
    X, y = _data()

    class NoDefault(Probe):
        default_mix_layer = None

    with pytest.raises(ValueError, match="default_mix_layer"):
        MFWClassifier(NoDefault(), max_epochs=1).fit(X, y)
    clf = MFWClassifier(NoDefault(), mix_layer="mid", max_epochs=1, random_state=0)
    assert clf.fit(X, y).predict(X).shape == (100,)
    with pytest.raises(ValueError, match="not a submodule"):
        MFWClassifier(NoDefault(), mix_layer="nope", max_epochs=1).fit(X, y)


def test_images_and_drw(image_imbalanced):
    X, y = image_imbalanced
    clf = MFWClassifier(
        rebalance="drw",
        max_epochs=3,
        rebalance_start=2,
        module__width=4,
        random_state=0,
    ).fit(X, y)
    assert clf.history[:, "rebalance"] == [False, False, True]
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert set(clf.predict(X)) <= {10, 11, 12}


def test_reproducible_and_no_rng_leak(no_rng_leak, tabular_imbalanced):
    X, y = tabular_imbalanced
    params = dict(max_epochs=2, module__hidden_units=(16, 16), random_state=5)
    a = MFWClassifier(**params).fit(X, y).predict_proba(X)
    b = MFWClassifier(**params).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("params", [dict(alpha=0.0), dict(beta=0.0), dict(beta=-1)])
def test_bad_params(params):
    X, y = _data()
    with pytest.raises(ValueError, match="alpha|beta"):
        MFWClassifier(max_epochs=1, **params).fit(X, y)
