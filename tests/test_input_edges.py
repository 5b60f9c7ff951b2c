"""Inputs as users pass them: channels-last images (refused where skremix
would read the channels from them), one-channel images in either layout,
and integer token ids with the default ``integer_inputs='auto'``."""

import numpy as np
import pytest
import torch
from _classifiers import TextNet
from torch import nn

from skremix import (
    ERMClassifier,
    MFWClassifier,
    ReMixClassifier,
    RemixClassifier,
    RSGClassifier,
)
from skremix._validation import looks_channels_last
from skremix.nn import MLP, ConvNet

FAST = dict(max_epochs=2, batch_size=16, random_state=0)
CLASSES = [
    ERMClassifier,
    RemixClassifier,
    ReMixClassifier,
    MFWClassifier,
    RSGClassifier,
]


def _name(v):
    return getattr(v, "__name__", str(v))


# --------------------------------------------------------- channels-last (A)


def _photos(n=8, size=8, channels=3):
    """``n`` uint8 images as PIL / OpenCV / Keras give them, (n, h, w, c)."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, channels)).astype(np.uint8)


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
@pytest.mark.parametrize("channels", [3, 1, 4])
def test_channels_last_arrays_are_refused_before_training(cls, channels):
    X, y = _photos(channels=channels), np.arange(8) % 2
    net = cls(max_epochs=1)
    with pytest.raises(ValueError) as info:
        net.fit(X, y)
    message = str(info.value)
    assert f"X has shape (8, 8, 8, {channels})" in message
    assert "channels-last" in message and "(height, width, channels)" in message
    assert "X.transpose(0, 3, 1, 2)" in message and "np.moveaxis" in message
    # What skremix would have built, and the way to say it is meant.
    assert "for 8 channels of 8x" in message
    assert "module__in_channels=8" in message
    assert not net.initialized_  # refused before a module was built
    # A tensor as torchvision.io / Keras give it: the same.
    with pytest.raises(ValueError, match="channels-last"):
        cls(max_epochs=1).fit(torch.as_tensor(X), y)


def test_a_module_class_taking_in_channels_is_refused_too():
    X, y = _photos(), np.arange(8) % 2
    with pytest.raises(ValueError, match="channels-last"):
        ERMClassifier(ConvNet, max_epochs=1).fit(X, y)


class _PhotoFolder(torch.utils.data.Dataset):
    """Samples as ``np.asarray(pil_image)``: (h, w, 3) uint8."""

    def __init__(self, images, permute=False):
        self.images = images
        self.permute = permute

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = np.asarray(self.images[i])
        if self.permute:
            return torch.as_tensor(image).permute(2, 0, 1)
        return image


def test_channels_last_dataset_samples_are_refused_with_the_permute():
    X, y = _photos(), np.arange(8) % 2
    net = ERMClassifier(max_epochs=1)
    with pytest.raises(ValueError) as info:
        net.fit(_PhotoFolder(X), y)
    message = str(info.value)
    assert "samples have shape (8, 8, 3)" in message
    assert "channels-last" in message and "permute(2, 0, 1)" in message
    assert not net.initialized_
    # Permuted in the Dataset, as the message says: the same fit as the
    # transposed array.
    fixed = ERMClassifier(**FAST).fit(_PhotoFolder(X, permute=True), y)
    array = ERMClassifier(**FAST).fit(X.transpose(0, 3, 1, 2), y)
    assert fixed.input_shape_ == array.input_shape_ == (3, 8, 8)
    np.testing.assert_array_equal(
        fixed.predict_proba(X.transpose(0, 3, 1, 2)),
        array.predict_proba(X.transpose(0, 3, 1, 2)),
    )


def test_a_given_channel_count_or_module_instance_is_taken_at_its_word():
    X, y = _photos(), np.arange(8) % 2
    given = ERMClassifier(module__in_channels=8, max_epochs=1).fit(X, y)
    assert given.input_shape_ == (8, 8, 3)
    assert given.module_.block1[0].in_channels == 8  # as the user said
    instance = ERMClassifier(ConvNet(in_channels=8, n_classes=2), max_epochs=1)
    instance.fit(X, y).predict_proba(X)  # prediction is not refused either


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((32, 32, 3), True),  # RGB, PIL / OpenCV
        ((28, 28, 1), True),  # grey, Keras
        ((32, 32, 4), True),  # RGBA
        ((3, 32, 32), False),  # channels first
        ((1, 28, 28), False),
        ((3, 8, 3), False),  # both ends could be channels: as given
        ((32, 32, 5), False),  # 5 values: not a colour axis
        ((2, 1, 1), False),  # too small to tell: as given
        ((16, 2, 3), False),  # a side of 2: as given
        ((32, 3), False),  # not an image sample
    ],
)
def test_what_looks_channels_last(shape, expected):
    assert looks_channels_last(shape) is expected


# -------------------------------------------------- one-channel layouts (B)


@pytest.fixture(scope="module")
def grey():
    """40 uint8 images of 12 x 12 as (n, h, w), two classes."""
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (40, 12, 12)).astype(np.uint8), np.arange(40) % 2


def test_one_channel_images_predict_the_same_in_either_layout(grey):
    X, y = grey
    flat = ERMClassifier(**FAST).fit(X, y)
    assert flat.n_features_in_ == 1 and flat.input_shape_ == (1, 12, 12)
    expected = flat.predict_proba(X)
    np.testing.assert_array_equal(flat.predict_proba(X[:, None]), expected)
    np.testing.assert_array_equal(
        flat.predict_proba(torch.as_tensor(X[:, None])), expected
    )
    # Fitted on (n, 1, h, w): the same images, so the same net, predicting
    # the same in both layouts.
    axis = ERMClassifier(**FAST).fit(X[:, None], y)
    assert axis.n_features_in_ == 1
    np.testing.assert_array_equal(axis.predict_proba(X), expected)
    np.testing.assert_array_equal(axis.predict_proba(X[:, None]), expected)


def test_three_channel_images_refuse_one_channel_input(grey):
    X, y = grey
    rgb = ERMClassifier(max_epochs=1).fit(np.repeat(X[:, None], 3, axis=1), y)
    assert rgb.n_features_in_ == 3
    with pytest.raises(
        ValueError,
        match=r"samples of shape \(1, 12, 12\) \(an \(n, h, w\) X is one channel"
        r".*fitted on shape \(3, 12, 12\)",
    ):
        rgb.predict_proba(X)


def test_a_dataset_of_grey_images_predicts_arrays_in_either_layout(grey):
    X, y = grey
    data = torch.utils.data.TensorDataset(torch.as_tensor(X))  # (h, w) samples
    net = ERMClassifier(**FAST).fit(data, y)
    assert net.n_features_in_ == 1
    expected = net.predict_proba(data)
    np.testing.assert_array_equal(net.predict_proba(X), expected)
    np.testing.assert_array_equal(net.predict_proba(X[:, None]), expected)


# -------------------------------------------- integer_inputs='auto' (C)


@pytest.fixture(scope="module")
def tokens():
    """60 sequences of 5 int64 token ids in [0, 300), classes 40 / 14 / 6."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [40, 14, 6])
    X = rng.integers(0, 300, size=(60, 5))
    X[:, 0] = 250 + 10 * y
    return X, y


