"""Bad input on the command line: the error the `dlfs` subcommands raise, and its suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Sequence


class UsageError(Exception):
    """Bad input on the command line: printed as ``dlfs: error: ...``, exit status 2."""


def suggest(name: str, known: Sequence[str], what: str) -> UsageError:
    """An unknown-name error that suggests names containing it (``softmax``), then the closest spellings."""
    part = [k for k in known if name.lower() in k.lower()]
    close = (part + [k for k in difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
                     if k not in part])[:3]
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UsageError(f"unknown {what} {name!r}{hint} (known: {', '.join(known)})")
