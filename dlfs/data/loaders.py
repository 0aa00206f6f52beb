"""The book's datasets, each loaded the same way for both backends.

Image loaders return an ``ImageData``: images (N, 1, H, W) float32 scaled to [0, 1] by the format's maximum
pixel value (16 for digits, 255 for MNIST-likes), labels (N,) int64. Regression loaders return ``(X, y)``
float64. Where each file is looked for is in ``docs/data.md`` and ``dlfs.data.paths.data_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from dlfs.data.download import download_file, file_digest
from dlfs.data.idx import read_idx
from dlfs.data.paths import data_dir as _data_dir
from dlfs.errors import check_array, check_choice, check_positive_int, check_same_length

PathLike = str | os.PathLike

#: The mirror torchvision downloads MNIST from (Yann LeCun's site no longer serves the files reliably).
MNIST_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
#: md5 of each published ``.gz`` file, as listed by torchvision and the MNIST mirrors.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
#: Where Debian's ``dataset-fashion-mnist`` package puts its four IDX files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MNIST_CLASSES = [str(k) for k in range(10)]
#: karpathy/char-rnn's copy, 1,115,394 characters.
TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
DATASETS = ("digits", "fashion-mnist", "mnist")

# (key, IDX file stem, ndim): the four files of an MNIST-like set, in the order ImageData takes them.
_IDX_FILES = (("X_train", "train-images-idx3-ubyte", 3), ("y_train", "train-labels-idx1-ubyte", 1),
              ("X_test", "t10k-images-idx3-ubyte", 3), ("y_test", "t10k-labels-idx1-ubyte", 1))
_DATA_DIR_HINT = "choose the data dir with --data-dir or the DLFS_DATA environment variable"


@dataclass
class ImageData:
    """A labelled image dataset split into train and test.

    Attributes
    ----------
    X_train : np.ndarray
        (N_train, 1, H, W) float32 in [0, 1].
    y_train : np.ndarray
        (N_train,) int64 class indices in [0, len(classes)).
    X_test : np.ndarray
        (N_test, 1, H, W) float32 in [0, 1].
    y_test : np.ndarray
        (N_test,) int64.
    name : str
        The dataset name, one of ``DATASETS``.
    classes : list[str]
        Class names; ``classes[k]`` names label ``k``.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:  # the default repr would print four arrays
        return (f"ImageData(name={self.name!r}, X_train={self.X_train.shape}, X_test={self.X_test.shape}, "
                f"classes={len(self.classes)})")


def _scale_images(images: np.ndarray, max_value: float) -> np.ndarray:
    """(N, H, W) integers -> (N, 1, H, W) float32 in [0, 1]: one channel, as Conv2D expects (NCHW)."""
    x = images.astype(np.float32)
    x /= np.float32(max_value)
    return x[:, None]


def load_digits() -> ImageData:
    """scikit-learn's bundled 8x8 digits (1,797 images), split as the project's fast default.

    Stratified ``train_test_split(test_size=0.25, random_state=20190119)``: 1,347 train and 450 test images,
    (N, 1, 8, 8) float32 = pixel / 16, labels 0-9.
    """
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    digits = sk_digits()
    X = _scale_images(digits.images, 16.0)
    y = digits.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=20190119, stratify=y)
    return ImageData(X_train, y_train, X_test, y_test, "digits", [str(k) for k in range(10)])


