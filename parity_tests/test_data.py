"""dlfs.data: the IDX format, the data-dir order, every loader's shapes and ranges, and the checksummed download.

Downloads run against a local HTTP server on 127.0.0.1 only; an autouse guard fails any other connection.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import socket
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import dlfs.data.loaders as loaders
import dlfs.data.paths as paths
from dlfs.data import (
    DownloadError,
    book_regression_split,
    data_dir,
    flatten,
    load_boston,
    load_dataset,
    load_diabetes,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_tiny_shakespeare,
    one_hot,
    read_idx,
    standardize,
    write_idx,
)

MNIST_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.fixture(autouse=True)
def only_localhost(monkeypatch):
    """Fail any connection to an address other than 127.0.0.1, and keep proxies out of the way."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        assert address[0] == "127.0.0.1", f"a test tried to contact {address}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((5, 3, 4)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a-idx3{suffix}", arr)
    back = read_idx(path, ndim=3)
    assert back.dtype == np.dtype(dtype) and back.shape == (5, 3, 4)
    np.testing.assert_array_equal(back, arr)
    back[0, 0, 0] = 1  # writable


def test_idx_header_is_the_mnist_one(tmp_path):
    write_idx(tmp_path / "labels", np.arange(7, dtype=np.uint8))
    write_idx(tmp_path / "images", np.zeros((2, 28, 28), np.uint8))
    assert (tmp_path / "labels").read_bytes()[:8] == bytes.fromhex("00000801 00000007")
    assert (tmp_path / "images").read_bytes()[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c")


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(bytes.fromhex("01020803") + b"\x00" * 20)
    with pytest.raises(ValueError, match=r"'.*bad'.*bad magic number 0x01020803.*0x00000801"):
        read_idx(path)


def test_idx_unknown_dtype_byte(tmp_path):
    path = tmp_path / "bad-dtype"
    path.write_bytes(bytes.fromhex("00000701 00000002 0102"))
    with pytest.raises(ValueError, match=r"bad-dtype.*unknown IDX dtype byte 0x07.*0x08 \(uint8\)"):
        read_idx(path)


@pytest.mark.parametrize("cut", [3, 6, 30])
def test_idx_truncated_plain(tmp_path, cut):
    path = write_idx(tmp_path / "t", np.ones((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-cut] if cut != 30 else path.read_bytes()[:10])
    with pytest.raises(ValueError, match=r"'.*t'.*truncated"):
        read_idx(path)


def test_idx_truncated_data_reports_sizes(tmp_path):
    path = write_idx(tmp_path / "t", np.ones((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"shape \(4, 5, 5\) of uint8, i\.e\. 116 bytes.*has 113 bytes"):
        read_idx(path)


def test_idx_truncated_gzip(tmp_path):
    path = write_idx(tmp_path / "t.gz", np.arange(1000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match=r"t\.gz'.*corrupt or truncated gzip"):
        read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "t", np.ones(4, np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match=r"trailing bytes.*12 bytes in all.*has 13 bytes"):
        read_idx(path)


def test_idx_not_gzip(tmp_path):
    path = write_idx(tmp_path / "plain", np.ones(4, np.uint8)).rename(tmp_path / "plain.gz")
    with pytest.raises(ValueError, match=r"plain\.gz'.*expected gzip data.*00 00 08 01"):
        read_idx(path)


def test_idx_wrong_ndim_and_missing(tmp_path):
    path = write_idx(tmp_path / "labels", np.ones(4, np.uint8))
    with pytest.raises(ValueError, match=r"expected a 3-D IDX file.*got 1-D"):
        read_idx(path, ndim=3)
    with pytest.raises(FileNotFoundError, match="nope"):
        read_idx(tmp_path / "nope")
    with pytest.raises(TypeError, match="write_idx array: expected dtype"):
        write_idx(tmp_path / "x", np.ones(3, np.uint64))


# ---------------------------------------------------------------- data dir


def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.delenv("DLFS_DATA", raising=False)
    shared = paths.REPO_ROOT.parent / "shared" / "data"
    assert shared.is_dir(), "this checkout sits beside shared/data"
    assert data_dir() == shared
    monkeypatch.setenv("DLFS_DATA", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"  # env beats the shared dir
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"  # the explicit argument beats the env
    assert data_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    monkeypatch.setenv("DLFS_DATA", "")  # empty means unset
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "lonely" / "repo")  # no shared/data beside it
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_dir() == tmp_path / "xdg" / "dlfs"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".local" / "share" / "dlfs"


def test_loaders_follow_dlfs_data_env(tmp_path, monkeypatch):
    (tmp_path / "boston_housing").mkdir()
    np.savetxt(tmp_path / "boston_housing" / "boston_housing.csv", np.arange(28.0).reshape(2, 14), delimiter=",")
    monkeypatch.setenv("DLFS_DATA", str(tmp_path))
    X, y = load_boston()
    assert X.shape == (2, 13) and y.tolist() == [13.0, 27.0]
    with pytest.raises(FileNotFoundError):
        load_boston(tmp_path / "elsewhere")  # the argument wins over the env


# ---------------------------------------------------------------- bundled and shared datasets


def test_digits_shapes_and_range():
    d = load_digits()
    assert d.X_train.shape == (1347, 1, 8, 8) and d.X_test.shape == (450, 1, 8, 8)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0 and d.X_test.max() == 1.0
    np.testing.assert_array_equal(d.X_train * 16, np.round(d.X_train * 16))  # pixel / 16 exactly
    assert sorted(set(d.y_train.tolist())) == list(range(10)) and d.num_classes == 10
    # stratified: every class holds ~25% of its samples in the test set
    counts_test, counts_all = np.bincount(d.y_test), np.bincount(np.r_[d.y_train, d.y_test])
    assert np.all(np.abs(counts_test / counts_all - 0.25) < 0.01)
    assert d.y_train[:8].tolist() == load_digits().y_train[:8].tolist()  # the split is seeded


def test_diabetes_shapes():
    X, y = load_diabetes()
    assert X.shape == (442, 10) and y.shape == (442,) and X.dtype == y.dtype == np.float64
    assert abs(X.mean()) < 1e-10 and 25 <= y.min() and y.max() <= 346


def test_boston_from_shared_data(monkeypatch):
    monkeypatch.delenv("DLFS_DATA", raising=False)
    X, y = load_boston()
    assert X.shape == (506, 13) and y.shape == (506,)
    assert X[0, 0] == pytest.approx(0.00632) and y[0] == 24.0 and y.max() == 50.0
    X_train, X_test, y_train, y_test = book_regression_split(X, y)
    assert (X_train.shape, X_test.shape, y_train.shape, y_test.shape) == ((354, 13), (152, 13), (354, 1), (152, 1))
    both = np.r_[X_train, X_test]  # the scaler saw all rows, as in the book
    np.testing.assert_allclose(both.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(both.std(axis=0), 1, rtol=1e-12)
    assert X_train[0] @ np.ones(13) != X_test[0] @ np.ones(13)
    with pytest.raises(ValueError, match="same number of samples"):
        book_regression_split(X, y[:10])


def test_boston_bad_csv(tmp_path):
    (tmp_path / "boston_housing").mkdir()
    (tmp_path / "boston_housing" / "boston_housing.csv").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(ValueError, match=r"expected 14 columns.*\(2, 3\)"):
        load_boston(tmp_path)


@pytest.fixture(scope="module")
def fashion():
    return load_fashion_mnist()


def test_fashion_mnist_shapes(fashion):
    assert fashion.X_train.shape == (60000, 1, 28, 28) and fashion.X_test.shape == (10000, 1, 28, 28)
    assert fashion.X_train.dtype == np.float32 and fashion.y_test.dtype == np.int64
    assert fashion.X_train.min() == 0.0 and fashion.X_train.max() == 1.0
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10  # the published class balance
    assert np.bincount(fashion.y_test).tolist() == [1000] * 10
    assert fashion.classes[9] == "Ankle boot" and fashion.y_train[0] == 9  # the first training image is a boot


def test_fashion_mnist_via_load_dataset_is_fast():
    t0 = time.perf_counter()
    d = load_dataset("fashion-mnist")
    assert time.perf_counter() - t0 < 10.0 and d.name == "fashion-mnist"


def test_fashion_mnist_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"apt-get install -y dataset-fashion-mnist.*--data-dir.*DLFS_DATA"):
        load_fashion_mnist(tmp_path)


def test_fashion_mnist_prefers_data_dir(tmp_path):
    _write_mnist_like(tmp_path / "fashion-mnist", n_train=12, n_test=5, gz=False)
    d = load_fashion_mnist(tmp_path)
    assert d.X_train.shape == (12, 1, 28, 28) and d.y_test.shape == (5,)


def test_tiny_shakespeare_checksum(tmp_path, monkeypatch):
    monkeypatch.delenv("DLFS_DATA", raising=False)
    text = load_tiny_shakespeare()
    assert len(text) == 1_115_394 and len(set(text)) == 65 and text.startswith("First Citizen:")
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(text[:-1] + "X")
    with pytest.raises(ValueError, match=r"sha256 checksum mismatch: expected 86c4e6aa.*got [0-9a-f]{64}"):
        load_tiny_shakespeare(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"download=True.*karpathy/char-rnn"):
        load_tiny_shakespeare(tmp_path / "empty")


def test_missing_boston_and_mnist_say_how_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"boston_housing\.csv.*13 feature columns then MEDV.*DLFS_DATA"):
        load_boston(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"MNIST not found.*download=True \(--download.*copy the four IDX"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="MNIST not found"):
        load_dataset("mnist", tmp_path)


def test_load_dataset_names():
    assert load_dataset("digits").X_test.shape == (450, 1, 8, 8)
    with pytest.raises(ValueError, match=r"dataset: expected one of .*got 'mnsit'; did you mean 'mnist'"):
        load_dataset("mnsit")


# ---------------------------------------------------------------- helpers


def test_flatten_standardize_one_hot():
    rng = np.random.default_rng(1)
    X_train = rng.uniform(0, 1, (6, 1, 3, 2)).astype(np.float32)
    X_test = rng.uniform(0, 1, (4, 1, 3, 2)).astype(np.float32)
    F = flatten(X_train)
    assert F.shape == (6, 6) and np.shares_memory(F, X_train)
    np.testing.assert_array_equal(F[2], X_train[2].ravel())
    A, B = standardize(X_train, X_test)
    assert A.dtype == B.dtype == np.float32 and A.shape == X_train.shape
    assert abs(A.mean()) < 1e-6 and abs(A.std() - 1) < 1e-6
    m, s = X_train.astype(np.float64).mean(), X_train.astype(np.float64).std()  # the training set's statistics
    np.testing.assert_allclose(B, (X_test - m) / s, rtol=1e-6, atol=1e-6)
    assert abs(B.mean() - (X_test.mean() - m) / s) < 1e-6
    np.testing.assert_array_equal(one_hot(np.array([2, 0, 1]), 3),
                                  np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float32))
    assert one_hot(np.array([[1], [0]]), 2, dtype=np.float64).dtype == np.float64


def test_helper_errors():
    with pytest.raises(ValueError, match=r"one_hot y: expected labels in \[0, 3\), got 2 outside it \(min -1, max 3\)"):
        one_hot(np.array([0, 3, -1]), 3)
    with pytest.raises(TypeError, match="expected integer class labels, got dtype float64"):
        one_hot(np.array([0.0, 1.0]), 2)
    with pytest.raises(ValueError, match=r"one_hot y: expected \(N,\) labels"):
        one_hot(np.zeros((2, 2), int), 2)
    with pytest.raises(ValueError, match="num_classes"):
        one_hot(np.array([0]), 0)
    with pytest.raises(ValueError, match="flatten X: expected at least 2-D"):
        flatten(np.ones(3))
    with pytest.raises(ValueError, match="standardize X_train: expected values that vary"):
        standardize(np.ones((3, 2)), np.ones((1, 2)))


# ---------------------------------------------------------------- MNIST download against a local server


def _write_mnist_like(root: Path, n_train: int, n_test: int, gz: bool = True, seed: int = 0) -> dict:
    """Write the four IDX files of a tiny MNIST-like set; return the arrays by file name."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        write_idx(root / (stem + (".gz" if gz else "")), arr)
    return arrays


class _QuietHandler(SimpleHTTPRequestHandler):
    timeout = 5  # a stuck client connection cannot hold a server thread forever

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/slow/"):
            time.sleep(1.5)  # longer than the client's timeout below
        return super().do_GET()


@pytest.fixture
def mnist_server(tmp_path):
    """A local HTTP server (127.0.0.1, free port) serving 20 + 10 tiny MNIST images: (root, url, md5s, arrays)."""
    served = tmp_path / "served"
    arrays = _write_mnist_like(served, n_train=20, n_test=10)
    md5 = {name: hashlib.md5((served / name).read_bytes()).hexdigest() for name in MNIST_NAMES}
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(served)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}/", md5, arrays
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _left_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_mnist_download_success(tmp_path, mnist_server):
    _, url, md5, arrays = mnist_server
    target = tmp_path / "data"
    d = load_mnist(target, download=True, base_url=url, checksums=md5, timeout=5)
    assert _left_in(target / "mnist") == sorted(MNIST_NAMES)  # the four files, no temp file
    assert d.X_train.shape == (20, 1, 28, 28) and d.X_test.shape == (10, 1, 28, 28) and d.name == "mnist"
    np.testing.assert_array_equal(d.X_train[:, 0] * 255, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert d.y_test.dtype == np.int64 and d.X_test.dtype == np.float32
    again = load_mnist(target)  # now on disk: no download needed
    np.testing.assert_array_equal(again.X_train, d.X_train)


def test_mnist_download_only_missing_files(tmp_path, mnist_server):
    served, url, md5, arrays = mnist_server
    target = tmp_path / "data" / "mnist"
    target.mkdir(parents=True)
    (target / MNIST_NAMES[1]).write_bytes((served / MNIST_NAMES[1]).read_bytes())
    (served / MNIST_NAMES[1]).unlink()  # the server cannot give it: it must come from disk
    d = load_mnist(tmp_path / "data", download=True, base_url=url, checksums=md5, timeout=5)
    np.testing.assert_array_equal(d.y_train, arrays["train-labels-idx1-ubyte"])


@pytest.mark.parametrize("corruption", ["not gzip", "bad gzip", "bad IDX magic"])
def test_mnist_download_corrupt_file(tmp_path, mnist_server, corruption):
    served, url, md5, _ = mnist_server
    name = "train-images-idx3-ubyte.gz"
    good = (served / name).read_bytes()
    bad = {"not gzip": gzip.decompress(good),
           "bad gzip": good[:-40],
           "bad IDX magic": gzip.compress(b"\x01\x02" + gzip.decompress(good)[2:])}[corruption]
    (served / name).write_bytes(bad)
    md5[name] = hashlib.md5(bad).hexdigest()  # the checksum passes: the content check must catch it
    target = tmp_path / "data"
    expected = (r"train-images-idx3-ubyte\.gz: the download from http://127\.0\.0\.1:\d+/train-images-idx3-ubyte\.gz"
                r" passed the checksum but is not valid.*(expected gzip|corrupt or truncated|magic)")
    with pytest.raises(ValueError, match=expected):
        load_mnist(target, download=True, base_url=url, checksums=md5, timeout=5)
    assert _left_in(target / "mnist") == []


def test_mnist_download_wrong_checksum(tmp_path, mnist_server):
    _, url, md5, _ = mnist_server
    name = "t10k-images-idx3-ubyte.gz"
    actual, md5[name] = md5[name], "0" * 32
    target = tmp_path / "data"
    with pytest.raises(ValueError, match=rf"{name}: md5 checksum mismatch .*expected 0{{32}}, got {actual}"):
        load_mnist(target, download=True, base_url=url, checksums=md5, timeout=5)
    left = _left_in(target / "mnist")
    assert name not in left and not [f for f in left if ".part" in f]
    assert left == sorted(MNIST_NAMES[:2])  # the two verified files before it stay; they are complete


def test_mnist_download_404(tmp_path, mnist_server):
    served, url, md5, _ = mnist_server
    (served / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DownloadError, match=r"t10k-labels-idx1-ubyte\.gz.*HTTP 404"):
        load_mnist(tmp_path / "data", download=True, base_url=url, checksums=md5, timeout=5)
    assert "t10k-labels-idx1-ubyte.gz" not in _left_in(tmp_path / "data" / "mnist")
    assert not [f for f in _left_in(tmp_path / "data" / "mnist") if ".part" in f]


def test_mnist_download_timeout(tmp_path, mnist_server):
    _, url, md5, _ = mnist_server
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match=r"/slow/train-images.*did not answer in 0\.3 s"):
        load_mnist(tmp_path / "data", download=True, base_url=url + "slow", checksums=md5, timeout=0.3)
    assert time.perf_counter() - t0 < 1.4 and _left_in(tmp_path / "data" / "mnist") == []


def test_mnist_images_labels_mismatch(tmp_path):
    _write_mnist_like(tmp_path / "mnist", n_train=6, n_test=3)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="holds 6 images but train-labels-idx1-ubyte.gz holds 5 labels"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.full(6, 10, np.uint8))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 10\), got maximum 10"):
        load_mnist(tmp_path)


def test_tiny_shakespeare_download(tmp_path, mnist_server):
    served, url, _, _ = mnist_server
    text = "To be, or not to be.\n"
    (served / "input.txt").write_text(text)
    sha = hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(ValueError, match="sha256 checksum mismatch"):
        load_tiny_shakespeare(tmp_path, download=True, url=url + "input.txt", timeout=5)  # the real digest
    assert _left_in(tmp_path / "tinyshakespeare") == []
    assert load_tiny_shakespeare(tmp_path, download=True, url=url + "input.txt", sha256=sha, timeout=5) == text
