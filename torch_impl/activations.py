"""Activations: PyTorch's own modules behind the shared interface (derivatives from autograd)."""

from __future__ import annotations

from torch import nn

from dlfs.errors import check_choice
from torch_impl.base import TorchLayer


class Sigmoid(TorchLayer):
    """``nn.Sigmoid``: 1 / (1 + e^-x)."""

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Sigmoid()
        self.first = False


class Tanh(TorchLayer):
    """``nn.Tanh``."""

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Tanh()
        self.first = False


class ReLU(TorchLayer):
    """``nn.ReLU``: max(0, x), derivative 0 at x = 0."""

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.ReLU()
        self.first = False


class Linear(TorchLayer):
    """``nn.Identity``: no nonlinearity."""

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Identity()
        self.first = False


ACTIVATIONS = {"sigmoid": Sigmoid, "tanh": Tanh, "relu": ReLU, "linear": Linear}


def make_activation(activation: TorchLayer | str | None) -> TorchLayer:
    """An activation instance from an instance, a name (``"tanh"``) or None (Linear)."""
    if activation is None:
        return Linear()
    if isinstance(activation, str):
        return ACTIVATIONS[check_choice("activation", activation.lower(), tuple(ACTIVATIONS))]()
    if not isinstance(activation, TorchLayer):
        raise TypeError("activation: expected an activation such as Tanh() or a name in "
                        f"{list(ACTIVATIONS)}, got {type(activation).__name__}")
    return activation
