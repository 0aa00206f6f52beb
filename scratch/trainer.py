"""The ``Trainer`` (chapter 3): batches from ``dlfs``'s seeded order, an optimiser step per batch,
evaluation every ``eval_every`` epochs."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dlfs.training import BatchOrder, History, check_fit_args
from scratch.network import NeuralNetwork
from scratch.optimizers import Optimizer


class Trainer:
    """Trains ``net`` with ``optim``."""

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        self.net, self.optim = net, optim
        optim.bind(net)

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> float:
        """The loss on (X, y) in inference mode (no dropout)."""
        return self.net.loss.forward(self.net.forward(X, training=False), y)

    def fit(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        X_test: np.ndarray | None = None,
        y_test: np.ndarray | None = None,
        epochs: int = 100,
        eval_every: int = 10,
        batch_size: int = 32,
        seed: int = 1,
        early_stopping: bool = False,
        progress: bool = False,
    ) -> History:
        """Train for ``epochs`` epochs of mini-batches of ``batch_size`` in the order ``BatchOrder(seed)`` gives.

        Shapes: X_train (n, ...), y_train (n, ...). Every ``eval_every`` epochs (and after the last) the loss
        on (X_test, y_test) is recorded. Returns the ``History``.
        """
        X_train, y_train, X_test, y_test = check_fit_args(
            self.net, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size)
        X_train = X_train.astype(self.net.dtype, copy=False)
        self.optim.setup_decay(epochs)
        order = BatchOrder(len(X_train), batch_size, seed)
        history = History()
        bar: Any = tqdm(range(1, epochs + 1), desc="scratch", disable=not progress, leave=False)
        for epoch in bar:
            history.lr.append(self.optim.lr)
            losses = []
            for idx in order:
                losses.append(self.net.train_batch(X_train[idx], y_train[idx]))
                self.optim.step()
            history.train_loss.append(float(np.mean(losses)))
            self.optim.end_epoch()
            if X_test is not None and (epoch % eval_every == 0 or epoch == epochs):
                history.eval_epochs.append(epoch)
                history.val_loss.append(self.evaluate(X_test, y_test))
                bar.set_postfix(val_loss=f"{history.val_loss[-1]:.4f}")
        if history.val_loss:
            history.best_epoch = history.eval_epochs[int(np.argmin(history.val_loss))]
        return history
