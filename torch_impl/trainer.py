"""The ``Trainer``: an idiomatic PyTorch loop over a ``DataLoader`` whose batch sampler is dlfs's seeded
``BatchOrder``, so both backends see the same batches in the same order; checkpoints that resume a run exactly
(``dlfs.checkpoint``; the optimiser's state goes through ``torch.optim``'s and the scheduler's ``state_dict``), and
a guard that stops a diverging run naming the epoch, step and layer that went non-finite."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset
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
from torch_impl.dropout import MaskedDropout
from torch_impl.network import NeuralNetwork
from torch_impl.optimizers import Optimizer


def mask_streams(net: NeuralNetwork) -> list[np.random.Generator]:
    """The network's dropout mask streams, in layer order (a checkpoint saves their states). Each
    ``MaskedDropout``'s mask source is its ``Dropout`` layer's bound ``_mask``; that layer holds the generator."""
    owners = [getattr(m.mask_source, "__self__", None) for m in net.module.modules() if isinstance(m, MaskedDropout)]
    return [o.mask_rng for o in owners if getattr(o, "mask_rng", None) is not None]


def global_grad_norm(grads: list[torch.Tensor]) -> float:
    """The 2-norm of all parameter gradients taken as one vector (``clip_grad_norm_``'s total norm)."""
    return float(torch.nn.utils.get_total_norm(grads))


def _torch_rng() -> dict[str, np.ndarray]:
    return {"torch_rng_state": torch.get_rng_state().numpy()}


class Trainer:
    """Trains ``net`` with ``optim``."""

    def __init__(self, net: NeuralNetwork, optim: Optimizer) -> None:
        check_trainer_args(net, optim, NeuralNetwork, Optimizer)
        self.net, self.optim = net, optim
        optim.bind(net)

    def _targets(self, y: np.ndarray, out: np.ndarray) -> torch.Tensor:
        """``y`` as the loss's criterion takes it: int64 class indices for SoftmaxCrossEntropy (one-hot rows
        become their argmax), the network's float dtype for MSE. ``out`` is one output row, (1, ...)."""
        shape_like = torch.from_numpy(out).expand(len(y), *out.shape[1:])  # a view: the shape, no copy
        return self.net.loss._target(shape_like, y)

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
        batch-order and dropout streams, torch's RNG state, history, early stopping's best) is saved atomically to
        ``checkpoint_dir/checkpoint.npz`` every ``checkpoint_every`` epochs and at the end (``dlfs.checkpoint``).
        ``resume=True``, with the same arguments as the interrupted run, continues from that checkpoint and ends
        with the parameters of an uninterrupted run. A non-finite loss, or weights an update made non-finite,
        raise ``TrainingDiverged`` naming the epoch, step and first non-finite layer. ``log_grad_norm`` records the
        global gradient norm (mean and max over each epoch's steps) in ``History.grad_norm``/``grad_norm_max``.
        """
        seed = check_fit_options(seed, early_stopping, progress, log_grad_norm)
        X_train, y_train, X_test, y_test = check_fit_args(
            self.net, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size, early_stopping)
        check_checkpoint_args(checkpoint_dir, checkpoint_every, resume)
        net, loss_fn = self.net, self.net.loss
        X_t = net.tensor("X_train", X_train)
        out = net.forward(X_train[:1], training=False)  # built by check_fit_args; one row gives the output shape
        self.optim.setup_decay(epochs)
        opt = self.optim._ensure()
        params = list(net.module.parameters())  # listed once: walking the modules costs ~30 us a step
        order = BatchOrder(len(X_t), batch_size, seed)
        # batch_size=None: the sampler yields whole index batches and TensorDataset gathers each with one
        # tensor index (no per-sample __getitem__ and collate, which dominate an epoch on small data)
        loader = DataLoader(TensorDataset(X_t, self._targets(y_train, out)), sampler=order, batch_size=None)
        history, stopper, start, step = History(), EarlyStopping(), 0, 0
        saver = Checkpointer(checkpoint_dir, checkpoint_every, "torch", net, self.optim, order, mask_streams(net),
                             fit_config(X_train, net.dtype, epochs, eval_every, batch_size, seed, early_stopping),
                             extra=_torch_rng)
        if resume:
            ckpt = saver.restore(stopper)
            start, step, history = ckpt.epoch, ckpt.step, History(**ckpt.history)
            if "torch_rng_state" in ckpt.extra:  # absent when the scratch backend wrote the checkpoint
                torch.set_rng_state(torch.from_numpy(ckpt.extra["torch_rng_state"]))
        first = start + 1 if history.stopped_epoch is None else epochs + 1  # an early-stopped run is finished
        # one tick per batch, so a long epoch (one epoch of the chapter 5 CNN) still shows progress
        bar: Any = tqdm(total=max(0, epochs + 1 - first) * len(order), desc="torch", unit="batch",
                        disable=not progress, leave=False)
        for epoch in range(first, epochs + 1):
            bar.set_postfix_str(f"epoch {epoch}/{epochs}", refresh=False)
            history.lr.append(float(opt.param_groups[0]["lr"]))
            net.module.train()
            losses, norms = [], []
            for xb, yb in loader:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn.criterion(net.module(xb), yb)
                loss.backward()
                step += 1
                value = float(loss.detach())
                if not math.isfinite(value):  # one scalar test per step; the culprit is looked up only on failure
                    raise diverged(epoch, step, value, net.state_dict(), net.grad_dict())
                if log_grad_norm:
                    norms.append(global_grad_norm([p.grad for p in params if p.grad is not None]))
                opt.step()
                losses.append(value)
                bar.update()
            if not all(bool(torch.isfinite(p).all()) for p in params):  # the epoch's last update: never save NaN
                raise diverged(epoch, step, None, net.state_dict(), net.grad_dict())
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
                if early_stopping and stopper.check(epoch, history.val_loss[-1], net.state_dict):
                    net.load_state_dict(stopper.best_state)  # the canonical state dict, copied at that epoch
                    tqdm.write(stopper.stop(history, epoch, "torch"))
                    stop = True
            if saver.due(epoch, last=stop or epoch == epochs):
                saver.save(epoch, step, history, stopper)
            if stop:
                break
        bar.close()
        history.finish()
        return history
