"""The ``Trainer``: an idiomatic PyTorch loop over a ``DataLoader`` whose batch sampler is dlfs's seeded
``BatchOrder``, so both backends see the same batches in the same order."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from dlfs.training import BatchOrder, History, check_fit_args
from torch_impl.base import to_tensor
from torch_impl.network import NeuralNetwork
from torch_impl.optimizers import Optimizer


class Trainer:
    """Trains ``net`` with ``optim``."""

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        self.net, self.optim = net, optim
        optim.bind(net)

    def _labels(self, y: np.ndarray) -> torch.Tensor:
        # float targets follow the network's dtype; integer class labels stay int64 (what CrossEntropyLoss takes)
        if np.issubdtype(y.dtype, np.floating):
            return to_tensor(y, self.net.torch_dtype)
        return to_tensor(y.astype(np.int64, copy=False))

    def evaluate(self, X: np.ndarray, y: np.ndarray) -> float:
        """The loss on (X, y) in inference mode (no dropout)."""
        self.net.module.eval()
        with torch.no_grad():
            prediction = self.net.module(self.net.tensor("X", X))
            return float(self.net.loss.criterion(prediction, self.net.loss._target(prediction, y)))

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
        net, loss_fn = self.net, self.net.loss
        X_t = net.tensor("X_train", X_train)
        net.forward(X_train[:1], training=False)  # builds the parameters and checks the input shape
        loss_fn.forward(net.forward(X_train[:1], training=False), y_train[:1])  # checks the targets
        self.optim.setup_decay(epochs)
        opt = self.optim._ensure()
        order = BatchOrder(len(X_t), batch_size, seed)
        loader = DataLoader(TensorDataset(X_t, self._labels(y_train)), batch_sampler=order)
        history = History()
        bar: Any = tqdm(range(1, epochs + 1), desc="torch", disable=not progress, leave=False)
        for epoch in bar:
            history.lr.append(float(opt.param_groups[0]["lr"]))
            net.module.train()
            losses = []
            for xb, yb in loader:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn.criterion(net.module(xb), yb)
                loss.backward()
                opt.step()
                losses.append(float(loss.detach()))
            history.train_loss.append(float(np.mean(losses)))
            self.optim.end_epoch()
            if X_test is not None and (epoch % eval_every == 0 or epoch == epochs):
                history.eval_epochs.append(epoch)
                history.val_loss.append(self.evaluate(X_test, y_test))
                bar.set_postfix(val_loss=f"{history.val_loss[-1]:.4f}")
        if history.val_loss:
            history.best_epoch = history.eval_epochs[int(np.argmin(history.val_loss))]
        return history
