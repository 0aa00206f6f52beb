"""Optimisers (chapters 3-4): SGD and SGD with momentum, with optional per-epoch learning-rate
decay."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from dlfs.checkpoint import check_optimizer_state
from dlfs.training import check_decay, check_momentum, lr_at, unscheduled_decay
from scratch.network import NeuralNetwork


def _layers_with_params(net: NeuralNetwork) -> Iterator[tuple[int, Any, list[np.ndarray]]]:
    for i, layer in enumerate(net.layers):
        params = layer.params()
        if params:
            yield i, layer, params


def canonical_buffers(net: NeuralNetwork, buffers: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """An optimiser's per-parameter arrays (shaped like ``net.params()``, in its order) in the
    canonical layout, keyed and shaped like ``net.state_dict()``.

    The layout conversion is each layer's own ``state_dict`` (a recurrent layer keeps its gates
    fused in a few arrays): the buffer is copied where the parameter lives, read back canonically,
    and the parameter restored.
    """
    out, j = {}, 0
    for i, layer, params in _layers_with_params(net):
        saved = [p.copy() for p in params]
        try:
            for p, b in zip(params, buffers[j : j + len(params)]):
                p[...] = b
            out.update({f"layers.{i}.{k}": v for k, v in layer.state_dict().items()})
        finally:
            for p, s in zip(params, saved):
                p[...] = s
        j += len(params)
    return out


def buffers_from_canonical(net: NeuralNetwork, state: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """The inverse of ``canonical_buffers``: canonical arrays -> one array per ``net.params()``
    entry."""
    out = []
    for i, layer, params in _layers_with_params(net):
        prefix = f"layers.{i}."
        saved = [p.copy() for p in params]
        try:
            for p in params:
                p[...] = 0
            layer.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                   if k.startswith(prefix)})
            out.extend(p.copy() for p in params)
        finally:
            for p, s in zip(params, saved):
                p[...] = s
    return out


class Optimizer:
    """Base: holds the learning rate and its per-epoch schedule from ``lr`` to ``final_lr``.

    The schedule needs the number of epochs: ``setup_decay(epochs)`` (``Trainer.fit`` calls it) sets
    it, and ``end_epoch`` on a decaying optimiser without it is an error rather than a learning rate
    that silently never moves.

    ``buffer_names`` maps each per-parameter state array, under PyTorch's name for it, to the
    attribute holding the list of them (one per ``net.params()`` entry); ``state_dict`` exports them
    in the canonical layout.
    """

    buffer_names: dict[str, str] = {}

    def __init__(self, lr: float = 0.01, final_lr: float | None = None,
                 decay_type: str | None = None) -> None:
        check_decay(lr, final_lr, decay_type)
        self.lr, self.first_lr, self.final_lr, self.decay_type = lr, lr, final_lr, decay_type
        self.net: NeuralNetwork | None = None
        self._epochs = 1
        self._scheduled = False
        self.epoch = 0

    def bind(self, net: NeuralNetwork) -> None:
        self.net = net
        self._reset_state()

    def setup_decay(self, epochs: int) -> None:
        """Called by the Trainer before training: the schedule covers ``epochs`` epochs, and any
        state the optimiser keeps (momentum's velocities) starts afresh, as the torch backend's new
        ``torch.optim``. Each epoch's rate is computed when it starts (``lr_at``): nothing
        proportional to ``epochs`` is allocated."""
        self._epochs = epochs
        self._scheduled = True
        self.epoch = 0
        self.lr = lr_at(self.first_lr, self.final_lr, self.decay_type, epochs, 0)
        self._reset_state()

    def _reset_state(self) -> None:
        """Forget per-parameter state (none for plain SGD)."""

    def end_epoch(self) -> None:
        """Advance the schedule by one epoch (the last epoch's rate, ``final_lr``, then stays)."""
        if self.decay_type is not None and not self._scheduled:
            raise unscheduled_decay(self)
        self.epoch += 1
        self.lr = lr_at(self.first_lr, self.final_lr, self.decay_type, self._epochs, self.epoch)

    def step(self) -> None:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.step: call bind(net) first (the Trainer "
                               f"does)")
        for i, (param, grad) in enumerate(zip(self.net.params(), self.net.param_grads())):
            self._update_rule(i, param, grad)

    def state_dict(self) -> dict[str, Any]:
        """The optimiser's state in the canonical layout, the same in both backends (checkpoints
        save it):

        ``{"name": class name, "epoch": epochs ended (the schedule's position), "lr": the current
        learning rate, "step": steps taken (Adam, AdaGrad; 0 for SGD), "buffers": {buffer name:
        {state-dict key: array}}}``. Buffers carry PyTorch's names (``momentum_buffer``; ``sum``;
        ``exp_avg``, ``exp_avg_sq``) and are keyed and shaped like the network's ``state_dict()``;
        one that does not exist yet (before the first step) is absent.
        """
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.state_dict: call bind(net) first (the "
                               f"Trainer does)")
        buffers = {name: canonical_buffers(self.net, getattr(self, attr))
                   for name, attr in self.buffer_names.items() if getattr(self, attr)}
        return {"name": type(self).__name__, "epoch": self.epoch, "lr": self.lr,
                "step": getattr(self, "t", 0), "buffers": buffers}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load a ``state_dict()`` (of either backend's optimiser of this class) into the bound
        network's buffers.

        Call it after ``setup_decay`` (a Trainer's resume does): the schedule continues from
        ``state["epoch"]``.
        """
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.load_state_dict: call bind(net) first (the "
                               f"Trainer does)")
        shapes = {k: v.shape for k, v in self.net.state_dict().items()}
        check_optimizer_state(type(self).__name__, tuple(self.buffer_names), state, shapes)
        for name, attr in self.buffer_names.items():
            buf = state["buffers"].get(name)
            setattr(self, attr, [] if buf is None else buffers_from_canonical(self.net, buf))
        self.epoch, self.lr = int(state["epoch"]), float(state["lr"])
        if hasattr(self, "t"):
            self.t = int(state["step"])

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent: ``p -= lr * g`` (in place, so the layers see the update)."""

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        param -= self.lr * grad


class SGDMomentum(Optimizer):
    """SGD with momentum in PyTorch's form (``torch.optim.SGD(momentum=mu)``):

        v <- mu v + g;   p <- p - lr v        (v starts at 0, so the first step is plain SGD)

    The book writes ``v <- mu v + lr g; p <- p - v``. The two agree step for step while lr is
    constant (the book's v is lr times ours) and part ways under decay: the book's velocity keeps
    the old, larger learning rates of past gradients, ours applies today's lr to the whole velocity
    (see docs/chapter4.md). ``momentum`` lies in [0, 1).
    """

    buffer_names = {"momentum_buffer": "velocities"}

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.9,
        final_lr: float | None = None,
        decay_type: str | None = None,
    ) -> None:
        super().__init__(lr, final_lr, decay_type)
        self.momentum = check_momentum(momentum)
        self.velocities: list[np.ndarray] = []

    def _reset_state(self) -> None:
        self.velocities = []

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if i == len(self.velocities):  # first step: one velocity per parameter, in network order
            self.velocities.append(np.zeros_like(param))
        v = self.velocities[i]
        v *= self.momentum
        v += grad
        param -= self.lr * v
