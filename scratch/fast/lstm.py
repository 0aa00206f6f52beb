"""The long short-term memory network (chapter 6), fast form.

With ``z = [x_t, h_{t-1}]`` (the book's concatenation) and sigma the logistic function:

    f = sigma(z W_f + B_f)      forget gate          c_t = f * c_{t-1} + i * c_bar
    i = sigma(z W_i + B_i)      input gate           h_t = o * tanh(c_t)
    c_bar = tanh(z W_c + B_c)   candidate cell
    o = sigma(z W_o + B_o)      output gate

Canonical parameters (the book's ``LSTMNode``): ``W_f, W_i, W_c, W_o`` (V + H, H) and
``B_f, B_i, B_c, B_o`` (1, H). Fused storage puts the gate columns in the book's order
[f | i | c | o]; the canonical names are views of those column blocks. The four activations are
computed by one ``tanh`` over all 4H columns, using sigma(a) = (1 + tanh(a / 2)) / 2 for the three
sigmoid gates: per-column scale and offset vectors do the rest. The book form, one equation per
line, is ``scratch/lstm.py``.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_forward_called, check_layer_input, check_step_input
from scratch.fast.fused import RecurrentLayer, RecurrentNode
from scratch.recurrent import check_state_input

__all__ = ["LSTMNode", "LSTMLayer"]

_BLOCK = {"f": 0, "i": 1, "c": 2, "o": 3}  # column block of each gate in the fused arrays


class LSTMNode(RecurrentNode):
    """One time step of an LSTM: x (batch, V), h and c (batch, H) -> (h_new, c_new), each
    (batch, H).

    ``forward(x, h, c)`` runs the step (None means zeros); ``backward(grad_h, grad_c)`` returns
    (dL/dx, dL/dh, dL/dc) and fills ``grad_dict()``. ``weight_init`` is ``"glorot"`` (default) or
    ``"standard"``.
    """

    param_names = ("W_f", "B_f", "W_i", "B_i", "W_c", "B_c", "W_o", "B_o")
    n_gates = 4

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        scale = self._scale(V + H, H)
        return {n: ((V + H, H) if n[0] == "W" else (1, H), scale) for n in self.param_names}

    def _views(self, W: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
        H = self.hidden_size
        out = {}
        for gate, k in _BLOCK.items():
            out[f"W_{gate}"] = W[:, k * H:(k + 1) * H]
            out[f"B_{gate}"] = B[:, k * H:(k + 1) * H]
        return out

    def _allocate(self, V: int, dtype: np.dtype) -> None:
        super()._allocate(V, dtype)
        H = self.hidden_size
        is_c = np.repeat(np.arange(4) == _BLOCK["c"], H)  # (4H,): True on the candidate's columns
        # sigma(a) = 0.5 + 0.5 tanh(0.5 a) on f, i, o; tanh(a) on c: scale, tanh, scale, shift.
        # Derivatives from the activations y: sigma' = y (1 - y), tanh' = 1 - y^2 = y (0 - y) + 1.
        self._columns = np.stack([np.where(is_c, 1.0, 0.5), np.where(is_c, 0.0, 0.5), ~is_c,
                                  is_c]).astype(dtype)
        self._tiled: np.ndarray | None = None

    def _constants(self, n: int) -> np.ndarray:
        """(4, n, 4H): scale, shift, one-if-sigmoid, one-if-tanh, tiled over n rows. NumPy combines
        two arrays of the same shape ~3x faster than it broadcasts a (4H,) row over a batch, and
        these ops run every step."""
        if self._tiled is None or self._tiled.shape[1] != n:
            self._tiled = np.repeat(self._columns[:, None, :], n, axis=1)
        return self._tiled

    # --- one step forward, then backward: a = x @ W_x + B is computed by the caller ---------------
    def forward_step(self, a: np.ndarray, h: np.ndarray,
                     c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """a (batch, 4H) holds x W_x + B and is overwritten with the gate activations
        [f | i | c_bar | o].
        Returns (h_new, c_new, tanh(c_new)), each (batch, H)."""
        H = self.hidden_size
        scale, shift, _, _ = self._constants(len(a))
        a += h @ self.W_h  # all four gates' pre-activations from one matmul
        a *= scale
        np.tanh(a, out=a)
        a *= scale
        a += shift
        c_new = a[:, :H] * c  # f * c_{t-1}
        c_new += a[:, H:2 * H] * a[:, 2 * H:3 * H]  # + i * c_bar
        tanh_c = np.tanh(c_new)
        return a[:, 3 * H:] * tanh_c, c_new, tanh_c  # h_t = o * tanh(c_t)

    def local_grads(self, G: np.ndarray, C_prev: np.ndarray,
                    tanh_C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The local derivatives of a step: they do not depend on the upstream gradient, so the
        layer computes them right after the forward step, while its arrays are in cache.

        Shapes: G (batch, 4H) the activations [f | i | c_bar | o], C_prev and tanh_C (batch, H) the
        incoming cell state and tanh of the outgoing one. Returns K (batch, 4H)
        = [dc/da_f, dc/da_i, dc/da_c, dh/da_o]
        = [c_prev f(1-f), c_bar i(1-i), i (1-c_bar^2), tanh(c) o(1-o)]
        and K_c (batch, H) = dh/dc = o (1 - tanh(c)^2).
        """
        H = self.hidden_size
        _, _, one_if_sigmoid, one_if_tanh = self._constants(G.shape[-2])
        K = one_if_sigmoid - G  # each activation's derivative: y (1 - y), or 1 - y^2 for tanh
        K *= G
        K += one_if_tanh
        K[:, :H] *= C_prev
        K[:, H:2 * H] *= G[:, 2 * H:3 * H]
        K[:, 2 * H:3 * H] *= G[:, H:2 * H]
        K[:, 3 * H:] *= tanh_C
        K_c = 1.0 - tanh_C * tanh_C
        K_c *= G[:, 3 * H:]
        return K, K_c

    def backward_step(self, dh: np.ndarray, dc_next: np.ndarray, K: np.ndarray, K_c: np.ndarray,
                      f: np.ndarray, da: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The chain rule through one step. dh = dL/dh_t (batch, H), dc_next = dL/dc_t from step
        t + 1; K, K_c from ``local_grads``; f the forget gate; ``da`` (batch, 4H) receives
        dL/d(pre-activations).
        Returns (da @ W_h^T, dL/dc_{t-1}): what h_{t-1} and c_{t-1} pass back to step t - 1."""
        H = self.hidden_size
        dc = dh * K_c  # c_t reaches the loss through h_t and directly, from step t + 1
        dc += dc_next
        da4, K4 = da.reshape(len(da), 4, H), K.reshape(len(K), 4, H)
        np.multiply(K4[:, :3], dc[:, None, :], out=da4[:, :3])  # f, i and c_bar act through c_t
        np.multiply(K4[:, 3], dh, out=da4[:, 3])  # o acts through h_t
        return da @ self.W_hT, dc * f

    # --- the node on its own ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, h: np.ndarray | None = None, c: np.ndarray | None = None,
                training: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """x (batch, V), h and c (batch, H) or None -> (h_new, c_new), each (batch, H)."""
        x = check_layer_input(self, x)
        check_step_input(repr(self), x, self.input_size)
        if self.input_size is None:
            self.build(x.shape[1], x.dtype)
        N, H, dtype = x.shape[0], self.hidden_size, self.W.dtype
        self.x = x
        self.h = check_state_input(repr(self), "h", h, N, H, dtype)
        self.c = check_state_input(repr(self), "c", c, N, H, dtype)
        self.refresh()
        self.g = x @ self.W_x + self.B
        h_new, c_new, self.tanh_c = self.forward_step(self.g, self.h, self.c)
        return h_new, c_new

    def backward(self, grad_h: np.ndarray,
                 grad_c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """grad_h, grad_c (batch, H) (None: zeros) -> (dL/dx (batch, V), dL/dh (batch, H),
        dL/dc (batch, H))."""
        check_forward_called(self, hasattr(self, "g"))
        if grad_c is None:
            grad_c = np.zeros_like(grad_h)
        K, K_c = self.local_grads(self.g, self.c, self.tanh_c)
        da = np.empty_like(self.g)
        dh, dc = self.backward_step(grad_h, grad_c, K, K_c, self.g[:, :self.hidden_size], da)
        self.dW_x[...] = self.x.T @ da
        self.dW_h[...] = self.h.T @ da
        self.dB[...] = da.sum(axis=0, keepdims=True)
        return da @ self.W_x.T, dh, dc


class LSTMLayer(RecurrentLayer):
    """An LSTM over a sequence: x (batch, time, V) -> hidden states (batch, time, H), h_0 = c_0 = 0.

    ``nn.LSTM(V, H, batch_first=True)`` is the torch twin. State-dict keys: ``W_f, B_f, W_i, B_i,
    W_c, B_c, W_o, B_o``.
    """

    def _make_node(self, hidden_size: int, weight_init: str) -> LSTMNode:
        return LSTMNode(hidden_size, weight_init)

    def _run(self, AX: np.ndarray) -> np.ndarray:
        T, N, _ = AX.shape
        H = self.hidden_size
        out = np.empty((T, N, H), dtype=AX.dtype)
        h, c = np.zeros((N, H), dtype=AX.dtype), np.zeros((N, H), dtype=AX.dtype)
        self._local = []
        for t in range(T):  # the loop over time is inherent: step t needs h_{t-1} and c_{t-1}
            c_prev = c
            h, c, tanh_c = self.node.forward_step(AX[t], h, c_prev)
            out[t] = h
            # the local derivatives now, while the step's arrays are in cache
            self._local.append(self.node.local_grads(AX[t], c_prev, tanh_c))
        self._G = AX  # overwritten with the gate activations
        return out

    def _run_backward(self, grad: np.ndarray) -> np.ndarray:
        T, N, H = grad.shape
        dA = np.empty_like(self._G)
        back_h, dc = np.zeros((N, H), dtype=grad.dtype), np.zeros((N, H), dtype=grad.dtype)
        for t in reversed(range(T)):
            # dL/dh_t = the upstream gradient at t + what h_t passed on to step t + 1
            back_h += grad[t]
            K, K_c = self._local[t]
            back_h, dc = self.node.backward_step(back_h, dc, K, K_c, self._G[t, :, :H], dA[t])
        self.node.dW_h[...] = self._previous_hidden().T @ dA.reshape(-1, 4 * H)
        return dA
