"""The IDX file format of MNIST and Fashion-MNIST, plain or gzip-compressed.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the values in C order::

    magic = 0x00 0x00 <dtype byte> <ndim>     e.g. 0x00000801: uint8 labels (N,), 0x00000803: uint8 images (N, H, W)

``read_idx`` checks every part of that against the file and says what it expected and what came;
``write_idx`` is the inverse, used by the tests to build small files (and handy to export data).
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

#: IDX dtype byte -> big-endian NumPy dtype (the table of the format's definition).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _decompress(path: Path, raw: bytes) -> bytes:
    """Gunzip ``raw`` when it is gzip data (detected by content, not by name: an IDX file starts with 0x0000)."""
    if raw[:2] != _GZIP_MAGIC:
        if path.suffix == ".gz":
            raise ValueError(f"{str(path)!r}: expected gzip data (a .gz file starts with 1f 8b), "
                             f"got first bytes {raw[:4].hex(' ') or 'nothing (empty file)'}")
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut-off stream raises EOFError
        raise ValueError(f"{str(path)!r}: corrupt or truncated gzip data ({e}); delete the file and fetch it again") \
            from None


def read_idx(path: str | os.PathLike, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a NumPy array.

    Parameters
    ----------
    path : str | PathLike
        The file; gzip data is recognised by its content.
    ndim : int | None
        When given, the number of dimensions the header must declare (1 for labels, 3 for images).

    Returns
    -------
    np.ndarray
        Shape as in the header, e.g. (N,) labels or (N, H, W) images; native-endian dtype of the dtype byte
        (uint8 for MNIST-likes). A writable copy.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not gzip although named ``.gz``, corrupt gzip, bad magic number, unknown dtype byte, unexpected
        ``ndim``, or a size that disagrees with the header (truncated file or trailing bytes).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    data = _decompress(path, path.read_bytes())
    if len(data) < 4:
        raise ValueError(f"{str(path)!r}: expected an IDX header of at least 4 bytes, got {len(data)} bytes")
    zero, dtype_byte, n_dims = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise ValueError(f"{str(path)!r}: bad magic number 0x{data[:4].hex()}: an IDX file starts with two zero "
                         f"bytes (0x00000801 for labels, 0x00000803 for images); is this an IDX file?")
    if dtype_byte not in IDX_DTYPES:
        known = ", ".join(f"0x{b:02X} ({d.name})" for b, d in IDX_DTYPES.items())
        raise ValueError(f"{str(path)!r}: unknown IDX dtype byte 0x{dtype_byte:02X} in magic number "
                         f"0x{data[:4].hex()}; expected one of {known}")
    if ndim is not None and n_dims != ndim:
        raise ValueError(f"{str(path)!r}: expected a {ndim}-D IDX file (magic 0x000008{ndim:02x} for uint8), "
                         f"got {n_dims}-D (magic 0x{data[:4].hex()})")
    header = 4 + 4 * n_dims
    if len(data) < header:
        raise ValueError(f"{str(path)!r}: truncated header: {n_dims} dimensions need {header} bytes, "
                         f"got {len(data)}")
    shape = struct.unpack(f">{n_dims}I", data[4:header])
    dtype = IDX_DTYPES[dtype_byte]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes after the data"
        raise ValueError(f"{str(path)!r}: {what}: the header declares shape {shape} of {dtype.name}, "
                         f"i.e. {expected} bytes in all, but the (decompressed) file has {len(data)} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)  # native order, and writable (frombuffer is read-only)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends in ``.gz``. A test helper.

    Parameters
    ----------
    path : str | PathLike
        Destination; parent directories are created.
    array : np.ndarray
        Any shape with 1 to 255 dimensions; dtype one of uint8, int8, int16, int32, float32, float64.

    Returns
    -------
    Path
        ``path``.
    """
    arr = np.asarray(array)
    byte = next((b for b, d in IDX_DTYPES.items() if d.kind == arr.dtype.kind and d.itemsize == arr.dtype.itemsize),
                None)
    if byte is None:
        names = ", ".join(d.name for d in IDX_DTYPES.values())
        raise TypeError(f"write_idx array: expected dtype one of {names}, got {arr.dtype}")
    if not 1 <= arr.ndim <= 255:
        raise ValueError(f"write_idx array: expected 1 to 255 dimensions, got shape {arr.shape}")
    payload = struct.pack(">HBB", 0, byte, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload += np.ascontiguousarray(arr, dtype=IDX_DTYPES[byte]).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(payload, mtime=0) if path.suffix == ".gz" else payload)
    return path
