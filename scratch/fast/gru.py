"""The gated recurrent unit (chapter 6), fast form, in its two published variants.

    r = sigma(x W_xr + h W_hr + B_r)              reset gate
    u = sigma(x W_xu + h W_hu + B_u)              update gate
    classic (Cho et al. 2014, the book):
        n = tanh(x W_xh + (r * h) W_hh + B_h)            reset before the matmul
    torch (``nn.GRU``, cuDNN):
        n = tanh(x W_xh + B_h + r * (h W_hh + B_hh))     reset after the matmul
    h_new = u * h + (1 - u) * n

Canonical parameters (the book's ``GRUNode``): ``W_xr, W_xu, W_xh`` (V, H), ``W_hr, W_hu, W_hh``
(H, H), ``B_r, B_u, B_h`` (1, H); the torch variant adds ``B_hh`` (1, H), the bias inside the reset
product (it cannot be folded into ``B_h`` because r multiplies it). Fused column order: [r | u | n].
The book form, one equation per line, is ``scratch/gru.py``.
"""

from __future__ import annotations

import numpy as np

from dlfs.errors import check_choice, check_forward_called, check_layer_input, check_step_input
from scratch.fast.fused import RecurrentLayer, RecurrentNode, sigmoid
from scratch.recurrent import check_state_input

__all__ = ["GRUNode", "GRULayer"]

GRU_VARIANTS = ("torch", "classic")
_NAMES = ("W_xr", "W_hr", "B_r", "W_xu", "W_hu", "B_u", "W_xh", "W_hh", "B_h")


