"""``dlfs.backend(name)``: pick the NumPy or the PyTorch implementation by name."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from dlfs.errors import check_choice

BACKENDS = ("scratch", "torch")
_MODULES = {"scratch": "scratch", "torch": "torch_impl"}


def backend(name: str | None = None) -> ModuleType:
    """Return the backend module: ``"scratch"`` (NumPy) or ``"torch"`` (PyTorch).

    With no name, the ``DLFS_BACKEND`` environment variable decides (default ``"scratch"``), as
    ``KERAS_BACKEND`` does for Keras. Both modules export the same names with the same signatures.
    """
    source = "backend"
    if name is None:
        name = os.environ.get("DLFS_BACKEND", "scratch")
        source = "DLFS_BACKEND"
    check_choice(source, name, BACKENDS)
    return importlib.import_module(_MODULES[name])
