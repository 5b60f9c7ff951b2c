"""Integer inputs: token ids reach an embedding module as int64 with
``integer_inputs='keep'``, hidden-layer mixing works on them, input mixing
is refused; the default casts integers to float as before."""

import numpy as np
import pytest
import torch
from _classifiers import TextNet
from skorch.dataset import ValidSplit

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)

FAST = dict(max_epochs=2, batch_size=16, random_state=0)


@pytest.fixture(scope="module")
def tokens():
    """60 sequences of 5 token ids in [0, 300), 3 classes 40 / 14 / 6."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [40, 14, 6])
    X = rng.integers(0, 300, size=(60, 5))
    X[:, 0] = 250 + 10 * y  # ids above 255: not bytes
    return X, y


def _record_inputs(net):
    seen = []
    net.module_.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    return seen


METHODS = [
    (ERMClassifier, {}),
    (RemixClassifier, dict(mix="manifold", mix_layer="hidden")),
    (MFWClassifier, dict(mix_layer="hidden")),
    (RSGClassifier, dict(mix_layer="hidden", generate_from=0)),
]


@pytest.mark.parametrize("cls, kw", METHODS, ids=lambda v: getattr(v, "__name__", ""))
def test_ids_reach_the_module_as_int64_everywhere(cls, kw, tokens):
    X, y = tokens
    net = cls(
        TextNet,
        integer_inputs="keep",
        train_split=ValidSplit(4, stratified=True),
        **kw,
        **FAST,
    )
    net.fit(X, y)
    seen = _record_inputs(net)
    net.partial_fit(X, y)  # training and validation batches
    proba = net.predict_proba(X)
    assert proba.shape == (60, 3) and np.allclose(proba.sum(axis=1), 1)
    assert seen and all(t.dtype == torch.int64 for t in seen)
    rows = {tuple(r) for r in X.tolist()}
    assert all(tuple(r) in rows for t in seen for r in t.tolist())  # unscaled
    if cls is RSGClassifier:
        assert sum(net.history[-1, "batches", :, "rsg_generated"]) > 0


def test_remix_mixes_the_hidden_layer_of_ids(tokens):
    """The head receives lam * h + (1 - lam) * h[perm] of the hidden
    features h of the ids, with lam and perm drawn by hand."""
    X, y = tokens
    net = RemixClassifier(
        TextNet, integer_inputs="keep", mix="manifold", mix_layer="hidden", **FAST
    ).fit(X, y)
    hidden, head_in = [], []
    net.module_.hidden.register_forward_hook(lambda _m, _i, out: hidden.append(out))
    net.module_.head.register_forward_pre_hook(lambda _m, a: head_in.append(a[0]))
    Xb, yb = torch.as_tensor(X[:8]), torch.as_tensor(y[:8])
    net.rng_ = np.random.default_rng(5)
    net.class_counts_ = np.array([40, 14, 6])
    torch.manual_seed(5)
    net.train_forward(Xb, yb)
    lam = np.random.default_rng(5).beta(net.alpha, net.alpha)
    torch.manual_seed(5)
    perm = torch.randperm(8)
    h = hidden[0].detach()
    torch.testing.assert_close(head_in[0].detach(), lam * h + (1 - lam) * h[perm])


def test_uint8_rows_are_ids_not_pixels():
    """With 'keep', uint8 ids reach the module unscaled (as int64); with the
    default, 2-d uint8 rows are numbers cast to float (unscaled too)."""
    X = np.tile(np.arange(200, 206, dtype=np.uint8), (12, 1))
    X[::2, 0] = 7
    y = np.arange(12) % 2
    net = ERMClassifier(TextNet, integer_inputs="keep", **FAST).fit(X, y)
    seen = _record_inputs(net)
    net.predict_proba(X)
    assert seen[0].dtype == torch.int64 and int(seen[0].max()) == 205
    plain = ERMClassifier(**FAST).fit(X, y)
    seen = _record_inputs(plain)
    plain.predict_proba(X)
    assert seen[0].dtype == torch.float32 and float(seen[0].max()) == 205.0


def test_default_casts_integers_to_float_as_before(tokens, image_imbalanced):
    X, y = tokens
    as_int = ERMClassifier(**FAST).fit(X, y).predict_proba(X)
    as_float = ERMClassifier(**FAST).fit(X.astype(np.float32), y).predict_proba(X)
    np.testing.assert_array_equal(as_int, as_float)
    # uint8 images: scaled to [0, 1], the same fit as floats divided by 255.
    images, labels = image_imbalanced
    scaled = images.astype(np.float32) / 255
    a = ERMClassifier(**FAST).fit(images, labels).predict_proba(images)
    b = ERMClassifier(**FAST).fit(scaled, labels).predict_proba(scaled)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RemixClassifier(TextNet, integer_inputs="keep"), "mix='manifold'"),
        (
            lambda: RemixClassifier(TextNet, integer_inputs="keep", mix="cutmix"),
            "mix='cutmix' mixes the inputs",
        ),
        (
            lambda: ReMixClassifier(TextNet, integer_inputs="keep"),
            "ReMixClassifier mixes the inputs",
        ),
        (
            lambda: ERMClassifier(TextNet, integer_inputs="keep", standardize=True),
            "standardize=True cannot be used with integer_inputs='keep'",
        ),
        (
            lambda: ERMClassifier(integer_inputs="keep"),
            "the built-in module .* takes floats",
        ),
        (
            lambda: ERMClassifier(TextNet, integer_inputs="float"),
            "integer_inputs='float' casts.*'keep'",
        ),
    ],
)
def test_refused_before_training(make, match, tokens):
    X, y = tokens
    net = make().set_params(max_epochs=1)
    with pytest.raises(ValueError, match=match):
        net.fit(X, y)
    assert not net.history  # no epoch ran


def test_float_inputs_are_refused_under_keep(tokens):
    X, y = tokens
    with pytest.raises(ValueError, match="takes X of an integer dtype"):
        ERMClassifier(TextNet, integer_inputs="keep").fit(X.astype(float), y)
    net = ERMClassifier(TextNet, integer_inputs="keep", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="got float64"):
        net.predict(X.astype(float))
    data = torch.utils.data.TensorDataset(torch.as_tensor(X, dtype=torch.float32))
    with pytest.raises(ValueError, match="dataset samples of an integer dtype"):
        ERMClassifier(TextNet, integer_inputs="keep").fit(data, y)


def test_dataset_of_ids_and_save_load(tokens, tmp_path):
    X, y = tokens
    data = torch.utils.data.TensorDataset(torch.as_tensor(X))
    net = MFWClassifier(TextNet, integer_inputs="keep", mix_layer="hidden", **FAST)
    net.fit(data, y)
    np.testing.assert_array_equal(net.predict_proba(data), net.predict_proba(X))
    net.save_params(f_params=tmp_path / "p.pt")
    new = MFWClassifier(
        TextNet, integer_inputs="keep", mix_layer="hidden", classes=[0, 1, 2]
    )
    new.initialize(X[:1])
    new.load_params(f_params=tmp_path / "p.pt")
    np.testing.assert_array_equal(new.predict_proba(X), net.predict_proba(X))
