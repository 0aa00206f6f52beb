"""Where datasets live on disk: one function, one documented order of precedence."""

from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that names the data directory (like ``DLFS_BACKEND`` names the backend).
DATA_ENV = "DLFS_DATA"

#: The repository root is the parent of the ``dlfs`` package directory; data shared by the checkouts of a
#: workplace sits beside it, in ``<repo root>/../shared/data``.
REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The directory that holds datasets, chosen in this order (the first that applies wins):

    1. ``data_dir``, the explicit argument (what ``--data-dir`` passes);
    2. the ``DLFS_DATA`` environment variable, when set and non-empty;
    3. ``<repo root>/../shared/data``, when that directory exists (the repo root is the parent of the
       ``dlfs`` package directory);
    4. ``$XDG_DATA_HOME/dlfs``, by default ``~/.local/share/dlfs``.

    ``~`` is expanded. The directory is not created here: only a download creates it.

    Parameters
    ----------
    data_dir : str | PathLike | None
        An explicit directory; ``None`` falls through to the environment and the defaults.

    Returns
    -------
    Path
        The absolute data directory (it may not exist yet).
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser().absolute()
    env = os.environ.get(DATA_ENV, "")
    if env:
        return Path(env).expanduser().absolute()
    shared = REPO_ROOT.parent / "shared" / "data"
    if shared.is_dir():
        return shared
    xdg = os.environ.get("XDG_DATA_HOME", "") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser().absolute() / "dlfs"