HIDDEN = {
    RemixClassifier: dict(mix="manifold", mix_layer="hidden"),
    MFWClassifier: dict(mix_layer="hidden"),
    RSGClassifier: dict(mix_layer="hidden", generate_from=1),
}


@pytest.mark.parametrize("cls", CLASSES, ids=_name)
def test_every_class_takes_token_ids_by_default(cls, tokens):
    X, y = tokens
    net = cls(TextNet, **HIDDEN.get(cls, {}), **FAST)
    assert net.integer_inputs == "auto"
    if cls is ReMixClassifier:
        with pytest.raises(
            ValueError,
            match=r"ReMixClassifier mixes the inputs .*integer_inputs='auto' "
            r"\(integer X for a module that embeds it\) makes indices",
        ):
            net.fit(X, y)
        assert not net.history  # no epoch ran
        return
    net.fit(X, y)
    seen = []
    net.module_.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    proba = net.predict_proba(X)
    assert all(t.dtype == torch.int64 for t in seen)
    assert max(int(t.max()) for t in seen) == int(X.max())  # unscaled ids
    # What 'keep' gives, bit for bit: the ids reached the module unscaled.
    keep = cls(TextNet, integer_inputs="keep", **HIDDEN.get(cls, {}), **FAST)
    np.testing.assert_array_equal(proba, keep.fit(X, y).predict_proba(X))
    if cls is RSGClassifier:
        assert sum(net.history[-1, "batches", :, "rsg_generated"]) > 0


