"""The training loop of both Trainers (chapter 3's ``Trainer.fit``), written once.

``FitLoop.fit`` owns everything around the optimiser step: the epochs and the optional step budget, the
evaluation cadence (every N epochs or every N steps), early stopping, checkpoints and resume
(``dlfs.checkpoint``), the divergence guard, gradient-norm logging, the per-step losses and the tqdm bar.
A backend's ``Trainer`` subclasses it and supplies only what differs between NumPy and PyTorch:

==========================  ======================================================================
``_batches``                one epoch of (x, y) mini-batches per iteration, in ``BatchOrder``'s order
``_forward_backward``       forward, loss and backward on one batch; returns the loss as a float
``_update``                 the optimiser's step
``_train_mode``             put the network in training mode (after an evaluation)
``_loss_on``                the loss on one batch in inference mode
``_lr``                     the learning rate in use
``_params_finite``          whether every weight is finite
``_grad_norm``              the global gradient 2-norm of the last backward
``_mask_streams``           the dropout mask streams a checkpoint saves
``_rng_extra``, ``_restore_rng_extra``  backend random state a checkpoint saves (torch's RNG)
``_agreed``                 an evaluated loss, the same on every process (data-parallel training)
``_check_start``            every process starts from the same point (data-parallel training)
``_finish``                 the run is over and its last checkpoint written (data-parallel: a barrier)
==========================  ======================================================================

``distributed=True`` (the torch backend only; ``docs/distributed.md``) trains one process per rank under
``torchrun``: only the process whose ``is_main_process`` is True writes checkpoints, shows the progress bar and
prints early stopping's line; every process evaluates and decides alike.

This module imports no backend: the Trainers stand on it, not it on them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from dlfs.checkpoint import Checkpointer, check_checkpoint_args, fit_config
from dlfs.checkpoint_dir import prepare_checkpoint_dir
from dlfs.errors import check_flag, naming_the_layer
from dlfs.fingerprint import data_fingerprint
from dlfs.training import (
    BatchOrder,
    EarlyStopping,
    History,
    check_eval_rows,
    check_fit_args,
    check_fit_options,
    check_step_options,
    check_trainer_args,
    diverged,
    grown,
    growth_limit,
)

Transform = Callable[[np.ndarray], Any]


class FitLoop:
    """Trains ``net`` with ``optim``: the loop; a backend's ``Trainer`` supplies the step (see the module)."""

    backend = ""  # "scratch" or "torch": the bar's label, the checkpoint's writer, early stopping's log line
    network_class: type = object  # the backend's NeuralNetwork and Optimizer, which Trainer(...) checks for
    optimizer_class: type = object

    def __init__(self, net: Any, optim: Any, distributed: bool = False) -> None:
        check_trainer_args(net, optim, self.network_class, self.optimizer_class)
        self.distributed = check_flag("distributed", distributed)
        self.net, self.optim = net, optim
        # the process that writes checkpoints and shows progress: the only one, or rank 0 of a distributed run
        self.is_main_process = True
        self.world_size = 1  # processes training together (a distributed run's ranks)
        optim.bind(net)

    # --- what a backend supplies ----------------------------------------------------------------------------
    def _batches(self, X: np.ndarray, y: np.ndarray, order: BatchOrder,
                 transform: Transform | None) -> Iterable[tuple[Any, Any]]:
        """An iterable giving one epoch of (x, y) batches, in ``order``, each time it is iterated."""
        raise NotImplementedError

    def _forward_backward(self, xb: Any, yb: Any) -> float:
        raise NotImplementedError

    def _update(self) -> None:
        raise NotImplementedError

    def _train_mode(self) -> None:
        """Training mode for the steps that follow (nothing to do where ``forward`` takes ``training``)."""

    def _loss_on(self, X: Any, y: np.ndarray) -> float:
        raise NotImplementedError

    def _lr(self) -> float:
        raise NotImplementedError

    def _params_finite(self) -> bool:
        raise NotImplementedError

    def _grad_norm(self) -> float:
        raise NotImplementedError

    def _mask_streams(self) -> Sequence[np.random.Generator]:
        raise NotImplementedError

    def _rng_extra(self) -> dict[str, np.ndarray]:
        return {}

    def _restore_rng_extra(self, extra: dict[str, np.ndarray]) -> None:
        """Restore what ``_rng_extra`` saved (absent when the other backend wrote the checkpoint)."""

    def _agreed(self, loss: float) -> float:
        """An evaluated loss as every process of the run sees it (one process: itself)."""
        return loss

    def _check_start(self, config: dict[str, Any], epoch: int, step: int) -> None:
        """Raise when the processes of a run would not start from the same point (one process: nothing)."""

    def _finish(self) -> None:
        """The run is over and its last checkpoint written (one process: nothing to wait for)."""

    def _naming_the_layer(self, what: str) -> AbstractContextManager[None]:
        """An out-of-memory in the body (``dlfs.errors.is_out_of_memory``) as a ``LayerMemoryError`` naming the
        network's layer."""
        layers = list(self.net.layers)
        return naming_the_layer(what, layers, [getattr(layer, "module", None) for layer in layers])

    # --- the shared interface -------------------------------------------------------------------------------
    def evaluate(self, X: np.ndarray, y: np.ndarray, transform: Transform | None = None,
                 batch_size: int | None = None) -> float:
        """The loss on (X, y) in inference mode (no dropout).

        Shapes: X (n, ...) as stored, y (n, ...). ``transform`` maps each batch of X to the network's input
        (as in ``fit``); ``batch_size`` evaluates ``batch_size`` samples at a time and returns the mean over
        all n (each batch's loss weighted by its rows, so it equals the whole set's loss up to rounding).
        With neither, the whole set goes through the network at once.
        """
        check_eval_rows("evaluate", X)
        step = len(X) if batch_size is None else batch_size
        losses, rows = [], []
        for s in range(0, len(X), step):
            x = X[s:s + step] if step < len(X) else X
            with self._naming_the_layer("an evaluation"):
                losses.append(self._loss_on(x if transform is None else transform(x),
                                            y[s:s + step] if step < len(X) else y))
            rows.append(len(x))
        if len(losses) == 1:
            return losses[0]
        return float(np.dot(losses, rows) / len(X))

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
        transform: Transform | None = None,
        max_steps: int | None = None,
        eval_every_steps: int | None = None,
        eval_batch_size: int | None = None,
        overwrite_checkpoint: bool = False,
    ) -> History:
        """Train for ``epochs`` epochs of mini-batches of ``batch_size`` in the order ``BatchOrder(seed)`` gives.

        Shapes: X_train (n, ...), y_train (n, ...): (n, out) for MeanSquaredError; for SoftmaxCrossEntropy
        (n,) labels or (n, C) one-hot, or per position (n, T) / (n, T, C) for a sequence model's (n, T, C)
        logits. Every ``eval_every`` epochs (and after the last) the loss on (X_test, y_test) is recorded.
        With ``early_stopping``, the first evaluation that does not improve on the best so far ends training
        and the weights of the best evaluation are restored (see ``dlfs.training.EarlyStopping``). Returns the
        ``History``: per epoch ``train_loss`` (mean batch loss) and ``lr``; per step ``step_loss``; per
        evaluation ``eval_epochs``, ``eval_steps`` and ``val_loss``.

        ``transform``: a function applied to every mini-batch of X (train and test) just before the forward
        pass, ``transform(X[idx]) -> network input`` with one row per sample, NumPy in and out, the same
        function for both backends (torchvision datasets' ``transform``, but per batch: the one-hot encoding
        of character ids, which would not fit in memory for a whole text). X is then kept as given (integer
        ids, say); the torch side applies it in its ``DataLoader``'s dataset.

        ``max_steps``: a budget in optimiser steps. Training stops after ``max_steps`` steps or ``epochs``
        epochs, whichever comes first, usually mid-epoch: that partial epoch counts as the run's last (its
        mean loss in ``train_loss``, its evaluation, its checkpoint; the learning-rate schedule is not
        advanced past it), and ``History.stopped_step`` says where the budget ended the run.

        ``eval_every_steps``: evaluate every ``eval_every_steps`` optimiser steps (and after the run's last
        step) instead of every ``eval_every`` epochs, which is then ignored; early stopping works at these
        evaluations too and then names steps. ``eval_batch_size``: evaluate X_test this many samples at a
        time (default: all at once), as ``evaluate(X, y, transform, batch_size)``.

        With ``checkpoint_dir``, everything training depends on (weights, optimiser state, schedule position,
        batch-order and dropout streams, torch's RNG state in the torch backend, history, early stopping's
        best) is saved atomically to ``checkpoint_dir/checkpoint.npz`` every ``checkpoint_every`` epochs and
        when the run ends (``dlfs.checkpoint``). ``resume=True``, with the same arguments as the interrupted
        run, continues from that checkpoint and ends with the parameters of an uninterrupted run. In a
        distributed run only the main process (rank 0) writes the checkpoint and every process resumes from
        it (a directory they all read). A run that early stopping or ``max_steps`` ended is finished:
        resuming it trains nothing, and asking it for more steps than the budget that ended it is refused. A
        non-finite loss, or weights an update made non-finite, raise ``TrainingDiverged`` naming the epoch,
        step and first non-finite layer; so does a finite step loss that has grown by orders of magnitude
        (``dlfs.training.grown``: more than 1e4 times the smallest step loss so far and 10 times the first).
        A fresh run (``resume=False``) refuses a ``checkpoint_dir`` that already holds a checkpoint unless
        ``overwrite_checkpoint=True`` (the run's first save then replaces it, atomically); the directory is
        created and checked writable before the first epoch; a checkpoint records a fingerprint of X_train and
        y_train, and a resume on other data is refused.
        ``log_grad_norm`` records the global gradient norm (mean and max over each epoch's steps) in
        ``History.grad_norm``/``grad_norm_max``.
        """
        seed = check_fit_options(seed, early_stopping, progress, log_grad_norm)
        check_step_options(transform, max_steps, eval_every_steps, eval_batch_size)
        X_train, y_train, X_test, y_test = check_fit_args(
            self.net, X_train, y_train, X_test, y_test, epochs, eval_every, batch_size, early_stopping, transform)
        check_checkpoint_args(checkpoint_dir, checkpoint_every, resume, overwrite_checkpoint)
        self.optim.setup_decay(epochs)
        order = BatchOrder(len(X_train), batch_size, seed)
        batches = self._batches(X_train, y_train, order, transform)
        data = None if checkpoint_dir is None else data_fingerprint(X_train, y_train)
        config = fit_config(X_train, self.net.dtype, epochs, eval_every, batch_size, seed, early_stopping,
                            max_steps, eval_every_steps, data)
        saver = Checkpointer(checkpoint_dir, checkpoint_every, self.backend, self.net, self.optim, order,
                             self._mask_streams(), config, extra=self._rng_extra)
        history, stopper, start, step = History(), EarlyStopping(), 0, 0
        if resume:
            ckpt = saver.restore(stopper)
            start, step, history = ckpt.epoch, ckpt.step, History(**ckpt.history)
            self._restore_rng_extra(ckpt.extra)
        if checkpoint_dir is not None:  # before any epoch: another run's checkpoint, an unwritable place
            prepare_checkpoint_dir(checkpoint_dir, resume, overwrite_checkpoint, write_probe=self.is_main_process)
        # the growth rule's reference losses (dlfs.training.grown); restored from the history on resume, so a
        # resumed run decides exactly as the uninterrupted one
        first = history.step_loss[0] if history.step_loss else None
        smallest = min(history.step_loss) if history.step_loss else math.inf
        limit = growth_limit(first, smallest) if first is not None else math.inf
        self._check_start(config, start, step)
        finished = history.stopped_epoch is not None or history.stopped_step is not None
        last_step = epochs * len(order) if max_steps is None else min(max_steps, epochs * len(order))

        def validate(epoch: int) -> bool:
            """Evaluate on (X_test, y_test); True when early stopping ends the run here."""
            history.eval_epochs.append(epoch)
            history.eval_steps.append(step)
            history.val_loss.append(self._agreed(self.evaluate(X_test, y_test, transform, eval_batch_size)))
            bar.set_postfix_str(f"epoch {epoch}/{epochs}, step {step}, val_loss {history.val_loss[-1]:.4f}")
            if early_stopping and stopper.check(epoch, history.val_loss[-1], self.net.state_dict, step):
                self.net.load_state_dict(stopper.best_state)  # the canonical state dict, copied then
                line = stopper.stop(history, epoch, self.backend, step if eval_every_steps else None)
                if self.is_main_process:
                    tqdm.write(line)
                return True
            return False

        # one tick per batch, so a long epoch (one epoch of the chapter 5 CNN) still shows progress
        bar: Any = tqdm(total=0 if finished else max(0, last_step - step), desc=self.backend, unit="batch",
                        disable=not progress or not self.is_main_process, leave=False)
        training_step = self._naming_the_layer("a training step")  # torch calls its modules directly
        for epoch in range(epochs + 1 if finished else start + 1, epochs + 1):
            bar.set_postfix_str(f"epoch {epoch}/{epochs}", refresh=False)
            history.lr.append(self._lr())
            self._train_mode()
            losses, norms, stop = [], [], False
            for xb, yb in batches:
                with training_step:
                    loss = self._forward_backward(xb, yb)
                step += 1
                if not math.isfinite(loss):  # one scalar test per step; the culprit is looked up only on failure
                    raise diverged(epoch, step, loss, self.net.state_dict(), self.net.grad_dict())
                if loss > limit:  # orders of magnitude above the run's losses so far: diverging, if still finite
                    raise grown(epoch, step, loss, first, smallest, self.net.state_dict(), self.net.grad_dict())
                if first is None or loss < smallest:
                    first = loss if first is None else first
                    smallest = min(smallest, loss)
                    limit = growth_limit(first, smallest)
                if log_grad_norm:
                    norms.append(self._grad_norm())
                self._update()
                losses.append(loss)
                bar.update()
                if eval_every_steps and X_test is not None and (step % eval_every_steps == 0 or step == last_step):
                    stop = validate(epoch)
                    self._train_mode()
                if stop or step == last_step:
                    break
            if not self._params_finite():  # the epoch's last update: never save NaN
                raise diverged(epoch, step, None, self.net.state_dict(), self.net.grad_dict())
            history.train_loss.append(float(np.mean(losses)))
            history.step_loss.extend(losses)
            if log_grad_norm:
                history.grad_norm.append(float(np.mean(norms)))
                history.grad_norm_max.append(max(norms))
            cut = len(losses) < len(order)  # the step budget or early stopping ended the epoch early
            if not cut:
                self.optim.end_epoch()
            ended = stop or step == last_step
            if not eval_every_steps and X_test is not None and (epoch % eval_every == 0 or ended):
                stop = validate(epoch)
                ended = ended or stop
            if ended and (cut or epoch < epochs):
                history.stopped_step = step
            if self.is_main_process and saver.due(epoch, last=ended or epoch == epochs):
                saver.save(epoch, step, history, stopper)
            if ended:
                break
        bar.close()
        self._finish()
        history.finish()
        return history
