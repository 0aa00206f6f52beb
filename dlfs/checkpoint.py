"""Checkpoints: everything a ``Trainer`` needs to continue a run exactly, in one ``.npz`` written atomically.

A checkpoint holds, in the canonical layout both backends share (so one saved by either loads into the other):

- the weights (``net.state_dict()``);
- the optimiser's state (``optim.state_dict()``): momentum buffers, Adam's moments and step count, AdaGrad's
  sums, keyed and shaped like the weights, and the learning-rate schedule's position (epoch) and current lr;
- the random streams, as NumPy ``bit_generator.state``: the batch order's generator and every dropout mask
  stream of the network (in layer order);
- the epochs completed and optimiser steps taken, the ``History`` so far, and early stopping's best-so-far
  (best loss, best epoch and step, best weights);
- the ``fit`` arguments that fix the batches and the schedule, and the optimiser's hyperparameters: a resume
  checks them, so a run is never silently continued with different batches or a different schedule;
- backend extras (the torch Trainer adds torch's global RNG state).

The file is a plain ``.npz`` (``np.load`` reads it, no pickle): ``meta`` (UTF-8 JSON as uint8 bytes),
``weights/<key>``, ``best/<key>``, ``optim/<buffer>/<key>``, ``extra/<name>``, and ``history/step_loss`` (the
per-step losses, an array rather than JSON: a long run has many). It is written through
``dlfs.io.atomic_write`` (temporary file beside it, fsync, ``os.replace``): a crash mid-save leaves the previous
checkpoint whole, and the temporary file (``.checkpoint.npz.<random>.tmp``) is never read as a checkpoint.

Checkpoints are taken at epoch boundaries, and when the run ends: after its last epoch, when early stopping
ends it, or when ``max_steps`` ends it (mid-epoch, as it usually does). A run ended by early stopping or by
``max_steps`` is finished: resuming it trains nothing, and a resume that asks for more steps than the budget
that ended it is refused (the rest of a cut epoch's batches are not saved, so it could not go on exactly).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from dlfs.errors import check_positive_int
from dlfs.exchange import check_state
from dlfs.fingerprint import describe_fingerprint
from dlfs.io import atomic_write, not_a, read_npz

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT_VERSION = 1
WHAT = "dlfs checkpoint (.npz)"  # what a file that fails to load is said not to be
# Test hook for the crash test: "EPOCH:SECONDS" makes the save of epoch EPOCH sleep SECONDS after the temporary
# file is written and before it is renamed, so a test can kill the process mid-save.
SLOW_SAVE_ENV = "DLFS_TEST_SLOW_SAVE"
# what must match between the checkpoint and the resumed fit: they decide which samples form which batch
_SAME_BATCHES = ("n_train", "sample_shape", "batch_size", "seed", "dtype")
# optimiser hyperparameters, under the same attribute names in both backends
# History lists saved as arrays, not JSON
_HISTORY_ARRAYS = ("step_loss",)
_HYPERPARAMETERS = ("first_lr", "final_lr", "decay_type", "momentum", "betas", "eps", "initial_accumulator_value",
                    "clip_value", "clip_norm")


@dataclass
class Checkpoint:
    """The contents of one checkpoint file (see the module docstring)."""

    backend: str  # the backend that wrote it ("scratch" or "torch"); either can load it
    epoch: int  # epochs completed
    step: int  # optimiser steps taken
    fit: dict[str, Any]  # the fit arguments: n_train, sample_shape, batch_size, seed, dtype, epochs, ...
    weights: dict[str, np.ndarray]  # canonical state dict
    optimizer: dict[str, Any]  # optim.state_dict(): name, epoch, lr, step, buffers {name: {key: array}}
    optimizer_config: dict[str, Any]  # the optimiser's hyperparameters
    rng: dict[str, Any]  # {"batch_order": state, "dropout": [state, ...]}
    history: dict[str, Any]  # History.to_dict()
    early_stopping: dict[str, Any]  # {"best_loss": float, "best_epoch": int | None, "best_step": int | None}
    best_weights: dict[str, np.ndarray] | None = None  # early stopping's best weights
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # backend extras (torch's RNG state)


# --- the file --------------------------------------------------------------------------------------------------
def _slow_save_delay(epoch: int) -> float:
    """Seconds to sleep mid-save of ``epoch`` (the crash test's hook; 0 unless ``DLFS_TEST_SLOW_SAVE`` says)."""
    spec = os.environ.get(SLOW_SAVE_ENV, "")
    if not spec:
        return 0.0
    at, _, seconds = spec.partition(":")
    return float(seconds) if int(at) == epoch else 0.0


def save_checkpoint(directory: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``directory/checkpoint.npz`` atomically (replacing the previous one); return the path."""
    history = {k: v for k, v in ckpt.history.items() if k not in _HISTORY_ARRAYS}
    meta = {"format": FORMAT_VERSION, "backend": ckpt.backend, "epoch": ckpt.epoch, "step": ckpt.step,
            "fit": ckpt.fit, "optimizer_config": ckpt.optimizer_config, "rng": ckpt.rng, "history": history,
            "early_stopping": ckpt.early_stopping, "has_best_weights": ckpt.best_weights is not None,
            "optimizer": {k: v for k, v in ckpt.optimizer.items() if k != "buffers"},
            "buffers": sorted(ckpt.optimizer.get("buffers", {}))}
    arrays = {"meta": np.frombuffer(json.dumps(meta, default=_json_scalar).encode(), dtype=np.uint8)}
    arrays.update({f"weights/{k}": np.asarray(v) for k, v in ckpt.weights.items()})
    arrays.update({f"best/{k}": np.asarray(v) for k, v in (ckpt.best_weights or {}).items()})
    for name, buf in ckpt.optimizer.get("buffers", {}).items():
        arrays.update({f"optim/{name}/{k}": np.asarray(v) for k, v in buf.items()})
    arrays.update({f"extra/{k}": np.asarray(v) for k, v in ckpt.extra.items()})
    arrays.update({f"history/{k}": np.asarray(ckpt.history[k], dtype=np.float64) for k in _HISTORY_ARRAYS
                   if k in ckpt.history})
    delay = _slow_save_delay(ckpt.epoch)

    def write(f: IO[bytes]) -> None:
        np.savez(f, **arrays)
        if delay:
            f.flush()
            time.sleep(delay)

    return atomic_write(Path(directory) / CHECKPOINT_FILE, write)


def _json_scalar(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(f"checkpoint metadata: not JSON serialisable: {type(o).__name__}")


def find_checkpoint(directory: str | os.PathLike) -> Path:
    """The checkpoint in ``directory``; a clear ``FileNotFoundError`` when there is none.

    Only ``checkpoint.npz`` counts: a temporary file left by a save that was interrupted is reported, never read.
    """
    directory = Path(directory)
    path = directory / CHECKPOINT_FILE
    if path.is_file():
        return path
    if path.is_dir():
        raise not_a(path, WHAT, "it is a directory, where fit writes its checkpoint as one file (move it away, or "
                                "choose another checkpoint_dir)")
    temps = sorted(directory.glob(f".{CHECKPOINT_FILE}.*.tmp")) if directory.is_dir() else []
    note = (f"; {len(temps)} temporary file(s) left by an interrupted save ({temps[0].name}, ...) were ignored"
            if temps else "")
    where = "the directory does not exist" if not directory.is_dir() else f"there is no {CHECKPOINT_FILE}"
    raise FileNotFoundError(f"resume=True: no checkpoint in {str(directory)!r} ({where}{note}); train once with "
                            f"checkpoint_dir={str(directory)!r} first")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint file (or the checkpoint in a directory) written by ``save_checkpoint``.

    A file that is not one (empty, truncated, damaged, a weights file, a ``torch.save`` file, random bytes) raises
    ``dlfs.io.FileFormatError`` naming it and saying why; nothing is unpickled (``dlfs.io.read_npz``).
    """
    path = Path(path)
    if path.is_dir() and path.name == CHECKPOINT_FILE:
        find_checkpoint(path.parent)  # raises: a directory where the checkpoint file should be
    if path.is_dir() or not path.exists():
        path = find_checkpoint(path if path.is_dir() else path.parent)
    arrays = read_npz(path, WHAT, "checkpoint")
    if "meta" not in arrays:
        hint = (" (it looks like a weights file: load it with dlfs.load_weights)"
                if arrays and all(k.startswith("layers.") for k in arrays) else "")
        raise not_a(path, WHAT, f"it has no 'meta' entry, which every checkpoint has{hint}")
    try:
        meta = json.loads(bytes(arrays.pop("meta")).decode())
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError, ValueError) as e:
        raise not_a(path, WHAT, f"its 'meta' entry is not UTF-8 JSON ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict):
        raise not_a(path, WHAT, f"its 'meta' entry is JSON {type(meta).__name__}, not the object a checkpoint has")
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{str(path)!r}: checkpoint format {meta.get('format')!r}, this dlfs reads {FORMAT_VERSION}")
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise not_a(path, WHAT, f"its metadata lacks {missing}")

    def section(prefix: str) -> dict[str, np.ndarray]:
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    try:
        optimizer = dict(meta["optimizer"], buffers={name: section(f"optim/{name}/") for name in meta["buffers"]})
        history = dict(meta["history"], **{k: v.tolist() for k, v in section("history/").items()})
        return Checkpoint(backend=meta["backend"], epoch=meta["epoch"], step=meta["step"], fit=meta["fit"],
                          weights=section("weights/"), optimizer=optimizer,
                          optimizer_config=meta["optimizer_config"], rng=meta["rng"], history=history,
                          early_stopping=meta["early_stopping"],
                          best_weights=section("best/") if meta["has_best_weights"] else None,
                          extra=section("extra/"))
    except (TypeError, ValueError, AttributeError) as e:  # metadata of the wrong shape: not ours
        raise not_a(path, WHAT, f"its metadata is not a checkpoint's ({type(e).__name__}: {e})") from None


_META_KEYS = ("backend", "epoch", "step", "fit", "optimizer_config", "rng", "history", "early_stopping",
              "has_best_weights", "optimizer", "buffers")


# --- checks ----------------------------------------------------------------------------------------------------
def check_optimizer_state(owner: str, buffer_names: Sequence[str], state: Mapping[str, Any],
                          shapes: Mapping[str, tuple[int, ...]]) -> None:
    """An optimiser state dict (canonical layout) must be this optimiser's, with buffers shaped like ``shapes``
    (the network's state dict); raises ``ValueError``/``KeyError`` naming what differs."""
    for key in ("name", "epoch", "lr", "step", "buffers"):
        if key not in state:
            raise KeyError(f"{owner}.load_state_dict: missing {key!r} (expected the dict optim.state_dict() returns)")
    if state["name"] != owner:
        raise ValueError(f"{owner}.load_state_dict: the state is that of {state['name']}, not {owner}")
    unknown = sorted(set(state["buffers"]) - set(buffer_names))
    if unknown:
        raise ValueError(f"{owner}.load_state_dict: unknown buffers {unknown} (expected some of {list(buffer_names)})")
    for name, buf in state["buffers"].items():
        check_state(f"{owner} buffer {name!r}", shapes, buf)


def optimizer_config(optim: Any) -> dict[str, Any]:
    """The optimiser's class and hyperparameters (JSON-ready; the attribute names are the same in both backends)."""
    out: dict[str, Any] = {"name": type(optim).__name__}
    for k in _HYPERPARAMETERS:
        if hasattr(optim, k):
            v = getattr(optim, k)
            out[k] = list(v) if isinstance(v, tuple) else v
    return out


def check_checkpoint_args(checkpoint_dir: Any, checkpoint_every: int, resume: bool,
                          overwrite: bool = False) -> None:
    """Validate ``fit``'s checkpoint arguments (``overwrite``: its ``overwrite_checkpoint``)."""
    if checkpoint_dir is not None and not isinstance(checkpoint_dir, str | os.PathLike):
        raise TypeError(f"checkpoint_dir: expected a directory path (str or os.PathLike) or None, got "
                        f"{type(checkpoint_dir).__name__} {checkpoint_dir!r}")
    if checkpoint_dir is not None and Path(checkpoint_dir).exists() and not Path(checkpoint_dir).is_dir():
        raise ValueError(f"checkpoint_dir: {str(checkpoint_dir)!r} exists and is not a directory")
    check_positive_int("checkpoint_every", checkpoint_every)
    if not isinstance(resume, bool):
        raise TypeError(f"resume: expected True or False, got {type(resume).__name__} {resume!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite_checkpoint: expected True or False, got {type(overwrite).__name__} "
                        f"{overwrite!r}")
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (the directory the interrupted run saved to)")


def _check_compatible(path: Path, ckpt: Checkpoint, weights: Mapping[str, np.ndarray], fit: Mapping[str, Any],
                      config: Mapping[str, Any], n_streams: int) -> None:
    """Raise ``ValueError`` naming the first thing that makes ``ckpt`` not a checkpoint of this run."""
    where = f"resume: the checkpoint {str(path)!r} was made for a different network"
    missing = [k for k in weights if k not in ckpt.weights]
    extra = [k for k in ckpt.weights if k not in weights]
    if missing or extra:
        raise ValueError(f"{where}: this network has keys {missing} that the checkpoint lacks, the checkpoint has "
                         f"keys {extra} that this network lacks")
    for k, v in weights.items():
        got = ckpt.weights[k]
        if got.shape != v.shape:
            raise ValueError(f"{where}: key {k!r} has shape {got.shape} in the checkpoint, {v.shape} in this network")
        if got.dtype != v.dtype:
            raise ValueError(f"{where}: key {k!r} is {got.dtype} in the checkpoint, {v.dtype} in this network")
    if len(ckpt.rng["dropout"]) != n_streams:
        raise ValueError(f"{where}: it has {len(ckpt.rng['dropout'])} dropout mask stream(s), this network "
                         f"{n_streams}")
    saved_config = ckpt.optimizer_config
    if saved_config["name"] != config["name"]:
        raise ValueError(f"resume: the checkpoint {str(path)!r} holds the state of optimiser {saved_config['name']}, "
                         f"this Trainer's optimiser is {config['name']}")
    for k in sorted(set(saved_config) | set(config)):
        if saved_config.get(k) != config.get(k):
            raise ValueError(f"resume: the checkpoint {str(path)!r} was made with optimiser "
                             f"{saved_config.get('name')} {k}={saved_config.get(k)!r}, this Trainer's "
                             f"{config.get('name')} has {k}={config.get(k)!r}")
    keys = _SAME_BATCHES + (("epochs",) if config.get("decay_type") is not None else ())
    for k in keys:
        if ckpt.fit.get(k) != fit.get(k):
            why = "the learning-rate schedule" if k == "epochs" else "the batches"
            raise ValueError(f"resume: the checkpoint {str(path)!r} was made with {k}={ckpt.fit.get(k)!r}, this fit "
                             f"has {k}={fit.get(k)!r} ({why} would differ)")
    _check_same_data(path, ckpt, fit)
    if ckpt.epoch > fit["epochs"]:
        raise ValueError(f"resume: the checkpoint {str(path)!r} is at epoch {ckpt.epoch}, beyond "
                         f"epochs={fit['epochs']}")
    _check_budget(path, ckpt, fit)


def _check_budget(path: Path, ckpt: Checkpoint, fit: Mapping[str, Any]) -> None:
    """The step budget: a checkpoint beyond ``max_steps``, or of a run a smaller budget ended, is refused."""
    max_steps = fit.get("max_steps")
    if max_steps is not None and ckpt.step > max_steps:
        raise ValueError(f"resume: the checkpoint {str(path)!r} is at step {ckpt.step}, beyond max_steps={max_steps}")
    h = ckpt.history
    if h.get("stopped_step") is None or h.get("stopped_epoch") is not None:
        return  # not ended by the step budget (early stopping's end is final whatever is asked)
    per_epoch = -(-fit["n_train"] // fit["batch_size"])
    last = fit["epochs"] * per_epoch if max_steps is None else min(max_steps, fit["epochs"] * per_epoch)
    if last > ckpt.step:
        raise ValueError(f"resume: the checkpoint {str(path)!r} is of a finished run: max_steps="
                         f"{ckpt.fit.get('max_steps')} ended it at step {ckpt.step} (epoch {ckpt.epoch}); this fit "
                         f"would go on to step {last}, and a run the step budget ended is not continued (resume it "
                         f"with max_steps={ckpt.step} to get its result, or train afresh)")


def _check_same_data(path: Path, ckpt: Checkpoint, fit: Mapping[str, Any]) -> None:
    """The training data must be the checkpoint's (its fingerprint); a checkpoint from before fingerprints were
    recorded has none, and is not checked."""
    saved, now = ckpt.fit.get("data"), fit.get("data")
    if saved is None or now is None or saved == now:
        return
    raise ValueError(f"resume: the checkpoint {str(path)!r} was trained on other data: the checkpoint has "
                     f"{describe_fingerprint(saved)}; this fit has {describe_fingerprint(now)} (resume with the "
                     f"training data of the interrupted run, or train afresh with overwrite_checkpoint=True)")


# --- what a Trainer does with them -----------------------------------------------------------------------------
def fit_config(X_train: np.ndarray, dtype: str, epochs: int, eval_every: int, batch_size: int, seed: int,
               early_stopping: bool, max_steps: int | None = None,
               eval_every_steps: int | None = None, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``fit`` arguments a checkpoint records (JSON-ready); ``data``: the training data's
    ``data_fingerprint`` (recorded when there is one)."""
    return {**({} if data is None else {"data": data}),
            "n_train": int(len(X_train)), "sample_shape": list(X_train.shape[1:]), "dtype": str(dtype),
            "epochs": int(epochs), "eval_every": int(eval_every), "batch_size": int(batch_size), "seed": int(seed),
            "early_stopping": bool(early_stopping), "max_steps": None if max_steps is None else int(max_steps),
            "eval_every_steps": None if eval_every_steps is None else int(eval_every_steps)}


class Checkpointer:
    """A Trainer's checkpoints: ``save`` every ``every`` epochs into ``directory``, ``restore`` the latest.

    Parameters
    ----------
    directory : path or None
        Where ``checkpoint.npz`` lives; None: no checkpoints.
    every : int
        Save after every ``every``-th epoch (and after the last one, and when early stopping or the step
        budget ends the run).
    backend : str
        ``"scratch"`` or ``"torch"``, recorded in the file.
    net, optim, order :
        The network, the optimiser (answering ``state_dict``/``load_state_dict``) and the ``BatchOrder``.
    mask_streams : list of np.random.Generator
        The network's dropout mask streams, in layer order.
    fit : dict
        ``fit_config(...)`` of this run.
    extra : callable, optional
        Returns backend extras to save (name -> array).
    """

    def __init__(self, directory: str | os.PathLike | None, every: int, backend: str, net: Any, optim: Any,
                 order: Any, mask_streams: Sequence[np.random.Generator], fit: dict[str, Any],
                 extra: Callable[[], dict[str, np.ndarray]] | None = None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.every, self.backend, self.net, self.optim, self.order = every, backend, net, optim, order
        self.mask_streams, self.fit, self.extra = list(mask_streams), fit, extra

    def due(self, epoch: int, last: bool) -> bool:
        """Whether to save after ``epoch`` (``last``: the run ends with it)."""
        return self.directory is not None and (last or epoch % self.every == 0)

    def save(self, epoch: int, step: int, history: Any, stopper: Any) -> Path:
        """Write the state after ``epoch`` (``step`` optimiser steps), atomically."""
        assert self.directory is not None
        ckpt = Checkpoint(
            backend=self.backend, epoch=epoch, step=step, fit=self.fit, weights=self.net.state_dict(),
            optimizer=self.optim.state_dict(), optimizer_config=optimizer_config(self.optim),
            rng={"batch_order": self.order.rng.bit_generator.state,
                 "dropout": [g.bit_generator.state for g in self.mask_streams]},
            history=history.to_dict(),
            early_stopping={"best_loss": float(stopper.best_loss), "best_epoch": stopper.best_epoch,
                            "best_step": stopper.best_step},
            best_weights=stopper.best_state, extra=self.extra() if self.extra else {})
        return save_checkpoint(self.directory, ckpt)

    def restore(self, stopper: Any) -> Checkpoint:
        """Load the latest checkpoint into the network, optimiser, batch order, mask streams and ``stopper``.

        Returns the ``Checkpoint`` (its ``epoch``, ``step``, ``history`` and ``extra`` are the caller's to use).
        Raises ``FileNotFoundError`` when there is none and ``ValueError`` naming what differs when it was made
        for another network, optimiser or batch order, or when its step count does not fit this fit's budget.
        """
        assert self.directory is not None
        path = find_checkpoint(self.directory)
        ckpt = load_checkpoint(path)
        _check_compatible(path, ckpt, self.net.state_dict(), self.fit, optimizer_config(self.optim),
                          len(self.mask_streams))
        self.net.load_state_dict(ckpt.weights)
        self.optim.load_state_dict(ckpt.optimizer)
        self.order.rng.bit_generator.state = ckpt.rng["batch_order"]
        for g, state in zip(self.mask_streams, ckpt.rng["dropout"]):
            g.bit_generator.state = state
        stopper.best_loss = float(ckpt.early_stopping["best_loss"])
        stopper.best_epoch = ckpt.early_stopping["best_epoch"]
        stopper.best_step = ckpt.early_stopping.get("best_step")
        stopper.best_state = ckpt.best_weights
        return ckpt
