"""The weight exchange: canonical state dicts, their checks, and ``.npz`` save/load.

Both backends name and shape parameters identically (the book's layout: ``W`` is (in, out), ``B`` is
(1, out)); converters to PyTorch's layouts live beside the torch layers that need them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlfs.io import load_npz, save_npz


def check_state(owner: str, expected: Mapping[str, tuple[int, ...]], state: Mapping[str, Any]) -> None:
    """Raise ``KeyError``/``ValueError`` naming every missing key, extra key or wrong shape."""
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if extra:
            parts.append(f"unexpected keys {extra}")
        raise KeyError(f"{owner}.load_state_dict: {'; '.join(parts)} (expected keys {sorted(expected)})")
    for k, shape in expected.items():
        got = tuple(np.shape(state[k]))
        if got != tuple(shape):
            raise ValueError(f"{owner}.load_state_dict: key {k!r} expected shape {tuple(shape)}, got {got}")
        v = np.asarray(state[k])
        if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
            raise ValueError(f"{owner}.load_state_dict: key {k!r} contains NaN or inf")


def save_weights(model: Any, path: str | os.PathLike) -> Path:
    """Save ``model.state_dict()`` (either backend) to ``path`` as ``.npz``, atomically."""
    return save_npz(path, model.state_dict())


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load an ``.npz`` written by ``save_weights`` (by either backend) into ``model``."""
    model.load_state_dict(load_npz(path))
