"""Image tasks unlike digits: generated shapes, patches of real photographs, faces.

``make_shapes`` needs numpy only. ``load_photo_patches`` and ``load_faces``
read the photographs and the face subset that ship inside the scikit-image
wheel (``pip install scikit-image``, part of the ``bench`` extra): no network.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

__all__ = [
    "make_shapes",
    "load_photo_patches",
    "load_faces",
]


def _ring(u, v, r, t):
    return (r >= 0.55) & (r <= 1.0)


# Membership of canonical coordinates (u, v, radius, angle) in each shape,
# drawn in the square [-1, 1]^2 before the random pose is applied.
_SHAPE_TESTS = {
    "disc": lambda u, v, r, t: r <= 0.95,
    "ring": _ring,
    "square": lambda u, v, r, t: np.maximum(abs(u), abs(v)) <= 0.8,
    "frame": lambda u, v, r, t: (
        (np.maximum(abs(u), abs(v)) <= 0.85) & (np.maximum(abs(u), abs(v)) >= 0.45)
    ),
    "triangle": lambda u, v, r, t: (
        (v >= -0.6) & (np.sqrt(3) * u + v <= 0.9) & (-np.sqrt(3) * u + v <= 0.9)
    ),
    "cross": lambda u, v, r, t: (
        ((abs(u) <= 0.28) & (abs(v) <= 0.9)) | ((abs(v) <= 0.28) & (abs(u) <= 0.9))
    ),
    "star": lambda u, v, r, t: r <= 0.5 + 0.45 * np.cos(5 * t),
    "crescent": lambda u, v, r, t: (r <= 0.95) & ((u - 0.5) ** 2 + v**2 > 0.75**2),
    "ell": lambda u, v, r, t: (
        (abs(u) <= 0.8) & (abs(v) <= 0.8) & ((u <= -0.25) | (v <= -0.25))
    ),
    "half_disc": lambda u, v, r, t: (r <= 0.95) & (v >= -0.1),
}
#: Class names of :func:`make_shapes`, in label order.
SHAPES = tuple(_SHAPE_TESTS)


def _box_blur(a, k):
    """Mean over a ``k x k`` window (edges replicated) of a 2-d array."""
    pad = np.pad(a, k // 2, mode="edge")
    c = pad.cumsum(0).cumsum(1)
    c = np.pad(c, ((1, 0), (1, 0)))
    h, w = a.shape
    return (
        c[k : k + h, k : k + w] - c[:h, k : k + w] - c[k : k + h, :w] + c[:h, :w]
    ) / (k * k)


def make_shapes(
    n_per_class: int = 500,
    size: int = 20,
    noise: float = 0.15,
    clutter: int = 2,
    random_state: int | np.random.RandomState | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Make a shape-recognition task: 10 shapes in random pose on cluttered texture.

    Each image shows one of 10 shapes (in label order: disc, ring, square,
    frame, triangle, cross, star, crescent, L-shape, half disc) at a random
    rotation, scale (a radius of 0.3 to 0.48 of the side) and position, with a
    random contrast and a sinusoidal grating on the shape, over a smooth
    random background texture with ``clutter`` random line segments and
    Gaussian pixel noise. Pose, scale, texture and clutter make it unlike
    digits: the class is the outline, not where the ink is. Shapes are drawn
    with 2x2 supersampling (anti-aliased edges). Offline and deterministic
    given ``random_state``.

    Parameters
    ----------
    n_per_class : int, default=500
        Images per shape (balanced; impose an imbalance with
        :func:`~skremix.datasets.make_imbalanced`).
    size : int, default=20
        Side of the square images, >= 8.
    noise : float, default=0.15
        Standard deviation of the additive pixel noise, >= 0.
    clutter : int, default=2
        Random line segments drawn on the background of each image, >= 0.
    random_state : int, RandomState instance or None, default=0
        Seed of every random draw.

    Returns
    -------
    X : ndarray of shape (10 * n_per_class, 1, size, size), dtype float32
        The images, roughly in ``[0, 1]`` plus noise.
    y : ndarray of shape (10 * n_per_class,), dtype int64
        Index of the shape, in the order above.

    Examples
    --------
    >>> from skremix.datasets import make_shapes
    >>> X, y = make_shapes(n_per_class=3, random_state=0)
    >>> X.shape, X.dtype, len(set(y.tolist()))
    ((30, 1, 20, 20), dtype('float32'), 10)
    """
    if int(n_per_class) < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class!r}.")
    if int(size) < 8:
        raise ValueError(f"size must be >= 8, got {size!r}.")
    if not float(noise) >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    if int(clutter) < 0:
        raise ValueError(f"clutter must be >= 0, got {clutter!r}.")
    rng = check_random_state(random_state)
    n_per_class, size = int(n_per_class), int(size)
    fine = 2 * size
    # Pixel centres of the supersampled grid, in units of the image side.
    grid = (np.arange(fine) + 0.5) / fine
    gy, gx = np.meshgrid(grid, grid, indexing="ij")
    y = np.repeat(np.arange(len(SHAPES)), n_per_class)
    X = np.empty((len(y), 1, size, size), dtype=np.float32)
    for i, label in enumerate(y):
        # The background: smooth random texture at a random level.
        bg = _box_blur(rng.rand(fine, fine), 7)
        bg = (bg - bg.mean()) / (bg.std() + 1e-8)
        img = rng.uniform(0.2, 0.5) + rng.uniform(0.03, 0.12) * bg
        for _ in range(int(clutter)):
            # A line segment through a random point at a random angle.
            px, py, ang = rng.rand(), rng.rand(), rng.uniform(0, np.pi)
            d = np.abs((gx - px) * np.sin(ang) - (gy - py) * np.cos(ang))
            along = np.abs((gx - px) * np.cos(ang) + (gy - py) * np.sin(ang))
            seg = (d <= rng.uniform(0.02, 0.05)) & (along <= rng.uniform(0.15, 0.4))
            img = np.where(seg, rng.uniform(0.0, 1.0), img)
        # The shape: random scale, rotation and position, into the
        # canonical coordinates of its membership test.
        radius = rng.uniform(0.30, 0.48)
        cx, cy = rng.uniform(radius * 0.8, 1 - radius * 0.8, size=2)
        theta = rng.uniform(0, 2 * np.pi)
        dx, dy = (gx - cx) / radius, (gy - cy) / radius
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -np.sin(theta) * dx + np.cos(theta) * dy
        inside = _SHAPE_TESTS[SHAPES[label]](u, v, np.hypot(u, v), np.arctan2(v, u))
        level = rng.uniform(0.55, 1.0) * rng.choice([-1.0, 1.0])
        period, phase = rng.uniform(0.3, 0.8), rng.uniform(0, 2 * np.pi)
        grating = 0.12 * np.sin(2 * np.pi * u / period + phase)
        img = np.where(inside, img + level * 0.6 + grating, img)
        img = img.reshape(size, 2, size, 2).mean(axis=(1, 3))
        X[i, 0] = img + rng.normal(0.0, float(noise), size=img.shape)
    return X, y.astype(np.int64)


