"""What the recurrent cells and layers share (chapter 6), and the time-distributed dense layer.

A *node* (the book's name; PyTorch says *cell*) is one time step with its parameters: ``RNNNode``, ``GRUNode``,
``LSTMNode``. A *layer* unrolls its node over the time axis: (batch, time, features) -> (batch, time, hidden).
The hidden state (and the LSTM's cell state) starts at zero for every batch: no state is carried between
batches, in either backend.

Each node exists twice: its book form (``scratch/rnn.py``, ``scratch/gru.py``, ``scratch/lstm.py``: the book's
equations, one per line) and its fast form (``scratch/fast/``: fused gate storage, time-major loops), which
training uses. Both hold the canonical per-gate parameters in the same state-dict layout.

Unlike the book's ``RNNLayer``, which ends in its own output projection ``W_v``, our layers return the hidden
states (as ``nn.LSTM`` does) so they stack; ``RNNLinear`` is the projection, applied at every time step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dlfs.errors import (
    check_forward_called,
    check_layer_input,
    check_positive_int,
    check_sequence,
    check_state_shape,
)
from dlfs.exchange import check_state
from dlfs.init import draw, init_scale
from scratch.base import Layer

__all__ = ["RNNLinear"]


def check_state_input(owner: str, name: str, s: np.ndarray | None, batch: int, hidden: int,
                      dtype: np.dtype) -> np.ndarray:
    """A node's incoming state (``h`` or ``c``): None means zeros, else it must be (batch, hidden)."""
    if s is None:
        return np.zeros((batch, hidden), dtype=dtype)
    s = check_layer_input(f"{owner} {name}", s)
    check_state_shape(owner, name, s, batch, hidden)
    return s.astype(dtype, copy=False)


class RNNLinear(Layer):
    """A dense layer applied at every time step (the book's ``RNNLinear``; Keras's ``TimeDistributed(Dense)``).

    Shapes: x (batch, time, in), W (in, out), B (1, out), output (batch, time, out) = x @ W + B. No activation:
    it produces the logits a softmax cross-entropy takes. ``weight_init`` as in ``Dense``.
    """

    param_names = ("W", "B")

    def __init__(self, neurons: int, weight_init: str = "glorot") -> None:
        super().__init__(check_positive_int("neurons", neurons))
        init_scale(weight_init, 1, 1)
        self.weight_init = weight_init

    def _check_input(self, input_: np.ndarray) -> None:
        check_sequence(repr(self), input_, None if self.first else self.W.shape[0])

    def _setup_layer(self, input_: np.ndarray) -> None:
        fan_in, dtype = input_.shape[2], input_.dtype
        scale = init_scale(self.weight_init, fan_in, self.neurons)
        self.W = draw(self.rng, (fan_in, self.neurons), scale, dtype)
        self.B = draw(self.rng, (1, self.neurons), scale, dtype)
        self.dW, self.dB = np.zeros_like(self.W), np.zeros_like(self.B)

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        input_ = self._prepare(input_)
        self.input_ = input_
        N, T, F = input_.shape
        # one matmul over every (batch, time) position, not one per sequence
        self.output = (input_.reshape(N * T, F) @ self.W + self.B).reshape(N, T, self.neurons)
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        check_forward_called(self, hasattr(self, "output"))
        if output_grad.shape != self.output.shape:
            raise ValueError(f"{self!r}.backward: expected a gradient of shape {self.output.shape} "
                             f"(the output's), got {output_grad.shape}")
        g2 = output_grad.reshape(-1, self.neurons)
        # dL/dW sums x^T g over every (batch, time) position; dL/dB sums g over them
        self.dW[...] = self.input_.reshape(-1, self.W.shape[0]).T @ g2
        self.dB[...] = g2.sum(axis=0, keepdims=True)
        return (g2 @ self.W.T).reshape(self.input_.shape)

    def params(self) -> list[np.ndarray]:
        return [self.W, self.B]

    def param_grads(self) -> list[np.ndarray]:
        return [self.dW, self.dB]

    def state_dict(self) -> dict[str, np.ndarray]:
        self._require_built("state_dict")
        return {"W": self.W.copy(), "B": self.B.copy()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self._require_built("load_state_dict")
        check_state(repr(self), {"W": self.W.shape, "B": self.B.shape}, state)
        self.W[...] = np.asarray(state["W"], dtype=self.W.dtype)
        self.B[...] = np.asarray(state["B"], dtype=self.B.dtype)

    def grad_dict(self) -> dict[str, np.ndarray]:
        self._require_built("grad_dict")
        return {"W": self.dW.copy(), "B": self.dB.copy()}
