"""Bad input on the command line: the error the `dlfs` subcommands raise, and its suggestions."""

from __future__ import annotations

import difflib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


class UsageError(Exception):
    """Bad input on the command line: printed as ``dlfs: error: ...``, exit status 2."""


def suggest(name: str, known: Sequence[str], what: str) -> UsageError:
    """An unknown-name error that suggests names containing it (``softmax``), then the closest spellings."""
    part = [k for k in known if name.lower() in k.lower()]
    close = (part + [k for k in difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
                     if k not in part])[:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UsageError(f"unknown {what} {name!r}{hint} (known: {', '.join(known)})")


def check_writable_file(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, before any work, a file path the command could not write at the end: an existing directory, a
    parent that is a file, or a directory this user cannot create files in (probed with a temporary file, which
    is removed). Returns the path."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is a directory; expected a file path, e.g. {str(path / 'x.json')!r}")
    existing = next(p for p in path.absolute().parents if p.exists())
    if not existing.is_dir():
        raise UsageError(f"{flag} {str(path)!r} cannot be written: {str(existing)!r} is a file, not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {str(path)!r} cannot be written: {str(existing)!r} does not let this user create "
                         f"files ({e.strerror or e}); choose another path") from None
    return path
