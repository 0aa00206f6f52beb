"""The gated recurrent unit (chapter 6), in the book's form, in its two published variants.

V is the input width, H the hidden size, sigma the logistic function 1 / (1 + e^-a), h = h_{t-1}:

    r = sigma(x W_xr + h W_hr + B_r)                 reset gate
    u = sigma(x W_xu + h W_hu + B_u)                 update gate
    classic: n = tanh(x W_xh + (r * h) W_hh + B_h)          reset before the matmul (Cho et al.)
    torch:   n = tanh(x W_xh + B_h + r * (h W_hh + B_hh))   reset after it (nn.GRU, cuDNN)
    h_t = u * h + (1 - u) * n

``gru="classic"`` is the book's GRU (Cho et al. 2014); ``gru="torch"`` (the default) equals
``nn.GRU``. Parameters: ``W_xr, W_xu, W_xh`` (V, H), ``W_hr, W_hu, W_hh`` (H, H),
``B_r, B_u, B_h`` (1, H); the torch variant adds ``B_hh`` (1, H), the bias inside the reset
product (r multiplies it, so it cannot be folded into ``B_h``). ``GRUNode`` is one step, its
forward beside its backward; ``GRULayer`` unrolls one node per time step, all sharing the
parameters, and runs backpropagation through time. The fast form, which training uses, is
``scratch/fast/gru.py``: the same numbers from the same parameters.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_choice, check_forward_called
from scratch.recurrent import BookLayer, BookNode, sigmoid

__all__ = ["GRUNode", "GRULayer"]

GRU_VARIANTS = ("torch", "classic")
_NAMES = ("W_xr", "W_hr", "B_r", "W_xu", "W_hu", "B_u", "W_xh", "W_hh", "B_h")


class GRUNode(BookNode):
    """One time step of a GRU: x (batch, V), h (batch, H) -> h_new (batch, H).

    ``gru="torch"`` (default) resets after the matmul and equals ``nn.GRUCell``; ``gru="classic"``
    resets before it, as the book and Cho et al. do. ``forward(x, h)`` runs the step (``h=None``
    means zeros); ``backward(grad_h)`` returns (dL/dx, dL/dh) and sets the gradient ``dW_xr``,
    ... of every parameter (see ``grad_dict()``).
    """

    def __init__(self, hidden_size: int, weight_init: str = "glorot", gru: str = "torch") -> None:
        super().__init__(hidden_size, weight_init)
        self.gru = check_choice("gru", gru, GRU_VARIANTS)
        self.param_names = _NAMES + (("B_hh",) if gru == "torch" else ())

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        shapes = {"x": ((V, H), self._scale(V, H)), "h": ((H, H), self._scale(H, H)),
                  "B": ((1, H), self._scale(V + H, H))}
        return {n: shapes[n[2] if n[0] == "W" else "B"] for n in self.param_names}

    def forward(self, x: np.ndarray, h: np.ndarray | None = None,
                training: bool = True) -> np.ndarray:
        """x (batch, V), h (batch, H) or None -> h_new (batch, H)."""
        x = self._step_input(x)
        h = self._state("h", h, len(x))
        r = sigmoid(x @ self.W_xr + h @ self.W_hr + self.B_r)  # reset gate   (batch, H)
        u = sigmoid(x @ self.W_xu + h @ self.W_hu + self.B_u)  # update gate  (batch, H)
        if self.gru == "classic":
            rh = r * h  # the reset gate acts on h before W_hh sees it
            n = np.tanh(x @ self.W_xh + rh @ self.W_hh + self.B_h)  # (batch, H)
            self.saved = (x, h, r, u, n, rh)  # what the backward pass needs
        else:
            hn = h @ self.W_hh + self.B_hh  # W_hh sees h itself; the reset gate acts after
            n = np.tanh(x @ self.W_xh + self.B_h + r * hn)  # (batch, H)
            self.saved = (x, h, r, u, n, hn)
        return u * h + (1.0 - u) * n  # h_t = u * h + (1 - u) * n

    def backward(self, grad_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """grad_h = dL/dh_t (batch, H) -> (dL/dx (batch, V), dL/dh_{t-1} (batch, H))."""
        check_forward_called(self, hasattr(self, "saved"))
        x, h, r, u, n, inner = self.saved  # inner: r * h (classic) or h W_hh + B_hh (torch)
        # h_t = u * h + (1 - u) * n: h also reaches h_t directly, weighted by u
        du, dn, dh = grad_h * (h - n), grad_h * (1.0 - u), grad_h * u
        da_n = dn * (1.0 - n**2)  # n = tanh(a_n): tanh' = 1 - tanh^2
        self.dW_xh, self.dB_h = x.T @ da_n, da_n.sum(axis=0, keepdims=True)
        if self.gru == "classic":
            # a_n = x W_xh + (r * h) W_hh + B_h
            self.dW_hh = inner.T @ da_n
            d_rh = da_n @ self.W_hh.T  # dL/d(r * h)
            dr, dh = d_rh * h, dh + d_rh * r
        else:
            # a_n = x W_xh + B_h + r * hn, with hn = h W_hh + B_hh
            dr, d_hn = da_n * inner, da_n * r
            self.dW_hh, self.dB_hh = h.T @ d_hn, d_hn.sum(axis=0, keepdims=True)
            dh = dh + d_hn @ self.W_hh.T
        da_r = dr * r * (1.0 - r)  # r = sigma(a_r): sigma' = sigma (1 - sigma)
        da_u = du * u * (1.0 - u)  # u = sigma(a_u)
        # a_r = x W_xr + h W_hr + B_r, a_u = x W_xu + h W_hu + B_u
        self.dW_xr, self.dW_hr, self.dB_r = x.T @ da_r, h.T @ da_r, da_r.sum(axis=0, keepdims=True)
        self.dW_xu, self.dW_hu, self.dB_u = x.T @ da_u, h.T @ da_u, da_u.sum(axis=0, keepdims=True)
        # x feeds a_r, a_u and a_n; h feeds a_r, a_u and (above) a_n and h_t
        dx = da_r @ self.W_xr.T + da_u @ self.W_xu.T + da_n @ self.W_xh.T  # (batch, V)
        dh = dh + da_r @ self.W_hr.T + da_u @ self.W_hu.T  # (batch, H)
        return dx, dh

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size}, gru={self.gru!r})"


class GRULayer(BookLayer):
    """A GRU over a sequence: x (batch, time, V) -> hidden states (batch, time, H), h_0 = 0.

    ``gru="torch"`` equals ``nn.GRU(V, H, batch_first=True)``; ``gru="classic"`` is the book's GRU.
    """

    def __init__(self, hidden_size: int, weight_init: str = "glorot", gru: str = "torch") -> None:
        self.gru = check_choice("gru", gru, GRU_VARIANTS)
        super().__init__(hidden_size, weight_init)

    def _make_node(self, hidden_size: int, weight_init: str) -> GRUNode:
        return GRUNode(hidden_size, weight_init, self.gru)

    def forward(self, input_: np.ndarray, training: bool = True) -> np.ndarray:
        x = self._prepare(input_)  # (batch, T, V); the parameters are drawn on the first call
        N, T, _ = x.shape
        self.nodes = self.node.unroll(T)  # one node per time step, all sharing the parameters
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
        self._sum_over_time()  # every parameter serves every step: its gradients add up
        return np.stack(dxs, axis=1)  # (batch, T, V)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size}, gru={self.gru!r})"
