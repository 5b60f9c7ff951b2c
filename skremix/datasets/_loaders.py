"""Offline data loaders: scikit-learn's bundled data sets, imbalanced or noisy."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "load_digits_images",
    "make_noisy_digits",
    "load_breast_cancer_imbalanced",
    "load_wine_data",
]


def _result(
    X: np.ndarray, y: np.ndarray, return_X_y: bool, **extra: object
) -> tuple[np.ndarray, np.ndarray] | Bunch:
    if return_X_y:
        return X, y
    return Bunch(data=X, target=y, **extra)


def load_digits_images(
    return_X_y: bool = True,
) -> tuple[np.ndarray, np.ndarray] | Bunch:
    """Load scikit-learn's 8x8 digits as single-channel images in ``[0, 1]``.

    Parameters
    ----------
    return_X_y : bool, default=True
        Return ``(X, y)``; otherwise a :class:`~sklearn.utils.Bunch` with
        ``data``, ``target``, ``target_names`` and ``DESCR``.

    Returns
    -------
    X : ndarray of shape (1797, 1, 8, 8), dtype float32
        Images in ``(N, C, H, W)`` layout, grey levels ``0..16`` divided by 16.
    y : ndarray of shape (1797,), dtype int64
        Digit labels ``0..9`` (roughly balanced, 174 to 183 per class).

    Examples
    --------
    >>> from skremix.datasets import load_digits_images
    >>> X, y = load_digits_images()
    >>> X.shape, X.dtype, y.dtype
    ((1797, 1, 8, 8), dtype('float32'), dtype('int64'))
    >>> float(X.min()), float(X.max())
    (0.0, 1.0)
    """
    raw = load_digits()
    X = (raw.images.astype(np.float32) / np.float32(16.0))[:, None, :, :]
    y = raw.target.astype(np.int64)
    return _result(X, y, return_X_y, target_names=raw.target_names, DESCR=raw.DESCR)


def make_noisy_digits(
    size: int = 12,
    canvas: int = 16,
    noise: float = 0.25,
    random_state: int | np.random.RandomState | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Make harder digits: upscaled, placed at random on a larger canvas, noisy.

    Each of scikit-learn's 1797 8x8 digits is resized to ``size x size``
    (bilinear), pasted at a uniformly random position of a ``canvas x
    canvas`` black image, and Gaussian noise of standard deviation ``noise``
    is added to every pixel. Translation and noise make the rare classes much
    harder to learn from a few samples than plain digits, on which every
    method scores about the same; the quality matrix and ``skremix-bench``
    use it as their image task. Offline and deterministic given
    ``random_state``.

    Parameters
    ----------
    size : int, default=12
        Side of the resized digit, ``8 <= size <= canvas``.
    canvas : int, default=16
        Side of the output image.
    noise : float, default=0.25
        Standard deviation of the additive Gaussian noise (pixels of the
        digit lie in ``[0, 1]``), >= 0.
    random_state : int, RandomState instance or None, default=0
        Seed of the positions and the noise.

    Returns
    -------
    X : ndarray of shape (1797, 1, canvas, canvas), dtype float32
        The images, one channel each.
    y : ndarray of shape (1797,), dtype int64
        The digit shown by each image, 0 to 9.

    Examples
    --------
    >>> from skremix.datasets import make_noisy_digits
    >>> X, y = make_noisy_digits(random_state=0)
    >>> X.shape, X.dtype
    ((1797, 1, 16, 16), dtype('float32'))
    """
    import torch
    import torch.nn.functional as F

    if not 8 <= int(size) <= int(canvas):
        raise ValueError(f"need 8 <= size <= canvas, got size={size}, canvas={canvas}.")
    if not float(noise) >= 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}.")
    X, y = load_digits_images()
    rng = check_random_state(random_state)
    up = F.interpolate(
        torch.from_numpy(X), size=(size, size), mode="bilinear", align_corners=False
    ).numpy()
    out = np.zeros((len(X), 1, canvas, canvas), dtype=np.float32)
    offsets = rng.randint(0, canvas - size + 1, size=(len(X), 2))
    for i, (top, left) in enumerate(offsets):
        out[i, :, top : top + size, left : left + size] = up[i]
    out += rng.normal(0.0, float(noise), size=out.shape).astype(np.float32)
    return out, y


