"""Download a data archive once into the data folder, check it, extract it.

The archive is streamed over HTTPS to a temporary file, checked against its
published MD5 while streaming, moved into place atomically and extracted
once; on any failure nothing is left behind. Standard library only:
``urllib.request``, ``hashlib``, ``tarfile``, ``tempfile``. The data sets
that use it (CIFAR, ``_cifar.py``) say what to download and what to read.
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

__all__ = ["Archive", "ensure_extracted", "get_data_home"]

logger = logging.getLogger(__name__)


class Archive(NamedTuple):
    """Where an archive comes from (``url``) and its published ``md5``."""

    url: str
    md5: str


_ENV = "SKREMIX_DATA"
_DEFAULT_HOME = os.path.join("~", "skremix_data")
_TIMEOUT = 60.0  # seconds without progress before a socket operation fails
_CHUNK = 1 << 20


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


def _by_hand(path: Path, archive: Archive) -> str:
    return (
        f"download {archive.url} by other means and place it at {str(path)!r} "
        f"by hand: it is checked against its MD5 ({archive.md5}) and "
        "extracted on the next call"
    )


def _download(archive: Archive, path: Path, data_home: str) -> None:
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


def ensure_extracted(
    archive: Archive,
    *,
    filename: str,
    folder: str,
    files: tuple[str, ...],
    data_home: str,
    download_if_missing: bool,
    pretty: str,
    size: str,
) -> Path:
    """The extracted ``folder`` in ``data_home`` holding ``files``,
    downloading ``archive`` as ``filename`` and extracting it the first
    time. ``pretty`` (the data set's name) and ``size`` (the archive's) go
    into the error messages."""
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
            f"download_if_missing=True to download it ({size}), or "
            + _by_hand(path, archive)
            + "."
        )
    _extract(path, folder, files, data_home)
    return target
