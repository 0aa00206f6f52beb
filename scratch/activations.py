"""Activations (chapters 2-3): each forward beside its derivative.

Shapes: input and output are both (batch, ...); every activation is elementwise.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_choice
from scratch.base import Operation


class Sigmoid(Operation):
    """sigma(x) = 1 / (1 + e^-x);  d sigma / dx = sigma (1 - sigma)."""

    def _output(self) -> np.ndarray:
        with np.errstate(over="ignore"):  # e^-x overflows to inf for x << 0, giving the limit 0
            return 1.0 / (1.0 + np.exp(-self.input_))

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad * self.output * (1.0 - self.output)


class Tanh(Operation):
    """tanh(x);  d tanh / dx = 1 - tanh^2."""

    def _output(self) -> np.ndarray:
        return np.tanh(self.input_)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad * (1.0 - self.output * self.output)


class ReLU(Operation):
    """max(0, x);  derivative 1 where x > 0, else 0 (0 at x = 0, as PyTorch)."""

    def _output(self) -> np.ndarray:
        return np.maximum(self.input_, 0)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad * (self.input_ > 0)


class Linear(Operation):
    """The identity (a layer with no nonlinearity);  derivative 1."""

    def _output(self) -> np.ndarray:
        return self.input_

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad


ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "linear": Linear}


def make_activation(activation: Operation | str | None) -> Operation:
    """An activation instance from an instance, a name (``"tanh"``) or None (Linear)."""
    if activation is None:
        return Linear()
    if isinstance(activation, str):
        return ACTIVATIONS[check_choice("activation", activation.lower(), tuple(ACTIVATIONS))]()
    if not isinstance(activation, Operation):
        raise TypeError("activation: expected an activation such as Tanh() or a name in "
                        f"{list(ACTIVATIONS)}, got {type(activation).__name__}")
    return activation
