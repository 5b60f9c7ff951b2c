"""random_crop_flip against crops and flips worked out by hand."""

import pytest
import torch

from skremix.augment import random_crop_flip


def _reference(x, padding, dy, dx, mirror):
    """One image: zero-pad, crop at (dy, dx), maybe mirror; by plain loops."""
    c, h, w = x.shape
    out = torch.zeros_like(x)
    for i in range(h):
        for j in range(w):
            si, sj = i + dy - padding, j + dx - padding
            if 0 <= si < h and 0 <= sj < w:
                out[:, i, j] = x[:, si, sj]
    return out.flip(-1) if mirror else out


def test_each_sample_gets_its_own_crop_and_flip():
    torch.manual_seed(0)
    X = torch.rand(6, 2, 5, 7)
    padding = 2
    torch.manual_seed(1)
    got = random_crop_flip(X, padding=padding)
    # The same draws, in the function's order: dy, dx, then the flips.
    torch.manual_seed(1)
    dy = torch.randint(0, 2 * padding + 1, (6, 1))[:, 0]
    dx = torch.randint(0, 2 * padding + 1, (6, 1))[:, 0]
    mirror = torch.rand(6) < 0.5
    for b in range(6):
        expected = _reference(X[b], padding, int(dy[b]), int(dx[b]), bool(mirror[b]))
        assert torch.equal(got[b], expected), b
    assert len(set(zip(dy.tolist(), dx.tolist(), strict=True))) > 1  # per sample


def test_shift_by_hand_on_a_tiny_image():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])  # (C=1, 2, 2)
    # offset (0, 0) on a 1-pixel padding: the image moves down-right by one.
    assert _reference(x, 1, 0, 0, False).tolist() == [[[0.0, 0.0], [0.0, 1.0]]]
    assert _reference(x, 1, 1, 1, True).tolist() == [[[2.0, 1.0], [4.0, 3.0]]]


def test_flip_rate_and_no_padding():
    torch.manual_seed(0)
    X = torch.arange(4.0).reshape(1, 1, 1, 4).repeat(2000, 1, 1, 1)
    out = random_crop_flip(X, padding=0)
    flipped = (out[:, 0, 0, 0] == 3.0).float().mean().item()
    assert 0.45 < flipped < 0.55
    assert torch.equal(random_crop_flip(X, padding=0, flip=False), X)


def test_shape_dtype_and_bad_input():
    X = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    out = random_crop_flip(X)
    assert out.shape == X.shape and out.dtype == X.dtype
    # every output pixel is an input pixel or padding zero
    assert set(out.unique().tolist()) <= set(X.unique().tolist()) | {0.0}
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        random_crop_flip(torch.rand(3, 8))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        random_crop_flip(X, padding=-1)
