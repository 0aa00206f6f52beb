"""torchvision where a PyTorch user reaches for it: MNIST and Fashion-MNIST through
``torchvision.datasets``, scaled by ``torchvision.transforms.v2``, image grids from
``torchvision.utils.make_grid``. The twin of ``scratch.vision`` (same names and signatures).

Loading. ``datasets.FashionMNIST(root)`` and ``datasets.MNIST(root)`` read
``root/<ClassName>/raw/<stem>``, e.g. ``root/FashionMNIST/raw/train-images-idx3-ubyte``: plain IDX
only (torchvision 0.29 opens the file with ``open()``; its ``download=True`` gunzips each ``.gz``
beside it). Debian's ``dataset-fashion-mnist`` ships the ``.gz`` files only, so the dataset cannot
be pointed at ``/usr/share/datasets/fashion-mnist/``. ``torchvision_datasets`` therefore builds that
layout in a temporary directory from exactly the files ``dlfs.data`` reads (``fashion_mnist_files``,
``mnist_files``): a symlink to each plain IDX file, a gunzipped copy of each ``.gz`` (what
torchvision's own download does); constructs the datasets with ``download=False`` (each reads its
two files into memory in its constructor) and removes the directory. Nothing is downloaded unless
asked (``download=True``), and then by ``dlfs.data``'s checksummed downloader, so both backends read
the same verified files.

Scaling. ``IMAGE_TRANSFORM`` = ``v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32),
v2.Normalize(mean=[0.0], std=[255.0])])``, i.e. pixel / 255: bit for bit ``dlfs.data``'s
``pixels.astype(np.float32) / np.float32(255)``. Not ``v2.ToDtype(torch.float32, scale=True)``: it
multiplies by 1/255 rounded to float32, which differs from dividing by 255 by one ulp for 126 of the
256 pixel values (``parity_tests/test_torchvision.py`` shows it). The transform serves one sample
(``dataset[i]``: PIL image -> (1, 28, 28)) and, v2 transforms being batch-aware, the whole
(N, 1, 28, 28) uint8 tensor at once, which is how ``load_images`` applies it (0.1 s for 60,000
images, against about 3 s for 60,000 PIL round trips through a ``DataLoader``).

digits has no torchvision dataset: both backends take it from scikit-learn
(``dlfs.data.load_digits``).
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets
from torchvision.transforms import v2
from torchvision.utils import make_grid

from dlfs.data import (
    DATASETS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    ImageData,
    fashion_mnist_files,
    load_digits,
    mnist_files,
)
from dlfs.errors import check_choice
from dlfs.grids import check_grid_args, grid_for_imshow

__all__ = ["image_grid", "load_dataset", "load_images"]

PathLike = str | os.PathLike

#: ``--dataset`` name -> (torchvision dataset class, class names as ``dlfs.data`` gives them).
TORCHVISION_DATASETS: dict[str, tuple[type[datasets.MNIST], list[str]]] = {
    "fashion-mnist": (datasets.FashionMNIST, FASHION_MNIST_CLASSES),
    "mnist": (datasets.MNIST, MNIST_CLASSES),
}
#: PIL image or uint8 (..., 1, H, W) tensor -> float32 pixel / 255 (see the module docstring).
IMAGE_TRANSFORM = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32),
                              v2.Normalize(mean=[0.0], std=[255.0])])
# ImageData key -> the file name torchvision reads from raw/ (train=True: "train-*", else "t10k-*")
_RAW_NAMES = {"X_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
              "X_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}
_SPLITS = ("train", "test")


def idx_files(name: str, data_dir: PathLike | None = None,
              download: bool = False) -> dict[str, Path]:
    """The four IDX files of ``name`` ("fashion-mnist" or "mnist") that ``dlfs.data`` reads too."""
    check_choice("dataset", name, tuple(TORCHVISION_DATASETS))
    if name == "fashion-mnist":
        return fashion_mnist_files(data_dir)
    return mnist_files(data_dir, download=download)


def _stage(src: Path, dst: Path) -> None:
    """Put ``src`` where torchvision reads it: a symlink to plain IDX, a gunzipped copy of gzip data
    (recognised by content, as ``dlfs.data.read_idx`` does)."""
    with open(src, "rb") as f:
        is_gzip = f.read(2) == b"\x1f\x8b"
    if not is_gzip:
        dst.symlink_to(src.resolve())
        return
    try:
        with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{str(src)!r}: corrupt or truncated gzip data ({e}); delete the file and "
                         f"fetch it again") from None


def torchvision_datasets(
    name: str,
    data_dir: PathLike | None = None,
    download: bool = False,
    splits: Sequence[str] = _SPLITS,
    transform: v2.Transform | None = IMAGE_TRANSFORM,
) -> dict[str, datasets.MNIST]:
    """``torchvision.datasets.FashionMNIST`` / ``MNIST`` (``download=False``) over the files
    ``dlfs.data`` reads.

    Parameters
    ----------
    name : str
        "fashion-mnist" or "mnist".
    data_dir : str | PathLike | None
        See ``dlfs.data.paths.data_dir``; Fashion-MNIST falls back to the Debian package's folder.
    download : bool
        MNIST only: fetch missing files first, with ``dlfs.data``'s md5-checked downloader.
    splits : Sequence[str]
        Any of "train" and "test".
    transform : v2.Transform | None
        The dataset's per-sample ``transform`` (default ``IMAGE_TRANSFORM``).

    Returns
    -------
    dict[str, datasets.MNIST]
        Split -> dataset: ``.data`` (N, 28, 28) uint8, ``.targets`` (N,) int64, ``ds[i]`` =
        (transformed image, int label). The staging directory is gone by then: the data live in
        memory.
    """
    for split in splits:
        check_choice("split", split, _SPLITS)
    cls, classes = TORCHVISION_DATASETS[check_choice("dataset", name, tuple(TORCHVISION_DATASETS))]
    files = idx_files(name, data_dir, download)
    out: dict[str, datasets.MNIST] = {}
    with tempfile.TemporaryDirectory(prefix="dlfs-torchvision-") as root:
        raw = Path(root) / cls.__name__ / "raw"
        raw.mkdir(parents=True)
        for key, raw_name in _RAW_NAMES.items():  # torchvision checks that all four exist
            _stage(files[key], raw / raw_name)
        for split in splits:
            try:
                ds = cls(root, train=split == "train", transform=transform, download=False)
            except (AssertionError, TypeError, ValueError, RuntimeError) as e:
                raise ValueError(f"{name}: torchvision could not read the {split} IDX files "
                                 f"{str(files['X_' + split])!r} and {str(files['y_' + split])!r}: "
                                 f"{e or type(e).__name__}") from None
            _check_split(ds, files, split, len(classes))
            out[split] = ds
    return out


def _check_split(ds: datasets.MNIST, files: Mapping[str, Path], split: str, n_classes: int) -> None:
    """The checks ``dlfs.data`` makes: as many images as labels, labels in [0, n_classes)."""
    if len(ds.data) != len(ds.targets):
        raise ValueError(f"{Path(files['X_' + split]).name} holds {len(ds.data)} images but "
                         f"{Path(files['y_' + split]).name} holds {len(ds.targets)} labels")
    if len(ds.targets) and int(ds.targets.max()) >= n_classes:
        raise ValueError(f"{str(files['y_' + split])!r}: expected labels in [0, {n_classes}), "
                         f"got maximum {int(ds.targets.max())}")


def _arrays(ds: datasets.MNIST) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's images through ``IMAGE_TRANSFORM`` in one batch: (N, 1, H, W) float32, and its
    labels (N,) int64."""
    X = IMAGE_TRANSFORM(ds.data.unsqueeze(1))  # a tv_tensors.Image: a torch.Tensor subclass
    return X.as_subclass(torch.Tensor).numpy(), ds.targets.numpy()


