"""The image tasks unlike digits: generated shapes, photo patches, faces."""

import numpy as np
import pytest

from skremix.datasets import make_shapes
from skremix.datasets._images import _SHAPE_TESTS, SHAPES, _box_blur


def _area(name, n=801):
    """Share of the canonical square [-1, 1]^2 inside a shape, on a grid."""
    g = np.linspace(-1, 1, n)
    v, u = np.meshgrid(g, g, indexing="ij")
    inside = _SHAPE_TESTS[name](u, v, np.hypot(u, v), np.arctan2(v, u))
    return inside.mean()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("disc", np.pi * 0.95**2 / 4),
        ("ring", np.pi * (1.0 - 0.55**2) / 4),
        ("square", 1.6**2 / 4),
        ("frame", (1.7**2 - 0.9**2) / 4),
        ("cross", (2 * 0.56 * 1.8 - 0.56**2) / 4),
        ("half_disc", np.pi * 0.95**2 / 8 + 0.1 * 2 * 0.95 / 4),
        ("ell", (1.6**2 - 1.05**2) / 4),
        # Equilateral triangle: base at v=-0.6, apex at v=0.9.
        ("triangle", (1.5**2 / np.sqrt(3)) / 4),
    ],
)
def test_shape_areas_match_geometry(name, expected):
    assert _area(name) == pytest.approx(expected, abs=0.01)


def test_every_shape_is_distinct_and_named():
    masks = {}
    g = np.linspace(-1, 1, 101)
    v, u = np.meshgrid(g, g, indexing="ij")
    for name in SHAPES:
        masks[name] = _SHAPE_TESTS[name](u, v, np.hypot(u, v), np.arctan2(v, u))
    assert len(SHAPES) == 10
    for a in SHAPES:
        for b in SHAPES:
            if a < b:
                assert (masks[a] != masks[b]).mean() > 0.05, (a, b)


def test_box_blur_is_a_window_mean():
    a = np.arange(25, dtype=float).reshape(5, 5)
    out = _box_blur(a, 3)
    assert out[2, 2] == pytest.approx(a[1:4, 1:4].mean())
    assert out[0, 0] == pytest.approx(np.pad(a, 1, mode="edge")[0:3, 0:3].mean())


def test_make_shapes_layout_and_determinism():
    X, y = make_shapes(n_per_class=4, size=12, random_state=3)
    assert X.shape == (40, 1, 12, 12) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 4))
    X2, _ = make_shapes(n_per_class=4, size=12, random_state=3)
    np.testing.assert_array_equal(X, X2)
    X3, _ = make_shapes(n_per_class=4, size=12, random_state=4)
    assert not np.array_equal(X, X3)


def test_make_shapes_without_noise_shows_the_shape():
    # No clutter or noise: the shape is a region of one level plus a
    # grating of amplitude 0.12 over a smooth background; a disc and a
    # frame cover clearly different shares of their bounding box.
    X, y = make_shapes(n_per_class=20, size=24, noise=0.0, clutter=0, random_state=0)
    assert np.isfinite(X).all()
    spread = X.reshape(len(X), -1).std(axis=1)
    assert spread.min() > 0.05  # a visible shape on every image


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_per_class": 0}, "n_per_class"),
        ({"size": 4}, "size"),
        ({"noise": -1.0}, "noise"),
        ({"clutter": -1}, "clutter"),
    ],
)
def test_make_shapes_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)


def test_photo_patches_are_grid_cells_of_the_photographs():
    skimage_data = pytest.importorskip("skimage.data")
    from skremix.datasets import load_photo_patches
    from skremix.datasets._images import COLOUR_PHOTOS, GREY_PHOTOS

    X, y = load_photo_patches(n_per_class=5, random_state=0)
    assert X.shape == (50, 1, 16, 16) and X.dtype == np.float32
    np.testing.assert_array_equal(np.bincount(y), np.full(len(GREY_PHOTOS), 5))
    # Undo the per-patch contrast and shift: standardised, each patch is a
    # standardised cell of the 16-pixel grid of its photograph (up to a
    # flip and a rotation by 90 degrees).
    brick = skimage_data.brick().astype(np.float32) / 255.0
    cells = brick.reshape(32, 16, 32, 16).transpose(0, 2, 1, 3).reshape(-1, 16, 16)

    def standardise(a):
        a = a - a.mean(axis=(-2, -1), keepdims=True)
        return a / (a.std(axis=(-2, -1), keepdims=True) + 1e-6)

    cells = standardise(cells[cells.std(axis=(1, 2)) > 1e-3])
    for patch in X[y == 0]:
        p = standardise(patch[0])
        variants = np.stack([np.rot90(q, k) for q in (p, p[:, ::-1]) for k in range(4)])
        gap = np.abs(variants[:, None] - cells[None]).max(axis=(2, 3))
        assert gap.min() < 1e-3
    Xc, yc = load_photo_patches(colour=True, n_per_class=3, random_state=0)
    assert Xc.shape == (3 * len(COLOUR_PHOTOS), 3, 24, 24)
    with pytest.raises(ValueError, match="n_per_class must be between 1 and"):
        load_photo_patches(n_per_class=10**6)


def test_faces_are_scikit_images_subset():
    skimage_data = pytest.importorskip("skimage.data")
    from skremix.datasets import load_faces

    X, y = load_faces()
    assert X.shape == (200, 1, 25, 25)
    np.testing.assert_array_equal(np.bincount(y), [100, 100])
    np.testing.assert_allclose(X[0, 0], skimage_data.lfw_subset()[0], rtol=1e-6)
    assert y[0] == 1 and y[-1] == 0