def load_breast_cancer_imbalanced(
    minority_fraction: float = 0.05,
    random_state: int | np.random.RandomState | None = None,
    return_X_y: bool = True,
) -> tuple[np.ndarray, np.ndarray] | Bunch:
    """Load the Wisconsin breast cancer data with a sub-sampled minority class.

    All 357 benign samples (label 1) are kept and ``n_min`` of the 212
    malignant samples (label 0) are drawn without replacement so that they
    make ``minority_fraction`` of the returned samples.

    Parameters
    ----------
    minority_fraction : float, default=0.05
        Target fraction of malignant samples, in ``(0, 212 / 569]``.
    random_state : int, RandomState instance or None, default=None
        Seed of the minority sub-sampling.
    return_X_y : bool, default=True
        Return ``(X, y)``; otherwise a :class:`~sklearn.utils.Bunch` with
        ``data``, ``target``, ``target_names``, ``feature_names`` and ``DESCR``.

    Returns
    -------
    X : ndarray of shape (357 + n_min, 30), dtype float32
        Unscaled features (standardise them before training a network), in the
        original sample order.
    y : ndarray of shape (357 + n_min,), dtype int64
        ``0`` = malignant (minority), ``1`` = benign (majority).

    Raises
    ------
    ValueError
        If ``minority_fraction`` is outside ``(0, 212 / 569]`` or rounds to no
        minority sample.

    Notes
    -----
    With :math:`n_{maj} = 357` and fraction :math:`f`, the number of kept
    minority samples is :math:`n_{min} = \\operatorname{round}(f \\, n_{maj} /
    (1 - f))`, the integer closest to solving
    :math:`n_{min} / (n_{min} + n_{maj}) = f`; the realised fraction is within
    one sample of the target. ``f = 0.05`` keeps 19 malignant samples.

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.datasets import load_breast_cancer_imbalanced
    >>> X, y = load_breast_cancer_imbalanced(0.05, random_state=0)
    >>> X.shape, np.bincount(y)
    ((376, 30), array([ 19, 357]))
    """
    raw = load_breast_cancer()
    y_all = raw.target.astype(np.int64)
    minority = np.flatnonzero(y_all == 0)
    majority = np.flatnonzero(y_all == 1)
    max_fraction = minority.size / y_all.size
    if not 0 < minority_fraction <= max_fraction:
        raise ValueError(
            f"minority_fraction must be in (0, {max_fraction:.4f}] (all "
            f"{minority.size} malignant samples among {y_all.size}), got "
            f"{minority_fraction!r}."
        )
    n_min = round(minority_fraction * majority.size / (1.0 - minority_fraction))
    n_min = min(n_min, minority.size)
    if n_min < 1:
        raise ValueError(
            f"minority_fraction={minority_fraction!r} keeps no malignant sample "
            f"next to {majority.size} benign ones; use a fraction of at least "
            f"{0.5 / (majority.size + 0.5):.5f}."
        )
    rng = check_random_state(random_state)
    kept = rng.choice(minority, size=n_min, replace=False)
    indices = np.sort(np.concatenate([kept, majority]))
    X = raw.data[indices].astype(np.float32)
    y = y_all[indices]
    return _result(
        X,
        y,
        return_X_y,
        target_names=raw.target_names,
        feature_names=raw.feature_names,
        DESCR=raw.DESCR,
    )


def load_wine_data(
    return_X_y: bool = True,
) -> tuple[np.ndarray, np.ndarray] | Bunch:
    """Load scikit-learn's wine recognition data as float32 features.

    Parameters
    ----------
    return_X_y : bool, default=True
        Return ``(X, y)``; otherwise a :class:`~sklearn.utils.Bunch` with
        ``data``, ``target``, ``target_names``, ``feature_names`` and ``DESCR``.

    Returns
    -------
    X : ndarray of shape (178, 13), dtype float32
        Unscaled features (their scales differ by orders of magnitude:
        standardise them before training a network).
    y : ndarray of shape (178,), dtype int64
        Cultivar labels ``0, 1, 2`` (59, 71 and 48 samples).

    Examples
    --------
    >>> import numpy as np
    >>> from skremix.datasets import load_wine_data
    >>> X, y = load_wine_data()
    >>> X.shape, X.dtype, np.bincount(y)
    ((178, 13), dtype('float32'), array([59, 71, 48]))
    """
    raw = load_wine()
    X = raw.data.astype(np.float32)
    y = raw.target.astype(np.int64)
    return _result(
        X,
        y,
        return_X_y,
        target_names=raw.target_names,
        feature_names=raw.feature_names,
        DESCR=raw.DESCR,
    )
