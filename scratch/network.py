"""``NeuralNetwork`` (chapter 3): layers and a loss; forward, backward and one training batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dlfs.errors import (
    check_array,
    check_dtype_name,
    check_forward_called,
    check_instance,
    check_layers,
    check_seed,
)
from dlfs.exchange import check_state
from scratch.base import Layer, Operation, ParamOperation
from scratch.losses import Loss


def check_cpu_device(owner: str, device: object) -> str:
    """The scratch backend's device: ``"cpu"`` (None means it too); anything else is refused."""
    if device is None or device == "cpu":
        return "cpu"
    raise ValueError(f"{owner}: device={device!r}: the scratch backend is NumPy and runs on the "
                     f"CPU only (device='cpu' or None); device='cuda' is the torch backend's "
                     f"(dlfs.backend('torch'))")


class NeuralNetwork:
    """``layers`` applied in order, trained against ``loss``.

    ``seed`` seeds the one NumPy stream from which every layer draws its initial weights in order
    (the torch backend draws the same numbers). ``dtype`` (``"float32"`` or ``"float64"``) is what
    inputs are cast to. ``device`` is the torch backend's (``"cuda"``); NumPy runs on the CPU, so
    here it is ``"cpu"`` or None and anything else an error. State-dict keys are
    ``layers.<i>.<name>``.
    """

    def __init__(self, layers: Sequence[Layer], loss: Loss, seed: int = 1,
                 dtype: str = "float32", device: str | None = None) -> None:
        # an activation (an Operation) may be a layer of its own
        self.layers = check_layers(layers, Layer | Operation,
                                   "a scratch layer such as Dense(4) or Tanh()")
        self.loss = check_instance("loss", loss, Loss, "a scratch loss such as MeanSquaredError()")
        self.seed = check_seed("seed", seed)
        self.dtype = check_dtype_name("dtype", dtype)
        self.device = check_cpu_device(type(self).__name__, device)
        rng = np.random.default_rng(seed)
        for layer in self.layers:
            layer.rng = rng

    def _cast(self, name: str, x: np.ndarray) -> np.ndarray:
        return check_array(name, x).astype(self.dtype, copy=False)

    def forward(self, x_batch: np.ndarray, training: bool = True) -> np.ndarray:
        """x_batch (batch, ...) -> prediction (batch, out)."""
        x = self._cast("x_batch", x_batch)
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, loss_grad: np.ndarray) -> np.ndarray:
        """dL/dprediction -> dL/dx_batch; parameter gradients land in ``grad_dict()``."""
        check_forward_called("NeuralNetwork", hasattr(self.layers[-1], "output"))
        g = np.asarray(loss_grad).astype(self.dtype, copy=False)
        for layer in reversed(self.layers):
            g = layer.backward(g)
        return g

    def train_batch(self, x_batch: np.ndarray, y_batch: np.ndarray) -> float:
        """Forward, loss, backward; returns the loss.

        Training needs no dL/dx_batch, so the first operation skips it when it can (as PyTorch,
        whose input tensor does not require grad): a quarter of a dense network's backward, the
        col2im of a first Conv2D.
        """
        prediction = self.forward(x_batch, training=True)
        loss = self.loss.forward(prediction, y_batch)
        ops = getattr(self.layers[0], "operations", None)
        first = ops[0] if ops and isinstance(ops[0], ParamOperation) else None
        if first is not None:
            first.needs_input_grad = False
        try:
            self.backward(self.loss.backward())
        finally:
            if first is not None:
                first.needs_input_grad = True
        return loss

    def params(self) -> list[np.ndarray]:
        return [p for layer in self.layers for p in layer.params()]

    def param_grads(self) -> list[np.ndarray]:
        return [g for layer in self.layers for g in layer.param_grads()]

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
