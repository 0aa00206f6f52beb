"""Datasets for both backends: where they live (``paths``), the IDX format (``idx``), checksummed downloads
(``download``) and the loaders (``loaders``). See ``docs/data.md``.

    from dlfs.data import load_dataset, flatten
    data = load_dataset("digits")          # ImageData: X_train (1347, 1, 8, 8) float32 in [0, 1], y_train int64
"""

from dlfs.data.download import DownloadError, download_file, file_digest
from dlfs.data.idx import IDX_DTYPES, read_idx, write_idx
from dlfs.data.loaders import (
    DATASETS,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_SYSTEM_DIR,
    MNIST_CLASSES,
    MNIST_MD5,
    MNIST_URL,
    TINY_SHAKESPEARE_SHA256,
    TINY_SHAKESPEARE_URL,
    ImageData,
    book_regression_split,
    fashion_mnist_files,
    flatten,
    load_boston,
    load_dataset,
    load_diabetes,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_tiny_shakespeare,
    mnist_files,
    one_hot,
    standardize,
)
from dlfs.data.paths import DATA_ENV, data_dir

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "DownloadError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SYSTEM_DIR",
    "IDX_DTYPES",
    "ImageData",
    "MNIST_CLASSES",
    "MNIST_MD5",
    "MNIST_URL",
    "TINY_SHAKESPEARE_SHA256",
    "TINY_SHAKESPEARE_URL",
    "book_regression_split",
    "data_dir",
    "download_file",
    "fashion_mnist_files",
    "file_digest",
    "flatten",
    "load_boston",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_tiny_shakespeare",
    "mnist_files",
    "one_hot",
    "read_idx",
    "standardize",
    "write_idx",
]
