"""The long short-term memory network (chapter 6), in the book's form: one equation per line.

V is the input width, H the hidden size, sigma the logistic function 1 / (1 + e^-a). With
``z = [x_t, h_{t-1}]``, the step's input next to the previous hidden state (batch, V + H):

    f = sigma(z W_f + B_f)        forget gate: how much of c_{t-1} to keep
    i = sigma(z W_i + B_i)        input gate: how much of the candidate to write
    c_bar = tanh(z W_c + B_c)     candidate cell state
    o = sigma(z W_o + B_o)        output gate: how much of the cell to show
    c_t = f * c_{t-1} + i * c_bar
    h_t = o * tanh(c_t)

Parameters: ``W_f, W_i, W_c, W_o`` (V + H, H) and ``B_f, B_i, B_c, B_o`` (1, H). ``LSTMNode`` is
one step, its forward beside its backward; ``LSTMLayer`` unrolls one node per time step, all
sharing the parameters, and runs backpropagation through time. The fast form, which training
uses, is ``scratch/fast/lstm.py``: the same numbers from the same parameters.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_forward_called
from scratch.recurrent import BookLayer, BookNode, sigmoid

__all__ = ["LSTMNode", "LSTMLayer"]


class LSTMNode(BookNode):
    """One time step of an LSTM: x (batch, V), h and c (batch, H) -> (h_new, c_new), each
    (batch, H).

    ``forward(x, h, c)`` runs the step (None means zeros); ``backward(grad_h, grad_c)`` returns
    (dL/dx, dL/dh, dL/dc) and sets the gradient ``dW_f``, ``dB_f``, ... of every parameter (see
    ``grad_dict()``). ``weight_init`` is ``"glorot"`` (default) or ``"standard"``.
    """

    param_names = ("W_f", "B_f", "W_i", "B_i", "W_c", "B_c", "W_o", "B_o")

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        scale = self._scale(V + H, H)
        return {n: ((V + H, H) if n[0] == "W" else (1, H), scale) for n in self.param_names}

    def forward(self, x: np.ndarray, h: np.ndarray | None = None, c: np.ndarray | None = None,
                training: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """x (batch, V), h and c (batch, H) or None -> (h_new, c_new), each (batch, H)."""
        x = self._step_input(x)
        h, c = self._state("h", h, len(x)), self._state("c", c, len(x))
        z = np.concatenate([x, h], axis=1)        # z = [x_t, h_{t-1}]          (batch, V + H)
        f = sigmoid(z @ self.W_f + self.B_f)      # f = sigma(z W_f + B_f)      (batch, H)
        i = sigmoid(z @ self.W_i + self.B_i)      # i = sigma(z W_i + B_i)      (batch, H)
        c_bar = np.tanh(z @ self.W_c + self.B_c)  # c_bar = tanh(z W_c + B_c)   (batch, H)
        o = sigmoid(z @ self.W_o + self.B_o)      # o = sigma(z W_o + B_o)      (batch, H)
        c_new = f * c + i * c_bar                 # c_t = f * c_{t-1} + i * c_bar
        tanh_c = np.tanh(c_new)
        h_new = o * tanh_c                        # h_t = o * tanh(c_t)
        self.saved = (z, c, f, i, c_bar, o, tanh_c)  # what the backward pass needs
        return h_new, c_new

    def backward(self, grad_h: np.ndarray,
                 grad_c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """grad_h = dL/dh_t, grad_c = dL/dc_t (batch, H) (None: zeros) -> (dL/dx (batch, V),
        dL/dh_{t-1} (batch, H), dL/dc_{t-1} (batch, H))."""
        check_forward_called(self, hasattr(self, "saved"))
        z, c, f, i, c_bar, o, tanh_c = self.saved
        if grad_c is None:
            grad_c = np.zeros_like(grad_h)
        # h_t = o * tanh(c_t); c_t reaches the loss through h_t and on its own (through c_{t+1})
        do = grad_h * tanh_c
        dc_new = grad_c + grad_h * o * (1.0 - tanh_c**2)
        # c_t = f * c_{t-1} + i * c_bar
        df, di, dc_bar, dc = dc_new * c, dc_new * c_bar, dc_new * i, dc_new * f
        # through the activations: sigma' = sigma (1 - sigma), tanh' = 1 - tanh^2
        da_f = df * f * (1.0 - f)
        da_i = di * i * (1.0 - i)
        da_c = dc_bar * (1.0 - c_bar**2)
        da_o = do * o * (1.0 - o)
        # a_g = z W_g + B_g for each gate g: dL/dW_g = z^T da_g, dL/dB_g = da_g summed over rows
        self.dW_f, self.dB_f = z.T @ da_f, da_f.sum(axis=0, keepdims=True)
        self.dW_i, self.dB_i = z.T @ da_i, da_i.sum(axis=0, keepdims=True)
        self.dW_c, self.dB_c = z.T @ da_c, da_c.sum(axis=0, keepdims=True)
        self.dW_o, self.dB_o = z.T @ da_o, da_o.sum(axis=0, keepdims=True)
        # z feeds all four gates: its gradient is the sum of what each sends back  (batch, V + H)
        dz = da_f @ self.W_f.T + da_i @ self.W_i.T + da_c @ self.W_c.T + da_o @ self.W_o.T
        V = self.input_size
        return dz[:, :V], dz[:, V:], dc  # z = [x, h]: split it back into dx, dh


class LSTMLayer(BookLayer):
    """An LSTM over a sequence: x (batch, time, V) -> hidden states (batch, time, H),
    h_0 = c_0 = 0.

    ``nn.LSTM(V, H, batch_first=True)`` is the torch twin. State-dict keys: ``W_f, B_f, W_i, B_i,
    W_c, B_c, W_o, B_o``.
    """

    def _make_node(self, hidden_size: int, weight_init: str) -> LSTMNode:
        return LSTMNode(hidden_size, weight_init)

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        x = self._prepare(input_)  # (batch, T, V); the parameters are drawn on the first call
        N, T, _ = x.shape
        self.nodes = self.node.unroll(T)  # one node per time step, all sharing the parameters
        h = np.zeros((N, self.hidden_size), dtype=x.dtype)  # h_0 = 0 for every batch
        c = np.zeros_like(h)  # c_0 = 0
        hs = []
        for t in range(T):  # step t needs h_{t-1} and c_{t-1}: the steps run in order
            h, c = self.nodes[t].forward(x[:, t], h, c)  # (batch, H) each
            hs.append(h)
        self.output = np.stack(hs, axis=1)  # (batch, T, H): the hidden states; c stays inside
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        g = self._check_output_grad(output_grad)  # dL/dh_t from the layer above  (batch, T, H)
        dxs = [None] * len(self.nodes)
        dh, dc = np.zeros_like(g[:, 0]), np.zeros_like(g[:, 0])  # h_T, c_T reach no later step
        for t in reversed(range(len(self.nodes))):
            # dL/dh_t = the loss's own gradient at step t + what h_t passed on to step t + 1;
            # dL/dc_t comes from step t + 1 alone (the layer outputs h, not c)
            dxs[t], dh, dc = self.nodes[t].backward(g[:, t] + dh, dc)
        self._sum_over_time()  # every parameter serves every step: its gradients add up
        return np.stack(dxs, axis=1)  # (batch, T, V)
