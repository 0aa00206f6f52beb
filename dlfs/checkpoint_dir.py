"""The checkpoint directory before a run's first epoch: another run's checkpoint is not replaced unless asked, and
the directory must be writable (``dlfs/fit.py`` calls ``prepare_checkpoint_dir``; the file itself is
``dlfs/checkpoint.py``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from dlfs.checkpoint import CHECKPOINT_FILE, find_checkpoint, load_checkpoint
from dlfs.io import FileFormatError


def prepare_checkpoint_dir(directory: str | os.PathLike, resume: bool, overwrite: bool,
                           write_probe: bool = True) -> None:
    """Before the first epoch: a fresh run (``resume=False``) refuses a directory that already holds a checkpoint,
    unless ``overwrite`` (``fit``'s ``overwrite_checkpoint``; the old checkpoint is then replaced, atomically, by
    the run's first save); and the directory is created and checked writable (a probe file written and removed)
    when ``write_probe``, so an unwritable place fails now, not after the first epoch's work."""
    directory = Path(directory)
    existing = directory / CHECKPOINT_FILE
    if existing.is_dir():  # a save's rename would fail on it after the first epoch's work
        find_checkpoint(directory)  # raises, naming it
    if not resume and not overwrite and existing.exists():
        try:
            ckpt = load_checkpoint(existing)
            what = (f"the checkpoint of a run at epoch {ckpt.epoch}, step {ckpt.step} (written by the "
                    f"{ckpt.backend} backend)")
        except (FileFormatError, ValueError) as e:
            what = f"a {CHECKPOINT_FILE} that does not load ({e})"
        raise FileExistsError(f"checkpoint_dir: {str(directory)!r} already holds {what}; a fresh run "
                              f"(resume=False) would replace it. Pass resume=True to continue that run, "
                              f"overwrite_checkpoint=True to replace it, or another checkpoint_dir")
    if not write_probe:
        return
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".dlfs-write-probe.", suffix=".tmp", dir=directory)
        try:
            os.write(fd, b"probe")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise type(e)(f"checkpoint_dir: cannot write checkpoints to {str(directory)!r} ({type(e).__name__}: "
                      f"{e.strerror or e}); choose a directory you can write to") from None