def _skimage_data():
    try:
        import skimage.data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the photographs and faces ship with scikit-image: "
            "pip install scikit-image (or skremix's bench extra)."
        ) from exc
    return skimage.data


#: The photographs of :func:`load_photo_patches`, in label order.
GREY_PHOTOS = (
    "brick",
    "grass",
    "gravel",
    "camera",
    "coins",
    "moon",
    "text",
    "cell",
    "clock",
    "page",
)
COLOUR_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
)


def load_photo_patches(
    colour: bool = False,
    size: int | None = None,
    n_per_class: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Load a patch classification task cut from scikit-image's photographs.

    The class of a patch is the photograph it was cut from: 10 greyscale
    photographs (``colour=False``: brick, grass, gravel and other textures,
    the camera man, coins, the moon, text, cells, a clock, a page) or 7
    colour ones (``colour=True``: the astronaut, coffee, a cat, a rocket, the
    Hubble deep field, a stained tissue section, a retina). Patches are cut
    on a non-overlapping grid, so no pixel is in two patches and a random
    train / test split does not leak pixels; each patch is flipped and
    rotated by a random multiple of 90 degrees and gets a random brightness
    and contrast, so that neither orientation nor the photograph's average
    level gives the class away. Values are in ``[0, 1]`` before the jitter.

    Parameters
    ----------
    colour : bool, default=False
        Three-channel patches of the colour photographs instead of one-channel
        patches of the greyscale ones.
    size : int, default=None
        Side of the patches: 16 for greyscale and 24 for colour by default.
    n_per_class : int, default=None
        Patches kept per photograph (a random subset of its grid), at most
        the number its grid holds; by default the most that every photograph
        has (balanced classes).
    random_state : int, RandomState instance or None, default=0
        Seed of the subset, the flips and the jitter.

    Returns
    -------
    X : ndarray of shape (n_classes * n_per_class, channels, size, size), \
dtype float32
        The patches.
    y : ndarray of shape (n_classes * n_per_class,), dtype int64
        Index of the photograph, in the order above.

    Examples
    --------
    >>> from skremix.datasets import load_photo_patches
    >>> X, y = load_photo_patches(colour=True, n_per_class=20)
    >>> X.shape, X.dtype
    ((140, 3, 24, 24), dtype('float32'))
    """
    data = _skimage_data()
    names = COLOUR_PHOTOS if colour else GREY_PHOTOS
    size = int(size if size is not None else (24 if colour else 16))
    if size < 4:
        raise ValueError(f"size must be >= 4, got {size!r}.")
    rng = check_random_state(random_state)
    grids = []
    for name in names:
        img = np.asarray(getattr(data, name)(), dtype=np.float32)
        img = img / 255.0 if img.max() > 1 else img
        if colour:
            img = img[..., :3].transpose(2, 0, 1)
        else:
            img = img[None]
        c, h, w = img.shape
        rows, cols = h // size, w // size
        tiles = img[:, : rows * size, : cols * size].reshape(c, rows, size, cols, size)
        grids.append(tiles.transpose(1, 3, 0, 2, 4).reshape(-1, c, size, size))
    most = min(len(g) for g in grids)
    n = most if n_per_class is None else int(n_per_class)
    if not 1 <= n <= most:
        raise ValueError(
            f"n_per_class must be between 1 and {most} for size={size}, got {n}."
        )
    X = np.concatenate([g[rng.permutation(len(g))[:n]] for g in grids])
    y = np.repeat(np.arange(len(names)), n).astype(np.int64)
    for i in range(len(X)):
        patch = np.rot90(X[i], k=rng.randint(4), axes=(1, 2))
        if rng.rand() < 0.5:
            patch = patch[:, :, ::-1]
        X[i] = patch
    contrast = rng.uniform(0.6, 1.4, size=(len(X), 1, 1, 1)).astype(np.float32)
    shift = rng.uniform(-0.2, 0.2, size=(len(X), 1, 1, 1)).astype(np.float32)
    mean = X.mean(axis=(1, 2, 3), keepdims=True)
    X = (X - mean) * contrast + mean + shift
    return np.ascontiguousarray(X, dtype=np.float32), y


def load_faces() -> tuple[np.ndarray, np.ndarray]:
    """Load scikit-image's face subset: 100 faces and 100 non-faces, 25x25.

    The images of ``skimage.data.lfw_subset()`` (the first 100 are faces
    from Labeled Faces in the Wild, the next 100 random crops of other
    pictures), as one-channel images in ``[0, 1]``.

    Returns
    -------
    X : ndarray of shape (200, 1, 25, 25), dtype float32
        The images.
    y : ndarray of shape (200,), dtype int64
        1 for a face, 0 for a non-face.

    Examples
    --------
    >>> from skremix.datasets import load_faces
    >>> X, y = load_faces()
    >>> X.shape, int(y.sum())
    ((200, 1, 25, 25), 100)
    """
    faces = np.asarray(_skimage_data().lfw_subset(), dtype=np.float32)
    y = np.r_[np.ones(100), np.zeros(len(faces) - 100)].astype(np.int64)
    return faces[:, None], y
