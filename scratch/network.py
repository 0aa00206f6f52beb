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
    check_positive_int,
    check_seed,
    naming_the_layer,
    unbuilt_for_loading,
)
from dlfs.exchange import check_state
from dlfs.metrics import predicted_classes
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
        with naming_the_layer("the forward pass", self.layers):  # names the layer and its position
            for layer in self.layers:
                x = layer.forward(x, training)
        return x

    def backward(self, loss_grad: np.ndarray) -> np.ndarray:
        """dL/dprediction -> dL/dx_batch; parameter gradients land in ``grad_dict()``."""
        check_forward_called("NeuralNetwork", hasattr(self.layers[-1], "output"))
        g = np.asarray(loss_grad).astype(self.dtype, copy=False)
        with naming_the_layer("the backward pass", self.layers):
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
        """Load a canonical state dict (what ``dlfs.load_weights`` reads from a file).

        A network that has not seen an input yet has no parameters; when its first layer is a
        Dense, the file's ``layers.0.W`` (in, out) gives the input width and the network is built
        from it here; otherwise the error says which call to make first.
        """
        if not self._has_parameters():
            self._build_from_state(state)
        check_state("NeuralNetwork", {k: v.shape for k, v in self.state_dict().items()}, state)
        for i, layer in enumerate(self.layers):
            prefix = f"layers.{i}."
            layer.load_state_dict({k[len(prefix):]: v for k, v in state.items()
                                   if k.startswith(prefix)})

    def grad_dict(self) -> dict[str, np.ndarray]:
        return {f"layers.{i}.{k}": v for i, layer in enumerate(self.layers)
                for k, v in layer.grad_dict().items()}

    def _has_parameters(self) -> bool:
        """Whether every layer has its parameters (a layer creates them on its first input)."""
        try:
            self.state_dict()
        except RuntimeError:  # Layer._require_built: no parameters before the first input
            return False
        return True

    def _build_from_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Create the parameters of a fresh network from ``state``'s shapes: a first Dense layer's
        ``W`` (in, out) says the input is (batch, in); then one inference forward of zeros builds
        every layer (the weights it draws are replaced by ``state``'s)."""
        w = state.get("layers.0.W")
        first = self.layers[0]
        if type(first).__name__ == "Dense" and w is not None and np.ndim(w) == 2:
            self.forward(np.zeros((1, np.shape(w)[0]), dtype=self.dtype), training=False)
            return
        raise unbuilt_for_loading(first)

    def predict(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """The network's output for ``X``: (n, ...) -> (n, out), NumPy in and out.

        Inference mode (no dropout; nothing kept for a backward pass), ``batch_size`` samples at
        a time (bounded memory; None: all at once). For a classifier the output is the logits;
        their argmax over the last axis is the predicted class (``predict_classes``).
        """
        X = check_array("NeuralNetwork.predict X", X)
        if X.ndim == 0 or len(X) == 0:
            raise ValueError(f"NeuralNetwork.predict X: expected at least one sample (n, ...), "
                             f"got shape {X.shape}")
        if batch_size is None:
            return self.forward(X, training=False)
        n = check_positive_int("NeuralNetwork.predict batch_size", batch_size)
        return np.concatenate([self.forward(X[i:i + n], training=False)
                               for i in range(0, len(X), n)])

    def predict_classes(self, X: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """The predicted class of each sample: the argmax of ``predict(X)`` over its last axis,
        (n, C) -> (n,) int64 (per position for a sequence model's (n, T, C)). Needs C >= 2."""
        return predicted_classes(self.predict(X, batch_size))

    def __repr__(self) -> str:
        return f"NeuralNetwork([{', '.join(map(repr, self.layers))}], {self.loss!r})"
