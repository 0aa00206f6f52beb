"""Atomic file writes (a temporary file in the same directory, fsync, then ``os.replace``), and the one
reader of every file dlfs loads (weights ``.npz`` and ``.safetensors``, checkpoints, parity results JSON).

A crash mid-write leaves the previous file intact; nothing a user saved is lost. A file that is damaged,
truncated, empty, a directory or of another format gives one error type, ``FileFormatError`` (a
``ValueError``; ``WeightsFileError`` is the same class), whose message names the path and says what the file is
not. Nothing is ever unpickled, and NumPy's advice to load with ``allow_pickle`` never reaches the user.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
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


class FileFormatError(ValueError):
    """A file dlfs reads (weights, a checkpoint, parity results) that is not what it should be: empty,
    truncated, damaged (a flipped bit), of another format (a ``.npy``, a ``torch.save`` pickle, random bytes,
    JSON that is not dlfs's) or a directory. The message names the path, says what the file is not and why:
    ``'w.npz' is not a dlfs weights file (.npz): it is empty (0 bytes)``. One type for every file dlfs reads,
    so one ``except`` covers them; a ``ValueError``. A missing file is ``FileNotFoundError`` instead.
    """


# the error's older name: weights files were the first files dlfs read; both names are the same class
WeightsFileError = FileFormatError

WEIGHTS_NPZ = "dlfs weights file (.npz)"
WEIGHTS_SAFETENSORS = "dlfs weights file (.safetensors)"
# what a pickle-based file is told: dlfs never unpickles (a pickle can run any code while it loads)
_NO_PICKLE = "which dlfs never unpickles (loading a pickle can run any code)"
# the largest ratio of a deflated entry's size to its compressed size (zlib's limit is about 1032)
_MAX_DEFLATE_RATIO = 1100


def not_a(path: str | os.PathLike, what: str, reason: str) -> FileFormatError:
    """The error for a file at ``path`` that is not a ``what`` (``"dlfs weights file (.npz)"``), because
    ``reason``."""
    return FileFormatError(f"{str(path)!r} is not a {what}: {reason}")


def regular_file(path: str | os.PathLike, what: str, noun: str) -> Path:
    """``path`` as a ``Path`` when it is a regular, non-empty file; ``FileNotFoundError`` (``"<noun> '<path>'
    does not exist"``) when nothing is there, ``FileFormatError`` for a directory, a device or pipe, or an empty
    file."""
    path = Path(path)
    if path.is_dir():
        raise not_a(path, what, f"it is a directory (expected a file; a {noun} is one file)")
    if not path.exists():
        raise FileNotFoundError(f"{noun} {str(path)!r} does not exist")
    if not path.is_file():
        raise not_a(path, what, "it is not a regular file (a device, a pipe or a socket)")
    if path.stat().st_size == 0:
        raise not_a(path, what, "it is empty (0 bytes)")
    return path


def _foreign(head: bytes, advice: str) -> str | None:
    """What a file starting with ``head`` is when it is a format dlfs recognises but does not read, else None."""
    if head.startswith(b"\x93NUMPY"):
        return "it is a single NumPy array (.npy), not an .npz archive of named arrays (save a state dict with "\
               "dlfs.save_weights, or np.savez)"
    if head[:1] == b"\x80":  # pickle's protocol opcode: torch.save's legacy format, pickle.dump
        return f"it is a Python pickle (torch.save's legacy format, or pickle.dump), {_NO_PICKLE}; {advice}"
    return None


def read_npz(path: str | os.PathLike, what: str = WEIGHTS_NPZ, noun: str = "weights file") -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` archive (``np.savez``'s format), read without NumPy's pickle support.

    Each entry's header is read first and its promised size checked against the entry, so a damaged header
    cannot make it allocate more than the file holds. Anything else than an archive of plain ``.npy`` arrays
    raises ``FileFormatError`` naming ``path`` as not a ``what``: empty, truncated, a bit flipped (zip's CRC),
    a single ``.npy``, a ``torch.save`` archive or pickle, an array of Python objects, random bytes, a directory.
    Nothing is ever unpickled. ``noun`` names the file in the ``FileNotFoundError`` of a missing one.
    """
    path = regular_file(path, what, noun)
    with open(path, "rb") as f:
        head = f.read(8)
    save_hint = "save one with dlfs.save_weights (or np.savez)"
    foreign = _foreign(head, save_hint)
    if foreign:
        raise not_a(path, what, foreign)
    if not head.startswith(b"PK"):
        raise not_a(path, what, f"it is not a zip archive, as every .npz is (it starts with {head!r})")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if any(n.endswith(".pkl") for n in names):
                raise not_a(path, what, f"it is a torch.save archive (it holds the pickle "
                                        f"{next(n for n in names if n.endswith('.pkl'))!r}), {_NO_PICKLE}; "
                                        f"save weights with dlfs.save_weights (.npz or .safetensors)")
            other = [n for n in names if not n.endswith(".npy")]
            if other:
                raise not_a(path, what, f"it holds {other[0]!r}, which is not a NumPy array entry (.npy): a zip "
                                        f"archive, but not an .npz")
            return {i.filename[:-4]: _read_entry(path, what, zf, i) for i in infos}
    except FileFormatError:
        raise
    except (PermissionError, MemoryError):
        raise
    except Exception as e:  # zipfile, zlib and NumPy's header parser raise many types on a damaged file
        raise not_a(path, what, f"it is damaged or truncated ({type(e).__name__}: {_sanitised(e)})") from None


def _read_entry(path: Path, what: str, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """One ``.npy`` entry of an open archive: header, size check, then the bytes (zip checks their CRC)."""
    key = info.filename[:-4]
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise not_a(path, what, f"entry {key!r} is a .npy of format version {version}, which dlfs does not "
                                    f"read (np.savez writes 1.0 or 2.0)")
        if dtype.hasobject:
            raise not_a(path, what, f"entry {key!r} is an array of Python objects, stored as a pickle, "
                                    f"{_NO_PICKLE}; weights are numeric arrays")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        bound = info.compress_size * (_MAX_DEFLATE_RATIO if info.compress_type else 1)
        held = info.file_size - f.tell()
        if expected != held or expected > bound:
            raise not_a(path, what, f"it is damaged or truncated: entry {key!r} promises {expected} bytes of "
                                    f"{dtype} data of shape {shape}, and holds {held}")
        buf = bytearray(expected)
        got = f.readinto(buf)
        if got != expected or f.read(1):  # reading to the end makes zip check the entry's CRC-32
            raise not_a(path, what, f"it is damaged or truncated: entry {key!r} has {got} of its {expected} "
                                    f"bytes")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")


def _sanitised(e: BaseException) -> str:
    """An exception's text, without NumPy's advice to load with ``allow_pickle`` (never for a file one did not
    make) and at most 200 characters."""
    text = str(e)
    if "pickle" in text:
        return "it holds pickled Python objects, " + _NO_PICKLE
    return text[:200]


def load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load a state dict saved by ``save_npz``; a missing file names the path, anything else than a dlfs
    ``.npz`` raises ``FileFormatError`` saying what it is not (``read_npz``)."""
    return read_npz(path)


def read_json(path: str | os.PathLike, what: str, noun: str) -> Any:
    """The JSON value in the file at ``path``; ``FileFormatError`` naming ``path`` as not a ``what`` when it is
    empty, not UTF-8 text or not JSON, a directory; ``FileNotFoundError`` when it does not exist."""
    path = regular_file(path, what, noun)
    data = path.read_bytes()
    foreign = _foreign(data[:8], "")
    if foreign or data.startswith(b"PK"):
        raise not_a(path, what, "it is binary (a NumPy, zip or pickle file), not JSON text")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise not_a(path, what, f"it is not UTF-8 text (byte {e.start} is {data[e.start:e.start + 1]!r})") from None
    except json.JSONDecodeError as e:
        raise not_a(path, what, f"it is not valid JSON ({e})") from None


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
    arrays; a missing file names the path, anything else than a safetensors file raises ``FileFormatError``
    saying what it is not (a safetensors file holds no pickle: nothing is unpickled)."""
    what = WEIGHTS_SAFETENSORS
    path = regular_file(path, what, "weights file")
    data = path.read_bytes()
    foreign = _foreign(data[:8], "save weights with dlfs.save_weights")
    if foreign:
        raise not_a(path, what, foreign)
    if data.startswith(b"PK"):
        raise not_a(path, what, "it is a zip archive (an .npz, or a torch.save file), not safetensors (an .npz "
                                "is read as one when its name ends in .npz)")
    st = _safetensors_numpy()
    try:
        state = dict(st.load(data))
    except Exception as e:  # safetensors raises its own SafetensorError (and others) on a bad header
        raise not_a(path, what, f"it is damaged or truncated ({type(e).__name__}: {_sanitised(e)})") from None
    objects = [k for k, v in state.items() if v.dtype.hasobject]
    if objects:  # pragma: no cover - safetensors has no object dtype; kept so nothing but arrays passes
        raise not_a(path, what, f"entry {objects[0]!r} is not a numeric array")
    return state


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure as PNG, atomically."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
