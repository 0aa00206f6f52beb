"""The weight exchange: canonical state dicts, their checks, and save/load as ``.npz`` or ``.safetensors``.

Both backends name and shape parameters identically (the book's layout: ``W`` is (in, out), ``B`` is
(1, out)); converters to PyTorch's layouts live beside the torch layers that need them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dlfs import interop
from dlfs.errors import complex_message, describe
from dlfs.io import WEIGHTS_NPZ, load_npz, load_safetensors, not_a, save_npz, save_safetensors

FORMATS = {".npz": (save_npz, load_npz), ".safetensors": (save_safetensors, load_safetensors)}


def check_state(owner: str, expected: Mapping[str, tuple[int, ...]], state: Mapping[str, Any]) -> None:
    """Raise ``KeyError``/``ValueError`` naming every missing key, extra key or wrong shape, ``TypeError`` for a
    complex or non-numeric array, ``ValueError`` for NaN or inf."""
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
        if np.issubdtype(v.dtype, np.complexfloating):
            raise TypeError(complex_message(f"{owner}.load_state_dict: key {k!r}", v))
        if not (np.issubdtype(v.dtype, np.number) or v.dtype == bool):
            raise TypeError(f"{owner}.load_state_dict: key {k!r}: expected a numeric array, got {describe(v)}")
        if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
            raise ValueError(f"{owner}.load_state_dict: key {k!r} contains NaN or inf")


def _format(action: str, path: str | os.PathLike) -> tuple[Any, Any]:
    """The (save, load) pair for ``path``'s extension; ``ValueError`` naming the known ones otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{action}: cannot tell the format of {str(path)!r} from its extension "
                         f"{suffix or '(none)'!r}; expected a path ending in {' or '.join(map(repr, FORMATS))}")
    return FORMATS[suffix]


def save_weights(model: Any, path: str | os.PathLike) -> Path:
    """Save ``model.state_dict()`` (either backend; canonical layout) to ``path``, atomically, in the format its
    extension names: ``.npz`` (NumPy) or ``.safetensors``."""
    save, _ = _format("save_weights", path)
    return save(path, model.state_dict())


def load_weights(model: Any, path: str | os.PathLike) -> None:
    """Load a ``.npz`` or ``.safetensors`` file written by ``save_weights`` (by either backend) into ``model``.

    A file holding a ``dlfs.to_torch(net).state_dict()`` instead (PyTorch's keys and layouts, e.g. written with
    ``safetensors.torch.save_file``) is converted through ``to_torch`` (needs torch). A file that is not a dlfs
    weights file (damaged, truncated, empty, a checkpoint, a ``torch.save`` pickle, a directory) raises
    ``dlfs.io.FileFormatError`` (``WeightsFileError``) naming it; nothing is unpickled. A missing, unexpected or
    misshapen key is named; complex, non-numeric or non-finite weights are refused.
    """
    _, load = _format("load_weights", path)
    state = load(path)
    if "meta" in state and any(k.startswith("weights/") for k in state):  # a checkpoint, not a weights file
        raise not_a(path, WEIGHTS_NPZ, "it is a dlfs checkpoint (Trainer.fit's checkpoint_dir); its weights are "
                                       "dlfs.checkpoint.load_checkpoint(path).weights, for model.load_state_dict")
    if hasattr(model, "layers") and interop.is_torch_layout(state):  # interop reaches torch through importlib
        interop.load_torch_layout(model, state)
        return
    model.load_state_dict(state)
