"""What both Trainers share: the seeded batch order, the learning-rate schedule, the dropout keep-masks,
early stopping, argument checks and the training history. The loop itself is ``dlfs/fit.py``'s ``FitLoop``;
each backend's ``Trainer`` supplies its step. (The losses' target checks are ``dlfs/losses.py``.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dlfs.divergence import (  # noqa: F401  (re-exported: where the Trainers and tests import them from)
    GROWTH_FACTOR,
    GROWTH_FLOOR,
    TrainingDiverged,
    diverged,
    first_nonfinite,
    grown,
    growth_limit,
)
from dlfs.errors import (
    check_array,
    check_callable,
    check_choice,
    check_flag,
    check_positive_int,
    check_probability,
    check_same_length,
    check_seed,
)
from dlfs.losses import scalar_loss_needed

logger = logging.getLogger("dlfs")

DECAY_TYPES = ("linear", "exponential")


class BatchOrder:
    """Index batches for every epoch from one seeded NumPy generator.

    Each ``iter()`` is one epoch: a fresh permutation of ``range(n)`` cut into consecutive batches of
    ``batch_size`` (the last one may be smaller, as in the book). Both backends consume the same object
    type, so they see the same batches in the same order; it is also a valid ``batch_sampler`` for
    ``torch.utils.data.DataLoader``.
    """

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool = True) -> None:
        self.n = check_positive_int("n", n)
        self.batch_size = check_positive_int("batch_size", batch_size, maximum=n, max_name="number of samples")
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)

    def permutation(self) -> np.ndarray:
        """One epoch's order of the rows (n,) int64, uncut: what ``iter()`` cuts into batches, drawn from the
        same generator (a caller that batches the rows itself takes this instead of iterating)."""
        return self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __iter__(self) -> Iterator[list[int]]:
        perm = self.permutation()
        for start in range(0, self.n, self.batch_size):
            yield perm[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def check_decay(lr: float, final_lr: float | None, decay_type: str | None) -> None:
    """Validate an optimiser's learning rate and decay arguments (shared by both backends)."""
    for name, v in (("lr", lr), ("final_lr", final_lr)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating)):
            raise TypeError(f"{name}: expected a number, got {type(v).__name__} {v!r}")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: expected a positive finite learning rate, got {lr}")
    if decay_type is None:
        if final_lr is not None:
            raise ValueError(f"final_lr={final_lr} needs a decay_type, one of {list(DECAY_TYPES)}")
        return
    check_choice("decay_type", decay_type, DECAY_TYPES)
    if final_lr is None:
        raise ValueError(f"decay_type={decay_type!r} needs final_lr (the learning rate of the last epoch)")
    if not (0 < final_lr <= lr):
        raise ValueError(f"final_lr: expected 0 < final_lr <= lr={lr} for decay_type={decay_type!r} (decay lowers the "
                         f"learning rate from lr to final_lr), got {final_lr}")


def unscheduled_decay(optim: Any) -> RuntimeError:
    """The error of ``end_epoch`` on a decaying optimiser whose schedule was never set up (the same text in
    both backends): the schedule runs from ``lr`` to ``final_lr`` over the run's epochs and needs their number."""
    name = type(optim).__name__
    return RuntimeError(f"{name}.end_epoch: decay_type={optim.decay_type!r} moves the learning rate from "
                        f"lr={optim.first_lr} to final_lr={optim.final_lr} over the epochs of a run and needs their "
                        f"number: call setup_decay(epochs) before the first epoch (Trainer.fit does)")


def check_momentum(momentum: Any) -> float:
    """``momentum`` must lie in [0, 1): at 1 the velocity never forgets, above it grows without bound."""
    return check_probability("SGDMomentum momentum", momentum)


