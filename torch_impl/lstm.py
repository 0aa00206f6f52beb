"""The long short-term memory network: ``nn.LSTMCell`` and ``nn.LSTM`` behind the shared interface.

Canonical parameters (the book's ``LSTMNode``): ``W_f, W_i, W_c, W_o`` (V + H, H) on ``[x, h]`` and
``B_f, B_i, B_c, B_o`` (1, H). PyTorch stacks the gates' rows in the order i, f, g (the candidate,
our c), o: ``weight_ih`` (4H, V) holds ``W_<gate>[:V].T`` blocks, ``weight_hh`` (4H, H) the
``W_<gate>[V:].T`` blocks, ``bias_ih`` the biases, and ``bias_hh`` = 0 (frozen).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from torch_impl.base import to_numpy
from torch_impl.recurrent import RecurrentLayer, RecurrentNode

__all__ = ["LSTMNode", "LSTMLayer"]


class _LSTMLayout:
    param_names = ("W_f", "B_f", "W_i", "B_i", "W_c", "B_c", "W_o", "B_o")
    blocks = ((0, "i"), (1, "f"), (2, "c"), (3, "o"))  # PyTorch's row blocks: i, f, g, o
    concat = True

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        scale = self._scale(V + H, H)
        return {n: ((V + H, H) if n[0] == "W" else (1, H), scale) for n in self.param_names}


class LSTMNode(_LSTMLayout, RecurrentNode):
    """One LSTM time step (``nn.LSTMCell``): x (batch, V), h and c (batch, H) -> (h_new, c_new).

    ``forward(x, h, c)`` runs the step (None means zeros); ``backward(grad_h, grad_c)`` returns
    (dL/dx, dL/dh, dL/dc) and fills ``grad_dict()``. ``weight_init`` is ``"glorot"`` (default) or
    ``"standard"``.
    """

    def _make_cell(self, V: int, dtype: torch.dtype) -> nn.Module:
        return nn.LSTMCell(V, self.hidden_size, dtype=dtype)

    def forward(self, x: np.ndarray, h: np.ndarray | None = None, c: np.ndarray | None = None,
                training: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """x (batch, V), h and c (batch, H) or None -> (h_new, c_new), each (batch, H)."""
        self._x = self._input(x)
        self._h, self._c = self._state_tensor("h", h, self._x), self._state_tensor("c", c, self._x)
        self._out_h, self._out_c = self.module(self._x, (self._h, self._c))
        return to_numpy(self._out_h), to_numpy(self._out_c)

    def backward(self, grad_h: np.ndarray,
                 grad_c: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """grad_h, grad_c (batch, H) (None: zeros) -> (dL/dx (batch, V), dL/dh (batch, H),
        dL/dc (batch, H))."""
        return self._backward([self._out_h, self._out_c], [grad_h, grad_c],
                              [self._x, self._h, self._c])


class LSTMLayer(_LSTMLayout, RecurrentLayer):
    """An LSTM over a sequence (``nn.LSTM``, batch_first):
    x (batch, time, V) -> (batch, time, H), h_0 = c_0 = 0.

    State-dict keys: ``W_f, B_f, W_i, B_i, W_c, B_c, W_o, B_o``.
    """

    def _make_rnn(self, V: int, dtype: torch.dtype) -> nn.Module:
        return nn.LSTM(V, self.hidden_size, batch_first=True, dtype=dtype)
