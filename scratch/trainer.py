"""The ``Trainer`` (chapter 3): ``dlfs.fit.FitLoop``'s loop (batches from ``dlfs``'s seeded order,
evaluation, early stopping, checkpoints, the divergence guard) around a NumPy step: forward, loss,
backward (``NeuralNetwork.train_batch``), then the optimiser's update."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from dlfs.errors import check_flag
from dlfs.fit import FitLoop, Transform
from dlfs.training import BatchOrder
from scratch.dropout import Dropout
from scratch.network import NeuralNetwork
from scratch.optimizers import Optimizer


def mask_streams(net: NeuralNetwork) -> list[np.random.Generator]:
    """The network's dropout mask streams, in layer order (a checkpoint saves their states)."""
    return [op.mask_rng for layer in net.layers for op in getattr(layer, "operations", [layer])
            if isinstance(op, Dropout) and op.mask_rng is not None]


def global_grad_norm(grads: list[np.ndarray]) -> float:
    """The 2-norm of all parameter gradients taken as one vector (``clip_grad_norm``'s total
    norm)."""
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads))


class Batches:
    """One epoch of ``(X[idx], y[idx])`` per iteration, for the index batches ``order`` gives;
    ``transform`` (when given) maps each ``X[idx]`` to the network's input."""

    def __init__(self, X: np.ndarray, y: np.ndarray, order: BatchOrder,
                 transform: Transform | None) -> None:
        self.X, self.y, self.order, self.transform = X, y, order, transform

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for idx in self.order:
            x = self.X[idx]
            yield (x if self.transform is None else self.transform(x)), self.y[idx]


class Trainer(FitLoop):
    """Trains ``net`` with ``optim``; ``fit``, ``evaluate`` and their arguments:
    ``dlfs.fit.FitLoop``."""

    backend = "scratch"
    network_class = NeuralNetwork
    optimizer_class = Optimizer

    def __init__(self, net: NeuralNetwork, optim: Optimizer, distributed: bool = False) -> None:
        """``distributed`` exists for the torch backend's signature: the scratch backend is one
        process on purpose (it is the reference), so True is refused."""
        if check_flag("distributed", distributed):
            raise ValueError("Trainer(distributed=True): the scratch backend trains in one process "
                             "on purpose: it is the reference the torch backend is held to. "
                             "Data-parallel training is the torch backend's "
                             "(dlfs.backend('torch'), launched by torchrun; docs/distributed.md)")
        super().__init__(net, optim, distributed)

    def _batches(self, X: np.ndarray, y: np.ndarray, order: BatchOrder,
                 transform: Transform | None) -> Batches:
        if transform is None:
            X = X.astype(self.net.dtype, copy=False)  # once, not per batch
        return Batches(X, y, order, transform)

    def _forward_backward(self, xb: np.ndarray, yb: np.ndarray) -> float:
        return self.net.train_batch(xb, yb)

    def _update(self) -> None:
        self.optim.step()

    def _loss_on(self, X: np.ndarray, y: np.ndarray) -> float:
        return self.net.loss.forward(self.net.forward(X, training=False), y)

    def _lr(self) -> float:
        return self.optim.lr

    def _params_finite(self) -> bool:
        return all(np.isfinite(p).all() for p in self.net.params())

    def _grad_norm(self) -> float:
        return global_grad_norm(self.net.param_grads())

    def _mask_streams(self) -> list[np.random.Generator]:
        return mask_streams(self.net)
