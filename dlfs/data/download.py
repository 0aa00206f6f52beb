"""Fetch one file over HTTP(S) with a checksum, atomically: a temporary file beside the target, verify, rename.

Whatever fails — the connection, the HTTP status, the checksum, the content check — the temporary file is
deleted, so the target directory never holds a half-written or unverified file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

_CHUNK = 1 << 20


class DownloadError(OSError):
    """A download failed before its content could be checked (HTTP error, unreachable host, timeout)."""


def _check_algorithm(algorithm: str) -> str:
    """``algorithm`` must name a ``hashlib`` digest: a clear error before any file is opened or fetched."""
    if not isinstance(algorithm, str) or algorithm.lower() not in hashlib.algorithms_available:
        raise ValueError(f"algorithm: expected a hashlib digest name such as 'md5' or 'sha256', got {algorithm!r}")
    return algorithm


def file_digest(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """The hex digest of a file's bytes (``algorithm`` is any ``hashlib`` name: md5, sha256, ...)."""
    h = hashlib.new(_check_algorithm(algorithm))
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def download_file(
    url: str,
    dest: str | os.PathLike,
    checksum: str | None,
    algorithm: str = "md5",
    timeout: float = 60.0,
    validate: Callable[[Path], object] | None = None,
) -> Path:
    """Download ``url`` to ``dest``, verifying its digest (and optionally its content) before it appears there.

    Parameters
    ----------
    url : str
        What to fetch (``http://``, ``https://`` or ``file://``).
    dest : str | PathLike
        The final path; its directory is created.
    checksum : str | None
        The expected hex digest of the downloaded bytes; ``None`` skips the check.
    algorithm : str
        The ``hashlib`` algorithm of ``checksum``.
    timeout : float
        Seconds to wait for the connection and for each read, so a dead server cannot hang the caller.
    validate : Callable[[Path], object] | None
        Called on the verified temporary file (e.g. ``read_idx``); raising keeps it out of ``dest``.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    DownloadError
        HTTP error status, unreachable host, timeout, or fewer bytes than the server announced.
    ValueError
        The digest differs from ``checksum`` (the message names the file, the expected and the actual digest),
        or ``validate`` rejected the content.
    """
    _check_algorithm(algorithm)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # keep the suffix (.gz), so a content check that goes by the name sees what the file is meant to be
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".part{dest.suffix}", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    announced = response.headers.get("Content-Length") if hasattr(response, "headers") else None
                    n = 0
                    for chunk in iter(lambda: response.read(_CHUNK), b""):
                        out.write(chunk)
                        h.update(chunk)
                        n += len(chunk)
            except urllib.error.HTTPError as e:
                raise DownloadError(f"could not download {url} to {str(dest)!r}: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as e:
                reason = getattr(e, "reason", e)
                raise DownloadError(f"could not download {url} to {str(dest)!r}: {reason} "
                                    f"(no network, a wrong URL, or the server did not answer in {timeout} s)") from None
            if announced is not None and announced.isdigit() and n != int(announced):
                raise DownloadError(f"could not download {url} to {str(dest)!r}: the server announced "
                                    f"{announced} bytes and sent {n}")
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if checksum is not None and actual != checksum.lower():
            raise ValueError(f"{dest.name}: {algorithm} checksum mismatch for {url}: expected {checksum}, got "
                             f"{actual} ({n} bytes); the file was not saved. A wrong mirror, a proxy error page, "
                             f"or a corrupt transfer; try again or another base URL")
        if validate is not None:
            try:
                validate(tmp)
            except ValueError as e:  # name the real target and the URL, not only the temporary file
                raise ValueError(f"{dest.name}: the download from {url} passed the checksum but is not valid, so it "
                                 f"was not saved: {e}") from None
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
