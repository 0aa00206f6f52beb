"""Fingerprints of training data: what a checkpoint records so that a resume on other data is refused
(``dlfs/checkpoint.py``), and what the ranks of a distributed run compare."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np

_HASH_CHUNK = 1 << 24  # bytes hashed at a time when an array is not contiguous (a copy of one chunk, not all)


def array_fingerprint(a: np.ndarray) -> dict[str, Any]:
    """``{"dtype", "shape", "blake2b"}`` of an array: its dtype (with byte order), shape and a 128-bit BLAKE2b
    hash of its bytes in C order. Measured on Fashion-MNIST-sized data on the 2-core box: 0.07 s of CPU for uint8
    (60000, 784), 47 MB; 0.36 s for float32, 188 MB (docs/robust_training.md)."""
    a = np.asarray(a)
    h = hashlib.blake2b(digest_size=16)
    if a.flags.c_contiguous:
        h.update(memoryview(a).cast("B") if a.size else b"")
    else:
        rows = max(1, _HASH_CHUNK // max(1, a[:1].nbytes))
        for start in range(0, len(a), rows):
            h.update(np.ascontiguousarray(a[start:start + rows]).tobytes())
    return {"dtype": a.dtype.str, "shape": list(a.shape), "blake2b": h.hexdigest()}


def data_fingerprint(X_train: np.ndarray, y_train: np.ndarray) -> dict[str, Any]:
    """The training data's fingerprint a checkpoint records: ``array_fingerprint`` of X_train and of y_train."""
    return {"X_train": array_fingerprint(X_train), "y_train": array_fingerprint(y_train)}


def describe_fingerprint(fp: Mapping[str, Any]) -> str:
    return ", ".join(f"{name} {v['dtype']} {tuple(v['shape'])} blake2b {v['blake2b']}" for name, v in fp.items())
