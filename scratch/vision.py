"""Image datasets and image grids, the NumPy way: the twin of ``torch_impl.vision`` (torchvision).

Loading is ``dlfs.data``'s own IDX reader (``dlfs.data.read_idx``: gzip or plain, every header field
checked); ``torch_impl.vision`` reads the same files through ``torchvision.datasets``, and
``parity_tests/test_torchvision.py`` proves the arrays equal bit for bit. The grid is
``torchvision.utils.make_grid``'s layout written out in NumPy (see ``dlfs.grids``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np

from dlfs.data import DATASETS, ImageData
from dlfs.data import load_dataset as _load_dataset
from dlfs.errors import check_choice
from dlfs.grids import check_grid_args, grid_for_imshow

__all__ = ["image_grid", "load_dataset", "load_images"]

PathLike = str | os.PathLike
_SPLITS = ("train", "test")


def load_images(name: str, split: str = "train", data_dir: PathLike | None = None,
                download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One split of an image dataset, read by ``dlfs.data``.

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
    d = _load_dataset(name, data_dir, download)
    return (d.X_train, d.y_train) if split == "train" else (d.X_test, d.y_test)


def load_dataset(name: str, data_dir: PathLike | None = None, download: bool = False) -> ImageData:
    """Both splits of an image dataset: ``dlfs.data.load_dataset``. X (N, 1, H, W) float32 in
    [0, 1], y (N,) int64."""
    return _load_dataset(name, data_dir, download)


def image_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, normalize: bool = False,
               value_range: Sequence[float] | None = None, pad_value: float = 0.0) -> np.ndarray:
    """(N, C, H, W) images laid out ``nrow`` to a row, ``padding`` pixels of ``pad_value`` around
    and between them.

    ``torchvision.utils.make_grid``'s layout (see ``dlfs.grids``): image ``k`` sits in row
    ``k // nrow``, column ``k % nrow``, its top-left pixel at
    ``(row*(H+padding) + padding, col*(W+padding) + padding)``.

    Returns
    -------
    np.ndarray
        (rows*(H+padding)+padding, cols*(W+padding)+padding) for C = 1, with a trailing 3 for C = 3;
        the images' dtype.
    """
    x, nrow, padding, value_range = check_grid_args(images, nrow, padding, value_range)
    if normalize:  # clamp to [low, high], then (x - low) / (high - low), in the images' dtype
        low, high = value_range or (float(x.min()), float(x.max()))
        x = (np.clip(x, x.dtype.type(low), x.dtype.type(high)) - x.dtype.type(low)) \
            / x.dtype.type(max(high - low, 1e-5))
    n, c, h, w = x.shape
    if n == 1:  # one image: as it is, without padding
        return grid_for_imshow(x[0], c)
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.full((c, rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value,
                   dtype=x.dtype)
    for k in range(n):
        top = (k // cols) * (h + padding) + padding
        left = (k % cols) * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = x[k]
    return grid_for_imshow(grid, c)
