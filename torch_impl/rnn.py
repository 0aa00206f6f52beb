"""The vanilla recurrent network: ``nn.RNNCell`` and ``nn.RNN`` (tanh) behind the shared interface.

Canonical parameters (the book's ``RNNNode``): ``W_f`` (V + H, H) on ``[x, h]`` and ``B_f`` (1, H).
PyTorch: ``weight_ih`` (H, V) = ``W_f[:V].T``, ``weight_hh`` (H, H) = ``W_f[V:].T``,
``bias_ih`` = ``B_f``, ``bias_hh`` = 0 (frozen).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from torch_impl.base import to_numpy
from torch_impl.recurrent import RecurrentLayer, RecurrentNode

__all__ = ["RNNNode", "RNNLayer"]


class _RNNLayout:
    param_names = ("W_f", "B_f")
    blocks = ((0, "f"),)
    concat = True

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        scale = self._scale(V + H, H)
        return {"W_f": ((V + H, H), scale), "B_f": ((1, H), scale)}


class RNNNode(_RNNLayout, RecurrentNode):
    """One vanilla RNN time step (``nn.RNNCell``): x (batch, V), h (batch, H) -> h_new (batch, H).

    ``forward(x, h)`` runs the step (``h=None`` means zeros); ``backward(grad_h)`` returns
    (dL/dx, dL/dh) and fills ``grad_dict()``. ``weight_init`` is ``"glorot"`` (default) or
    ``"standard"``.
    """

    def _make_cell(self, V: int, dtype: torch.dtype) -> nn.Module:
        return nn.RNNCell(V, self.hidden_size, nonlinearity="tanh", dtype=dtype)

    def forward(self, x: np.ndarray, h: np.ndarray | None = None,
                training: bool = True) -> np.ndarray:
        """x (batch, V), h (batch, H) or None -> h_new (batch, H)."""
        self._x = self._input(x)
        self._h = self._state_tensor("h", h, self._x)
        self._out = self.module(self._x, self._h)
        return to_numpy(self._out)

    def backward(self, grad_h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """grad_h (batch, H) -> (dL/dx (batch, V), dL/dh (batch, H))."""
        return self._backward([self._out], [grad_h], [self._x, self._h])


class RNNLayer(_RNNLayout, RecurrentLayer):
    """A vanilla RNN over a sequence (``nn.RNN``, batch_first):
    x (batch, time, V) -> (batch, time, H), h_0 = 0.

    State-dict keys: ``W_f``, ``B_f``.
    """

    def _make_rnn(self, V: int, dtype: torch.dtype) -> nn.Module:
        return nn.RNN(V, self.hidden_size, nonlinearity="tanh", batch_first=True, dtype=dtype)
