"""What the recurrent cells and layers share (chapter 6), and the time-distributed dense layer.

A *node* (the book's name; PyTorch says *cell*) is one time step with its parameters: ``RNNNode``,
``GRUNode``, ``LSTMNode``. A *layer* unrolls its node over the time axis: (batch, time, features)
-> (batch, time, hidden). The hidden state (and the LSTM's cell state) starts at zero for every
batch: no state is carried between batches, in either backend.

Each node exists twice: its book form (``scratch/rnn.py``, ``scratch/gru.py``,
``scratch/lstm.py``: the book's equations, one per line, on the bases ``BookNode`` and
``BookLayer`` below) and its fast form (``scratch/fast/``: fused gate storage, time-major loops),
which training uses. Both hold the canonical per-gate parameters in the same state-dict layout.

Unlike the book's ``RNNLayer``, which ends in its own output projection ``W_v``, our layers
return the hidden states (as ``nn.LSTM`` does) so they stack; ``RNNLinear`` is the projection,
applied at every time step.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self

import numpy as np

from dlfs.errors import (
    check_forward_called,
    check_layer_input,
    check_positive_int,
    check_sequence,
    check_state_shape,
    check_step_input,
)
from dlfs.exchange import check_state
from dlfs.init import check_weight_init, draw, init_scale
from scratch.base import Layer

__all__ = ["RNNLinear"]


def check_state_input(owner: str, name: str, s: np.ndarray | None, batch: int, hidden: int,
                      dtype: np.dtype) -> np.ndarray:
    """A node's incoming state ``h`` or ``c``: None means zeros, else a (batch, hidden) array."""
    if s is None:
        return np.zeros((batch, hidden), dtype=dtype)
    s = check_layer_input(f"{owner} {name}", s)
    check_state_shape(owner, name, s, batch, hidden)
    return s.astype(dtype, copy=False)


def sigmoid(a: np.ndarray) -> np.ndarray:
    """sigma(a) = 1 / (1 + e^-a), elementwise."""
    with np.errstate(over="ignore"):  # e^-a overflows to inf for a << 0, giving the right limit 0
        return 1.0 / (1.0 + np.exp(-a))


class BookNode:
    """Base of the book form's nodes: one time step, its parameters held by name as attributes.

    A subclass sets ``param_names`` (the canonical names, e.g. ``("W_f", "B_f")``), implements
    ``_spec`` and writes ``forward`` and ``backward`` equation by equation. The parameters are
    attributes named as in the book (``self.W_f``, ``self.B_f``); ``backward`` sets the gradient
    of each as ``self.dW_f``, ``self.dB_f``. They exist from the first input on, drawn from
    ``self.rng`` (a layer or network hands in its stream) in the order ``_spec`` lists them.
    """

    param_names: tuple[str, ...] = ()

    def __init__(self, hidden_size: int, weight_init: str = "glorot") -> None:
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.input_size: int | None = None
        self.rng: np.random.Generator = np.random.default_rng(0)

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        """Canonical name -> (shape, initial standard deviation), in the order they are drawn."""
        raise NotImplementedError

    def _scale(self, fan_in: int, fan_out: int) -> float:
        return init_scale(self.weight_init, fan_in, fan_out)

    def build(self, V: int, dtype: np.dtype) -> None:
        """Draw the parameters for inputs of width ``V``; their gradients start at zero."""
        self.input_size, self.dtype = V, np.dtype(dtype)
        for name, (shape, scale) in self._spec(V).items():
            setattr(self, name, draw(self.rng, shape, scale, dtype))
            setattr(self, "d" + name, np.zeros(shape, dtype=dtype))

    def _step_input(self, x: np.ndarray) -> np.ndarray:
        """Check one step's input x (batch, V); the parameters are drawn on the first one."""
        x = check_layer_input(self, x)
        check_step_input(repr(self), x, self.input_size)
        if self.input_size is None:
            self.build(x.shape[1], x.dtype)
        return x

    def _state(self, name: str, s: np.ndarray | None, batch: int) -> np.ndarray:
        """The incoming state ``h`` or ``c`` (batch, H): None means zeros."""
        return check_state_input(repr(self), name, s, batch, self.hidden_size, self.dtype)

    def unroll(self, T: int) -> list[Self]:
        """T nodes for T time steps, as the book's layer makes them. Each is a shallow copy of this
        node: its own inputs, outputs and gradients, and the same parameter arrays (not copies)."""
        return [copy.copy(self) for _ in range(T)]

    # --- the state-dict protocol ------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if self.input_size is None:
            raise RuntimeError(f"{self!r}.{what}: the parameters do not exist until the first "
                               f"input (call forward once, or build the network with a sample "
                               f"batch)")

    def params(self) -> list[np.ndarray]:
        """The parameter arrays, which an optimiser updates in place."""
        self._require_built("params")
        return [getattr(self, n) for n in self.param_names]

    def param_grads(self) -> list[np.ndarray]:
        self._require_built("param_grads")
        return [getattr(self, "d" + n) for n in self.param_names]

    def state_dict(self) -> dict[str, np.ndarray]:
        self._require_built("state_dict")
        return {n: getattr(self, n).copy() for n in self.param_names}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self._require_built("load_state_dict")
        check_state(repr(self), {n: getattr(self, n).shape for n in self.param_names}, state)
        for n in self.param_names:  # in place: the optimiser and the unrolled nodes hold them
            p = getattr(self, n)
            p[...] = np.asarray(state[n], dtype=p.dtype)

    def grad_dict(self) -> dict[str, np.ndarray]:
        self._require_built("grad_dict")
        return {n: getattr(self, "d" + n).copy() for n in self.param_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size})"


