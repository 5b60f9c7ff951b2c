"""The shared base: input handling, modules, device, seeding, re-balancing,
bad input and edge cases. Exercised through ERMClassifier (the base with no
method) unless a method matters."""

import copy
import os
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch import nn

from skremix import ERMClassifier, MFWClassifier, ReMixClassifier, RemixClassifier
from skremix.nn import MLP, ConvNet, ResNet32
from skremix.sampling import effective_number_weights

QUICK = dict(max_epochs=3, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def fitted_tabular(tabular_imbalanced):
    X, y = tabular_imbalanced
    return ERMClassifier(**QUICK).fit(X, y), X, y


# ----------------------------------------------------------------- input & labels
def test_string_labels_and_proba_columns(fitted_tabular):
    clf, X, y = fitted_tabular
    assert clf.classes_.tolist() == ["major", "middle", "rare"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert np.allclose(proba.sum(1), 1.0)
    pred = clf.predict(X)
    assert set(pred) <= set(clf.classes_)
    assert np.array_equal(pred, clf.classes_[proba.argmax(1)])
    assert clf.n_features_in_ == 6 and clf.input_shape_ == (6,)
    assert isinstance(clf.module_, MLP)


def test_integer_labels_that_are_not_0_to_c(tabular_imbalanced):
    X, y = tabular_imbalanced
    y_int = np.select([y == "major", y == "middle"], [-5, 7], 42)
    clf = ERMClassifier(**QUICK).fit(X, y_int)
    assert clf.classes_.tolist() == [-5, 7, 42]
    assert set(clf.predict(X)) <= {-5, 7, 42}
    assert clf.class_counts_.tolist() == [140, 45, 15]


def test_class_counts_are_those_of_the_training_part(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(train_split=ValidSplit(5, stratified=True), **QUICK).fit(X, y)
    # stratified 20% hold-out of 140 / 45 / 15
    assert clf.class_counts_.tolist() == [112, 36, 12]
    assert np.allclose(clf.class_weights_, effective_number_weights([112, 36, 12]))
    bacc = clf.history[:, "valid_bacc"]
    assert len(bacc) == 3 and all(0.0 <= b <= 1.0 for b in bacc)


def test_torch_tensors_and_images(image_imbalanced):
    X, y = image_imbalanced  # (n, 8, 8) uint8
    clf = ERMClassifier(**QUICK).fit(X, y)
    assert clf.input_shape_ == (1, 8, 8) and isinstance(clf.module_, ConvNet)
    # uint8 images are scaled to [0, 1]: same fit as float input / 255
    X_float = torch.from_numpy(X.astype(np.float32) / 255.0)
    clf_f = ERMClassifier(**QUICK).fit(X_float, torch.from_numpy(y))
    assert np.allclose(clf.predict_proba(X), clf_f.predict_proba(X_float), atol=1e-6)
    # (n, c, h, w) tensors work too
    clf4 = ERMClassifier(**QUICK).fit(X_float[:, None], y)
    assert clf4.predict_proba(X_float[:, None]).shape == (len(X), 3)
    with pytest.raises(ValueError, match="shape"):
        clf.predict(np.zeros((2, 7, 8), dtype=np.float32))


def test_default_module_for_32x32_is_resnet32():
    rng = np.random.default_rng(0)
    X = rng.random((8, 3, 32, 32), dtype=np.float32)
    clf = ERMClassifier(max_epochs=1, batch_size=8, random_state=0).fit(X, [0, 1] * 4)
    assert isinstance(clf.module_, ResNet32)
    assert clf.module_.head.out_features == 2


class TinyNet(nn.Module):
    def __init__(self, n_features, n_classes, hidden=7):
        super().__init__()
        self.body = nn.Linear(n_features, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        return self.out(torch.relu(self.body(x)))


def test_user_module_class_instance_and_routed_params(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(TinyNet, module__hidden=5, **QUICK).fit(X, y)
    assert clf.module_.body.out_features == 5 and clf.module_.out.out_features == 3
    instance = TinyNet(6, 3)
    before = instance.body.weight.detach().clone()
    clf2 = ERMClassifier(instance, **QUICK).fit(X, y)
    assert torch.equal(instance.body.weight, before), (
        "the caller's instance was trained"
    )
    assert clf2.module_ is not instance
    # a hidden-layer method needs a named layer: the error lists the choices
    with pytest.raises(ValueError, match="body"):
        RemixClassifier(TinyNet, mix="manifold", **QUICK).fit(X, y)
    RemixClassifier(TinyNet, mix="manifold", mix_layer="body", **QUICK).fit(X, y)


# ------------------------------------------------------------------------- device
def test_device_auto_is_kept_as_the_parameter(fitted_tabular):
    clf, _, _ = fitted_tabular
    assert clf.get_params()["device"] == "auto"
    assert clf.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert next(clf.module_.parameters()).device.type == torch.device(clf.device).type


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_explicit_cuda_without_gpu_fails_before_training(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(device="cuda", **QUICK)
    with pytest.raises(ValueError, match="CUDA is not available"):
        clf.fit(X, y)
    assert not clf.initialized_


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fit_and_cpu_unpickle(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(**QUICK).fit(X, y)
    assert next(clf.module_.parameters()).is_cuda
    proba = clf.predict_proba(X)
    clone = pickle.loads(pickle.dumps(clf))
    assert np.allclose(clone.predict_proba(X), proba, atol=1e-5)


def test_pickle_roundtrip_predicts_the_same(fitted_tabular):
    clf, X, _ = fitted_tabular
    clone = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(clone.predict_proba(X), clf.predict_proba(X))
    assert clone.get_params()["device"] == "auto"


# ----------------------------------------------------------------------- seeding
def test_same_seed_same_probabilities_and_no_global_rng_change(
    tabular_imbalanced, no_rng_leak
):
    X, y = tabular_imbalanced
    p1 = RemixClassifier(**QUICK).fit(X, y).predict_proba(X)
    p2 = RemixClassifier(**QUICK).fit(X, y).predict_proba(X)
    p3 = RemixClassifier(**{**QUICK, "random_state": 1}).fit(X, y).predict_proba(X)
    assert np.array_equal(p1, p2)
    assert not np.allclose(p1, p3)


# ------------------------------------------------------------------- rebalancing
class RecordBatchClasses(Callback):
    """Per epoch, the class counts of the training batches actually drawn."""

    def on_epoch_begin(self, net, **kwargs):
        self.current = np.zeros(len(net.classes_), dtype=int)

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.current += np.bincount(
                batch[1].cpu().numpy(), minlength=len(self.current)
            )

    def on_epoch_end(self, net, **kwargs):
        net.history.record("batch_class_counts", self.current.tolist())


@pytest.mark.parametrize("rebalance", [None, "rs", "drs"])
def test_resampling_really_changes_the_class_mix_of_batches(rebalance):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1100, 4))
    y = np.array([0] * 1000 + [1] * 100)
    clf = ERMClassifier(
        rebalance=rebalance,
        rebalance_start=2,
        max_epochs=4,
        batch_size=100,
        random_state=0,
        callbacks=[("record", RecordBatchClasses())],
    ).fit(X, y)
    counts = np.array(clf.history[:, "batch_class_counts"])
    assert (counts.sum(1) == 1100).all(), "an epoch draws N samples"
    minority_share = counts[:, 1] / 1100
    # effective-number weights at beta=0.9999 for 1000 vs 100 samples
    w = effective_number_weights([1000, 100])
    expected_rs = 100 * w[1] / (1000 * w[0] + 100 * w[1])  # about 0.47
    plain = np.full(4, 100 / 1100)
    if rebalance is None:
        assert np.allclose(minority_share, plain)
    elif rebalance == "rs":
        assert np.all(np.abs(minority_share - expected_rs) < 0.06)
    else:  # drs: two plain epochs, then re-sampled
        assert np.allclose(minority_share[:2], plain[:2])
        assert np.all(np.abs(minority_share[2:] - expected_rs) < 0.06)
    assert (
        clf.history[:, "rebalance"]
        == {
            None: [False] * 4,
            "rs": [True] * 4,
            "drs": [False, False, True, True],
        }[rebalance]
    )


class RecordLossOnFixedBatch(Callback):
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.5], [-1.0, 1.0]])
    y = torch.tensor([0, 1, 1])

    def on_epoch_begin(self, net, **kwargs):
        net.history.record(
            "fixed_loss", float(net.get_loss(self.logits, self.y, training=True))
        )


def test_drw_changes_the_loss_only_from_the_deferred_epoch(tabular_imbalanced):
    X, y = tabular_imbalanced
    mask = y != "middle"
    clf = ERMClassifier(
        rebalance="drw",
        rebalance_start=0.5,  # 2 plain epochs of 4
        max_epochs=4,
        random_state=0,
        callbacks=[("fixed", RecordLossOnFixedBatch())],
    ).fit(X[mask], y[mask])
    losses = clf.history[:, "fixed_loss"]
    cb = RecordLossOnFixedBatch
    ce = torch.nn.functional.cross_entropy(cb.logits, cb.y, reduction="none")
    w = torch.tensor(effective_number_weights([140, 15]), dtype=torch.float32)
    plain = ce.mean().item()
    weighted = (ce * w[cb.y]).sum().item() / 3  # divided by B, not by sum of weights
    assert losses[:2] == pytest.approx([plain, plain])
    assert losses[2:] == pytest.approx([weighted, weighted])
    assert weighted != pytest.approx(plain)


def test_rw_is_active_from_the_first_epoch(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(rebalance="rw", max_epochs=2, random_state=0).fit(X, y)
    assert clf.history[:, "rebalance"] == [True, True]


# ------------------------------------------------------------------- bad input
class NoTraining(Callback):
    def on_train_begin(self, net, **kwargs):
        raise AssertionError("training started although the input was invalid")


def _guarded(**params):
    return ERMClassifier(callbacks=[("guard", NoTraining())], **{**QUICK, **params})


X_OK = np.random.default_rng(0).normal(size=(20, 3))
Y_OK = np.array([0, 1] * 10)


@pytest.mark.parametrize(
    "X, y, error, match",
    [
        (np.where(np.eye(20, 3) > 0, np.nan, X_OK), Y_OK, ValueError, "NaN"),
        (np.where(np.eye(20, 3) > 0, np.inf, X_OK), Y_OK, ValueError, "infinity"),
        (X_OK, np.where(np.arange(20) == 3, np.nan, Y_OK), ValueError, "NaN"),
        (X_OK, np.zeros(20), ValueError, "only one class"),
        (X_OK, Y_OK[:-1], ValueError, "inconsistent numbers of samples"),
        (X_OK[:0], Y_OK[:0], ValueError, "0 sample"),
        (X_OK[:, 0], Y_OK, ValueError, "Reshape your data"),
        (X_OK, np.linspace(0, 1, 20), ValueError, "Unknown label type"),
        (np.array([["a", "b", "c"]] * 20), Y_OK, ValueError, "could not convert"),
        (X_OK, np.stack([Y_OK, Y_OK], 1), ValueError, "Multilabel and multioutput"),
        (X_OK, None, ValueError, "requires y to be passed"),
    ],
    ids=[
        "nan",
        "inf",
        "nan-y",
        "one-class",
        "length",
        "empty",
        "1d",
        "continuous",
        "strings",
        "multioutput",
        "no-y",
    ],
)
def test_bad_input_fails_before_training(X, y, error, match):
    with pytest.raises(error, match=match):
        _guarded().fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(max_epochs=-1), "max_epochs"),
        (dict(max_epochs=0), "max_epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(lr=-0.1), "lr"),
        (dict(rebalance="balanced"), "rebalance"),
        (dict(rebalance_start=1.5), "rebalance_start"),
        (dict(rebalance_beta=1.0), "rebalance_beta"),
        (dict(loss="hinge"), "loss"),
        (dict(device="tpu"), "device"),
    ],
)
def test_invalid_parameters_fail_before_training(params, match):
    with pytest.raises(ValueError, match=match):
        _guarded(**params).fit(X_OK, Y_OK)


def test_predict_checks(fitted_tabular):
    clf, X, _ = fitted_tabular
    with pytest.raises(NotFittedError):
        ERMClassifier().predict(X)
    with pytest.raises(NotFittedError):
        ERMClassifier().predict_proba(X)
    with pytest.raises(
        ValueError, match="X has 5 features, but ERMClassifier is expecting 6"
    ):
        clf.predict(X[:, :5])


# ------------------------------------------------------------------ edge cases
@pytest.mark.parametrize("batch_size", [1, 7, 33, 500, -1])
def test_odd_and_oversized_batches(batch_size, tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = RemixClassifier(max_epochs=1, batch_size=batch_size, random_state=0).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()
    n_batches = clf.history[-1, "train_batch_count"]
    expected = {1: 200, 7: 29, 33: 7, 500: 1, -1: 1}[batch_size]
    assert n_batches == expected  # 200 = 28 * 7 + 4; 200 = 6 * 33 + 2


def test_trailing_batch_of_one_is_merged():
    X = np.random.default_rng(0).normal(size=(65, 3))
    y = np.array([0, 1] * 32 + [0])
    clf = ERMClassifier(max_epochs=1, batch_size=32, random_state=0).fit(X, y)
    assert clf.history[-1, "train_batch_count"] == 2
    assert [b["train_batch_size"] for b in clf.history[-1, "batches"]] == [32, 33]


def test_single_sample_class_and_extreme_ratio():
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(1000, 4)), rng.normal(3, 1, size=(1, 4))])
    y = np.array(["big"] * 1000 + ["tiny"])
    for cls in (ERMClassifier, RemixClassifier):
        clf = cls(max_epochs=2, random_state=0, rebalance="drs").fit(X, y)
        assert clf.class_counts_.tolist() == [1000, 1]
        assert np.isfinite(clf.predict_proba(X)).all()


