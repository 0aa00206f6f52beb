"""The fast form of the recurrent nodes and layers (chapter 6): fused parameter storage,
time-major loops.

A *node* (the book's name; PyTorch says *cell*) is one time step with its parameters: ``RNNNode``,
``GRUNode``, ``LSTMNode``. A *layer* unrolls its node over the time axis: (batch, time, features)
-> (batch, time, hidden). The hidden state (and the LSTM's cell state) starts at zero for every
batch: no state is carried between batches, in either backend.

Parameters are stored *fused*: every gate's matrix is a block of columns of one array, so one
matmul per time step serves all gates. The canonical state dict (the book's per-gate matrices) is a
set of views into the fused arrays, so an optimiser updating ``params()`` in place updates the
fused storage. The book forms, one equation per line, are ``scratch/rnn.py``, ``scratch/gru.py``
and ``scratch/lstm.py`` (on the bases ``BookNode`` and ``BookLayer`` of ``scratch/recurrent.py``);
the parity suite holds both forms to the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from dlfs.errors import check_forward_called, check_positive_int
from dlfs.exchange import check_state
from dlfs.init import check_weight_init, draw, init_scale
from scratch.base import Layer
from scratch.recurrent import NodeLayer


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) written as (1 + tanh(x/2)) / 2: one transcendental call and no overflow
    for x << 0."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class RecurrentNode:
    """Base of the one-step nodes: fused parameter storage, canonical views, lazy set-up, the
    state-dict protocol.

    A subclass sets ``param_names`` and ``n_gates`` and implements ``_spec`` (the canonical shapes
    and initial scales), ``_views`` (canonical name -> view into the fused arrays), ``forward_step``
    and ``backward_step``. Fused storage: ``W_x`` (V, G*H) on the input, ``W_h`` (H, G*H) on the
    previous hidden state, ``B`` (1, G*H), where G is the number of gate blocks; their gradients
    ``dW_x``, ``dW_h``, ``dB`` have the same shapes.
    """

    param_names: tuple[str, ...] = ()
    n_gates = 1

    def __init__(self, hidden_size: int, weight_init: str = "glorot") -> None:
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.input_size: int | None = None
        # a layer or network hands in its stream
        self.rng: np.random.Generator = np.random.default_rng(0)

    # --- set-up -----------------------------------------------------------------------------------
    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        """Canonical name -> (shape, initial standard deviation), in the order the weights are
        drawn."""
        raise NotImplementedError

    def _allocate(self, V: int, dtype: np.dtype) -> None:
        """Fused arrays and their gradients; subclasses with extra arrays extend this."""
        GH = self.n_gates * self.hidden_size
        # [W_x; W_h]: rows for x, then rows for h
        self.W = np.zeros((V + self.hidden_size, GH), dtype=dtype)
        self.B = np.zeros((1, GH), dtype=dtype)
        self.dW, self.dB = np.zeros_like(self.W), np.zeros_like(self.B)
        self.W_x, self.W_h = self.W[:V], self.W[V:]  # row blocks: contiguous views
        self.dW_x, self.dW_h = self.dW[:V], self.dW[V:]

    def refresh(self) -> None:
        """Before a forward pass: a contiguous copy of W_h^T, which every backward step multiplies
        by (BLAS runs ~1.5x faster on it than on the transposed view). The weights do not change
        between forward and backward."""
        self.W_hT = np.ascontiguousarray(self.W_h.T)

    def _views(self, W: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
        """Canonical name -> view into the fused arrays (``W``/``B`` or their gradients
        ``dW``/``dB``)."""
        raise NotImplementedError

    def build(self, V: int, dtype: np.dtype) -> None:
        """Create the parameters for inputs of width ``V``, drawing them from ``self.rng`` in
        canonical order."""
        self.input_size = V
        self._allocate(V, dtype)
        self.params_, self.grads_ = self._param_views(), self._grad_views()
        for name, (shape, scale) in self._spec(V).items():
            self.params_[name][...] = draw(self.rng, shape, scale, dtype)

    def _param_views(self) -> dict[str, np.ndarray]:
        return self._views(self.W, self.B)

    def _grad_views(self) -> dict[str, np.ndarray]:
        return self._views(self.dW, self.dB)

    def _scale(self, fan_in: int, fan_out: int) -> float:
        return init_scale(self.weight_init, fan_in, fan_out)

    # --- the state-dict protocol ------------------------------------------------------------------
    def _require_built(self, what: str) -> None:
        if self.input_size is None:
            raise RuntimeError(f"{self!r}.{what}: the parameters do not exist until the first "
                               f"input (call forward once, or build the network with a sample "
                               f"batch)")

    def _fused(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(array, gradient) pairs of the fused storage; together they hold every canonical
        parameter once."""
        return [(self.W, self.dW), (self.B, self.dB)]

    def params(self) -> list[np.ndarray]:
        """The fused arrays, which an optimiser updates in place: the same numbers as
        ``state_dict()``'s per-gate views, in a few contiguous arrays (an elementwise update is ~5x
        faster on them than on strided views)."""
        self._require_built("params")
        return [p for p, _ in self._fused()]

    def param_grads(self) -> list[np.ndarray]:
        self._require_built("param_grads")
        return [g for _, g in self._fused()]

    def state_dict(self) -> dict[str, np.ndarray]:
        self._require_built("state_dict")
        return {n: self.params_[n].copy() for n in self.param_names}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self._require_built("load_state_dict")
        check_state(repr(self), {n: self.params_[n].shape for n in self.param_names}, state)
        for n in self.param_names:
            # in place: views
            self.params_[n][...] = np.asarray(state[n], dtype=self.params_[n].dtype)

    def grad_dict(self) -> dict[str, np.ndarray]:
        self._require_built("grad_dict")
        return {n: self.grads_[n].copy() for n in self.param_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size})"


