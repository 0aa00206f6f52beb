"""Optimisers (chapters 3-4): plain SGD with optional per-epoch learning-rate decay."""

from __future__ import annotations

import numpy as np

from dlfs.training import check_decay, lr_schedule
from scratch.network import NeuralNetwork


class Optimizer:
    """Base: holds the learning rate and its per-epoch schedule from ``lr`` to ``final_lr``."""

    def __init__(self, lr: float = 0.01, final_lr: float | None = None, decay_type: str | None = None) -> None:
        check_decay(lr, final_lr, decay_type)
        self.lr, self.first_lr, self.final_lr, self.decay_type = lr, lr, final_lr, decay_type
        self.net: NeuralNetwork | None = None
        self._lrs = np.array([lr])
        self.epoch = 0

    def bind(self, net: NeuralNetwork) -> None:
        self.net = net

    def setup_decay(self, epochs: int) -> None:
        """Called by the Trainer before training: the schedule covers ``epochs`` epochs."""
        self._lrs = lr_schedule(self.first_lr, self.final_lr, self.decay_type, epochs)
        self.epoch = 0
        self.lr = float(self._lrs[0])

    def end_epoch(self) -> None:
        self.epoch += 1
        self.lr = float(self._lrs[min(self.epoch, len(self._lrs) - 1)])

    def step(self) -> None:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.step: call bind(net) first (the Trainer does)")
        for i, (param, grad) in enumerate(zip(self.net.params(), self.net.param_grads())):
            self._update_rule(i, param, grad)

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: ``p -= lr * g`` (in place, so the layers see the update)."""

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        param -= self.lr * grad
