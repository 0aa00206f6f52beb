"""What both Trainers share: the seeded batch order, the learning-rate schedule, argument checks and the
training history. The loops themselves live in each backend (``scratch/trainer.py``, ``torch_impl/trainer.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dlfs.errors import check_array, check_choice, check_positive_int, check_same_length

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

    def __iter__(self) -> Iterator[list[int]]:
        perm = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            yield perm[start : start + self.batch_size].tolist()

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def check_decay(lr: float, final_lr: float | None, decay_type: str | None) -> None:
    """Validate an optimiser's learning rate and decay arguments (shared by both backends)."""
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
        raise ValueError(f"final_lr: expected 0 < final_lr <= lr={lr} for decay_type={decay_type!r}, got {final_lr}")


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
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Validate ``Trainer.fit``'s arguments; return the arrays as NumPy."""
    X_train = check_array("X_train", X_train, ndim=None)
    y_train = check_array("y_train", y_train, ndim=None)
    if X_train.ndim < 2:
        raise ValueError(f"X_train: expected a 2-D (samples, features) array or more, got {X_train.ndim}-D "
                         f"shape {X_train.shape} (reshape a single feature with X.reshape(-1, 1))")
    check_same_length("X_train", X_train, "y_train", y_train)
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test: pass both or neither")
    if X_test is not None:
        X_test = check_array("X_test", X_test, ndim=X_train.ndim)
        y_test = check_array("y_test", y_test, ndim=y_train.ndim)
        check_same_length("X_test", X_test, "y_test", y_test)
        if X_test.shape[1:] != X_train.shape[1:]:
            raise ValueError(f"X_test: expected samples of shape {X_train.shape[1:]} like X_train, "
                             f"got {X_test.shape[1:]}")
    check_positive_int("epochs", epochs)
    check_positive_int("eval_every", eval_every)
    check_positive_int("batch_size", batch_size, maximum=len(X_train), max_name="number of training samples")
    # one sample through the network and the loss: a wrong input width or target shape fails here, clearly,
    # before any training (and in the torch backend this builds the parameters the optimiser needs)
    net.loss.forward(net.forward(X_train[:1], training=False), y_train[:1])
    return X_train, y_train, X_test, y_test


@dataclass
class History:
    """What ``Trainer.fit`` returns: per-epoch training loss and learning rate, evaluated losses."""

    train_loss: list[float] = field(default_factory=list)  # mean batch loss of every epoch
    lr: list[float] = field(default_factory=list)  # learning rate used in every epoch
    eval_epochs: list[int] = field(default_factory=list)  # 1-based epochs at which X_test was evaluated
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None  # evaluated epoch with the lowest validation loss
    stopped_epoch: int | None = None  # set when early stopping ended the run
    restored_epoch: int | None = None  # the epoch whose weights the network holds after early stopping

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
