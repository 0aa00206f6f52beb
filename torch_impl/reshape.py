"""Flatten and Reshape: ``nn.Flatten`` and ``nn.Unflatten`` behind the shared interface.

The batch axis is never touched: Flatten maps (N, d1, d2, ...) to (N, d1*d2*...),
Reshape(shape) maps (N, ...) to (N, *shape). Autograd reshapes the gradient back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dlfs.windows import check_reshape, reshape_target
from torch_impl.base import TorchLayer

__all__ = ["Flatten", "Reshape"]


class ParameterFreeLayer(TorchLayer):
    """A parameter-free layer around one module (exists before any input); pooling uses it too."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.first = False

    def _require_built(self, what: str) -> None:
        """No parameters: the (empty) state dict exists before the first input."""


class Flatten(ParameterFreeLayer):
    """``nn.Flatten()``: input (N, d1, d2, ...) -> output (N, d1*d2*...)."""

    def __init__(self) -> None:
        super().__init__(nn.Flatten())

    def _check_input(self, x: torch.Tensor) -> None:
        check_reshape(repr(self), tuple(x.shape), (int(np.prod(tuple(x.shape[1:])),)))

    def __repr__(self) -> str:
        return "Flatten()"


class Reshape(ParameterFreeLayer):
    """``nn.Flatten()`` then ``nn.Unflatten(1, shape)``: input (N, ...) -> output (N, *shape); the
    per-sample sizes must match. ``Reshape((16, 7, 7))`` turns a Dense layer's (N, 784) output into
    feature maps."""

    def __init__(self, shape: int | Sequence[int]) -> None:
        self.shape = reshape_target(shape)  # a tuple of positive ints
        super().__init__(nn.Sequential(nn.Flatten(), nn.Unflatten(1, self.shape)))

    def _check_input(self, x: torch.Tensor) -> None:
        check_reshape(repr(self), tuple(x.shape), self.shape)

    def __repr__(self) -> str:
        return f"Reshape({self.shape})"