def lr_at(lr: float, final_lr: float | None, decay_type: str | None, epochs: int, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based; past the last, the last's) of ``lr_schedule``, computed
    alone: nothing proportional to ``epochs`` is allocated (``fit(epochs=10**10)`` must not need 74 GiB for a
    schedule). The same NumPy expressions on a one-element array, so the same bits as ``lr_schedule(...)[epoch]``
    (tested)."""
    epoch = min(epoch, epochs - 1)
    if decay_type is None or epochs == 1:
        return float(lr)
    assert final_lr is not None
    if epoch == epochs - 1:
        return float(final_lr)
    t = np.array([epoch], dtype=np.float64) / (epochs - 1)
    out = lr - (lr - final_lr) * t if decay_type == "linear" else lr * (final_lr / lr) ** t
    return float(out[0])


def lr_schedule(lr: float, final_lr: float | None, decay_type: str | None, epochs: int) -> np.ndarray:
    """The learning rate of each epoch: ``lr`` in epoch 0, exactly ``final_lr`` in epoch ``epochs - 1``.

    linear: ``lr - (lr - final_lr) * e / (E - 1)``; exponential: ``lr * (final_lr / lr) ** (e / (E - 1))``.
    """
    e = np.arange(epochs, dtype=np.float64)
    if decay_type is None or epochs == 1:
        return np.full(epochs, lr, dtype=np.float64)
    assert final_lr is not None
    t = e / (epochs - 1)
    if decay_type == "linear":
        out = lr - (lr - final_lr) * t
    else:
        out = lr * (final_lr / lr) ** t
    out[-1] = final_lr
    return out


def check_fit_args(
    net: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    epochs: int,
    eval_every: int,
    batch_size: int,
    early_stopping: bool = False,
    transform: Callable[[np.ndarray], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate ``Trainer.fit``'s arguments; return the arrays as NumPy.

    With a ``transform`` the arrays are checked as stored (integer ids, say) and the network's input is
    ``transform(X_train[:1])``, which must be a numeric array of one row, 2-D or more.
    """
    X_train = check_array("X_train", X_train, ndim=None)
    y_train = check_array("y_train", y_train, ndim=None)
    if transform is None and X_train.ndim < 2:
        raise ValueError(f"X_train: expected a 2-D (samples, features) array or more, got {X_train.ndim}-D "
                         f"shape {X_train.shape} (reshape a single feature with X.reshape(-1, 1))")
    if X_train.ndim < 1 or len(X_train) == 0:
        raise ValueError(f"X_train: expected at least one sample, got 0 rows (shape {X_train.shape})")
    check_same_length("X_train", X_train, "y_train", y_train)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test: pass both or neither")
    if X_test is not None:
        X_test = check_array("X_test", X_test, ndim=X_train.ndim)
        y_test = check_array("y_test", y_test, ndim=y_train.ndim)
        check_same_length("X_test", X_test, "y_test", y_test)
        check_eval_rows("X_test", X_test, " (pass X_test=None and y_test=None to train without evaluating)")
        if X_test.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"X_test: expected samples of shape {X_train.shape[1:]} like X_train, "
                             f"got {X_test.shape[1:]}")
    check_positive_int("epochs", epochs)
    check_positive_int("eval_every", eval_every)
    check_positive_int("batch_size", batch_size, maximum=len(X_train), max_name="number of training samples")
    if early_stopping and X_test is None:
        raise ValueError("early_stopping=True needs X_test and y_test: the validation loss decides when to stop")
    # one sample through the network: a wrong input width fails here, clearly, before any training (and in the
    # torch backend this builds the parameters the optimiser needs). Then every target is checked by the loss
    # against that prediction repeated (a broadcast view: only its shape is read, no loss is computed), so a bad
    # label in row 59,999 or in y_test fails now, not at epoch 7.
    first = X_train[:1] if transform is None else transformed_batch(transform, X_train[:1], "X_train[:1]")
    out = net.forward(first, training=False)
    for y in (y_train, y_test):
        if y is not None:
            net.loss.check_target(np.broadcast_to(out, (len(y), *out.shape[1:])), y)
    return X_train, y_train, X_test, y_test


