"""Optimisers: ``torch.optim`` with ``torch.optim.lr_scheduler`` for the per-epoch decay."""

from __future__ import annotations

import torch

from dlfs.training import check_decay
from torch_impl.network import NeuralNetwork


class Optimizer:
    """Base: builds the ``torch.optim`` optimiser (``self.torch_optimizer``) once the network has parameters,
    and a scheduler that moves the learning rate from ``lr`` to ``final_lr`` over the epochs."""

    def __init__(self, lr: float = 0.01, final_lr: float | None = None, decay_type: str | None = None) -> None:
        check_decay(lr, final_lr, decay_type)
        self.lr, self.first_lr, self.final_lr, self.decay_type = lr, lr, final_lr, decay_type
        self.net: NeuralNetwork | None = None
        self.torch_optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self._epochs = 1

    def bind(self, net: NeuralNetwork) -> None:
        self.net = net
        self.torch_optimizer = None

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def _ensure(self) -> torch.optim.Optimizer:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.step: call bind(net) first (the Trainer does)")
        if self.torch_optimizer is None:
            if not self.net._built:
                raise RuntimeError(f"{type(self).__name__}: the network has no parameters yet (run a batch first)")
            self.torch_optimizer = self._make(list(self.net.module.parameters()))
            self._make_scheduler()
        return self.torch_optimizer

    def _make_scheduler(self) -> None:
        opt, E = self.torch_optimizer, self._epochs
        if self.decay_type is None or E == 1:
            self.scheduler = None
        elif self.decay_type == "linear":
            self.scheduler = torch.optim.lr_scheduler.LinearLR(
                opt, start_factor=1.0, end_factor=self.final_lr / self.first_lr, total_iters=E - 1)
        else:
            gamma = (self.final_lr / self.first_lr) ** (1.0 / (E - 1))
            self.scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)

    def setup_decay(self, epochs: int) -> None:
        """Called by the Trainer before training: the schedule covers ``epochs`` epochs."""
        self._epochs = epochs
        self.lr = self.first_lr
        if self.torch_optimizer is not None:
            for group in self.torch_optimizer.param_groups:
                group["lr"] = self.first_lr
                group.pop("initial_lr", None)
            self._make_scheduler()

    def end_epoch(self) -> None:
        if self.scheduler is not None:
            self.scheduler.step()
            self.lr = float(self.torch_optimizer.param_groups[0]["lr"])

    def step(self) -> None:
        self._ensure().step()


class SGD(Optimizer):
    """``torch.optim.SGD``: ``p -= lr * g``."""

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.lr)
