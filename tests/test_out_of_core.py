"""Data that need not fit in memory: memmaps and read-only arrays used
without a copy, uint8 images kept uint8 and scaled per batch, and the
host-batch path (data_placement)."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skremix import ERMClassifier, ReMixClassifier, RemixClassifier
from skremix._validation import validate_fit_data


@pytest.fixture
def memmap_images(tmp_path):
    rng = np.random.default_rng(0)
    X = np.lib.format.open_memmap(
        tmp_path / "X.npy", mode="w+", dtype=np.uint8, shape=(90, 3, 8, 8)
    )
    X[:] = rng.integers(0, 256, size=X.shape, dtype=np.uint8)
    X.flush()
    y = np.repeat([0, 1, 2], [60, 20, 10])
    return np.load(tmp_path / "X.npy", mmap_mode="r"), y


def test_memmap_and_read_only_inputs_are_not_copied(memmap_images):
    X, y = memmap_images
    assert isinstance(X, np.memmap) and not X.flags.writeable
    Xt, _ = validate_fit_data(ERMClassifier(), X, y, reset=True)
    assert Xt.dtype == torch.uint8 and Xt.data_ptr() == X.ctypes.data
    rows = np.arange(40, dtype=np.float32).reshape(20, 2)
    rows.flags.writeable = False
    Xr, _ = validate_fit_data(ERMClassifier(), rows, np.arange(20) % 2, reset=True)
    assert Xr.data_ptr() == rows.ctypes.data
    # A non-contiguous view is made contiguous (a copy, of the view only).
    Xs, _ = validate_fit_data(ERMClassifier(), X[:, :, ::2], y, reset=True)
    assert Xs.is_contiguous() and Xs.shape == (90, 3, 4, 8)


@pytest.mark.parametrize("cls", [ERMClassifier, RemixClassifier, ReMixClassifier])
def test_uint8_per_batch_scaling_equals_scaling_the_array(memmap_images, cls):
    X, y = memmap_images
    kw = dict(max_epochs=2, batch_size=32, random_state=0)
    a = cls(**kw).fit(X, y).predict_proba(X)
    scaled = np.asarray(X) / np.float32(255.0)
    b = cls(**kw).fit(scaled, y).predict_proba(scaled)
    np.testing.assert_array_equal(a, b)


def test_host_and_device_paths_agree_on_the_cpu(memmap_images):
    X, y = memmap_images
    kw = dict(max_epochs=2, batch_size=32, random_state=0, rebalance="rs")
    host = ERMClassifier(data_placement="host", **kw).fit(X, y)
    device = ERMClassifier(data_placement="device", **kw).fit(X, y)
    auto = ERMClassifier(**kw).fit(X, y)
    assert (host.data_placement_, device.data_placement_) == ("host", "device")
    assert auto.data_placement_ == "device"  # on the CPU nothing is copied
    np.testing.assert_array_equal(host.predict_proba(X), device.predict_proba(X))
    with pytest.raises(ValueError, match="'data_placement' parameter"):
        ERMClassifier(data_placement="disk").fit(X, y)


class _Loader(DataLoader):
    """Any iterator other than DataLoader itself takes skorch's own path."""


def test_uint8_batches_from_skorchs_dataloader_path_are_scaled(memmap_images):
    X, y = memmap_images
    seen = []

    class Recording(ERMClassifier):
        def train_forward(self, X, y, **fit_params):
            seen.append(X)
            return super().train_forward(X, y, **fit_params)

    kw = dict(max_epochs=1, batch_size=30, random_state=0)
    clf = Recording(iterator_train=_Loader, iterator_valid=_Loader, **kw).fit(X, y)
    assert len(seen) == 3 and all(b.dtype == torch.float32 for b in seen)
    assert max(float(b.max()) for b in seen) <= 1.0
    assert min(float(b.max()) for b in seen) > 0.9  # scaled, not truncated
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_host_path_moves_pinned_batches(memmap_images):
    X, y = memmap_images
    kw = dict(max_epochs=2, batch_size=32, random_state=0, device="cuda")
    host = ERMClassifier(data_placement="host", **kw).fit(X, y)
    device = ERMClassifier(data_placement="device", **kw).fit(X, y)
    assert host.data_placement_ == "host" and device.data_placement_ == "device"
    for clf in (host, device):
        proba = clf.predict_proba(X)
        assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1)
