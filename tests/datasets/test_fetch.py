"""Tests of the CIFAR fetchers against tiny archives served on 127.0.0.1.

Each test writes a small archive in the standard CIFAR python format (pickled
batches in a ``.tar.gz`` with the published top folder), serves it from a
local ``http.server`` in a thread and points the module's URL / MD5 table at
it. Nothing leaves the machine.
"""

import errno
import hashlib
import http.server
import io
import os
import shutil
import socket
import tarfile
import threading

import numpy as np
import pytest
from _cifar_files import N_TEST, N_TRAIN, image_ids, make_cifar10, make_cifar100

from skremix.datasets import (
    _cifar,
    _download,
    fetch_cifar10_lt,
    fetch_cifar100_lt,
    get_data_home,
)


@pytest.fixture(scope="module")
def cifar10():
    return make_cifar10()


@pytest.fixture(scope="module")
def cifar100():
    return make_cifar100()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        server = self.server
        server.requests.append(self.path)
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        if server.truncate:
            # announce the whole archive, send a third of it and close
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, cifar10, cifar100):
    """A local HTTP server of the two tiny archives, the module's URL / MD5
    table pointed at it; ``server.requests`` lists the paths asked for."""
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    httpd.timeout = 5
    httpd.requests, httpd.truncate = [], False
    httpd.files = {"/c10.tar.gz": cifar10[0], "/c100.tar.gz": cifar100[0]}
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    for name, path in [("cifar10", "/c10.tar.gz"), ("cifar100", "/c100.tar.gz")]:
        md5 = hashlib.md5(httpd.files[path]).hexdigest()
        monkeypatch.setitem(_cifar._ARCHIVES, name, _download.Archive(base + path, md5))
    monkeypatch.setattr(_download, "_TIMEOUT", 5.0)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty data_home; SKREMIX_DATA unset so nothing reaches ~."""
    monkeypatch.delenv("SKREMIX_DATA", raising=False)
    path = tmp_path / "data"
    path.mkdir()
    return path


def _entries(path):
    return sorted(p.name for p in path.iterdir())


# ------------------------------------------------------------ download, cache


def test_first_fetch_downloads_once_and_extracts(server, home, cifar10):
    _, (y, _), _ = cifar10
    bunch = fetch_cifar10_lt(data_home=home, imbalance=None)
    assert server.requests == ["/c10.tar.gz"]
    # the archive and the extracted folder, no temporary file left
    assert _entries(home) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert sorted(bunch) == ["DESCR", "class_counts", "data", "target", "target_names"]
    assert bunch.data.shape == (60, 3, 32, 32) and bunch.data.dtype == np.uint8
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(bunch.target, y)
    assert bunch.class_counts.tolist() == [N_TRAIN] * 10
    assert bunch.class_counts.dtype == np.int64
    assert bunch.target_names.tolist() == [f"c10_{k}" for k in range(10)]
    assert "CIFAR-10 training set" in bunch.DESCR


def test_second_fetch_makes_no_request(server, home):
    first = fetch_cifar10_lt(data_home=home, n_max=6, ratio=3)
    assert len(server.requests) == 1
    second = fetch_cifar10_lt(data_home=str(home), n_max=6, ratio=3)
    assert len(server.requests) == 1
    np.testing.assert_array_equal(first.data, second.data)
    np.testing.assert_array_equal(first.target, second.target)


def test_archive_placed_by_hand_is_verified_and_used(server, home, cifar10):
    (home / "cifar-10-python.tar.gz").write_bytes(cifar10[0])
    X, y = fetch_cifar10_lt(data_home=home, imbalance=None, return_X_y=True)
    assert server.requests == []
    assert X.shape == (60, 3, 32, 32) and y.shape == (60,)


def test_archive_placed_by_hand_with_a_bad_checksum(server, home, cifar10):
    path = home / "cifar-10-python.tar.gz"
    path.write_bytes(cifar10[0][:-10])
    with pytest.raises(OSError, match="MD5") as info:
        fetch_cifar10_lt(data_home=home)
    assert str(path) in str(info.value) and "Delete it" in str(info.value)
    assert server.requests == []
    assert _entries(home) == ["cifar-10-python.tar.gz"]  # the user's file stays


# ------------------------------------------------------------------- profiles


def _papers_selection(y, counts, seed=0):
    """Cao et al.'s IMBALANCECIFAR: np.random.seed(seed), then per class in
    order: shuffle its indices and keep the first n_c."""
    rng = np.random.RandomState(seed)
    kept = []
    for c, n_c in enumerate(counts):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        kept.append(idx[:n_c])
    return np.sort(np.concatenate(kept))


@pytest.mark.parametrize(
    "imbalance, ratio, expected",
    [
        # int(6 / 3) = 2 for the second half of the classes
        ("step", 3, [6, 6, 6, 6, 6, 2, 2, 2, 2, 2]),
        # int(6 * 6 ** (-c / 9)): 6, 4.92, 4.03, 3.30, 2.71, 2.22, 1.82, 1.49,
        # 1.22, 1 (exactly 6 / 6 at c = 9)
        ("long_tailed", 6, [6, 4, 4, 3, 2, 2, 1, 1, 1, 1]),
    ],
)
def test_profile_counts_and_the_papers_selection(
    server, home, cifar10, imbalance, ratio, expected
):
    _, (y, ids), _ = cifar10
    bunch = fetch_cifar10_lt(data_home=home, imbalance=imbalance, ratio=ratio, n_max=6)
    assert bunch.class_counts.tolist() == expected
    assert np.bincount(bunch.target).tolist() == expected
    # the images kept are those of the papers' code with rand_number=0, in
    # their published order, each with its own label
    kept = image_ids(bunch.data)
    np.testing.assert_array_equal(kept, ids[_papers_selection(y, expected)])
    np.testing.assert_array_equal(bunch.target, y[kept])
    other = fetch_cifar10_lt(
        data_home=home, imbalance=imbalance, ratio=ratio, n_max=6, random_state=1
    )
    assert other.class_counts.tolist() == expected
    assert not np.array_equal(image_ids(other.data), kept)
    assert f"ratio {ratio}" in bunch.DESCR and "n_max=6" in bunch.DESCR


def test_subset_test_is_balanced_and_untouched(server, home, cifar10):
    _, _, (y_test, test_ids) = cifar10
    bunch = fetch_cifar10_lt(data_home=home, subset="test", ratio=3, n_max=6)
    assert bunch.class_counts.tolist() == [N_TEST] * 10
    np.testing.assert_array_equal(bunch.target, y_test)
    np.testing.assert_array_equal(image_ids(bunch.data), test_ids)
    assert "test set" in bunch.DESCR


def test_cifar100_step_and_test(server, home, cifar100):
    _, (y, ids), (y_test, _) = cifar100
    X, y_sub = fetch_cifar100_lt(
        data_home=home, imbalance="step", ratio=2, n_max=6, return_X_y=True
    )
    assert server.requests == ["/c100.tar.gz"]
    assert _entries(home) == ["cifar-100-python", "cifar-100-python.tar.gz"]
    # C = 100: 50 classes keep 6, 50 keep int(6 / 2) = 3
    assert np.bincount(y_sub).tolist() == [6] * 50 + [3] * 50
    kept = image_ids(X)
    np.testing.assert_array_equal(kept, ids[_papers_selection(y, [6] * 50 + [3] * 50)])
    test = fetch_cifar100_lt(data_home=home, subset="test")
    assert len(server.requests) == 1
    np.testing.assert_array_equal(test.target, y_test)
    assert test.class_counts.tolist() == [N_TEST] * 100
    assert test.target_names[:2].tolist() == ["c100_0", "c100_1"]


def test_default_n_max_needs_the_real_data(server, home):
    # n_max defaults to the papers' 5000: the tiny archive cannot supply it
    with pytest.raises(ValueError, match="Lower n_max"):
        fetch_cifar10_lt(data_home=home)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subset": "valid"}, "subset must be one of"),
        ({"imbalance": "exp"}, "imbalance must be one of"),
        ({"ratio": 0.5}, "ratio"),
        ({"ratio": 10, "n_max": 5}, "cannot be imposed"),
    ],
)
def test_bad_parameters_fail_before_any_request(server, home, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fetch_cifar10_lt(data_home=home, **kwargs)
    assert server.requests == []


# --------------------------------------------------------------------- errors


def test_checksum_mismatch_raises_and_leaves_nothing(server, home, monkeypatch):
    url = _cifar._ARCHIVES["cifar10"].url
    monkeypatch.setitem(_cifar._ARCHIVES, "cifar10", _download.Archive(url, "0" * 32))
    with pytest.raises(OSError, match="Checksum mismatch") as info:
        fetch_cifar10_lt(data_home=home)
    message = str(info.value)
    assert url in message and "0" * 32 in message and "place it at" in message
    assert len(server.requests) == 1
    assert _entries(home) == []


def test_interrupted_download_raises_and_leaves_nothing(server, home, cifar10):
    server.truncate = True
    with pytest.raises(ConnectionError, match="interrupted") as info:
        fetch_cifar10_lt(data_home=home)
    size = len(cifar10[0])
    assert f"{size // 3} of the {size} bytes" in str(info.value)
    assert _entries(home) == []


def test_download_if_missing_false_with_an_empty_home(server, home):
    with pytest.raises(FileNotFoundError, match="download_if_missing=False") as info:
        fetch_cifar100_lt(data_home=home, download_if_missing=False)
    message = str(info.value)
    assert str(home / "cifar-100-python.tar.gz") in message
    assert "place it at" in message
    assert server.requests == [] and _entries(home) == []


def test_disk_full_names_data_home(server, home, monkeypatch):
    def full(out, chunk):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_download, "_write", full)
    with pytest.raises(OSError, match="No space left") as info:
        fetch_cifar10_lt(data_home=home)
    assert info.value.errno == errno.ENOSPC
    assert str(home) in str(info.value) and "data_home" in str(info.value)
    assert _entries(home) == []


def test_unreachable_url_says_to_place_the_archive_by_hand(home, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"
    monkeypatch.setitem(_cifar._ARCHIVES, "cifar10", _download.Archive(url, "0" * 32))
    with pytest.raises(ConnectionError, match="Cannot download") as info:
        fetch_cifar10_lt(data_home=home)
    message = str(info.value)
    assert url in message
    assert f"place it at {str(home / 'cifar-10-python.tar.gz')!r} by hand" in message
    assert _entries(home) == []


def test_http_error_is_a_connection_error(server, home, monkeypatch):
    url = _cifar._ARCHIVES["cifar10"].url.replace("c10", "missing")
    monkeypatch.setitem(_cifar._ARCHIVES, "cifar10", _download.Archive(url, "0" * 32))
    with pytest.raises(ConnectionError, match="Not Found"):
        fetch_cifar10_lt(data_home=home)
    assert _entries(home) == []


def test_unsafe_archive_is_not_extracted(server, home, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    server.files["/c10.tar.gz"] = buf.getvalue()
    url = _cifar._ARCHIVES["cifar10"].url
    md5 = hashlib.md5(buf.getvalue()).hexdigest()
    monkeypatch.setitem(_cifar._ARCHIVES, "cifar10", _download.Archive(url, md5))
    with pytest.raises(OSError, match="extract"):
        fetch_cifar10_lt(data_home=home)
    assert not (tmp_path / "escaped").exists()
    assert _entries(home) == ["cifar-10-python.tar.gz"]  # verified, kept


def test_incomplete_extracted_folder_is_reported(server, home, cifar10):
    fetch_cifar10_lt(data_home=home, imbalance=None)
    os.remove(home / "cifar-10-batches-py" / "data_batch_3")
    with pytest.raises(OSError, match="incomplete .*data_batch_3"):
        fetch_cifar10_lt(data_home=home, imbalance=None)
    shutil.rmtree(home / "cifar-10-batches-py")
    fetch_cifar10_lt(data_home=home, imbalance=None)  # extracted again
    assert len(server.requests) == 1


# ------------------------------------------------------------------ data_home


def test_skremix_data_environment_variable(server, tmp_path, monkeypatch):
    folder = tmp_path / "from-env"
    monkeypatch.setenv("SKREMIX_DATA", str(folder))
    assert get_data_home() == str(folder) and folder.is_dir()
    fetch_cifar10_lt(imbalance=None)
    assert (folder / "cifar-10-batches-py" / "test_batch").is_file()
    # an explicit data_home wins over the variable
    other = tmp_path / "explicit"
    assert get_data_home(other) == str(other)


def test_default_data_home_is_under_the_user_home(tmp_path, monkeypatch):
    monkeypatch.delenv("SKREMIX_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_data_home() == str(tmp_path / "skremix_data")
    assert get_data_home("~/elsewhere") == str(tmp_path / "elsewhere")
