"""Optimisers: ``torch.optim.SGD`` (with and without momentum) and ``torch.optim.lr_scheduler`` for
the per-epoch decay."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch

from dlfs.checkpoint import check_optimizer_state
from dlfs.training import check_decay, check_momentum, unscheduled_decay
from torch_impl.network import NeuralNetwork


def _layers_with_params(net: NeuralNetwork) -> Iterator[tuple[int, Any, list[torch.nn.Parameter]]]:
    for i, layer in enumerate(net.layers):
        params = list(layer.module.parameters())
        if params:
            yield i, layer, params


def canonical_buffers(net: NeuralNetwork,
                      buffers: Mapping[torch.Tensor, torch.Tensor]) -> dict[str, np.ndarray]:
    """An optimiser's per-parameter tensors (``parameter -> tensor`` shaped like it; a parameter
    without one, such as a frozen ``bias_hh``, counts as zeros) in the canonical layout, keyed like
    ``net.state_dict()``.

    The layout conversion is each layer's own ``state_dict`` (transposes, gate blocks): the buffer
    is copied where the parameter lives, read back canonically, and the parameter restored.
    """
    out = {}
    with torch.no_grad():
        for i, layer, params in _layers_with_params(net):
            saved = [p.detach().clone() for p in params]
            try:
                for p in params:
                    p.copy_(buffers[p] if p in buffers else torch.zeros_like(p))
                out.update({f"layers.{i}.{k}": v for k, v in layer.state_dict().items()})
            finally:
                for p, s in zip(params, saved):
                    p.copy_(s)
    return out


def buffers_from_canonical(net: NeuralNetwork,
                           state: Mapping[str, np.ndarray]) -> dict[torch.Tensor, torch.Tensor]:
    """The inverse of ``canonical_buffers``: canonical arrays -> ``parameter -> tensor``."""
    out = {}
    with torch.no_grad():
        for i, layer, params in _layers_with_params(net):
            prefix = f"layers.{i}."
            saved = [p.detach().clone() for p in params]
            try:
                for p in params:
                    p.zero_()
                layer.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                       if k.startswith(prefix)})
                out.update({p: p.detach().clone() for p in params})
            finally:
                for p, s in zip(params, saved):
                    p.copy_(s)
    return out


class Optimizer:
    """Base: builds the ``torch.optim`` optimiser (``self.torch_optimizer``) once the network has
    parameters, and a scheduler that moves the learning rate from ``lr`` to ``final_lr`` over the
    epochs.

    linear decay is ``LinearLR(end_factor=final_lr / lr, total_iters=E - 1)``, exponential decay is
    ``ExponentialLR(gamma=(final_lr / lr) ** (1 / (E - 1)))``, stepped once per epoch. Both update
    the learning rate multiplicatively, so after E - 1 steps it is ``final_lr`` up to a few ulps
    (measured: <= 4e-15 relative); the schedule promises ``final_lr`` exactly in the last epoch, as
    the scratch backend gives it, so that one value is set, not computed. After the last epoch the
    scheduler is not stepped again (``ExponentialLR`` would keep decaying below ``final_lr``). The
    schedule needs the number of epochs: ``setup_decay(epochs)`` (``Trainer.fit`` calls it) sets it,
    and ``end_epoch`` on a decaying optimiser without it is an error rather than a learning rate
    that silently never moves.

    ``buffer_names`` are the per-parameter entries of the ``torch.optim`` state that ``state_dict``
    exports in the canonical layout; ``counts_steps``: the state has a per-parameter ``step`` (Adam,
    Adagrad).
    """

    buffer_names: tuple[str, ...] = ()
    counts_steps = False

    def __init__(self, lr: float = 0.01, final_lr: float | None = None,
                 decay_type: str | None = None) -> None:
        check_decay(lr, final_lr, decay_type)
        self.lr, self.first_lr, self.final_lr, self.decay_type = lr, lr, final_lr, decay_type
        self.net: NeuralNetwork | None = None
        self.torch_optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self._epochs = 1
        self._scheduled = False
        self.epoch = 0

    def bind(self, net: NeuralNetwork) -> None:
        self.net = net
        self.torch_optimizer = None

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        raise NotImplementedError

    def _ensure(self) -> torch.optim.Optimizer:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.step: call bind(net) first (the Trainer "
                               f"does)")
        if self.torch_optimizer is None:
            if not self.net._built:
                raise RuntimeError(f"{type(self).__name__}: the network has no parameters yet "
                                   f"(run a batch first)")
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
        """Called by the Trainer before training: the schedule covers ``epochs`` epochs. The
        ``torch.optim`` optimiser is made afresh (learning rate back to ``lr``, momentum buffers
        empty), as in scratch."""
        self._epochs = epochs
        self._scheduled = True
        self.epoch = 0
        self.lr = self.first_lr
        self.torch_optimizer = None
        self.scheduler = None

    def end_epoch(self) -> None:
        """Advance the scheduler by one epoch (the last epoch's rate, ``final_lr``, then stays)."""
        if self.decay_type is not None:
            if not self._scheduled:
                raise unscheduled_decay(self)
            self._ensure()  # the scheduler comes with the torch.optim optimiser
        self.epoch += 1
        if self.scheduler is None or self.epoch >= self._epochs:
            return
        self.scheduler.step()
        if self.epoch == self._epochs - 1:
            for group in self.torch_optimizer.param_groups:
                group["lr"] = self.final_lr
        self.lr = float(self.torch_optimizer.param_groups[0]["lr"])

    def step(self) -> None:
        self._ensure().step()

    def _params(self) -> list[torch.Tensor]:
        """The parameters in ``torch.optim``'s order: its state dict's integer keys index this
        list."""
        return [p for group in self.torch_optimizer.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state in the canonical layout, the same in both backends (checkpoints
        save it):

        ``{"name": class name, "epoch": epochs ended (the scheduler's position), "lr": the current
        learning rate, "step": steps taken (Adam, AdaGrad; 0 for SGD), "buffers": {buffer name:
        {state-dict key: array}}}``, read from ``torch.optim.Optimizer.state_dict()``. Buffers keep
        PyTorch's names (``momentum_buffer``; ``sum``; ``exp_avg``, ``exp_avg_sq``) and are
        converted like the weights (``W`` is (in, out), ...).
        """
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.state_dict: call bind(net) first (the "
                               f"Trainer does)")
        buffers: dict[str, dict[str, np.ndarray]] = {}
        lr, step = self.lr, 0
        if self.torch_optimizer is not None:
            native, params = self.torch_optimizer.state_dict(), self._params()
            for name in self.buffer_names:
                per_param = {params[i]: s[name] for i, s in native["state"].items()
                             if s.get(name) is not None}
                if per_param:
                    buffers[name] = canonical_buffers(self.net, per_param)
            step = max((int(s["step"]) for s in native["state"].values() if "step" in s), default=0)
            lr = float(self.torch_optimizer.param_groups[0]["lr"])
        return {"name": type(self).__name__, "epoch": self.epoch, "lr": lr, "step": step,
                "buffers": buffers}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load a ``state_dict()`` (of either backend's optimiser of this class): the buffers
        through ``torch.optim.Optimizer.load_state_dict``, the schedule's position through the
        scheduler's ``load_state_dict``. Call it after ``setup_decay`` (a Trainer's resume does)."""
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.load_state_dict: call bind(net) first (the "
                               f"Trainer does)")
        shapes = {k: v.shape for k, v in self.net.state_dict().items()}
        check_optimizer_state(type(self).__name__, self.buffer_names, state, shapes)
        opt = self._ensure()
        native, params = opt.state_dict(), self._params()
        if state["buffers"]:
            loaded = {name: buffers_from_canonical(self.net, buf)
                      for name, buf in state["buffers"].items()}
            step = {"step": torch.tensor(float(state["step"]))} if self.counts_steps else {}
            native["state"] = {i: {**{k: v.clone() for k, v in step.items()},
                                   **{n: b[p] for n, b in loaded.items()}}
                               for i, p in enumerate(params) if p.requires_grad}
        else:  # no buffers yet (no step taken): a new torch.optim optimiser's (Adagrad's sums)
            native["state"] = self._make(params).state_dict()["state"]
        self.epoch, self.lr = int(state["epoch"]), float(state["lr"])
        for group in native["param_groups"]:
            group["lr"] = self.lr
        opt.load_state_dict(native)
        if self.scheduler is not None:
            self.scheduler.load_state_dict({**self.scheduler.state_dict(), "last_epoch": self.epoch,
                                            "_last_lr": [self.lr] * len(opt.param_groups)})


class SGD(Optimizer):
    """``torch.optim.SGD``: ``p -= lr * g``."""

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.lr)


class SGDMomentum(Optimizer):
    """``torch.optim.SGD(momentum=mu)``: ``v <- mu v + g;  p <- p - lr v`` (PyTorch's form, as the
    scratch backend; the book's ``v <- mu v + lr g`` differs under decay, see docs/chapter4.md).
    ``momentum`` in [0, 1).
    """

    buffer_names = ("momentum_buffer",)

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.9,
        final_lr: float | None = None,
        decay_type: str | None = None,
    ) -> None:
        super().__init__(lr, final_lr, decay_type)
        self.momentum = check_momentum(momentum)

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum)
