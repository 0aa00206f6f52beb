"""The vanilla recurrent network (chapter 6), fast form: ``h_t = tanh([x_t, h_{t-1}] W_f + B_f)``.

Canonical parameters (the book's ``RNNNode``): ``W_f`` (V + H, H) acting on the concatenation
``[x, h]``, and ``B_f`` (1, H). V is the input width, H the hidden size. Rows ``W_f[:V]`` act on x,
``W_f[V:]`` on h. The book form, one equation per line, is ``scratch/rnn.py``; this one computes the
input projection of all time steps in one matmul and keeps the rest of the step minimal (see
``scratch/fast/fused.py``).
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_forward_called, check_layer_input, check_step_input
from scratch.fast.fused import RecurrentLayer, RecurrentNode
from scratch.recurrent import check_state_input

__all__ = ["RNNNode", "RNNLayer"]


class RNNNode(RecurrentNode):
    """One time step of a vanilla RNN: x (batch, V), h (batch, H) -> h_new (batch, H).

    ``forward(x, h)`` runs the step (``h=None`` means zeros); ``backward(grad_h)`` returns
    (dL/dx, dL/dh) and fills ``grad_dict()``. ``weight_init`` is ``"glorot"`` (default) or
    ``"standard"``.
    """

    param_names = ("W_f", "B_f")
    n_gates = 1

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        scale = self._scale(V + H, H)
        return {"W_f": ((V + H, H), scale), "B_f": ((1, H), scale)}

    def _views(self, W: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
        return {"W_f": W, "B_f": B}

    # --- one step, forward beside backward: ax = x @ W_x + B is computed by the caller ------------
    def forward_step(self, ax: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """h_new = tanh(ax + h @ W_h). Returns (h_new, cache)."""
        h_new = np.tanh(ax + h @ self.W_h)
        return h_new, h_new

    def backward_step(self, dh_new: np.ndarray, cache: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Returns (da, dh): da = dL/d(pre-activation) (batch, H), dh = da @ W_h^T."""
        da = dh_new * (1.0 - cache * cache)
        return da, da @ self.W_hT

    # --- the node on its own ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, h: np.ndarray | None = None,
                training: bool = True) -> np.ndarray:
        """x (batch, V), h (batch, H) or None -> h_new (batch, H)."""
        x = check_layer_input(self, x)
        check_step_input(repr(self), x, self.input_size)
        if self.input_size is None:
            self.build(x.shape[1], x.dtype)
        self.x = x
        self.h = check_state_input(repr(self), "h", h, x.shape[0], self.hidden_size, self.W.dtype)
        self.refresh()
        h_new, self._cache = self.forward_step(x @ self.W_x + self.B, self.h)
        return h_new

    def backward(self, grad_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """grad_h (batch, H) -> (dL/dx (batch, V), dL/dh (batch, H))."""
        check_forward_called(self, hasattr(self, "_cache"))
        da, dh = self.backward_step(grad_h, self._cache)
        self.dW_x[...] = self.x.T @ da
        self.dW_h[...] = self.h.T @ da
        self.dB[...] = da.sum(axis=0, keepdims=True)
        return da @ self.W_x.T, dh


class RNNLayer(RecurrentLayer):
    """A vanilla RNN over a sequence: x (batch, time, V) -> hidden states (batch, time, H), h_0 = 0.

    ``nn.RNN(V, H, batch_first=True)`` is the torch twin. State-dict keys: ``W_f``, ``B_f``.
    """

    def _make_node(self, hidden_size: int, weight_init: str) -> RNNNode:
        return RNNNode(hidden_size, weight_init)

    def _run(self, AX: np.ndarray) -> np.ndarray:
        T, N, H = AX.shape
        out = np.empty_like(AX)
        h = np.zeros((N, H), dtype=AX.dtype)
        for t in range(T):  # the loop over time is inherent: h_t needs h_{t-1}
            h, _ = self.node.forward_step(AX[t], h)
            out[t] = h
        return out

    def _run_backward(self, grad: np.ndarray) -> np.ndarray:
        dA = np.empty_like(self._out)
        dh = np.zeros_like(grad[0])
        for t in reversed(range(len(grad))):
            # dL/dh_t = the upstream gradient at t + what h_t passed on to step t + 1
            dA[t], dh = self.node.backward_step(grad[t] + dh, self._out[t])
        self.node.dW_h[...] = self._previous_hidden().T @ dA.reshape(-1, self.hidden_size)
        return dA