def load_images(name: str, split: str = "train", data_dir: PathLike | None = None,
                download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One split of an image dataset, read by torchvision: the arrays ``dlfs.data`` gives, bit for
    bit.

    Parameters
    ----------
    name : str
        "digits", "fashion-mnist" or "mnist" (``dlfs.data.DATASETS``).
    split : str
        "train" or "test".
    data_dir, download
        As ``dlfs.data.load_dataset``.

    Returns
    -------
    X : np.ndarray
        (N, 1, H, W) float32 = pixel / 255 (digits: pixel / 16), in [0, 1].
    y : np.ndarray
        (N,) int64 labels.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, _SPLITS)
    if name == "digits":
        d = load_digits()
        return (d.X_train, d.y_train) if split == "train" else (d.X_test, d.y_test)
    return _arrays(torchvision_datasets(name, data_dir, download, splits=(split,))[split])


def load_dataset(name: str, data_dir: PathLike | None = None, download: bool = False) -> ImageData:
    """Both splits of an image dataset as an ``ImageData``, equal to ``dlfs.data.load_dataset``'s.

    Fashion-MNIST and MNIST come through ``torchvision.datasets`` (see the module docstring); digits
    from scikit-learn, as on the scratch side. X (N, 1, H, W) float32 in [0, 1], y (N,) int64.
    """
    check_choice("dataset", name, DATASETS)
    if name == "digits":
        return load_digits()
    ds = torchvision_datasets(name, data_dir, download)
    (X_train, y_train), (X_test, y_test) = _arrays(ds["train"]), _arrays(ds["test"])
    return ImageData(X_train, y_train, X_test, y_test, name, list(TORCHVISION_DATASETS[name][1]))


def image_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, normalize: bool = False,
               value_range: Sequence[float] | None = None, pad_value: float = 0.0) -> np.ndarray:
    """``torchvision.utils.make_grid`` of (N, C, H, W) images, as an array for ``plt.imshow``.

    The layout, ``normalize`` and ``value_range`` are ``make_grid``'s (see ``dlfs.grids``);
    ``scratch.vision.image_grid`` computes the same grid in NumPy.

    Returns
    -------
    np.ndarray
        (rows*(H+padding)+padding, cols*(W+padding)+padding) for C = 1, with a trailing 3 for
        C = 3; the images' dtype.
    """
    arr, nrow, padding, value_range = check_grid_args(images, nrow, padding, value_range)
    grid = make_grid(torch.from_numpy(np.ascontiguousarray(arr)), nrow=nrow, padding=padding,
                     normalize=normalize, value_range=value_range, pad_value=pad_value)
    return grid_for_imshow(grid.numpy(), arr.shape[1])
