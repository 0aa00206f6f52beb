"""``NeuralNetwork``: the layers' modules in an ``nn.Sequential``, plus a loss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from dlfs.errors import (
    check_array,
    check_dtype_name,
    check_forward_called,
    check_instance,
    check_layers,
    check_seed,
)
from dlfs.exchange import check_state
from torch_impl.base import TORCH_DTYPES, TorchLayer, to_numpy, to_tensor
from torch_impl.devices import resolve_device
from torch_impl.losses import Loss


class NeuralNetwork:
    """``layers`` applied in order, trained against ``loss``; ``.module`` is the ``nn.Sequential``.

    ``seed`` seeds the one NumPy stream from which every layer draws its initial weights in order
    (the same numbers as the scratch backend). ``dtype`` (``"float32"`` or ``"float64"``) is what
    inputs are cast to. ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``; None:
    ``$DLFS_TORCH_DEVICE``, else ``"cpu"``) is where the parameters live and the batches go,
    ``self.device`` the resolved ``torch.device``; state dicts and outputs come back as NumPy arrays
    wherever it is (``torch_impl/devices.py``). State-dict keys are ``layers.<i>.<name>``.
    """

    def __init__(self, layers: Sequence[TorchLayer], loss: Loss, seed: int = 1,
                 dtype: str = "float32", device: str | None = None) -> None:
        self.layers = check_layers(layers, TorchLayer,
                                   "a torch_impl layer such as Dense(4) or Tanh()")
        self.loss = check_instance("loss", loss, Loss,
                                   "a torch_impl loss such as MeanSquaredError()")
        self.seed = check_seed("seed", seed)
        self.dtype = check_dtype_name("dtype", dtype)
        self.torch_dtype = TORCH_DTYPES[self.dtype]
        self.device = resolve_device(device, type(self).__name__)
        self.module = nn.Sequential()
        self._built = False
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.rng, layer.device = rng, self.device

    def tensor(self, name: str, x: Any) -> torch.Tensor:
        """Validate ``x`` and return it as a tensor of the network's dtype on its device."""
        return to_tensor(check_array(name, x), self.torch_dtype, self.device)

    def build(self, x: torch.Tensor) -> None:
        """Create every layer's parameters from a sample batch (no-op once built)."""
        if self._built:
            return
        h = x
        with torch.no_grad():
            for layer in self.layers:
                layer.build(h)
                layer.module.eval()  # no dropout draws while building
                h = layer.module(h)
        self.module = nn.Sequential(*[layer.module for layer in self.layers])
        self._built = True

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Run the layers in turn, checking each input fits (a clear error, not a shape trace)."""
        h = x
        for layer in self.layers:
            layer._check_input(h)
            h = layer.module(h)
        return h

    def forward(self, x_batch: Any, training: bool = True) -> np.ndarray:
        """x_batch (batch, ...) -> prediction (batch, out)."""
        x = self.tensor("x_batch", x_batch)
        self.build(x)
        self.module.train(training)
        self._x = x.detach().clone().requires_grad_(True)
        self._out = self._run(self._x)
        return to_numpy(self._out)

    def backward(self, loss_grad: Any) -> np.ndarray:
        """dL/dprediction -> dL/dx_batch (autograd); parameter gradients land in ``grad_dict()``."""
        check_forward_called("NeuralNetwork", hasattr(self, "_out"))
        g = to_tensor(np.asarray(loss_grad), self.torch_dtype, self.device)
        if g.shape != self._out.shape:
            raise ValueError(f"NeuralNetwork.backward: expected a gradient of shape "
                             f"{tuple(self._out.shape)}, got {tuple(g.shape)}")
        self.module.zero_grad(set_to_none=True)
        self._out.backward(g)
        return to_numpy(self._x.grad)

    def train_batch(self, x_batch: Any, y_batch: Any) -> float:
        """Forward, loss, backward; returns the loss."""
        x = self.tensor("x_batch", x_batch)
        self.build(x)
        self.module.train(True)
        self.module.zero_grad(set_to_none=True)
        prediction = self._run(x)
        loss = self.loss.criterion(prediction, self.loss._target(prediction, y_batch))
        loss.backward()
        return float(loss.detach())

    def state_dict(self) -> dict[str, np.ndarray]:
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.state_dict().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        check_state("NeuralNetwork", {k: v.shape for k, v in self.state_dict().items()}, state)
        for i, layer in enumerate(self.layers):
            prefix = f"layers.{i}."
            layer.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                   if k.startswith(prefix)})

    def grad_dict(self) -> dict[str, np.ndarray]:
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.grad_dict().items()}

    def __repr__(self) -> str:
        return f"NeuralNetwork([{', '.join(map(repr, self.layers))}], {self.loss!r})"