def _find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four IDX files in ``directory`` (``.gz`` preferred, plain accepted), or None if any is missing."""
    found = {}
    for key, stem, _ in _IDX_FILES:
        path = next((p for p in (directory / f"{stem}.gz", directory / stem) if p.is_file()), None)
        if path is None:
            return None
        found[key] = path
    return found


def _load_idx_set(files: Mapping[str, Path], name: str, classes: list[str]) -> ImageData:
    """Read the four files of an MNIST-like set and check that they fit together."""
    arrays = {}
    for key, _, ndim in _IDX_FILES:
        arr = read_idx(files[key], ndim=ndim)
        if arr.dtype != np.uint8:
            raise ValueError(f"{str(files[key])!r}: expected uint8 values (dtype byte 0x08), got {arr.dtype}")
        arrays[key] = arr
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if len(X) != len(y):
            raise ValueError(f"{name}: {files[f'X_{split}'].name} holds {len(X)} images but "
                             f"{files[f'y_{split}'].name} holds {len(y)} labels")
        if len(y) and y.max() >= len(classes):
            raise ValueError(f"{str(files[f'y_{split}'])!r}: expected labels in [0, {len(classes)}), "
                             f"got maximum {y.max()}")
    return ImageData(_scale_images(arrays["X_train"], 255.0), arrays["y_train"].astype(np.int64),
                     _scale_images(arrays["X_test"], 255.0), arrays["y_test"].astype(np.int64), name, classes)


def fashion_mnist_files(data_dir: PathLike | None = None) -> dict[str, Path]:
    """The four IDX files ``load_fashion_mnist(data_dir)`` reads, by ``ImageData`` key (``"X_train"`` ...).

    ``data_dir(data_dir)/fashion-mnist/`` first, then ``/usr/share/datasets/fashion-mnist/`` (Debian's
    ``dataset-fashion-mnist``); ``.gz`` preferred, plain IDX accepted. The torch backend's torchvision loader
    reads the same files. ``FileNotFoundError`` (saying how to get them) when neither directory has all four.
    """
    local = _data_dir(data_dir) / "fashion-mnist"
    for directory in (local, FASHION_MNIST_SYSTEM_DIR):
        files = _find_idx_files(directory)
        if files is not None:
            return files
    names = ", ".join(f"{stem}.gz" for _, stem, _ in _IDX_FILES)
    raise FileNotFoundError(
        f"Fashion-MNIST not found: looked for {names} in {str(local)!r} and {str(FASHION_MNIST_SYSTEM_DIR)!r}. "
        f"Install it with `sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist` (Debian/Ubuntu), "
        f"or put the four IDX files (from https://github.com/zalandoresearch/fashion-mnist) in "
        f"{str(local)!r}; {_DATA_DIR_HINT}")


def load_fashion_mnist(data_dir: PathLike | None = None) -> ImageData:
    """Fashion-MNIST: 60,000 train and 10,000 test 28x28 greyscale images of 10 kinds of clothing.

    Reads ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz`` and
    ``t10k-labels-idx1-ubyte.gz`` (or plain, without ``.gz``) where ``fashion_mnist_files`` finds them.

    Returns
    -------
    ImageData
        X_train (60000, 1, 28, 28), X_test (10000, 1, 28, 28) float32 = pixel / 255; labels int64 0-9.
    """
    return _load_idx_set(fashion_mnist_files(data_dir), "fashion-mnist", list(FASHION_MNIST_CLASSES))


def mnist_files(
    data_dir: PathLike | None = None,
    download: bool = False,
    base_url: str = MNIST_URL,
    checksums: Mapping[str, str] | None = MNIST_MD5,
    timeout: float = 60.0,
) -> dict[str, Path]:
    """The four IDX files ``load_mnist`` reads (by ``ImageData`` key), fetching the missing ones first when
    ``download`` (see ``load_mnist`` for the arguments). The torch backend's torchvision loader reads the same files.
    """
    root = _data_dir(data_dir) / "mnist"
    missing = [f"{stem}.gz" for _, stem, _ in _IDX_FILES
               if not (root / f"{stem}.gz").is_file() and not (root / stem).is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"MNIST not found: {', '.join(missing)} missing from {str(root)!r}. Pass download=True (--download on "
            f"the command line of experiments demo, cnn, ladder and autoencoder) to fetch them from {base_url} "
            f"with checksum verification, or copy the four IDX files there; {_DATA_DIR_HINT}")
    ndims = {f"{stem}.gz": ndim for _, stem, ndim in _IDX_FILES}
    for name in missing:
        checksum = None if checksums is None else checksums.get(name)
        if checksums is not None and checksum is None:
            raise ValueError(f"checksums: no md5 for {name!r}; expected keys {list(ndims)}, got {list(checksums)}")
        download_file(f"{base_url.rstrip('/')}/{name}", root / name, checksum, "md5", timeout,
                      validate=lambda p, nd=ndims[name]: read_idx(p, ndim=nd))
    files = _find_idx_files(root)
    assert files is not None  # every file is present now
    return files


def load_mnist(
    data_dir: PathLike | None = None,
    download: bool = False,
    base_url: str = MNIST_URL,
    checksums: Mapping[str, str] | None = MNIST_MD5,
    timeout: float = 60.0,
) -> ImageData:
    """MNIST handwritten digits: 60,000 train and 10,000 test 28x28 images (the book's chapters 4, 5 and 7).

    The IDX files live in ``data_dir(data_dir)/mnist/``. With ``download=True`` the missing ones are fetched
    from ``base_url``, each checked against its md5 in ``checksums`` and parsed as IDX before it is moved into
    place (so a failed download leaves nothing behind). Files already present are not re-checked against
    ``checksums`` (a re-compressed copy is still MNIST); they are parsed and checked for consistency.

    Parameters
    ----------
    data_dir : str | PathLike | None
        See ``dlfs.data.paths.data_dir``.
    download : bool
        Fetch missing files.
    base_url : str
        Directory URL that holds the four ``.gz`` files.
    checksums : Mapping[str, str] | None
        File name -> expected md5 of the ``.gz``; ``None`` skips the check (not recommended).
    timeout : float
        Seconds before a silent server is given up on.

    Returns
    -------
    ImageData
        X_train (60000, 1, 28, 28), X_test (10000, 1, 28, 28) float32 = pixel / 255; labels int64 0-9.
    """
    return _load_idx_set(mnist_files(data_dir, download, base_url, checksums, timeout), "mnist", list(MNIST_CLASSES))


def load_dataset(name: str, data_dir: PathLike | None = None, download: bool = False) -> ImageData:
    """Load an image dataset by name: ``"digits"``, ``"fashion-mnist"`` or ``"mnist"`` (what ``--dataset`` takes).

    ``data_dir`` is ignored by digits (bundled with scikit-learn); ``download`` applies to MNIST only.
    """
    check_choice("dataset", name, DATASETS)
    if name == "digits":
        return load_digits()
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    return load_mnist(data_dir, download=download)


def load_diabetes() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled diabetes regression data: X (442, 10) float64 (already centred and scaled), y (442,)."""
    from sklearn.datasets import load_diabetes as sk_diabetes

    X, y = sk_diabetes(return_X_y=True)
    return X.astype(np.float64), y.astype(np.float64)


def load_boston(data_dir: PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boston housing, the book's chapters 2-3 data: X (506, 13) float64 features, y (506,) MEDV.

    Read from ``data_dir(data_dir)/boston_housing/boston_housing.csv``: 13 feature columns then MEDV,
    comma-separated, no header (scikit-learn removed its copy in 1.2).
    """
    path = _data_dir(data_dir) / "boston_housing" / "boston_housing.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"Boston housing not found at {str(path)!r}: put the 506-row CSV there (13 feature columns then "
            f"MEDV, comma-separated, no header), e.g. written from mlxtend's bundled copy: "
            f"`X, y = mlxtend.data.boston_housing_data(); np.savetxt(path, np.c_[X, y], delimiter=',')`; "
            f"{_DATA_DIR_HINT}")
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise ValueError(f"{str(path)!r}: expected comma-separated numbers without a header: {e}") from None
    if table.shape[1] != 14:
        raise ValueError(f"{str(path)!r}: expected 14 columns (13 features then MEDV), got shape {table.shape}")
    return table[:, :13], table[:, 13]


def book_regression_split(
    X: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The book's chapters 2-3 preprocessing: standardise, then a 70/30 split.

    As the book does, the ``StandardScaler`` is fitted on *all* rows before the split (test statistics leak into
    training; kept for comparability with the book's printed numbers), then
    ``train_test_split(test_size=0.3, random_state=80718)``.

    Parameters
    ----------
    X : np.ndarray
        (n, d) features.
    y : np.ndarray
        (n,) or (n, 1) targets.

    Returns
    -------
    X_train, X_test, y_train, y_test : np.ndarray
        (n_train, d), (n_test, d), (n_train, 1), (n_test, 1); for Boston n_train = 354, n_test = 152.
    """
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = check_array("X", X, ndim=2)
    y = check_array("y", y, ndim=(1, 2))
    if y.ndim == 2 and y.shape[1] != 1:
        raise ValueError(f"y: expected (n,) or (n, 1) targets, got shape {y.shape}")
    check_same_length("X", X, "y", y)
    X = StandardScaler().fit_transform(X)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=80718)
    return X_train, X_test, y_train.reshape(-1, 1), y_test.reshape(-1, 1)


def load_tiny_shakespeare(
    data_dir: PathLike | None = None,
    download: bool = False,
    url: str = TINY_SHAKESPEARE_URL,
    sha256: str | None = TINY_SHAKESPEARE_SHA256,
    timeout: float = 60.0,
) -> str:
    """Tiny Shakespeare (1,115,394 characters, 65 symbols), the character LSTM's text.

    Read from ``data_dir(data_dir)/tinyshakespeare/input.txt`` and checked against ``sha256`` (``None`` skips the
    check, for another text); ``download=True`` fetches it from ``url`` when missing.
    """
    path = _data_dir(data_dir) / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        if not download:
            raise FileNotFoundError(
                f"Tiny Shakespeare not found at {str(path)!r}: pass download=True (--download on experiments."
                f"char_lstm's command line) to fetch it from "
                f"{url}, or save that file there; {_DATA_DIR_HINT}")
        download_file(url, path, sha256, "sha256", timeout)
    elif sha256 is not None:
        actual = file_digest(path, "sha256")
        if actual != sha256.lower():
            raise ValueError(f"{str(path)!r}: sha256 checksum mismatch: expected {sha256}, got {actual}; the file is "
                             f"not the Tiny Shakespeare of {url}: delete it and fetch it again (download=True)")
    return path.read_text(encoding="utf-8")


def flatten(X: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or any (N, ...) -> (N, C*H*W): one row per sample, for Dense networks. A view when possible."""
    X = check_array("X", X, finite=False)
    if X.ndim < 2:
        raise ValueError(f"flatten X: expected at least 2-D (samples first), got shape {X.shape}")
    return X.reshape(len(X), -1)


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Subtract the training set's global mean and divide by its global standard deviation (the book, chapter 4).

    One scalar mean and one scalar std over every pixel of ``X_train`` (not per feature), applied to both sets,
    so no test statistic leaks into training. Any shapes, with the same per-sample shape in both; float inputs keep
    their dtype (the statistics are computed in float64), integer inputs become float64.

    Returns
    -------
    X_train, X_test : np.ndarray
        Same shapes as the inputs; X_train has mean 0 and std 1.
    """
    X_train = check_array("X_train", X_train)
    X_test = check_array("X_test", X_test)
    if X_test.shape[1:] != X_train.shape[1:]:  # one scalar mean and std, but the two sets must hold the same samples
        raise ValueError(f"standardize X_test: expected samples of shape {X_train.shape[1:]} like X_train, "
                         f"got {X_test.shape[1:]}")
    dtype = X_train.dtype if np.issubdtype(X_train.dtype, np.floating) else np.dtype(np.float64)
    mean = X_train.mean(dtype=np.float64)
    std = X_train.std(dtype=np.float64)
    if not std > 0:
        raise ValueError(f"standardize X_train: expected values that vary, got a constant array (std 0) of shape "
                         f"{X_train.shape}")
    m, s = dtype.type(mean), dtype.type(std)
    return ((X_train - m) / s).astype(dtype, copy=False), ((X_test - m) / s).astype(dtype, copy=False)


def one_hot(y: np.ndarray, num_classes: int, dtype: DTypeLike = np.float32) -> np.ndarray:
    """(N,) integer labels -> (N, num_classes) one-hot rows (the book's ``train_labels`` matrix).

    Raises ``TypeError`` for non-integer labels and ``ValueError`` for labels outside ``[0, num_classes)``.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"one_hot y: expected (N,) labels, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"one_hot y: expected integer class labels, got dtype {y.dtype} (use y.astype(np.int64))")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        raise ValueError(f"one_hot y: expected labels in [0, {num_classes}), got {int(bad.sum())} outside it "
                         f"(min {y.min()}, max {y.max()})")
    out = np.zeros((len(y), num_classes), dtype=dtype)
    out[np.arange(len(y)), y] = 1
    return out
