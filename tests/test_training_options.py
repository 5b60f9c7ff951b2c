"""The papers' training options: augmentation, input standardization, the
warm-up and milestone learning-rate schedules, checked with numbers worked
out by hand."""

import pickle

import numpy as np
import pytest
import torch

from skremix import ERMClassifier, MFWClassifier, ReMixClassifier, RemixClassifier
from skremix.callbacks import LRSchedule


def _images(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n, 3, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1, 2], [n - 15, 10, 5])
    return X, y


# ---------------------------------------------------------------- standardize


def test_standardize_measures_the_training_images_per_channel():
    X, y = _images()
    clf = ERMClassifier(standardize=True, max_epochs=1, random_state=0).fit(X, y)
    scaled = X / 255.0
    np.testing.assert_allclose(clf.input_mean_, scaled.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(clf.input_std_, scaled.std(axis=(0, 2, 3)), rtol=1e-4)
    # The module sees standardized inputs at prediction.
    seen = []
    clf.module_.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    clf.predict_proba(X[:4])
    expected = (scaled[:4] - clf.input_mean_[:, None, None]) / clf.input_std_[
        :, None, None
    ]
    # (batches under 16 rows are padded by repetition: the first 4 rows)
    np.testing.assert_allclose(seen[0][:4].numpy(), expected, rtol=1e-5, atol=1e-6)


def test_standardize_rows_per_feature_constant_feature_only_centred():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(3.0, 2.0, size=(80, 2)), np.full(80, 7.0)]
    y = np.repeat([0, 1], [60, 20])
    clf = ERMClassifier(standardize=True, max_epochs=1, random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.input_mean_, X.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(clf.input_std_[:2], X[:, :2].std(axis=0), rtol=1e-4)
    assert clf.input_std_[2] == 1.0


def test_standardize_partial_fit_keeps_and_fit_remeasures():
    X, y = _images()
    clf = ERMClassifier(standardize=True, max_epochs=1, random_state=0)
    clf.partial_fit(X, y)
    first = clf.input_mean_.copy()
    clf.partial_fit(X[::-1] // 2, y[::-1])  # darker images: kept statistics
    np.testing.assert_array_equal(clf.input_mean_, first)
    clf.fit(X // 2, y)  # every fit measures anew
    np.testing.assert_allclose(clf.input_mean_, first / 2, rtol=0.02)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert not hasattr(ERMClassifier(max_epochs=1).fit(X, y), "input_mean_")


# -------------------------------------------------------------------- augment


class _Recorder:
    """An augmentation that records its calls and negates the batch."""

    def __init__(self):
        self.calls = 0

    def __call__(self, X):
        self.calls += 1
        return -X


@pytest.mark.parametrize("cls", [ERMClassifier, RemixClassifier, ReMixClassifier])
def test_augment_runs_on_training_batches_before_mixing_only(cls):
    X, y = _images()
    aug = _Recorder()
    # precise_bn off: its pass after training feeds clean images, which the
    # hook below would see (tests/test_precise_bn.py checks that pass).
    clf = cls(
        augment=aug, max_epochs=2, batch_size=20, random_state=0, precise_bn=False
    )
    clf.fit(X, y)
    n_batches = sum(clf.history[:, "train_batch_count"])
    assert aug.calls == n_batches > 0
    # Before mixing: every training input the module sees is a mix of
    # negated images (all <= 0); at prediction the images are untouched.
    seen = []
    clf.module_.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    clf.partial_fit(X, y)
    assert all((t <= 0).all() for t in seen)
    calls = aug.calls
    seen.clear()
    clf.predict_proba(X)
    assert aug.calls == calls and all((t >= 0).all() for t in seen)


def test_crop_flip_is_seeded_and_changes_training():
    X, y = _images()
    kw = dict(max_epochs=2, random_state=0)
    a = MFWClassifier(augment="crop_flip", **kw).fit(X, y).predict_proba(X)
    b = MFWClassifier(augment="crop_flip", **kw).fit(X, y).predict_proba(X)
    plain = MFWClassifier(**kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, plain)


def test_augment_errors_before_training():
    X, y = _images()
    with pytest.raises(ValueError, match="augment='crop_flip' needs images"):
        ERMClassifier(augment="crop_flip").fit(X.reshape(len(X), -1), y)
    with pytest.raises(ValueError, match="'augment' parameter of ERMClassifier"):
        ERMClassifier(augment="flip").fit(X, y)
    with pytest.raises(TypeError, match="one row per sample"):
        ERMClassifier(augment=lambda b: b[:1], max_epochs=1).fit(X, y)


# ---------------------------------------------------------------- LR schedule


def test_milestones_and_warmup_by_hand():
    # 10 epochs, warm-up 3, x0.1 from 50%, x0.01 from epoch 8.
    factors = [
        LRSchedule.factor(((0.5, 0.1), (8, 0.01)), e, 10, warmup=3) for e in range(10)
    ]
    expected = [1 / 3, 2 / 3, 1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01]
    assert factors == pytest.approx(expected)
    X, y = _images()
    clf = ERMClassifier(
        lr=0.1,
        lr_schedule=[(0.5, 0.1), (8, 0.01)],
        lr_warmup=3,
        max_epochs=10,
        random_state=0,
    ).fit(X, y)
    assert clf.history[:, "lr"] == pytest.approx([0.1 * f for f in expected])
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1)  # restored


def test_warmup_with_a_constant_schedule_and_with_step():
    X, y = _images()
    clf = ERMClassifier(lr=1.0, lr_warmup=2, max_epochs=3, random_state=0)
    assert clf.fit(X, y).history[:, "lr"] == pytest.approx([0.5, 1.0, 1.0])
    step = ERMClassifier(
        lr=1.0, lr_schedule="step", lr_warmup=2, max_epochs=10, random_state=0
    )
    assert step.fit(X, y).history[:, "lr"] == pytest.approx(
        [0.5] + [1.0] * 7 + [0.1, 0.01]
    )
    assert "lr" not in ERMClassifier(max_epochs=1).fit(X, y).history[-1]


@pytest.mark.parametrize(
    "schedule, match",
    [
        ([], "no milestones"),
        ([(0.5, 0.1), (2, 0.01)], "increasing order"),
        ([(1.5, 0.1)], "got the item"),
        ([(2, -1.0)], "got the item"),
        ([(2,)], "got the item"),
        ("linear", "'lr_schedule' parameter"),
    ],
)
def test_bad_schedules_fail_before_training(schedule, match):
    X, y = _images()
    with pytest.raises(ValueError, match=match):
        ERMClassifier(lr_schedule=schedule, max_epochs=10).fit(X, y)
    with pytest.raises(ValueError, match="'lr_warmup' parameter"):
        ERMClassifier(lr_warmup=-1).fit(X, y)


def test_the_papers_protocol_runs_on_a_resnet():
    """The LDAM-DRW protocol with SGD on 32x32 images: warm-up, decays at
    80% / 90% with DRW from the first, crop-flip and standardize."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(40, 3, 32, 32), dtype=np.uint8)
    y = np.repeat([0, 1], [30, 10])
    clf = ERMClassifier(
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        optimizer__weight_decay=2e-4,
        lr=0.1,
        batch_size=16,
        max_epochs=10,
        lr_warmup=5,
        lr_schedule=((0.8, 0.01), (0.9, 1e-4)),
        loss="ldam",
        rebalance="drw",
        augment="crop_flip",
        standardize=True,
        random_state=0,
    ).fit(X, y)
    assert type(clf.module_).__name__ == "ResNet32"
    assert clf.history[:, "lr"] == pytest.approx(
        [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.1, 0.1, 0.001, 1e-5]
    )
    assert clf.history[:, "rebalance"] == [False] * 8 + [True] * 2
    assert np.isfinite(clf.predict_proba(X)).all()


# ------------------------------------------------------------ the optimizer


def test_the_default_optimizer_is_fused_adamw_and_deterministic():
    X, y = _images()
    kw = dict(max_epochs=2, random_state=0)
    clf = RemixClassifier(**kw).fit(X, y)
    assert type(clf.optimizer_) is torch.optim.AdamW
    assert clf.optimizer_.defaults["fused"] is True
    again = RemixClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), again.predict_proba(X))
    # The for-loop implementation gives the same fit up to float rounding.
    loop = RemixClassifier(optimizer__foreach=False, **kw).fit(X, y)
    assert not loop.optimizer_.defaults["fused"]
    np.testing.assert_allclose(loop.predict_proba(X), clf.predict_proba(X), atol=1e-5)


def test_a_user_given_optimizer_is_left_as_given():
    X, y = _images()
    sgd = ERMClassifier(optimizer=torch.optim.SGD, max_epochs=1).fit(X, y)
    assert type(sgd.optimizer_) is torch.optim.SGD
    assert not sgd.optimizer_.defaults.get("fused")
    foreach = ERMClassifier(optimizer__foreach=True, max_epochs=1).fit(X, y)
    assert foreach.optimizer_.defaults["foreach"] is True
    assert not foreach.optimizer_.defaults["fused"]


# ------------------------------------------------------------------ compile


def test_compile_is_refused_where_the_method_uses_forward_hooks():
    """torch.compile's module does not run hooks added after compiling: a
    hidden-layer method would silently train plain ERM, so it is refused
    before training (checked with a hook that zeroes a layer: the compiled
    module ignores it)."""
    from skremix.mixing import transform_output_at
    from skremix.nn import MLP

    module = MLP(n_features=8, n_classes=3).eval()
    compiled = torch.compile(module, backend="eager")
    x = torch.randn(4, 8)
    with torch.no_grad():
        plain = compiled(x)
        with transform_output_at(module, module.default_mix_layer, lambda h: 0 * h):
            hooked = compiled(x)
            eager = module(x)
    assert torch.equal(plain, hooked) and not torch.allclose(eager, plain)
    X, y = _images()
    for clf in (
        MFWClassifier(compile=True),
        RemixClassifier(mix="manifold", compile=True),
    ):
        with pytest.raises(ValueError, match="compile=True cannot be used"):
            clf.fit(X, y)
        assert not clf.initialized_
    from skremix import RSGClassifier

    with pytest.raises(ValueError, match="forward hook"):
        RSGClassifier(compile=True).fit(X, y)
