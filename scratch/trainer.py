"""The ``Trainer`` (chapter 3): batches from ``dlfs``'s seeded order, an optimiser step per batch,
evaluation every ``eval_every`` epochs; checkpoints that resume a run exactly (``dlfs.checkpoint``), and a guard
that stops a diverging run naming the epoch, step and layer that went non-finite."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dlfs.checkpoint import Checkpointer, check_checkpoint_args, fit_config
from dlfs.training import (
    BatchOrder,
    EarlyStopping,
    History,
    check_fit_args,
    check_fit_options,
    check_trainer_args,
    diverged,
)
from scratch.dropout import Dropout
from scratch.network import NeuralNetwork
from scratch.optimizers import Optimizer


def mask_streams(net: NeuralNetwork) -> list[np.random.Generator]:
    """The network's dropout mask streams, in layer order (a checkpoint saves their states)."""
    return [op.mask_rng for layer in net.layers for op in getattr(layer, "operations", [layer])
            if isinstance(op, Dropout) and op.mask_rng is not None]


def global_grad_norm(grads: list[np.ndarray]) -> float:
    """The 2-norm of all parameter gradients taken as one vector (``clip_grad_norm``'s total norm)."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads))


class Trainer:
    """Trains ``net`` with ``optim``."""

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        check_trainer_args(net, optim, NeuralNetwork, Optimizer)
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
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        resume: bool = False,
        log_grad_norm: bool = False,
    ) -> History:
        """Train for ``epochs`` epochs of mini-batches of ``batch_size`` in the order ``BatchOrder(seed)`` gives.

        Shapes: X_train (n, ...), y_train (n, ...). Every ``eval_every`` epochs (and after the last) the loss
        on (X_test, y_test) is recorded. With ``early_stopping``, the first evaluation that does not improve on
        the best so far ends training and the weights of the best evaluated epoch are restored (see
        ``dlfs.training.EarlyStopping``). Returns the ``History``.

        With ``checkpoint_dir``, everything training depends on (weights, optimiser state, schedule position,
        batch-order and dropout streams, history, early stopping's best) is saved atomically to
        ``checkpoint_dir/checkpoint.npz`` every ``checkpoint_every`` epochs and at the end (``dlfs.checkpoint``).
        ``resume=True``, with the same arguments as the interrupted run, continues from that checkpoint and ends
        with bit-identical parameters. A non-finite loss, or weights an update made non-finite, raise
        ``TrainingDiverged`` naming the epoch, step and first non-finite layer. ``log_grad_norm`` records the
        global gradient norm (mean and max over each epoch's steps) in ``History.grad_norm``/``grad_norm_max``.
        """
        seed = check_fit_options(seed, early_stopping, progress, log_grad_norm)
        X_train, y_train, X_test, y_test = check_fit_args(
            self.net, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size, early_stopping)
        check_checkpoint_args(checkpoint_dir, checkpoint_every, resume)
        X_train = X_train.astype(self.net.dtype, copy=False)
        self.optim.setup_decay(epochs)
        order = BatchOrder(len(X_train), batch_size, seed)
        history, stopper, start, step = History(), EarlyStopping(), 0, 0
        saver = Checkpointer(checkpoint_dir, checkpoint_every, "scratch", self.net, self.optim, order,
                             mask_streams(self.net),
                             fit_config(X_train, self.net.dtype, epochs, eval_every, batch_size, seed, early_stopping))
        if resume:
            ckpt = saver.restore(stopper)
            start, step, history = ckpt.epoch, ckpt.step, History(**ckpt.history)
        first = start + 1 if history.stopped_epoch is None else epochs + 1  # an early-stopped run is finished
        # one tick per batch, so a long epoch (one epoch of the chapter 5 CNN) still shows progress
        bar: Any = tqdm(total=max(0, epochs + 1 - first) * len(order), desc="scratch", unit="batch",
                        disable=not progress, leave=False)
        for epoch in range(first, epochs + 1):
            bar.set_postfix_str(f"epoch {epoch}/{epochs}", refresh=False)
            history.lr.append(self.optim.lr)
            losses, norms = [], []
            for idx in order:
                loss = self.net.train_batch(X_train[idx], y_train[idx])
                step += 1
                if not math.isfinite(loss):  # one scalar test per step; the culprit is looked up only on failure
                    raise diverged(epoch, step, loss, self.net.state_dict(), self.net.grad_dict())
                if log_grad_norm:
                    norms.append(global_grad_norm(self.net.param_grads()))
                self.optim.step()
                losses.append(loss)
                bar.update()
            if not all(np.isfinite(p).all() for p in self.net.params()):  # the epoch's last update: never save NaN
                raise diverged(epoch, step, None, self.net.state_dict(), self.net.grad_dict())
            history.train_loss.append(float(np.mean(losses)))
            if log_grad_norm:
                history.grad_norm.append(float(np.mean(norms)))
                history.grad_norm_max.append(max(norms))
            self.optim.end_epoch()
            stop = False
            if X_test is not None and (epoch % eval_every == 0 or epoch == epochs):
                history.eval_epochs.append(epoch)
                history.val_loss.append(self.evaluate(X_test, y_test))
                bar.set_postfix_str(f"epoch {epoch}/{epochs}, val_loss {history.val_loss[-1]:.4f}")
                if early_stopping and stopper.check(epoch, history.val_loss[-1], self.net.state_dict):
                    self.net.load_state_dict(stopper.best_state)  # the canonical state dict, copied at that epoch
                    tqdm.write(stopper.stop(history, epoch, "scratch"))
                    stop = True
            if saver.due(epoch, last=stop or epoch == epochs):
                saver.save(epoch, step, history, stopper)
            if stop:
                break
        bar.close()
        history.finish()
        return history
