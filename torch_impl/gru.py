"""The gated recurrent unit in its two variants: ``nn.GRUCell``/``nn.GRU`` (``gru="torch"``) and a
small custom module for the book's classic GRU (``gru="classic"``), behind the shared interface.

    r = sigma(x W_xr + h W_hr + B_r),  u = sigma(x W_xu + h W_hu + B_u)
    classic: n = tanh(x W_xh + (r * h) W_hh + B_h)
    torch:   n = tanh(x W_xh + B_h + r * (h W_hh + B_hh))
    h_new = u * h + (1 - u) * n

Canonical parameters: ``W_xr, W_xu, W_xh`` (V, H), ``W_hr, W_hu, W_hh`` (H, H), ``B_r, B_u, B_h``
(1, H), and for the torch variant ``B_hh`` (1, H). PyTorch stacks the row blocks r, z (our u), n:
``weight_ih`` (3H, V) holds ``W_x<g>.T``, ``weight_hh`` (3H, H) holds ``W_h<g>.T``, ``bias_ih``
holds ``B_r, B_u, B_h``; ``bias_hh`` holds zeros for r and z (their gradient is masked) and ``B_hh``
for n. The classic module has no ``bias_hh``: with the reset before the matmul a second bias would
only add to ``B_h``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlfs.errors import check_choice
from torch_impl.base import to_numpy
from torch_impl.recurrent import RecurrentLayer, RecurrentNode

__all__ = ["GRUNode", "GRULayer"]

GRU_VARIANTS = ("torch", "classic")
_NAMES = ("W_xr", "W_hr", "B_r", "W_xu", "W_hu", "B_u", "W_xh", "W_hh", "B_h")


def classic_gru_step(gi: torch.Tensor, h: torch.Tensor, weight_hh: torch.Tensor) -> torch.Tensor:
    """One classic GRU step from the input projection ``gi = x W_ih^T + b_ih`` (batch, 3H) and
    h (batch, H)."""
    H = h.shape[1]
    r, u = torch.sigmoid(gi[:, :2 * H] + F.linear(h, weight_hh[:2 * H])).chunk(2, dim=1)
    n = torch.tanh(gi[:, 2 * H:] + F.linear(r * h, weight_hh[2 * H:]))  # reset *before* the matmul
    return n + u * (h - n)


class ClassicGRUCell(nn.Module):
    """The classic GRU cell (Cho et al. 2014), with ``nn.GRUCell``'s parameter names and layouts
    minus ``bias_hh``."""

    def __init__(self, input_size: int, hidden_size: int, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size, dtype=dtype))
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, dtype=dtype))
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size, dtype=dtype))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return classic_gru_step(F.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh)


class ClassicGRU(nn.Module):
    """The classic GRU over a batch-first sequence, returning ``(output, h_n)`` as ``nn.GRU`` does.

    The input projection of all steps is one matmul; the loop over time does the h-side.
    """

    def __init__(self, input_size: int, hidden_size: int, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size, input_size, dtype=dtype))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size, hidden_size, dtype=dtype))
        self.bias_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size, dtype=dtype))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        gi = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)  # (batch, time, 3H)
        h = x.new_zeros(x.shape[0], self.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            h = classic_gru_step(gi[:, t], h, self.weight_hh_l0)
            outputs.append(h)
        return torch.stack(outputs, dim=1), h[None]


class _GRULayout:
    blocks = ((0, "r"), (1, "u"), (2, "h"))  # PyTorch's row blocks: r, z, n
    concat = False

    def _set_variant(self, gru: str) -> None:
        self.gru = check_choice("gru", gru, GRU_VARIANTS)
        self.param_names = _NAMES + (("B_hh",) if gru == "torch" else ())
        self.separate_hh = "h" if gru == "torch" else None  # B_hh is bias_hh's n block

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        H = self.hidden_size
        shapes = {"x": ((V, H), self._scale(V, H)), "h": ((H, H), self._scale(H, H)),
                  "B": ((1, H), self._scale(V + H, H))}
        return {n: shapes[n[2] if n[0] == "W" else "B"] for n in self.param_names}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.hidden_size}, gru={self.gru!r})"


class GRUNode(_GRULayout, RecurrentNode):
    """One time step of a GRU: x (batch, V), h (batch, H) -> h_new (batch, H).

    ``gru="torch"`` (default) is ``nn.GRUCell``; ``gru="classic"`` is ``ClassicGRUCell``.
    ``forward(x, h)`` runs the step (``h=None`` means zeros); ``backward(grad_h)`` returns
    (dL/dx, dL/dh) and fills ``grad_dict()``.
    """

    def __init__(self, hidden_size: int, weight_init: str = "glorot", gru: str = "torch") -> None:
        super().__init__(hidden_size, weight_init)
        self._set_variant(gru)

    def _make_cell(self, V: int, dtype: torch.dtype) -> nn.Module:
        if self.gru == "torch":
            return nn.GRUCell(V, self.hidden_size, dtype=dtype)
        return ClassicGRUCell(V, self.hidden_size, dtype=dtype)

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


class GRULayer(_GRULayout, RecurrentLayer):
    """A GRU over a sequence: x (batch, time, V) -> hidden states (batch, time, H), h_0 = 0.

    ``gru="torch"`` is ``nn.GRU(V, H, batch_first=True)``; ``gru="classic"`` is ``ClassicGRU``.
    """

    def __init__(self, hidden_size: int, weight_init: str = "glorot", gru: str = "torch") -> None:
        super().__init__(hidden_size, weight_init)
        self._set_variant(gru)

    def _make_rnn(self, V: int, dtype: torch.dtype) -> nn.Module:
        if self.gru == "torch":
            return nn.GRU(V, self.hidden_size, batch_first=True, dtype=dtype)
        return ClassicGRU(V, self.hidden_size, dtype=dtype)
