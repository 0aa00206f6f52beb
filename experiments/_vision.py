"""Each backend's own image loading and image grids, for the image experiments (cnn, autoencoder, ladder).

The scratch backend reads the IDX files with ``dlfs.data``; the torch backend reads the same files through
``torchvision.datasets`` and ``torchvision.transforms`` (``torch_impl.vision``). With ``--backend both`` each
backend loads through its own path and ``load_images_for`` checks, before any training, that the arrays are
identical (``np.array_equal``, dtypes and shapes included); then both train on the one copy, so they still see
identical data and batches. ``parity_tests/test_torchvision.py`` proves the same for every split.
(The leading underscore keeps this helper out of ``dlfs <experiment>``'s list.)
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

import numpy as np

import dlfs
from dlfs.data import ImageData

_ARRAYS = ("X_train", "y_train", "X_test", "y_test")


def vision(name: str) -> ModuleType:
    """Backend ``name``'s vision module: ``scratch.vision`` (NumPy) or ``torch_impl.vision`` (torchvision)."""
    return importlib.import_module(f"{dlfs.backend(name).__name__}.vision")


def load_images_for(names: Sequence[str], dataset: str, data_dir: str | None = None,
                    download: bool = False) -> ImageData:
    """``dataset`` loaded by each backend in ``names``; one ``ImageData`` (X (N, 1, H, W) float32, y (N,) int64).

    Raises ``RuntimeError`` naming the array and the first differing pixel when two backends' loads differ.
    """
    loaded = {name: vision(name).load_dataset(dataset, data_dir, download) for name in names}
    first, data = names[0], loaded[names[0]]
    for name in names[1:]:
        for key in _ARRAYS:
            a, b = getattr(data, key), getattr(loaded[name], key)
            if a.dtype != b.dtype or a.shape != b.shape or not np.array_equal(a, b):
                where = "" if a.shape != b.shape else f", first difference at {np.argwhere(a != b)[:1].tolist()}"
                raise RuntimeError(f"{dataset} {key}: the {first} backend loaded {a.dtype} {a.shape}, the {name} "
                                   f"backend {b.dtype} {b.shape}{where}; the backends must see identical data")
    return data
