"""The vanilla recurrent network (chapter 6), in the book's form: one equation per line.

V is the input width, H the hidden size. With ``z = [x_t, h_{t-1}]``, the step's input next to
the previous hidden state (batch, V + H):

    a_t = z W_f + B_f        W_f (V + H, H), B_f (1, H)
    h_t = tanh(a_t)

``RNNNode`` is one step, its forward beside its backward; ``RNNLayer`` unrolls one node per time
step, all sharing ``W_f`` and ``B_f``, and runs backpropagation through time. The fast form, which
training uses, is ``scratch/fast/rnn.py``: the same numbers from the same parameters.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_forward_called
from scratch.recurrent import BookLayer, BookNode

__all__ = ["RNNNode", "RNNLayer"]


class RNNNode(BookNode):
    """One time step of a vanilla RNN: x (batch, V), h (batch, H) -> h_new (batch, H).

    ``forward(x, h)`` runs the step (``h=None`` means zeros); ``backward(grad_h)`` returns
    (dL/dx, dL/dh) and sets ``dW_f``, ``dB_f`` (see ``grad_dict()``). ``weight_init`` is
    ``"glorot"`` (default) or ``"standard"``.
    """

    param_names = ("W_f", "B_f")

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        scale = self._scale(V + H, H)
        return {"W_f": ((V + H, H), scale), "B_f": ((1, H), scale)}

    def forward(self, x: np.ndarray, h: np.ndarray | None = None,
                training: bool = True) -> np.ndarray:
        """x (batch, V), h (batch, H) or None -> h_new (batch, H)."""
        x = self._step_input(x)
        h = self._state("h", h, len(x))
        z = np.concatenate([x, h], axis=1)  # z = [x_t, h_{t-1}]      (batch, V + H)
        a = z @ self.W_f + self.B_f         # a_t = z W_f + B_f       (batch, H)
        h_new = np.tanh(a)                  # h_t = tanh(a_t)         (batch, H)
        self.saved = (z, h_new)             # what the backward pass needs
        return h_new

    def backward(self, grad_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """grad_h = dL/dh_t (batch, H) -> (dL/dx (batch, V), dL/dh_{t-1} (batch, H))."""
        check_forward_called(self, hasattr(self, "saved"))
        z, h_new = self.saved
        da = grad_h * (1.0 - h_new**2)             # tanh'(a) = 1 - tanh(a)^2   (batch, H)
        self.dW_f = z.T @ da                       # a_t = z W_f + B_f          (V + H, H)
        self.dB_f = da.sum(axis=0, keepdims=True)  # B_f is added to every row  (1, H)
        dz = da @ self.W_f.T                       #                            (batch, V + H)
        V = self.input_size
        return dz[:, :V], dz[:, V:]                # z = [x, h]: split it back into dx, dh


class RNNLayer(BookLayer):
    """A vanilla RNN over a sequence: x (batch, time, V) -> hidden states (batch, time, H),
    h_0 = 0.

    ``nn.RNN(V, H, batch_first=True)`` is the torch twin. State-dict keys: ``W_f``, ``B_f``.
    """

    def _make_node(self, hidden_size: int, weight_init: str) -> RNNNode:
        return RNNNode(hidden_size, weight_init)

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        x = self._prepare(input_)  # (batch, T, V); the parameters are drawn on the first call
        N, T, _ = x.shape
        self.nodes = self.node.unroll(T)  # one node per time step, all sharing W_f and B_f
        h = np.zeros((N, self.hidden_size), dtype=x.dtype)  # h_0 = 0 for every batch
        hs = []
        for t in range(T):  # h_t needs h_{t-1}: the steps run in order
            h = self.nodes[t].forward(x[:, t], h)  # (batch, H)
            hs.append(h)
        self.output = np.stack(hs, axis=1)  # (batch, T, H)
        return self.output

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        g = self._check_output_grad(output_grad)  # dL/dh_t from the layer above  (batch, T, H)
        dxs = [None] * len(self.nodes)
        dh = np.zeros_like(g[:, 0])  # h_T reaches no later step
        for t in reversed(range(len(self.nodes))):
            # dL/dh_t = the loss's own gradient at step t + what h_t passed on to step t + 1
            dxs[t], dh = self.nodes[t].backward(g[:, t] + dh)
        self._sum_over_time()  # W_f and B_f serve every step: their gradients add up
        return np.stack(dxs, axis=1)  # (batch, T, V)
