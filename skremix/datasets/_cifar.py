"""CIFAR-10 and CIFAR-100, the papers' data sets: read a local copy, or
download it once and make the long-tailed and step training sets.

:func:`load_cifar` reads the python version from a folder; the fetchers
download the archive into the data folder (``_download.py``) and subsample
the training set with :func:`~skremix.datasets.make_imbalanced`.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from skremix.datasets._download import Archive, ensure_extracted, get_data_home
from skremix.datasets._imbalance import imbalance_profile, make_imbalanced

__all__ = ["load_cifar", "fetch_cifar10_lt", "fetch_cifar100_lt"]

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


# Where each archive comes from and its published MD5 (from
# https://www.cs.toronto.edu/~kriz/cifar.html). Tests point the URLs at a
# local server; there is deliberately no public parameter for it.
_ARCHIVES = {
    "cifar10": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
    ),
    "cifar100": Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
    ),
}

# name -> (pretty name, number of classes, n_max of the papers, archive size)
_INFO = {
    "cifar10": ("CIFAR-10", 10, 5000, "163 MiB"),
    "cifar100": ("CIFAR-100", 100, 500, "161 MiB"),
}

_SUBSETS = ("train", "test")
_IMBALANCES = ("long_tailed", "step", None)


def _ensure_cifar(name: str, data_home: str, download_if_missing: bool) -> Path:
    """The extracted folder of ``name`` in ``data_home``, downloading and
    extracting the archive the first time."""
    pretty, _, _, size = _INFO[name]
    folder, filename, train_files, test_files, meta_file = _CIFAR[name][:5]
    return ensure_extracted(
        _ARCHIVES[name],
        filename=filename,
        folder=folder,
        files=(*train_files, *test_files, meta_file),
        data_home=data_home,
        download_if_missing=download_if_missing,
        pretty=pretty,
        size=size,
    )


def _describe(name: str, subset: str, imbalance: str | None, **values) -> str:
    pretty = _INFO[name][0]
    counts = values["class_counts"]
    if subset == "test":
        title = f"{pretty} test set (balanced, as published)"
        how = "The original test set, in its published order, not subsampled."
    elif imbalance is None:
        title = f"{pretty} training set (balanced, as published)"
        how = "The original training set, in its published order."
    else:
        suffix = "LT" if imbalance == "long_tailed" else "step"
        title = f"{pretty}-{suffix} training set, imbalance ratio {values['ratio']:g}"
        formula = (
            "n_c = int(n_max * ratio**(-c / (C - 1)))"
            if imbalance == "long_tailed"
            else "n_c = n_max for the first C // 2 classes, int(n_max / ratio) after"
        )
        how = (
            f"{imbalance} profile of Cao et al. (2019), {formula}, with "
            f"n_max={values['n_max']}; the images of class c are a random "
            f"subset of size n_c drawn with random_state={values['random_state']!r}"
            " (classes in order, as the papers' code does), kept in their "
            "published order."
        )
    return (
        f"{title}\n{'=' * len(title)}\n\n"
        f"From the {pretty} python archive of A. Krizhevsky (2009), "
        f"{_ARCHIVES[name].url} (MD5 {_ARCHIVES[name].md5}).\n"
        f"{how}\n\n"
        f"Images: {int(counts.sum())}, uint8 RGB of shape (3, 32, 32), in "
        f"(N, C, H, W) layout.\nClasses: {counts.size}; class counts "
        f"(class 0 first): {counts.tolist()}.\n"
    )


def _fetch_cifar(
    name: str,
    *,
    subset: str,
    imbalance: str | None,
    ratio: float,
    n_max: int | None,
    random_state: int | np.random.RandomState | None,
    data_home: str | os.PathLike[str] | None,
    download_if_missing: bool,
    return_X_y: bool,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    _, n_classes, paper_n_max, _ = _INFO[name]
    if subset not in _SUBSETS:
        raise ValueError(f"subset must be one of {_SUBSETS}, got {subset!r}.")
    if imbalance not in _IMBALANCES:
        raise ValueError(f"imbalance must be one of {_IMBALANCES}, got {imbalance!r}.")
    if n_max is None:
        n_max = paper_n_max
    train = subset == "train"
    if train and imbalance is not None:
        # fail on bad numbers before a 160 MiB download
        imbalance_profile(n_max, n_classes, kind=imbalance, ratio=ratio)
    data_home = get_data_home(data_home)
    folder = _ensure_cifar(name, data_home, download_if_missing)
    raw = load_cifar(folder, name, train=train, return_X_y=False)
    X, y = raw.data, raw.target
    if train and imbalance is not None:
        X, y = make_imbalanced(
            X, y, kind=imbalance, ratio=ratio, n_max=n_max, random_state=random_state
        )
    if return_X_y:
        return X, y
    class_counts = np.bincount(y, minlength=n_classes).astype(np.int64)
    descr = _describe(
        name,
        subset,
        imbalance if train else None,
        class_counts=class_counts,
        ratio=ratio,
        n_max=n_max,
        random_state=random_state,
    )
    return Bunch(
        data=X,
        target=y,
        target_names=raw.target_names,
        class_counts=class_counts,
        DESCR=descr,
    )


def fetch_cifar10_lt(
    *,
    subset: str = "train",
    imbalance: str | None = "long_tailed",
    ratio: float = 100,
    n_max: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
    data_home: str | os.PathLike[str] | None = None,
    download_if_missing: bool = True,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the CIFAR-10-LT or step-imbalanced CIFAR-10, downloading it once.

    The training sets of the class-imbalance papers (Cao et al., 2019, and
    the Remix, MFW and RSG papers after them): the CIFAR-10 training set
    subsampled to a long-tailed or step profile with ``n_max=5000`` images
    in the largest class; ``subset="test"`` gives the balanced original
    test set they are evaluated on. The first call downloads the python
    archive (163 MiB) from
    https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz into
    ``data_home``, checks its MD5 and extracts it; later calls read the
    extracted files and make no request.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        ``"train"``: the (imbalanced) training set. ``"test"``: the 10000
        test images, 1000 of each class, as published;
        ``imbalance``, ``ratio``, ``n_max`` and ``random_state`` are then
        ignored.
    imbalance : {"long_tailed", "step"} or None, default="long_tailed"
        Profile of the class counts ``n_c``, class 0 the largest:
        ``"long_tailed"``: ``n_c = int(n_max * ratio**(-c / (C - 1)))``;
        ``"step"``: ``n_max`` for the first half of the classes and
        ``int(n_max / ratio)`` for the second half (see
        :func:`~skremix.datasets.imbalance_profile`). None keeps the whole
        balanced training set.
    ratio : float, default=100
        Imbalance ratio ``n_max / n_min``, at least 1.
    n_max : int, default=None
        Number of images kept in class 0; None is the papers' 5000.
    random_state : int, RandomState instance or None, default=0
        Seed of the choice of the images kept in each class. ``0`` keeps the
        images of the papers' code (the ``IMBALANCECIFAR`` data sets of Cao
        et al. with ``rand_number=0``).
    data_home : str or path-like, default=None
        Download and cache folder; None is the environment variable
        ``SKREMIX_DATA`` if set, else ``~/skremix_data``
        (:func:`get_data_home`). It holds the archive
        ``cifar-10-python.tar.gz`` and the extracted folder
        ``cifar-10-batches-py/``, the layout of
        :func:`~skremix.datasets.load_cifar` and torchvision.
    download_if_missing : bool, default=True
        If False, raise a :class:`FileNotFoundError` when the data is not in
        ``data_home`` instead of downloading it.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes

        data : ndarray of shape (n_samples, 3, 32, 32), dtype uint8
            RGB images in ``(N, C, H, W)`` layout, in their published order.
        target : ndarray of shape (n_samples,), dtype int64
            Labels, 0 to 9.
        target_names : ndarray of shape (10,)
            Class names, from the archive's meta file.
        class_counts : ndarray of shape (10,), dtype int64
            Number of images of each class.
        DESCR : str
            Description of the data set and of its imbalance.
    (data, target) : tuple
        Only with ``return_X_y=True``: the arrays ``data`` and ``target``.

    Raises
    ------
    ValueError
        If ``subset``, ``imbalance``, ``ratio`` or ``n_max`` is invalid
        (checked before anything is downloaded).
    FileNotFoundError
        If the data is not in ``data_home`` and ``download_if_missing`` is
        False.
    ConnectionError
        If the archive cannot be downloaded (no network, HTTP error) or the
        download is interrupted; the message says where to place the archive
        by hand.
    OSError
        If the downloaded or placed archive fails its MD5 check, or if the
        disk of ``data_home`` is full (``errno.ENOSPC``). A failed download
        leaves nothing in ``data_home``.

    See Also
    --------
    skremix.datasets.load_cifar : Read a local copy of CIFAR, never downloading.
    skremix.datasets.make_imbalanced : Subsample any labelled data set to a profile.

    Notes
    -----
    CIFAR-10-LT with ``ratio=100`` has the class counts
    ``[5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]``. The archive is
    streamed into a temporary file of ``data_home`` while its MD5 is
    computed, then renamed into place; it is extracted into a temporary
    folder (with the ``"data"`` extraction filter of :mod:`tarfile`) which
    is then renamed, so that an interrupted call never leaves a partial
    file that a later call would take for the data. An archive placed in
    ``data_home`` by hand is checked and used without a request. The
    archive is kept next to the extracted folder.

    References
    ----------
    .. [1] A. Krizhevsky, "Learning Multiple Layers of Features from Tiny
       Images", Technical report, University of Toronto, 2009.
    .. [2] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS 2019.

    Examples
    --------
    Without the data and with ``download_if_missing=False``, the error says
    what to do:

    >>> import tempfile
    >>> from skremix.datasets import fetch_cifar10_lt
    >>> with tempfile.TemporaryDirectory() as home:
    ...     try:
    ...         fetch_cifar10_lt(data_home=home, download_if_missing=False)
    ...     except FileNotFoundError as err:
    ...         print("place it at" in str(err), home in str(err))
    True True

    The papers' training and test sets (downloads once):

    >>> train = fetch_cifar10_lt(imbalance="long_tailed", ratio=100)  # doctest: +SKIP
    >>> train.data.shape, train.class_counts[[0, -1]].tolist()  # doctest: +SKIP
    ((12406, 3, 32, 32), [5000, 50])
    >>> X_test, y_test = fetch_cifar10_lt(
    ...     subset="test", return_X_y=True
    ... )  # doctest: +SKIP
    """
    return _fetch_cifar(
        "cifar10",
        subset=subset,
        imbalance=imbalance,
        ratio=ratio,
        n_max=n_max,
        random_state=random_state,
        data_home=data_home,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
    )


def fetch_cifar100_lt(
    *,
    subset: str = "train",
    imbalance: str | None = "long_tailed",
    ratio: float = 100,
    n_max: int | None = None,
    random_state: int | np.random.RandomState | None = 0,
    data_home: str | os.PathLike[str] | None = None,
    download_if_missing: bool = True,
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the CIFAR-100-LT or step-imbalanced CIFAR-100, downloading it once.

    The training sets of the class-imbalance papers (Cao et al., 2019, and
    the Remix, MFW and RSG papers after them): the CIFAR-100 training set
    subsampled to a long-tailed or step profile with ``n_max=500`` images
    in the largest class; ``subset="test"`` gives the balanced original
    test set they are evaluated on. The first call downloads the python
    archive (161 MiB) from
    https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz into
    ``data_home``, checks its MD5 and extracts it; later calls read the
    extracted files and make no request.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        ``"train"``: the (imbalanced) training set. ``"test"``: the 10000
        test images, 100 of each class, as published;
        ``imbalance``, ``ratio``, ``n_max`` and ``random_state`` are then
        ignored.
    imbalance : {"long_tailed", "step"} or None, default="long_tailed"
        Profile of the class counts ``n_c``, class 0 the largest:
        ``"long_tailed"``: ``n_c = int(n_max * ratio**(-c / (C - 1)))``;
        ``"step"``: ``n_max`` for the first half of the classes and
        ``int(n_max / ratio)`` for the second half (see
        :func:`~skremix.datasets.imbalance_profile`). None keeps the whole
        balanced training set.
    ratio : float, default=100
        Imbalance ratio ``n_max / n_min``, at least 1.
    n_max : int, default=None
        Number of images kept in class 0; None is the papers' 500.
    random_state : int, RandomState instance or None, default=0
        Seed of the choice of the images kept in each class. ``0`` keeps the
        images of the papers' code (the ``IMBALANCECIFAR`` data sets of Cao
        et al. with ``rand_number=0``).
    data_home : str or path-like, default=None
        Download and cache folder; None is the environment variable
        ``SKREMIX_DATA`` if set, else ``~/skremix_data``
        (:func:`get_data_home`). It holds the archive
        ``cifar-100-python.tar.gz`` and the extracted folder
        ``cifar-100-python/``, the layout of
        :func:`~skremix.datasets.load_cifar` and torchvision.
    download_if_missing : bool, default=True
        If False, raise a :class:`FileNotFoundError` when the data is not in
        ``data_home`` instead of downloading it.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes

        data : ndarray of shape (n_samples, 3, 32, 32), dtype uint8
            RGB images in ``(N, C, H, W)`` layout, in their published order.
        target : ndarray of shape (n_samples,), dtype int64
            Labels, 0 to 99 (the fine labels).
        target_names : ndarray of shape (100,)
            Class names, from the archive's meta file.
        class_counts : ndarray of shape (100,), dtype int64
            Number of images of each class.
        DESCR : str
            Description of the data set and of its imbalance.
    (data, target) : tuple
        Only with ``return_X_y=True``: the arrays ``data`` and ``target``.

    Raises
    ------
    ValueError
        If ``subset``, ``imbalance``, ``ratio`` or ``n_max`` is invalid
        (checked before anything is downloaded).
    FileNotFoundError
        If the data is not in ``data_home`` and ``download_if_missing`` is
        False.
    ConnectionError
        If the archive cannot be downloaded (no network, HTTP error) or the
        download is interrupted; the message says where to place the archive
        by hand.
    OSError
        If the downloaded or placed archive fails its MD5 check, or if the
        disk of ``data_home`` is full (``errno.ENOSPC``). A failed download
        leaves nothing in ``data_home``.

    See Also
    --------
    skremix.datasets.load_cifar : Read a local copy of CIFAR, never downloading.
    skremix.datasets.make_imbalanced : Subsample any labelled data set to a profile.

    Notes
    -----
    CIFAR-100-LT with ``ratio=100`` has the class counts
    from ``500`` down to ``5`` (``10847`` images in all). The archive is
    streamed into a temporary file of ``data_home`` while its MD5 is
    computed, then renamed into place; it is extracted into a temporary
    folder (with the ``"data"`` extraction filter of :mod:`tarfile`) which
    is then renamed, so that an interrupted call never leaves a partial
    file that a later call would take for the data. An archive placed in
    ``data_home`` by hand is checked and used without a request. The
    archive is kept next to the extracted folder.

    References
    ----------
    .. [1] A. Krizhevsky, "Learning Multiple Layers of Features from Tiny
       Images", Technical report, University of Toronto, 2009.
    .. [2] K. Cao, C. Wei, A. Gaidon, N. Arechiga and T. Ma, "Learning
       Imbalanced Datasets with Label-Distribution-Aware Margin Loss",
       NeurIPS 2019.

    Examples
    --------
    Without the data and with ``download_if_missing=False``, the error says
    what to do:

    >>> import tempfile
    >>> from skremix.datasets import fetch_cifar100_lt
    >>> with tempfile.TemporaryDirectory() as home:
    ...     try:
    ...         fetch_cifar100_lt(data_home=home, download_if_missing=False)
    ...     except FileNotFoundError as err:
    ...         print("place it at" in str(err), home in str(err))
    True True

    The papers' training and test sets (downloads once):

    >>> train = fetch_cifar100_lt(imbalance="long_tailed", ratio=100)  # doctest: +SKIP
    >>> train.data.shape, train.class_counts[[0, -1]].tolist()  # doctest: +SKIP
    ((10847, 3, 32, 32), [500, 5])
    >>> X_test, y_test = fetch_cifar100_lt(
    ...     subset="test", return_X_y=True
    ... )  # doctest: +SKIP
    """
    return _fetch_cifar(
        "cifar100",
        subset=subset,
        imbalance=imbalance,
        ratio=ratio,
        n_max=n_max,
        random_state=random_state,
        data_home=data_home,
        download_if_missing=download_if_missing,
        return_X_y=return_X_y,
    )
