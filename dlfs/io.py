"""Atomic file writes: a temporary file in the same directory, fsync, then ``os.replace``.

A crash mid-write leaves the previous file intact; nothing a user saved is lost.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import numpy as np


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a temporary file beside ``path`` and rename it over ``path`` when done."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; a saved result should get the permissions any new file gets (umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # the rename itself survives a power cut only once the directory is synced
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some filesystems cannot open a directory; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    data = json.dumps(obj, indent=2, sort_keys=False, default=_json_default).encode()
    return atomic_write(path, lambda f: f.write(data))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def save_npz(path: str | os.PathLike, state: Mapping[str, np.ndarray]) -> Path:
    """Save a canonical state dict as ``.npz``, atomically (keys may contain dots)."""
    arrays = {k: np.asarray(v) for k, v in state.items()}
    return atomic_write(path, lambda f: np.savez(f, **arrays))


class WeightsFileError(ValueError):
    """A weights file that cannot be read: damaged, truncated, or not in the format its extension names."""


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a state dict saved by ``save_npz``; a missing file names the path, a damaged one says so."""
    path = _existing(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            return {k: z[k] for k in z.files}
    except PermissionError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, AttributeError) as e:
        raise WeightsFileError(f"weights file {str(path)!r} is damaged, truncated or not an .npz archive "
                               f"({type(e).__name__}: {e})") from None


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    return path


def _safetensors_numpy() -> ModuleType:
    try:
        import safetensors.numpy
    except ImportError:  # pragma: no cover - a dependency; the message says how to get it
        raise ImportError("saving or loading .safetensors needs the safetensors package: pip install safetensors"
                          ) from None
    return safetensors.numpy


def save_safetensors(path: str | os.PathLike, state: Mapping[str, np.ndarray]) -> Path:
    """Save a state dict as ``.safetensors`` (``safetensors.numpy``), atomically; the layout (dlfs's canonical
    one) is recorded in the header's metadata (one entry: safetensors keeps metadata in a hash map, so one entry
    keeps the file's bytes a function of the weights alone)."""
    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    data = _safetensors_numpy().save(arrays, metadata={"dlfs_layout": "canonical"})
    return atomic_write(path, lambda f: f.write(data))


def load_safetensors(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a ``.safetensors`` file (written by ``save_safetensors`` or by ``safetensors.torch``) as NumPy
    arrays; a missing file names the path, a damaged or truncated one says so."""
    path = _existing(path)
    st = _safetensors_numpy()
    try:
        return dict(st.load(path.read_bytes()))
    except Exception as e:  # safetensors raises its own SafetensorError (and others) on a bad header
        raise WeightsFileError(f"weights file {str(path)!r} is damaged, truncated or not a safetensors file "
                               f"({type(e).__name__}: {e})") from None


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG, atomically."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
