"""Where parity results live: the user's cache for `dlfs parity`, and the committed record.

`dlfs parity` writes what it measured, with timestamps and seconds, to ``parity.json`` in the user's cache
(``$DLFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/dlfs``, else ``~/.cache/dlfs``) or to ``--results PATH``; it
never writes into the checkout. The committed record, ``docs/parity_results.json``, holds the worst errors
of every concept without timestamps, and changes only through `dlfs regenerate`. Readers (`dlfs concepts`,
`dlfs show`) take the user's last run when there is one, else the committed record.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dlfs.io import FileFormatError, not_a, read_json, save_json
from study.concepts import ROOT, keys

RECORD = ROOT / "docs" / "parity_results.json"
CACHE_ENV = "DLFS_CACHE_DIR"


def cache_dir() -> Path:
    """The user's cache directory for dlfs (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dlfs"


def cache_path() -> Path:
    """Where `dlfs parity` keeps its last results by default."""
    return cache_dir() / "parity.json"


RESULTS = "dlfs parity results file (JSON)"  # what a file that fails to load is said not to be


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Results ``{concept: {dtype: summary}}`` from ``path`` (empty when the file does not exist).

    A file that is not one (empty, not JSON, JSON of another shape, binary, a directory) raises
    ``dlfs.io.FileFormatError`` naming it and saying why (delete it and run `dlfs parity` again).
    """
    try:
        data = read_json(path, RESULTS, "results file")
    except FileNotFoundError:
        return {}
    except FileFormatError as e:
        raise FileFormatError(f"{e}; delete it and run `dlfs parity` again") from None
    bad = _not_results(data)
    if bad:
        raise not_a(path, RESULTS, f"{bad}; delete it and run `dlfs parity` again")
    return data


def _not_results(data: Any) -> str | None:
    """Why ``data`` is not ``{concept: {dtype: summary dict}}``, or None when it is."""
    if not isinstance(data, dict):
        return f"it holds JSON {type(data).__name__}, not the object {{concept: {{dtype: summary}}}} of results"
    for key, by_dtype in data.items():
        if not isinstance(by_dtype, dict) or not all(isinstance(v, dict) for v in by_dtype.values()):
            return (f"its entry {key!r} is not {{dtype: summary}} (got {type(by_dtype).__name__}): JSON, but "
                    f"not dlfs's parity results")
    return None


def latest(path: str | os.PathLike | None = None) -> tuple[dict[str, Any], Path]:
    """The results readers show, and where they came from: ``path`` when given, else the user's last
    `dlfs parity` when there is one, else the committed record."""
    if path is not None:
        return load(path), Path(path)
    for candidate in (cache_path(), RECORD):
        if candidate.is_file():
            return load(candidate), candidate
    return {}, RECORD


def merge(results: dict[str, dict[str, Any]], path: str | os.PathLike) -> Path:
    """Merge ``results`` into the file at ``path``, atomically, in the registry's order (float64 first);
    concepts no longer in the registry are dropped."""
    merged = load(path)
    for key, by_dtype in results.items():
        merged.setdefault(key, {}).update(by_dtype)
    merged = {k: dict(sorted(merged[k].items(), reverse=True)) for k in keys() if k in merged}
    return save_json(path, merged)


def _significant(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.2e}")


def record_entry(summary: dict[str, Any]) -> dict[str, Any]:
    """What the committed record keeps of one outcome: pass/fail and the worst errors (3 significant
    digits) per group and per quantity, with their tolerances; no timestamps or seconds, so regenerating
    on the same machine changes nothing."""
    return {"passed": summary["passed"], "max_abs": _significant(summary["max_abs"]),
            "max_rel": _significant(summary["max_rel"]),
            **{part: {g: {k: _significant(v) for k, v in e.items()} for g, e in summary.get(part, {}).items()}
               for part in ("groups", "quantities")}}


def write_record(results: dict[str, dict[str, Any]], path: Path = RECORD) -> Path:
    """Replace the committed record with ``results`` (every concept, both dtypes)."""
    record = {k: {d: record_entry(s) for d, s in sorted(results[k].items(), reverse=True)}
              for k in keys() if k in results}
    return save_json(path, record)
