"""Flatten and Reshape (chapter 5; Reshape for chapter 7's autoencoder decoder): pure bookkeeping.

A reshape moves no numbers, so its backward is the inverse reshape of the gradient.
The batch axis is never touched: Flatten maps (N, d1, d2, ...) to (N, d1*d2*...),
Reshape(shape) maps (N, ...) to (N, *shape).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlfs.windows import check_reshape, reshape_target
from scratch.base import Layer, Operation

__all__ = ["Flatten", "Reshape"]


class FlattenOperation(Operation):
    """(N, d1, d2, ...) -> (N, d1*d2*...);  dL/dx = g reshaped back to (N, d1, d2, ...)."""

    def _output(self) -> np.ndarray:
        return self.input_.reshape(self.input_.shape[0], -1)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.reshape(self.input_.shape)


class ReshapeOperation(Operation):
    """(N, ...) -> (N, *shape);  dL/dx = g reshaped back to the input's shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def _output(self) -> np.ndarray:
        return self.input_.reshape(self.input_.shape[0], *self.shape)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.reshape(self.input_.shape)


class ParameterFreeLayer(Layer):
    """A parameter-free layer of one operation (exists before any input); pooling uses it too."""

    def __init__(self, operation: Operation) -> None:
        super().__init__(0)
        self.operations = [operation]
        self.first = False

    def _require_built(self, what: str) -> None:
        """No parameters: the (empty) state dict exists before the first input."""


class Flatten(ParameterFreeLayer):
    """Flattens each sample: input (N, d1, d2, ...) -> output (N, d1*d2*...), e.g. conv -> Dense."""

    def __init__(self) -> None:
        super().__init__(FlattenOperation())

    def _check_input(self, input_: np.ndarray) -> None:
        check_reshape(repr(self), input_.shape, (int(np.prod(input_.shape[1:])),))

    def __repr__(self) -> str:
        return "Flatten()"


class Reshape(ParameterFreeLayer):
    """Reshapes every sample to ``shape`` of the same size: input (N, ...) -> output (N, *shape).

    ``Reshape((16, 7, 7))`` turns a Dense layer's (N, 784) output into (N, 16, 7, 7) feature maps.
    """

    def __init__(self, shape: int | Sequence[int]) -> None:
        self.shape = reshape_target(shape)  # a tuple of positive ints
        super().__init__(ReshapeOperation(self.shape))

    def _check_input(self, input_: np.ndarray) -> None:
        check_reshape(repr(self), input_.shape, self.shape)

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"