class GRUNode(RecurrentNode):
    """One time step of a GRU: x (batch, V), h (batch, H) -> h_new (batch, H).

    ``gru="torch"`` (default) resets after the matmul and equals ``nn.GRUCell``; ``gru="classic"``
    resets before it, as the book and Cho et al. do. ``forward(x, h)`` runs the step (``h=None``
    means zeros); ``backward(grad_h)`` returns (dL/dx, dL/dh) and fills ``grad_dict()``.
    """

    n_gates = 3

    def __init__(self, hidden_size: int, weight_init: str = "glorot", gru: str = "torch") -> None:
        super().__init__(hidden_size, weight_init)
        self.gru = check_choice("gru", gru, GRU_VARIANTS)
        self.param_names = _NAMES + (("B_hh",) if gru == "torch" else ())

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        shapes = {"x": ((V, H), self._scale(V, H)), "h": ((H, H), self._scale(H, H)),
                  "B": ((1, H), self._scale(V + H, H))}
        return {n: shapes[n[2] if n[0] == "W" else "B"] for n in self.param_names}

    def _allocate(self, V: int, dtype: np.dtype) -> None:
        super()._allocate(V, dtype)
        self.B_hh = np.zeros((1, self.hidden_size), dtype=dtype)  # used by the torch variant only
        self.dB_hh = np.zeros_like(self.B_hh)

    def _views(self, W: np.ndarray, B: np.ndarray) -> dict[str, np.ndarray]:
        V, H = self.input_size, self.hidden_size
        out = {}
        for k, gate in enumerate(("r", "u", "h")):
            out[f"W_x{gate}"] = W[:V, k * H:(k + 1) * H]
            out[f"W_h{gate}"] = W[V:, k * H:(k + 1) * H]
            out[f"B_{gate}"] = B[:, k * H:(k + 1) * H]
        return out

    def _param_views(self) -> dict[str, np.ndarray]:
        return {**self._views(self.W, self.B),
                **({"B_hh": self.B_hh} if self.gru == "torch" else {})}

    def _fused(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return super()._fused() + ([(self.B_hh, self.dB_hh)] if self.gru == "torch" else [])

    def _grad_views(self) -> dict[str, np.ndarray]:
        return {**self._views(self.dW, self.dB),
                **({"B_hh": self.dB_hh} if self.gru == "torch" else {})}

    # --- one step, forward beside backward: ax = x @ W_x + B is computed by the caller ------------
    def forward_step(self, ax: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, tuple]:
        """Returns (h_new, cache)."""
        H = self.hidden_size
        if self.gru == "torch":
            gh = h @ self.W_h  # (batch, 3H): one matmul for r, u and n
            s = sigmoid(ax[:, :2 * H] + gh[:, :2 * H])
            hn = gh[:, 2 * H:] + self.B_hh
            n = np.tanh(ax[:, 2 * H:] + s[:, :H] * hn)
        else:
            s = sigmoid(ax[:, :2 * H] + h @ self.W_h[:, :2 * H])
            hn = s[:, :H] * h  # r * h, what W_hh multiplies (kept for dW_hh)
            n = np.tanh(ax[:, 2 * H:] + hn @ self.W_h[:, 2 * H:])
        u = s[:, H:]
        return n + u * (h - n), (s, n, h, hn)

    def backward_step(self, dh_new: np.ndarray,
                      cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (dax, dgh, dh): dax = dL/d(x W_x + B) (batch, 3H); dgh = dL/d(the h-side
        pre-activations: h W_hr, h W_hu, and h W_hh + B_hh (torch) or (r*h) W_hh (classic));
        dh = dL/dh."""
        H = self.hidden_size
        s, n, h, hn = cache
        r, u = s[:, :H], s[:, H:]
        dan = dh_new * (1.0 - u) * (1.0 - n * n)  # through h_new = u h + (1-u) n, then tanh
        dh = dh_new * u
        dax = np.empty((len(s), 3 * H), dtype=s.dtype)
        dax[:, H:2 * H] = dh_new * (h - n)  # dL/du
        dax[:, 2 * H:] = dan
        if self.gru == "torch":
            dax[:, :H] = dan * hn  # dL/dr, since n's argument holds r * hn
            dax[:, :2 * H] *= s * (1.0 - s)
            dgh = dax.copy()
            dgh[:, 2 * H:] *= r
            dh += dgh @ self.W_hT
        else:
            drh = dan @ self.W_hT[2 * H:]  # dL/d(r * h)
            dax[:, :H] = drh * h
            dax[:, :2 * H] *= s * (1.0 - s)
            dgh = dax
            dh += drh * r + dax[:, :2 * H] @ self.W_hT[:2 * H]
        return dax, dgh, dh

    def _h_side_grads(self, h: np.ndarray, rh: np.ndarray | None, dgh: np.ndarray) -> None:
        """dW_h (and dB_hh) from the h-side inputs and their gradients dgh: W_hr and W_hu see h;
        W_hh sees h (torch variant) or r * h (classic, passed as ``rh``)."""
        H = self.hidden_size
        if self.gru == "torch":
            self.dW_h[...] = h.T @ dgh
            self.dB_hh[...] = dgh[:, 2 * H:].sum(axis=0, keepdims=True)
        else:
            self.dW_h[:, :2 * H] = h.T @ dgh[:, :2 * H]
            self.dW_h[:, 2 * H:] = rh.T @ dgh[:, 2 * H:]

    # --- the node on its own ----------------------------------------------------------------------
    def forward(self, x: np.ndarray, h: np.ndarray | None = None,
                training: bool = True) -> np.ndarray:
        """x (batch, V), h (batch, H) or None -> h_new (batch, H)."""
        x = check_layer_input(self, x)
        check_step_input(repr(self), x, self.input_size)
        if self.input_size is None:
            self.build(x.shape[1], x.dtype)
        self.x = x
        h = check_state_input(repr(self), "h", h, x.shape[0], self.hidden_size, self.W.dtype)
        self.refresh()
        h_new, self._cache = self.forward_step(x @ self.W_x + self.B, h)
        return h_new

    def backward(self, grad_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """grad_h (batch, H) -> (dL/dx (batch, V), dL/dh (batch, H))."""
        check_forward_called(self, hasattr(self, "_cache"))
        dax, dgh, dh = self.backward_step(grad_h, self._cache)
        self.dW_x[...] = self.x.T @ dax
        self.dB[...] = dax.sum(axis=0, keepdims=True)
        self._h_side_grads(self._cache[2], self._cache[3], dgh)
        return dax @ self.W_x.T, dh

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size}, gru={self.gru!r})"


class GRULayer(RecurrentLayer):
    """A GRU over a sequence: x (batch, time, V) -> hidden states (batch, time, H), h_0 = 0.

    ``gru="torch"`` equals ``nn.GRU(V, H, batch_first=True)``; ``gru="classic"`` is the book's GRU.
    """

    def __init__(self, hidden_size: int, weight_init: str = "glorot", gru: str = "torch") -> None:
        self.gru = check_choice("gru", gru, GRU_VARIANTS)
        super().__init__(hidden_size, weight_init)

    def _make_node(self, hidden_size: int, weight_init: str) -> GRUNode:
        return GRUNode(hidden_size, weight_init, self.gru)

    def _run(self, AX: np.ndarray) -> np.ndarray:
        T, N, _ = AX.shape
        out = np.empty((T, N, self.hidden_size), dtype=AX.dtype)
        h = np.zeros((N, self.hidden_size), dtype=AX.dtype)
        self._caches = []
        for t in range(T):  # the loop over time is inherent: h_t needs h_{t-1}
            h, cache = self.node.forward_step(AX[t], h)
            self._caches.append(cache)
            out[t] = h
        return out

    def _run_backward(self, grad: np.ndarray) -> np.ndarray:
        T, N, H = grad.shape
        dAX = np.empty((T, N, 3 * H), dtype=grad.dtype)
        dGH = np.empty_like(dAX)
        dh = np.zeros((N, H), dtype=grad.dtype)
        for t in reversed(range(T)):
            # dL/dh_t = the upstream gradient at t + what h_t passed on to step t + 1
            dAX[t], dGH[t], dh = self.node.backward_step(grad[t] + dh, self._caches[t])
        RH = (None if self.gru == "torch"
              else np.stack([c[3] for c in self._caches]).reshape(T * N, H))
        self.node._h_side_grads(self._previous_hidden(), RH, dGH.reshape(T * N, 3 * H))
        return dAX

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size}, gru={self.gru!r})"
