"""The dense layer: ``nn.Linear`` followed by the activation's module.

Layouts: canonical W is (in, out) = ``linear.weight.T`` (``nn.Linear.weight`` is (out, in));
canonical B is (1, out) = ``linear.bias[None, :]``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from dlfs.errors import check_dense_input, check_positive_int
from dlfs.init import check_weight_init, draw, init_scale
from dlfs.training import check_dropout
from torch_impl.activations import make_activation
from torch_impl.base import TorchLayer, copy_
from torch_impl.dropout import Dropout


class Dense(TorchLayer):
    """A fully connected layer of ``neurons`` units: ``activation(x @ W + B)``.

    ``activation`` is an instance (``Tanh()``), a name (``"tanh"``) or None (Linear).
    ``weight_init`` is ``"standard"`` (N(0, 1), the book's) or ``"glorot"``. ``dropout`` is the drop
    probability p of inverted dropout applied to this layer's output (after the activation) in
    training; its keep-masks come from a child of the layer's NumPy stream (see ``Dropout``), the
    same in both backends.
    """

    param_names = ("W", "B")

    def __init__(
        self,
        neurons: int,
        activation: TorchLayer | str | None = None,
        weight_init: str = "standard",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(check_positive_int("neurons", neurons))
        self.activation = make_activation(activation)
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.dropout = check_dropout(f"{self!r} dropout", dropout)

    def _check_input(self, x: torch.Tensor) -> None:
        width = None if self.first else self.linear.in_features
        check_dense_input(self, tuple(x.shape), width)

    def _setup_layer(self, x: torch.Tensor) -> None:
        fan_in, dtype = x.shape[1], str(x.dtype).replace("torch.", "")
        scale = init_scale(self.weight_init, fan_in, self.neurons)
        # the same draws, in the same order, as scratch.Dense: W (in, out) then B (1, out)
        W = draw(self.rng, (fan_in, self.neurons), scale, dtype)
        B = draw(self.rng, (1, self.neurons), scale, dtype)
        self.linear = nn.Linear(fan_in, self.neurons, dtype=x.dtype)
        with torch.no_grad():
            copy_(self.linear.weight, W.T)
            copy_(self.linear.bias, B[0])
        modules = [self.linear, self.activation.module]
        if self.dropout > 0:  # its mask stream is spawned after W and B, as in scratch.Dense
            modules.append(Dropout(self.dropout, rng=self.rng.spawn(1)[0]).module)
        self.module = nn.Sequential(*modules)

    def _canonical(self) -> dict[str, torch.Tensor]:
        return {"W": self.linear.weight.T, "B": self.linear.bias[None, :]}

    def _load_canonical(self, state: Mapping[str, np.ndarray]) -> None:
        copy_(self.linear.weight, np.asarray(state["W"]).T)
        copy_(self.linear.bias, np.asarray(state["B"])[0])

    def _canonical_grads(self) -> dict[str, torch.Tensor | None]:
        w, b = self.linear.weight.grad, self.linear.bias.grad
        return {"W": None if w is None else w.T, "B": None if b is None else b[None, :]}
