"""Offline data loaders: scikit-learn's bundled data sets and local CIFAR copies."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "load_digits_images",
    "make_noisy_digits",
    "load_breast_cancer_imbalanced",
    "load_wine_data",
    "load_cifar",
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


# name -> (folder, archive, train files, test files, meta file, label key,
#          label-names key)
_CIFAR = {
    "cifar10": (
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        ("test_batch",),
        "batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": (
        "cifar-100-python",
        "cifar-100-python.tar.gz",
        ("train",),
        ("test",),
        "meta",
        b"fine_labels",
        b"fine_label_names",
    ),
}


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def load_cifar(
    root: str | os.PathLike[str],
    name: str = "cifar10",
    train: bool = True,
    return_X_y: bool = True,
) -> tuple[np.ndarray, np.ndarray] | Bunch:
    """Load CIFAR-10 or CIFAR-100 from a local copy of the python version.

    Nothing is downloaded: fetch ``cifar-10-python.tar.gz`` or
    ``cifar-100-python.tar.gz`` from https://www.cs.toronto.edu/~kriz/cifar.html
    yourself and extract it under ``root``.

    Parameters
    ----------
    root : str or path-like
        Either the folder holding the extracted archive folder
        (``<root>/cifar-10-batches-py/`` or ``<root>/cifar-100-python/``) or
        that archive folder itself.
    name : {"cifar10", "cifar100"}, default="cifar10"
        Which data set. CIFAR-100 uses the 100 fine labels.
    train : bool, default=True
        Load the training set (50000 images; the five ``data_batch_*`` files of
        CIFAR-10 in order, or ``train`` of CIFAR-100); otherwise the 10000-image
        test set (``test_batch`` or ``test``).
    return_X_y : bool, default=True
        Return ``(X, y)``; otherwise a :class:`~sklearn.utils.Bunch` with
        ``data``, ``target`` and ``target_names`` (from the meta file, ``None``
        if that file is absent).

    Returns
    -------
    X : ndarray of shape (n, 3, 32, 32), dtype uint8
        Images in ``(N, C, H, W)`` layout, RGB channels, raw ``0..255`` values.
    y : ndarray of shape (n,), dtype int64
        Labels, ``0..9`` or ``0..99``.

    Raises
    ------
    FileNotFoundError
        If the expected files are missing; the message names the folder and
        files expected and how to obtain them.
    ValueError
        If ``name`` is unknown.

    Notes
    -----
    Each pickled batch (loaded with ``pickle.load(f, encoding="bytes")``) holds
    ``b"data"``, a ``uint8`` array of shape ``(n, 3072)`` whose rows store the
    1024 red, then 1024 green, then 1024 blue values of a 32x32 image in
    row-major order, so that ``data.reshape(n, 3, 32, 32)`` gives the
    ``(N, C, H, W)`` images. Unpickling can run arbitrary code: only load files
    from a trusted source.

    The long-tailed (Cao et al., 2019) and step-imbalanced versions are built
    with :func:`~skremix.datasets.make_imbalanced` with ``n_max=5000``
    (CIFAR-10) or ``n_max=500`` (CIFAR-100), usually evaluated on the balanced
    original test set.

    References
    ----------
    .. [1] A. Krizhevsky, "Learning Multiple Layers of Features from Tiny
       Images", Technical report, University of Toronto, 2009.

    Examples
    --------
    >>> import tempfile
    >>> from skremix.datasets import load_cifar
    >>> try:
    ...     load_cifar(tempfile.gettempdir() + "/no-such-dir", "cifar10")
    ... except FileNotFoundError as err:
    ...     print("cifar-10-batches-py" in str(err), "data_batch_1" in str(err))
    True True

    With the data in place, a long-tailed CIFAR-10 with ratio 100 is::

        from skremix.datasets import load_cifar, make_imbalanced
        X, y = load_cifar("~/data", "cifar10", train=True)
        X_lt, y_lt = make_imbalanced(X, y, kind="long_tailed", ratio=100,
                                     n_max=5000, random_state=0)
        X_test, y_test = load_cifar("~/data", "cifar10", train=False)
    """
    if name not in _CIFAR:
        raise ValueError(f"name must be one of {tuple(_CIFAR)}, got {name!r}.")
    folder, archive, train_files, test_files, meta_file, label_key, names_key = _CIFAR[
        name
    ]
    files = train_files if train else test_files
    pretty = "CIFAR-10" if name == "cifar10" else "CIFAR-100"
    root = Path(root).expanduser()

    # Accept both <root>/<folder>/ and the folder itself.
    candidates = [root / folder, root]
    base = next((c for c in candidates if all((c / f).is_file() for f in files)), None)
    if base is None:
        where = root / folder if not (root / files[0]).is_file() else root
        missing = [f for f in files if not (where / f).is_file()]
        raise FileNotFoundError(
            f"{pretty} not found under {str(root)!r}.\n"
            f"Expected the folder {str(root / folder)!r} (or root pointing at "
            f"that folder) holding {', '.join(files)}; missing: "
            f"{', '.join(str(where / f) for f in missing)}.\n"
            f"Download {archive} (python version) from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html and extract it so that "
            f"{str(root / folder / files[0])!r} exists. Nothing is downloaded "
            "automatically."
        )

    images, labels = [], []
    for f in files:
        batch = _unpickle(base / f)
        try:
            data, batch_labels = batch[b"data"], batch[label_key]
        except KeyError as err:
            raise ValueError(
                f"{base / f} is not a {pretty} python batch: no key {err}."
            ) from None
        data = np.asarray(data, dtype=np.uint8)
        images.append(data.reshape(data.shape[0], 3, 32, 32))
        labels.append(np.asarray(batch_labels, dtype=np.int64))
    X = np.concatenate(images)
    y = np.concatenate(labels)
    if return_X_y:
        return X, y
    target_names = None
    if (base / meta_file).is_file():
        meta = _unpickle(base / meta_file)
        raw_names = meta.get(names_key)
        if raw_names is not None:
            target_names = np.asarray(
                [n.decode() if isinstance(n, bytes) else str(n) for n in raw_names]
            )
    return Bunch(data=X, target=y, target_names=target_names)