def check_eval_rows(name: str, X: Any, hint: str = "") -> None:
    """An evaluation set needs at least one sample: the mean loss of none is NaN, which early stopping would then
    compare."""
    if len(X) == 0:
        raise ValueError(f"{name}: expected at least one sample to evaluate on, got 0 rows (shape "
                         f"{tuple(np.shape(X))}); the mean loss of no samples is undefined (NaN){hint}")


def transformed_batch(transform: Callable[[np.ndarray], Any], x: np.ndarray, what: str) -> np.ndarray:
    """``transform(x)`` checked: a finite numeric array (b, ...), 2-D or more, with one row per row of ``x``."""
    out = check_array(f"transform({what})", transform(x))
    if out.ndim < 2 or len(out) != len(x):
        raise ValueError(f"transform({what}): expected an array of {len(x)} row(s) (one per sample of the batch), "
                         f"2-D or more, got shape {out.shape}")
    return out


def check_step_options(transform: Any, max_steps: Any, eval_every_steps: Any, eval_batch_size: Any) -> None:
    """``fit``'s per-batch transform, step budget and step-wise evaluation options (each may be None)."""
    if transform is not None:
        check_callable("transform", transform)
    for name, value in (("max_steps", max_steps), ("eval_every_steps", eval_every_steps),
                        ("eval_batch_size", eval_batch_size)):
        if value is not None:
            check_positive_int(name, value)


def check_trainer_args(net: Any, optim: Any, net_cls: type, optim_cls: type) -> None:
    """``Trainer(net, optim)``: a network and an optimiser of this backend (``net_cls``/``optim_cls``), not names,
    strings or the other backend's objects; and a loss that is one number (``reduction="none"`` is refused)."""
    backend = net_cls.__module__.split(".")[0]
    for name, value, cls, what in (("net", net, net_cls, "a NeuralNetwork"),
                                   ("optim", optim, optim_cls, "an optimiser such as SGD(lr=0.01)")):
        if not isinstance(value, cls):
            origin = type(value).__module__.split(".")[0]
            hint = ": build the network and the optimiser from the same backend" if origin in (
                "scratch", "torch_impl") else ""
            raise TypeError(f"Trainer: {name}: expected {what} of the {backend} backend, got "
                            f"{type(value).__module__}.{type(value).__name__} {value!r:.60}{hint}")
    if getattr(net.loss, "reduction", None) == "none":  # a step differentiates one number: refuse, do not sum
        raise scalar_loss_needed(f"Trainer: the network's loss {net.loss!r}")


def check_fit_options(seed: Any, early_stopping: Any, progress: Any, log_grad_norm: Any) -> int:
    """``fit``'s seed and flags (a string flag such as ``"no"`` would otherwise count as True)."""
    check_flag("early_stopping", early_stopping)
    check_flag("progress", progress)
    check_flag("log_grad_norm", log_grad_norm)
    return check_seed("seed", seed)


@dataclass
class History:
    """What ``Trainer.fit`` returns: per-epoch training loss and learning rate, per-step training loss,
    evaluated losses, and how the run ended."""

    train_loss: list[float] = field(default_factory=list)  # mean batch loss of every epoch (its steps taken)
    lr: list[float] = field(default_factory=list)  # learning rate used in every epoch
    eval_epochs: list[int] = field(default_factory=list)  # 1-based epochs at which X_test was evaluated
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None  # evaluated epoch with the lowest validation loss
    best_val_loss: float | None = None
    stopped_epoch: int | None = None  # set when early stopping ended the run
    restored_epoch: int | None = None  # the epoch whose weights the network holds after early stopping
    # fit(log_grad_norm=True): the global gradient 2-norm (all parameters as one vector, before any clipping),
    # its mean and its maximum over each epoch's steps
    grad_norm: list[float] = field(default_factory=list)
    grad_norm_max: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)  # the batch loss of every optimiser step, in order
    eval_steps: list[int] = field(default_factory=list)  # optimiser steps taken at each evaluation
    best_step: int | None = None  # the step of the evaluation with the lowest validation loss
    # set when the run ended before the end of its last epoch: early stopping, or max_steps reached
    stopped_step: int | None = None
    restored_step: int | None = None  # the step whose weights the network holds after early stopping

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def finish(self) -> None:
        """Fill ``best_epoch``/``best_step``/``best_val_loss`` from the evaluations (the fit loop calls it at
        the end)."""
        if self.val_loss:
            i = int(np.nanargmin(self.val_loss)) if not np.isnan(self.val_loss).all() else 0
            self.best_epoch, self.best_val_loss = self.eval_epochs[i], self.val_loss[i]
            if len(self.eval_steps) == len(self.val_loss):
                self.best_step = self.eval_steps[i]