class RecurrentLayer(NodeLayer, Layer):
    """Base of the layers: a node unrolled over time. x (batch, time, V) -> hidden states
    (batch, time, H).

    Internally time-major: x is transposed to (time, batch, V) so that every step's slice is
    contiguous, and the input projection of all steps, ``x @ W_x + B``, is one matmul before the
    loop; the loop does only the ``h @ W_h`` part. Backward runs the steps in reverse
    (backpropagation through time), collects each step's pre-activation gradients, and computes
    ``dW_x``, ``dW_h``, ``dB`` and dL/dx with one matmul each.
    """

    def _make_node(self, hidden_size: int, weight_init: str) -> RecurrentNode:
        raise NotImplementedError

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        input_ = self._prepare(input_)
        self.input_ = input_
        x = np.ascontiguousarray(input_.transpose(1, 0, 2))  # (T, batch, V)
        T, N, V = x.shape
        self._x2 = x.reshape(T * N, V)
        node = self.node
        node.refresh()
        # every step's input projection at once
        AX = (self._x2 @ node.W_x + node.B).reshape(T, N, -1)
        self._out = self._run(AX)  # (T, batch, H)
        self.output = np.ascontiguousarray(self._out.transpose(1, 0, 2))
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        check_forward_called(self, hasattr(self, "output"))
        if output_grad.shape != self.output.shape:
            raise ValueError(f"{self!r}.backward: expected a gradient of shape {self.output.shape} "
                             f"(the output's), got {output_grad.shape}")
        g = np.ascontiguousarray(output_grad.transpose(1, 0, 2)).astype(
            self.output.dtype, copy=False)
        T, N, _ = g.shape
        dAX = self._run_backward(g)  # (T, batch, G*H): dL/d(x W_x + B) at every step
        dAX2 = dAX.reshape(T * N, -1)
        node = self.node
        node.dW_x[...] = self._x2.T @ dAX2
        node.dB[...] = dAX2.sum(axis=0, keepdims=True)
        dx = (dAX2 @ node.W_x.T).reshape(T, N, -1)
        return np.ascontiguousarray(dx.transpose(1, 0, 2))

    def _previous_hidden(self) -> np.ndarray:
        """(T*batch, H): the hidden state each step received (zeros at t = 0), for
        ``dW_h = H_prev^T dA``."""
        H_prev = np.empty_like(self._out)
        H_prev[0] = 0
        H_prev[1:] = self._out[:-1]
        return H_prev.reshape(-1, self.hidden_size)

    def _run(self, AX: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _run_backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError
