"""Download, cache and imbalance CIFAR-10 / CIFAR-100: the papers' data sets.

The standard python archives of CIFAR are downloaded once over HTTPS into a
data folder (:func:`get_data_home`), checked against their published MD5
while streaming, written atomically, extracted once and read with
:func:`~skremix.datasets.load_cifar`; the step and long-tailed training sets
are made with :func:`~skremix.datasets.make_imbalanced`. Standard library
only: ``urllib.request``, ``hashlib``, ``tarfile``, ``tempfile``.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
from sklearn.utils import Bunch

from skremix.datasets._imbalance import imbalance_profile, make_imbalanced
from skremix.datasets._loaders import _CIFAR, load_cifar

__all__ = ["get_data_home", "fetch_cifar10_lt", "fetch_cifar100_lt"]

logger = logging.getLogger(__name__)


class _Archive(NamedTuple):
    url: str
    md5: str


# Where each archive comes from and its published MD5 (from
# https://www.cs.toronto.edu/~kriz/cifar.html). Tests point the URLs at a
# local server; there is deliberately no public parameter for it.
_ARCHIVES = {
    "cifar10": _Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "c58f30108f718f92721af3b95e74349a",
    ),
    "cifar100": _Archive(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "eb9058c3a382ffc7106e4002c42a8d85",
    ),
}

# name -> (pretty name, number of classes, n_max of the papers, archive size)
_INFO = {
    "cifar10": ("CIFAR-10", 10, 5000, "163 MiB"),
    "cifar100": ("CIFAR-100", 100, 500, "161 MiB"),
}

_ENV = "SKREMIX_DATA"
_DEFAULT_HOME = os.path.join("~", "skremix_data")
_TIMEOUT = 60.0  # seconds without progress before a socket operation fails
_CHUNK = 1 << 20
_SUBSETS = ("train", "test")
_IMBALANCES = ("long_tailed", "step", None)


def get_data_home(data_home: str | os.PathLike[str] | None = None) -> str:
    """Return the path of the skremix data folder, creating it if needed.

    The fetchers of :mod:`skremix.datasets` download into this folder and
    read from it afterwards, so that each archive is downloaded once.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder. None takes the environment variable ``SKREMIX_DATA`` if
        it is set, otherwise ``~/skremix_data``. A leading ``~`` is expanded
        to the user's home folder.

    Returns
    -------
    data_home : str
        The path of the folder, which exists.

    See Also
    --------
    sklearn.datasets.get_data_home : The same for scikit-learn's data sets.

    Examples
    --------
    >>> import os, tempfile
    >>> from skremix.datasets import get_data_home
    >>> folder = os.path.join(tempfile.mkdtemp(), "data")
    >>> get_data_home(folder) == folder, os.path.isdir(folder)
    (True, True)
    """
    if data_home is None:
        data_home = os.environ.get(_ENV) or _DEFAULT_HOME
    data_home = os.path.expanduser(os.fspath(data_home))
    os.makedirs(data_home, exist_ok=True)
    return data_home


def _disk_full(data_home: str, what: str) -> OSError:
    return OSError(
        errno.ENOSPC,
        f"No space left on the device of data_home {data_home!r} while "
        f"{what}; nothing was kept. Free some space there, or pass another "
        f"data_home (or set the {_ENV} environment variable) and call again",
        data_home,
    )


def _write(out: IO[bytes], chunk: bytes) -> None:
    out.write(chunk)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _by_hand(path: Path, archive: _Archive) -> str:
    return (
        f"download {archive.url} by other means and place it at {str(path)!r} "
        f"by hand: it is checked against its MD5 ({archive.md5}) and "
        "extracted on the next call"
    )


def _download(archive: _Archive, path: Path, data_home: str) -> None:
    """Stream ``archive.url`` to ``path`` through a temporary file, checking
    the length and the MD5; on any failure nothing is left behind."""
    logger.info("Downloading %s to %s", archive.url, path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.part-", dir=path.parent)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise _disk_full(data_home, f"downloading {archive.url}") from err
        raise
    received, expected = 0, None
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(archive.url, timeout=_TIMEOUT)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
                reason = getattr(err, "reason", None) or err
                raise ConnectionError(
                    f"Cannot download {archive.url}: {reason}. Check the network "
                    "connection (behind a proxy, set the https_proxy environment "
                    "variable) and call again, or " + _by_hand(path, archive) + "."
                ) from err
            with response:
                length = response.headers.get("Content-Length")
                expected = int(length) if length and length.isdigit() else None
                digest = hashlib.md5(usedforsecurity=False)
                while True:
                    try:
                        chunk = response.read(_CHUNK)
                    except (http.client.HTTPException, OSError) as err:
                        raise ConnectionError(
                            f"The download of {archive.url} was interrupted "
                            f"after {received} of {expected or 'an unknown number of'}"
                            f" bytes ({err!r}); nothing was kept. Call again to "
                            "restart it, or " + _by_hand(path, archive) + "."
                        ) from err
                    if not chunk:
                        break
                    digest.update(chunk)
                    received += len(chunk)
                    _write(out, chunk)
        if expected is not None and received < expected:
            raise ConnectionError(
                f"The download of {archive.url} was interrupted: the connection "
                f"closed after {received} of the {expected} bytes announced "
                "(Content-Length); nothing was kept. Call again to restart it, or "
                + _by_hand(path, archive)
                + "."
            )
        got = digest.hexdigest()
        if got != archive.md5:
            raise OSError(
                f"Checksum mismatch: the {received} bytes downloaded from "
                f"{archive.url} have MD5 {got}, expected {archive.md5}; the file "
                "is corrupt or not the expected archive, and nothing was kept. "
                "Call again to retry, or " + _by_hand(path, archive) + "."
            )
        os.replace(tmp, path)
    except OSError as err:
        _remove(tmp)
        if err.errno == errno.ENOSPC:
            raise _disk_full(data_home, f"downloading {archive.url}") from err
        raise
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str | Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _extract(path: Path, folder: str, files: tuple[str, ...], data_home: str) -> None:
    """Extract the archive ``path`` into a temporary folder next to it, check
    it holds ``folder/<files>``, then rename that folder into place."""
    logger.info("Extracting %s", path)
    target = path.parent / folder
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder}.extract-", dir=path.parent))
    try:
        try:
            with tarfile.open(path, "r:gz") as tar:
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(tmp, filter="data")
                else:  # Python without extraction filters (< 3.10.12)
                    _check_members(tar, path)
                    tar.extractall(tmp)  # noqa: S202 (members checked above)
        except (tarfile.TarError, EOFError) as err:
            raise OSError(
                f"Cannot extract {str(path)!r}: {err}. Delete the file and call "
                "again to download it anew."
            ) from err
        missing = [f for f in files if not (tmp / folder / f).is_file()]
        if missing:
            raise OSError(
                f"The archive {str(path)!r} does not hold {folder}/"
                f"{', '.join(missing)}: it is not the expected CIFAR archive. "
                "Delete it and call again to download it anew."
            )
        try:
            os.rename(tmp / folder, target)
        except OSError:
            if not _complete(target, files):  # else: another process won
                raise
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise _disk_full(data_home, f"extracting {path.name}") from err
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_members(tar: tarfile.TarFile, path: Path) -> None:
    for member in tar.getmembers():
        name = member.name
        if (
            os.path.isabs(name)
            or ".." in Path(name).parts
            or not (member.isfile() or member.isdir())
        ):
            raise OSError(
                f"Refusing to extract {str(path)!r}: its member {name!r} is not a "
                "plain file or folder inside the archive."
            )


def _complete(folder: Path, files: tuple[str, ...]) -> bool:
    return all((folder / f).is_file() for f in files)


def _ensure_cifar(name: str, data_home: str, download_if_missing: bool) -> Path:
    """The extracted folder of ``name`` in ``data_home``, downloading and
    extracting the archive the first time."""
    pretty = _INFO[name][0]
    folder, filename, train_files, test_files, meta_file = _CIFAR[name][:5]
    files = (*train_files, *test_files, meta_file)
    home = Path(data_home)
    target = home / folder
    if _complete(target, files):
        return target
    if target.exists():
        missing = [f for f in files if not (target / f).is_file()]
        raise OSError(
            f"The {pretty} folder {str(target)!r} is incomplete (missing "
            f"{', '.join(missing)}). Delete it and call again to extract "
            f"{filename} anew."
        )
    archive = _ARCHIVES[name]
    path = home / filename
    if path.is_file():
        got = _md5(path)
        if got != archive.md5:
            raise OSError(
                f"The archive {str(path)!r} has MD5 {got}, expected "
                f"{archive.md5}: it is incomplete or not the {pretty} python "
                "archive. Delete it and call again to download it from "
                f"{archive.url}, or replace it with a good copy."
            )
    elif download_if_missing:
        _download(archive, path, data_home)
    else:
        raise FileNotFoundError(
            f"{pretty} is not in data_home {data_home!r} and "
            f"download_if_missing=False: neither the folder {str(target)!r} nor "
            f"the archive {str(path)!r} exists. Call with "
            f"download_if_missing=True to download it ({_INFO[name][3]}), or "
            + _by_hand(path, archive)
            + "."
        )
    _extract(path, folder, files, data_home)
    return target


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


# The docstring of both fetchers; %(...)s markers are filled per data set.
_FETCH_DOC = """Load the %(pretty)s-LT or step-imbalanced %(pretty)s, downloading it once.

    The training sets of the class-imbalance papers (Cao et al., 2019, and
    the Remix, MFW and RSG papers after them): the %(pretty)s training set
    subsampled to a long-tailed or step profile with ``n_max=%(n_max)d``
    images in the largest class; ``subset="test"`` gives the balanced
    original test set they are evaluated on. The first call downloads the
    python archive (%(size)s) from %(url)s into ``data_home``, checks its
    MD5 and extracts it; later calls read the extracted files and make no
    request.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        ``"train"``: the (imbalanced) training set. ``"test"``: the 10000
        test images, %(per_class)d of each class, as published;
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
        Number of images kept in class 0; None is the papers' %(n_max)d.
    random_state : int, RandomState instance or None, default=0
        Seed of the choice of the images kept in each class. ``0`` keeps the
        images of the papers' code (the ``IMBALANCECIFAR`` data sets of Cao
        et al. with ``rand_number=0``).
    data_home : str or path-like, default=None
        Download and cache folder; None is the environment variable
        ``SKREMIX_DATA`` if set, else ``~/skremix_data``
        (:func:`get_data_home`). It holds the archive
        ``%(archive)s`` and the extracted folder ``%(folder)s/``, the
        layout of :func:`~skremix.datasets.load_cifar` and torchvision.
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
            Labels, 0 to %(last)d%(fine)s.
        target_names : ndarray of shape (%(n_classes)d,)
            Class names, from the archive's meta file.
        class_counts : ndarray of shape (%(n_classes)d,), dtype int64
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
    %(pretty)s-LT with ``ratio=100`` has the class counts
    %(counts)s. The archive is
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
    >>> from skremix.datasets import %(func)s
    >>> with tempfile.TemporaryDirectory() as home:
    ...     try:
    ...         %(func)s(data_home=home, download_if_missing=False)
    ...     except FileNotFoundError as err:
    ...         print("place it at" in str(err), home in str(err))
    True True

    The papers' training and test sets (downloads once):

    >>> train = %(func)s(imbalance="long_tailed", ratio=100)  # doctest: +SKIP
    >>> train.data.shape, train.class_counts[[0, -1]].tolist()  # doctest: +SKIP
    ((%(total)d, 3, 32, 32), [%(n_max)d, %(n_min)d])
    >>> X_test, y_test = %(func)s(subset="test", return_X_y=True)  # doctest: +SKIP
    """


def _fill_doc(func, name: str):
    pretty, n_classes, n_max, size = _INFO[name]
    folder, archive = _CIFAR[name][:2]
    counts = imbalance_profile(n_max, n_classes, "long_tailed", ratio=100)
    if n_classes == 10:
        counts_text = f"``{counts.tolist()}``"
    else:
        counts_text = (
            f"from ``{counts[0]}`` down to ``{counts[-1]}`` (``{counts.sum()}`` "
            "images in all)"
        )
    func.__doc__ = _FETCH_DOC % {
        "pretty": pretty,
        "n_classes": n_classes,
        "last": n_classes - 1,
        "fine": " (the fine labels)" if n_classes == 100 else "",
        "n_max": n_max,
        "size": size,
        "url": _ARCHIVES[name].url,
        "archive": archive,
        "folder": folder,
        "func": func.__name__,
        "counts": counts_text,
        "total": int(counts.sum()),
        "n_min": int(counts[-1]),
        "per_class": 10000 // n_classes,
    }
    return func


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
    # The arguments, as named: the same for both fetchers.
    return _fetch_cifar("cifar10", **locals())


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
    # The arguments, as named: the same for both fetchers.
    return _fetch_cifar("cifar100", **locals())


_fill_doc(fetch_cifar10_lt, "cifar10")
_fill_doc(fetch_cifar100_lt, "cifar100")