class NodeLayer:
    """What the book form's and the fast form's recurrent layers share: a layer that unrolls its
    ``node`` over time, the node holding the parameters. Set-up on the first input, the input check,
    and the layer protocol's parameter methods, handed on to the node."""

    node: Any

    def __init__(self, hidden_size: int, weight_init: str = "glorot") -> None:
        super().__init__(check_positive_int("hidden_size", hidden_size))  # type: ignore[call-arg]
        self.hidden_size = self.neurons  # type: ignore[attr-defined]
        self.node = self._make_node(hidden_size, weight_init)

    def _make_node(self, hidden_size: int, weight_init: str) -> Any:
        raise NotImplementedError

    def _check_input(self, input_: np.ndarray) -> None:
        check_sequence(repr(self), input_, self.node.input_size)

    def _setup_layer(self, input_: np.ndarray) -> None:
        self.node.rng = self.rng  # type: ignore[attr-defined]
        self.node.build(input_.shape[2], input_.dtype)

    def params(self) -> list[np.ndarray]:
        return self.node.params()

    def param_grads(self) -> list[np.ndarray]:
        return self.node.param_grads()

    def state_dict(self) -> dict[str, np.ndarray]:
        self._require_built("state_dict")  # type: ignore[attr-defined]
        return self.node.state_dict()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self._require_built("load_state_dict")  # type: ignore[attr-defined]
        self.node.load_state_dict(state)

    def grad_dict(self) -> dict[str, np.ndarray]:
        self._require_built("grad_dict")  # type: ignore[attr-defined]
        return self.node.grad_dict()


class BookLayer(NodeLayer, Layer):
    """Base of the book form's layers: a node unrolled over time.

    Shapes: x (batch, time, V) -> hidden states (batch, time, H), with h_0 = 0 (and c_0 = 0).

    The layer's ``node`` holds the parameters; each forward pass makes one node per time step
    (``node.unroll``), all sharing them. A subclass writes ``forward`` (t = 0 .. T-1) and
    ``backward`` (t = T-1 .. 0, backpropagation through time) and ends the backward with
    ``_sum_over_time``: a parameter used at every step has the sum of the steps' gradients.
    """

    def _make_node(self, hidden_size: int, weight_init: str) -> BookNode:
        raise NotImplementedError

    def _check_output_grad(self, output_grad: np.ndarray) -> np.ndarray:
        """The upstream gradient (batch, time, H), in the output's dtype."""
        check_forward_called(self, hasattr(self, "output"))
        if output_grad.shape != self.output.shape:
            raise ValueError(f"{self!r}.backward: expected a gradient of shape {self.output.shape} "
                             f"(the output's), got {output_grad.shape}")
        return output_grad.astype(self.output.dtype, copy=False)

    def _sum_over_time(self) -> None:
        """dL/dW = sum over t of dL/dW at step t, for every parameter W. Written in place, so
        that ``param_grads()`` returns the same arrays after every backward pass."""
        for n in self.node.param_names:
            getattr(self.node, "d" + n)[...] = sum(getattr(node, "d" + n) for node in self.nodes)


class RNNLinear(Layer):
    """A dense layer applied at every time step (the book's ``RNNLinear``; Keras's
    ``TimeDistributed(Dense)``).

    Shapes: x (batch, time, in), W (in, out), B (1, out), output (batch, time, out) = x @ W + B.
    No activation: it produces the logits a softmax cross-entropy takes. ``weight_init`` as in
    ``Dense``.
    """

    param_names = ("W", "B")

    def __init__(self, neurons: int, weight_init: str = "glorot") -> None:
        super().__init__(check_positive_int("neurons", neurons))
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch

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


# --- the book form's shared plumbing --------------------------------------------------------------
