"""The dense layer (chapter 3): ``WeightMultiply`` then ``BiasAdd`` then an activation.

Shapes: input (batch, in), W (in, out), B (1, out), output (batch, out).
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_dense_input, check_positive_int
from dlfs.init import check_weight_init, draw, init_scale
from dlfs.training import check_dropout
from scratch.activations import make_activation
from scratch.base import Layer, Operation, ParamOperation
from scratch.dropout import Dropout


class WeightMultiply(ParamOperation):
    """x @ W;  dL/dx = g @ W^T (batch, in),  dL/dW = x^T @ g (in, out)."""

    def _output(self) -> np.ndarray:
        return self.input_ @ self.param

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad @ self.param.T

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return self.input_.T @ output_grad


class BiasAdd(ParamOperation):
    """x + B, B (1, out) broadcast over the batch;  dL/dx = g,  dL/dB = sum of g over the batch."""

    def _output(self) -> np.ndarray:
        return self.input_ + self.param

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        return output_grad.sum(axis=0, keepdims=True)


class Dense(Layer):
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
        activation: Operation | str | None = None,
        weight_init: str = "standard",
        dropout: float = 0.0,
    ) -> None:
        super().__init__(check_positive_int("neurons", neurons))
        self.activation = make_activation(activation)
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.dropout = check_dropout(f"{self!r} dropout", dropout)

    def _check_input(self, input_: np.ndarray) -> None:
        width = None if self.first else self.operations[0].param.shape[0]  # W is (in, out)
        check_dense_input(self, input_.shape, width)

    def _setup_layer(self, input_: np.ndarray) -> None:
        fan_in, dtype = input_.shape[1], input_.dtype
        scale = init_scale(self.weight_init, fan_in, self.neurons)
        W = draw(self.rng, (fan_in, self.neurons), scale, dtype)
        B = draw(self.rng, (1, self.neurons), scale, dtype)
        self.operations = [WeightMultiply(W), BiasAdd(B), self.activation]
        if self.dropout > 0:  # its mask stream is spawned after W and B, as in torch_impl.Dense
            self.operations.append(Dropout(self.dropout, rng=self.rng.spawn(1)[0]))