def test_diverging_run_never_returns_nan_silently(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(lr=1e6, optimizer=torch.optim.SGD, max_epochs=5, random_state=0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X * 1e3, y)
    except FloatingPointError as exc:
        assert "diverged" in str(exc) and "lr" in str(exc)
    else:
        try:
            proba = clf.predict_proba(X)
        except FloatingPointError as exc:
            assert "diverged" in str(exc)
        else:
            assert np.isfinite(proba).all()


def test_partial_fit_continues_training(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(max_epochs=1, random_state=0)
    clf.partial_fit(X, y)
    clf.partial_fit(X, y)
    assert len(clf.history) == 2
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X, np.where(y == "rare", "new", y))


def test_partial_fit_classes_on_first_call(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(max_epochs=1, random_state=0)
    first = y != "rare"
    clf.partial_fit(X[first], y[first], classes=["major", "middle", "rare"])
    assert clf.classes_.tolist() == ["major", "middle", "rare"]
    clf.partial_fit(X, y)  # the rare class is known
    assert clf.predict_proba(X).shape == (len(X), 3)


def test_predictions_do_not_depend_on_the_batch_composition(fitted_tabular):
    clf, X, _ = fitted_tabular
    full = clf.predict_proba(X)
    one_by_one = np.concatenate([clf.predict_proba(X[i : i + 1]) for i in range(20)])
    assert np.array_equal(one_by_one, full[:20])


def test_len_of_the_training_iterator_does_not_draw(tabular_imbalanced):
    X, y = tabular_imbalanced
    clf = ERMClassifier(max_epochs=1, batch_size=64, random_state=0).fit(X, y)
    ds_train, _ = clf.get_split_datasets(
        torch.from_numpy(X.astype(np.float32)),
        torch.from_numpy(np.searchsorted(clf.classes_, y)),
    )
    iterator = clf.get_iterator(ds_train, training=True)
    state = torch.random.get_rng_state()
    assert len(iterator) == 4  # 200 = 3 * 64 + 8
    assert torch.equal(torch.random.get_rng_state(), state)


class _FlattenByView(nn.Module):
    """A module of one's own written for contiguous tensors: ``view`` of a
    channels-last feature map raises."""

    def __init__(self, in_channels=1, n_classes=3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8 * 8, n_classes)

    def forward(self, x):
        z = torch.relu(self.conv(x))
        return self.head(z.view(z.shape[0], -1))


def test_channels_last_auto_is_on_for_builtin_conv_modules_on_cpu(image_imbalanced):
    X, y = image_imbalanced
    fmt = torch.channels_last
    auto = ERMClassifier(max_epochs=1, random_state=0, device="cpu").fit(X, y)
    assert auto.channels_last == "auto" and auto.channels_last_ is True
    convs = [m for m in auto.module_.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=fmt) for m in convs)
    # the batches the module sees are channels-last too
    seen = []
    auto.module_.block1.register_forward_pre_hook(
        lambda m, inp: seen.append(inp[0].is_contiguous(memory_format=fmt))
    )
    auto.predict_proba(X)
    assert seen and all(seen)
    off = ERMClassifier(max_epochs=1, random_state=0, channels_last=False).fit(X, y)
    assert off.channels_last_ is False
    # (a 1-channel kernel is both layouts at once: the last conv tells)
    last = [m for m in off.module_.modules() if isinstance(m, nn.Conv2d)][-1]
    assert not last.weight.is_contiguous(memory_format=fmt)
    # one's own module keeps the default layout under 'auto' (its view works)
    own = ERMClassifier(_FlattenByView, max_epochs=1, random_state=0).fit(X, y)
    assert own.channels_last_ is False
    assert own.predict_proba(X).shape == (len(X), 3)
    # rows: nothing to lay out, whatever the option
    rows = X.reshape(len(X), -1).astype(np.float32)
    for option in ("auto", True):
        net = ERMClassifier(max_epochs=1, channels_last=option, random_state=0)
        assert net.fit(rows, y).channels_last_ is False


def test_bf16_and_channels_last_options(image_imbalanced):
    X, y = image_imbalanced
    ref = ERMClassifier(max_epochs=2, random_state=0, channels_last=False).fit(X, y)
    bf16 = ERMClassifier(max_epochs=2, random_state=0, precision="bf16").fit(X, y)
    proba = bf16.predict_proba(X)
    assert proba.dtype == np.float64 and np.isfinite(proba).all()
    # bfloat16 keeps 8 bits of mantissa: close to, not equal to, float32
    assert np.abs(proba - ref.predict_proba(X)).max() < 0.2
    cl = ERMClassifier(max_epochs=2, random_state=0, channels_last=True).fit(X, y)
    conv = next(m for m in cl.module_.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    # The layout does not change the function: the same weights in the
    # default layout predict the same, to float rounding...
    same = copy.deepcopy(cl)
    same.module_.to(memory_format=torch.contiguous_format)
    same.channels_last_ = False
    assert not same.module_.block2[0].weight.is_contiguous(
        memory_format=torch.channels_last
    )
    assert np.allclose(cl.predict_proba(X), same.predict_proba(X), atol=1e-5)
    # ...and training in it stays on the default layout's path: the kernels'
    # rounding differs (by CPU), two epochs drift a little, not more.
    assert np.allclose(cl.predict_proba(X), ref.predict_proba(X), atol=1e-3)
    with pytest.raises(ValueError, match="precision"):
        ERMClassifier(precision="fp16").fit(X, y)


class _ModeRecorder(nn.Module):
    """A tiny MLP that records, at every forward pass with gradients on (a
    training step), whether it and its dropout were in train mode."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, 8), nn.Dropout(0.1), nn.Linear(8, n_classes)
        )
        self.modes = []

    def forward(self, x):
        if torch.is_grad_enabled():
            self.modes.append((self.training, self.net[1].training))
        return self.net(x)


class _PredictEveryBatch(Callback):
    """Evaluates the net in the middle of a training epoch (eval mode)."""

    def __init__(self, X):
        self.X = X

    def on_batch_end(self, net, training=False, **kwargs):
        if training:
            net.predict_proba(self.X[:4])


def test_every_training_step_runs_in_train_mode(tabular_imbalanced):
    # The base re-enters train mode only when an evaluation left the module
    # in eval mode: a callback predicting after every batch, and validation
    # after every epoch, must not leave a single step in eval mode.
    X, y = tabular_imbalanced
    clf = ERMClassifier(
        _ModeRecorder,
        max_epochs=2,
        batch_size=32,
        random_state=0,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[("predict", _PredictEveryBatch(X))],
    ).fit(X, y)
    modes = clf.module_.modes
    assert len(modes) == sum(clf.history[:, "train_batch_count"])
    assert all(module and dropout for module, dropout in modes)
    assert not clf.module_.training  # left in eval mode by the last evaluation


# ------------------------------------------- no host-device sync per step
class _HostReads:
    """Counts tensor-to-host reads (item, float, int, bool, tolist, numpy)
    made between on_batch_begin and on_batch_end of training batches. On
    CUDA each would make the host wait for the device."""

    NAMES = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__")

    def __init__(self, monkeypatch):
        self.active, self.reads = False, []
        for name in self.NAMES:
            original = getattr(torch.Tensor, name)

            def counted(t, *args, _name=name, _original=original, **kwargs):
                # torch's Adam reads its step counter, which it keeps on the
                # host for non-capturable optimizers: not a device read.
                caller = sys._getframe(1).f_code.co_filename
                if self.active and f"torch{os.sep}optim" not in caller:
                    self.reads.append(_name)
                return _original(t, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def callback(self):
        reads = self

        class Window(Callback):
            def on_batch_begin(self, net, training=False, **kwargs):
                reads.active = training

            def on_batch_end(self, net, **kwargs):
                reads.active = False

        return ("host_reads", Window())


@pytest.fixture
def deferred(monkeypatch):
    """Treat CPU tensors like accelerator tensors: per-batch scalars stay
    tensors until the end of the epoch (the CUDA code path, run on the CPU)."""
    import skremix._loop as loop

    monkeypatch.setattr(loop, "stays_on_device", lambda value: True)


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: ERMClassifier(**kw),
        lambda **kw: ERMClassifier(
            rebalance="drw", rebalance_start=1, loss="ldam", **kw
        ),
        lambda **kw: ERMClassifier(rebalance="rs", **kw),
        lambda **kw: RemixClassifier(**kw),
        lambda **kw: RemixClassifier(mix="manifold", **kw),
        lambda **kw: ReMixClassifier(**kw),
        lambda **kw: MFWClassifier(rebalance="drw", **kw),
    ],
    ids=[
        "erm",
        "ldam_drw",
        "rs",
        "remix",
        "remix_manifold",
        "remix_sampling",
        "mfw_drw",
    ],
)
def test_training_steps_read_nothing_back_from_the_device(
    make, tabular_imbalanced, deferred, monkeypatch
):
    X, y = tabular_imbalanced
    reads = _HostReads(monkeypatch)
    clf = make(
        max_epochs=2, batch_size=32, random_state=0, callbacks=[reads.callback()]
    )
    clf.fit(X, y)
    assert reads.reads == []
    # ... and the history still holds floats once each epoch has ended.
    losses = clf.history[:, "batches", :, "train_loss"]
    assert all(isinstance(v, float) for epoch in losses for v in epoch)


def test_deferred_records_equal_immediate_ones(tabular_imbalanced, monkeypatch):
    from skremix import RSGClassifier

    X, y = tabular_imbalanced
    kw = dict(max_epochs=3, batch_size=32, random_state=0, generate_from=1)
    now = RSGClassifier(**kw).fit(X, y)
    import skremix._loop as loop

    monkeypatch.setattr(loop, "stays_on_device", lambda value: True)
    later = RSGClassifier(**kw).fit(X, y)
    for key in ("train_loss", "rsg_cesc", "rsg_mv", "rsg_generated"):
        a = now.history[:, "batches", :, key]
        b = later.history[:, "batches", :, key]
        assert a == b, key
        assert all(type(v) in (float, int) for epoch in b for v in epoch)
    assert now.history[:, "train_loss"] == later.history[:, "train_loss"]
    np.testing.assert_array_equal(now.predict_proba(X), later.predict_proba(X))


def test_deferred_divergence_raises_at_the_end_of_the_epoch(
    tabular_imbalanced, deferred
):
    X, y = tabular_imbalanced
    X = X.copy()
    X[5] = np.float32(3e38)  # overflows in the first layer: a non-finite loss
    clf = ERMClassifier(max_epochs=3, batch_size=len(X), random_state=0)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 0.*Lower lr"):
        clf.fit(X, y)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    "cls", [ERMClassifier, RemixClassifier, ReMixClassifier, MFWClassifier]
)
def test_cuda_training_steps_do_not_synchronise(cls, tabular_imbalanced):
    # torch's sync debug mode raises on any host-device synchronisation
    # (item, nonzero, blocking copies) while it is on: between the start
    # and the end of every training batch.
    X, y = tabular_imbalanced

    class Window(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                torch.cuda.set_sync_debug_mode("error")

        def on_batch_end(self, net, **kwargs):
            torch.cuda.set_sync_debug_mode("default")

    try:
        cls(
            max_epochs=2,
            batch_size=32,
            device="cuda",
            random_state=0,
            callbacks=[("sync", Window())],
        ).fit(X, y)
    finally:
        torch.cuda.set_sync_debug_mode("default")