def test_input_mixing_of_ids_is_refused_by_default(tokens):
    X, y = tokens
    net = RemixClassifier(TextNet, max_epochs=1)  # mix='input'
    with pytest.raises(ValueError, match="mix='input' mixes the inputs"):
        net.fit(X, y)
    assert not net.history
    with pytest.raises(ValueError, match="standardize=True cannot be used with"):
        ERMClassifier(TextNet, standardize=True, max_epochs=1).fit(X, y)


@pytest.mark.parametrize("module", [None, MLP], ids=["default", "MLP class"])
@pytest.mark.parametrize("cls", [ERMClassifier, RemixClassifier], ids=_name)
def test_integer_counts_train_as_floats_by_default(cls, module):
    """Counts for a module that takes numbers: 'auto' is 'float', bit for
    bit (a module class is built before the choice; the default is known)."""
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], [45, 15])
    X = rng.poisson(3.0 + 2.0 * y[:, None], size=(60, 4))  # int64 counts
    auto = cls(module, **FAST).fit(X, y).predict_proba(X)
    floats = cls(module, integer_inputs="float", **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(auto, floats)
    by_hand = cls(module, **FAST).fit(X.astype(np.float32), y)
    np.testing.assert_array_equal(auto, by_hand.predict_proba(X.astype(np.float32)))


class PositionNet(nn.Module):
    """Float images with a learnt position table (an Embedding of positions,
    not of the input): integer images are pixels to it."""

    def __init__(self, n_classes, in_channels=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        self.position = nn.Embedding(64, 4)
        self.head = nn.Linear(4, n_classes)

    def forward(self, x):
        h = self.conv(x).flatten(2).transpose(1, 2)  # (B, h * w, 4)
        h = h + self.position(torch.arange(h.shape[1], device=x.device))
        return self.head(h.mean(1))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_a_module_embedding_positions_gets_images_as_with_float(dtype):
    rng = np.random.default_rng(3)
    X = rng.integers(0, 200, (24, 8, 8)).astype(dtype)
    y = np.arange(24) % 2
    auto = ERMClassifier(PositionNet, **FAST).fit(X, y).predict_proba(X)
    floats = ERMClassifier(PositionNet, integer_inputs="float", **FAST)
    np.testing.assert_array_equal(auto, floats.fit(X, y).predict_proba(X))


def test_a_dataset_of_ids_by_default(tokens):
    X, y = tokens
    data = torch.utils.data.TensorDataset(torch.as_tensor(X, dtype=torch.int32))
    net = MFWClassifier(TextNet, mix_layer="hidden", **FAST).fit(data, y)
    seen = []
    net.module_.register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    from_data = net.predict_proba(data)
    assert seen[-1].dtype == torch.int64  # int32 samples, as int64 ids
    array = MFWClassifier(TextNet, mix_layer="hidden", **FAST).fit(X, y)
    np.testing.assert_array_equal(from_data, array.predict_proba(X))
    floats = torch.utils.data.TensorDataset(torch.as_tensor(X, dtype=torch.float32))
    with pytest.raises(ValueError, match="dataset samples of an integer dtype"):
        net.predict_proba(floats)
    with pytest.raises(ValueError, match="got float64"):
        array.predict_proba(X.astype(float))


@pytest.mark.parametrize("cls", [ERMClassifier, RSGClassifier], ids=_name)
def test_floats_to_an_embedding_module_say_why(cls, tokens):
    X, y = tokens
    kw = dict(HIDDEN.get(cls, {}), max_epochs=1)
    with pytest.raises(ValueError, match="X is not of an integer dtype"):
        cls(TextNet, **kw).fit(X.astype(np.float32), y)
    # RSG's own dry forward (the generator's size) gives the message too,
    # not torch's "Expected tensor for argument #1 'indices'".
    with pytest.raises(ValueError, match="integer_inputs='float' casts"):
        cls(TextNet, integer_inputs="float", **kw).fit(X, y)


def test_ids_by_default_after_save_and_load(tokens, tmp_path):
    """A net built by initialize(X) for load_params takes the ids as the
    fitted one did: 'auto' is decided by the sample X and the module."""
    X, y = tokens
    net = RSGClassifier(TextNet, mix_layer="hidden", **FAST).fit(X, y)
    net.save_params(f_params=tmp_path / "p.pt", f_rsg=tmp_path / "rsg.pt")
    new = RSGClassifier(TextNet, mix_layer="hidden", classes=[0, 1, 2])
    new.initialize(X[:1])
    new.load_params(f_params=tmp_path / "p.pt", f_rsg=tmp_path / "rsg.pt")
    np.testing.assert_array_equal(new.predict_proba(X), net.predict_proba(X))
