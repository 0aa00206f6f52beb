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
    check_positive_int,
    check_seed,
    is_out_of_memory,
    naming_the_layer,
    out_of_memory,
    unbuilt_for_loading,
)
from dlfs.exchange import check_state
from dlfs.metrics import predicted_classes
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
            try:
                for layer in self.layers:
                    layer.build(h)
                    layer.module.eval()  # no dropout draws while building
                    h = layer.module(h)
            except (MemoryError, RuntimeError) as e:  # modules built in the loop: named here
                if not is_out_of_memory(e):
                    raise
                raise out_of_memory(e, "the forward pass", self.layers,
                                    [layer.module for layer in self.layers]) from None
        self.module = nn.Sequential(*[layer.module for layer in self.layers])
        self._built = True

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        """Run the layers in turn, checking each input fits (a clear error, not a shape trace)."""
        h, modules = x, [layer.module for layer in self.layers]
        # an out-of-memory names the layer and its position (torch calls the modules directly)
        with naming_the_layer("the forward pass", self.layers, modules):
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
        with naming_the_layer("the backward pass", self.layers):
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
        """Load a canonical state dict (what ``dlfs.load_weights`` reads from a file).

        A network that has not seen an input yet has no parameters; when its first layer is a
        Dense, the file's ``layers.0.W`` (in, out) gives the input width and the network is built
        from it here; otherwise the error says which call to make first.
        """
        if not self._built:
            self._build_from_state(state)
        check_state("NeuralNetwork", {k: v.shape for k, v in self.state_dict().items()}, state)
        for i, layer in enumerate(self.layers):
            prefix = f"layers.{i}."
            layer.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                   if k.startswith(prefix)})

    def grad_dict(self) -> dict[str, np.ndarray]:
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.grad_dict().items()}

    def _build_from_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Create the parameters of a fresh network from ``state``'s shapes: a first Dense layer's
        ``W`` (in, out) says the input is (batch, in); then ``build`` on zeros creates every layer
        (the weights it draws are replaced by ``state``'s)."""
        w = state.get("layers.0.W")
        first = self.layers[0]
        if type(first).__name__ == "Dense" and w is not None and np.ndim(w) == 2:
            self.build(self.tensor("x", np.zeros((1, np.shape(w)[0]), dtype=self.dtype)))
            return
        raise unbuilt_for_loading(first)

    def predict(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The network's output for ``X``: (n, ...) -> (n, out), NumPy in and out.

        Inference mode (``module.eval()``: no dropout) under ``torch.no_grad()`` (no graph kept),
        ``batch_size`` samples at a time (bounded memory; None: all at once). For a classifier the
        output is the logits; their argmax over the last axis is the predicted class
        (``predict_classes``).
        """
        X = check_array("NeuralNetwork.predict X", X)
        if X.ndim == 0 or len(X) == 0:
            raise ValueError(f"NeuralNetwork.predict X: expected at least one sample (n, ...), "
                             f"got shape {X.shape}")
        n = len(X) if batch_size is None else check_positive_int(
            "NeuralNetwork.predict batch_size", batch_size)
        outs = []
        with torch.no_grad():
            for i in range(0, len(X), n):
                x = self.tensor("NeuralNetwork.predict X", X[i:i + n])
                self.build(x)
                self.module.eval()
                outs.append(to_numpy(self._run(x)))
        return np.concatenate(outs)

    def predict_classes(self, X: Any, batch_size: int | None = None) -> np.ndarray:
        """The predicted class of each sample: the argmax of ``predict(X)`` over its last axis,
        (n, C) -> (n,) int64 (per position for a sequence model's (n, T, C)). Needs C >= 2."""
        return predicted_classes(self.predict(X, batch_size))

    def __repr__(self) -> str:
        return f"NeuralNetwork([{', '.join(map(repr, self.layers))}], {self.loss!r})"
