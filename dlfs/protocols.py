"""The protocols every layer, loss, network and optimiser answers, in both backends.

Arrays crossing this interface are NumPy arrays in the *canonical layout* (the book's: a dense weight is
``(in, out)`` and ``y = x @ W + B``). The torch backend converts at the boundary and runs autograd with the
given upstream gradient in ``backward``; inside, it is plain PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import numpy as np

StateDict = dict[str, np.ndarray]


@runtime_checkable
class Layer(Protocol):
    """A differentiable map with parameters. Shapes: ``x`` (batch, ...) -> output (batch, ...)."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray: ...

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        """``output_grad`` (dL/doutput) has the output's shape; returns dL/dx with the input's shape."""
        ...

    def state_dict(self) -> StateDict: ...

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None: ...

    def grad_dict(self) -> StateDict:
        """The parameter gradients of the last ``backward``, keyed and shaped like ``state_dict``."""
        ...


@runtime_checkable
class Loss(Protocol):
    """A loss of a prediction (batch, ...) against a target: a number, or with ``reduction="none"`` one loss
    per element (what training cannot use: the Trainers refuse it)."""

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> float | np.ndarray: ...

    def backward(self, output_grad: np.ndarray | float | None = None) -> np.ndarray:
        """dL/dprediction, shaped like the prediction of the last ``forward``; ``output_grad`` is the upstream
        gradient of the loss (default 1; shaped like the loss for ``reduction="none"``)."""
        ...


@runtime_checkable
class Network(Layer, Protocol):
    """Layers in sequence plus a loss."""

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward, loss and backward on one batch; returns the loss. Gradients land in ``grad_dict()``."""
        ...


@runtime_checkable
class Optimizer(Protocol):
    def bind(self, net: Network) -> None:
        """Attach to the network whose parameters this optimiser updates."""
        ...

    def step(self) -> None:
        """Update the bound network's parameters from its current gradients."""
        ...

    def end_epoch(self) -> None:
        """Advance the per-epoch learning-rate schedule."""
        ...

    def state_dict(self) -> dict:
        """Optimiser buffers (momentum, Adam moments, AdaGrad sums) keyed like the network's state dict."""
        ...

    def load_state_dict(self, state: dict) -> None: ...