class EarlyStopping:
    """Stop when the validation loss does not improve on the best evaluated so far; keep the best weights.

    ``check(epoch, val_loss, state_dict, step)`` is called at every evaluation. An improvement stores a copy of
    the network's canonical state dict; anything else (a rise, a tie, NaN) returns True, and the Trainer loads
    ``best_state`` and stops. This is the book's rule (stop at the first evaluation that is not better), with
    what is restored stated plainly: the weights of the best *evaluated* epoch (and step), named in
    ``History.restored_epoch``/``restored_step`` and in the logged line.
    """

    def __init__(self) -> None:
        self.best_loss = float("inf")
        self.best_epoch: int | None = None
        self.best_step: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None

    def check(self, epoch: int, val_loss: float, state_dict: Callable[[], Mapping[str, np.ndarray]],
              step: int | None = None) -> bool:
        """Record an evaluation; True when training should stop and ``best_state`` be restored."""
        if val_loss < self.best_loss:
            self.best_loss, self.best_epoch, self.best_step = val_loss, epoch, step
            self.best_state = {k: np.array(v, copy=True) for k, v in state_dict().items()}
            return False
        return self.best_state is not None  # no finite loss yet: nothing to restore, keep going

    def stop(self, history: History, epoch: int, backend: str, step: int | None = None) -> str:
        """Record the stop in ``history``; log and return the line that says what happened. ``step``: the
        evaluations are every N steps, and the line names steps (with their epochs)."""
        history.stopped_epoch, history.restored_epoch = epoch, self.best_epoch
        history.restored_step = self.best_step
        if step is None:
            msg = (f"early stopping [{backend}]: validation loss {history.val_loss[-1]:.4f} at epoch {epoch} is "
                   f"not below the best, {self.best_loss:.4f} at epoch {self.best_epoch}; restored the weights of "
                   f"epoch {self.best_epoch}")
        else:
            msg = (f"early stopping [{backend}]: validation loss {history.val_loss[-1]:.4f} at step {step} (epoch "
                   f"{epoch}) is not below the best, {self.best_loss:.4f} at step {self.best_step} (epoch "
                   f"{self.best_epoch}); restored the weights of step {self.best_step}")
        logger.info(msg)
        return msg


def check_dropout(name: str, p: Any) -> float:
    """A drop probability must lie in [0, 1); the message says which convention dlfs uses."""
    try:
        return check_probability(name, p)
    except ValueError:
        raise ValueError(f"{name}: expected a drop probability in [0, 1), got {p} (dlfs's dropout=p drops each unit "
                         f"with probability p, as PyTorch; the book's keep-probability 0.8 is dropout=0.2)") from None


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: Any) -> np.ndarray:
    """The inverted-dropout mask: ``1 / (1 - p)`` where a unit is kept (probability 1 - p), 0 where dropped.

    Drawn as ``rng.random(shape) >= p`` (float64 uniforms whatever ``dtype``), so the scratch and the torch
    backend, holding generators with the same seed, multiply by bitwise identical masks. Shape: ``shape``.
    """
    dtype = np.dtype(dtype)
    keep = rng.random(shape) >= p
    return np.where(keep, dtype.type(1.0 / (1.0 - p)), dtype.type(0.0))
