"""What the recurrent cells and layers share, and the time-distributed dense layer: PyTorch's
modules behind the shared interface.

A *node* wraps a PyTorch cell (``nn.RNNCell``, ``nn.GRUCell``, ``nn.LSTMCell``): one time step. A
*layer* wraps the sequence module (``nn.RNN``, ``nn.GRU``, ``nn.LSTM``, all ``batch_first=True``):
(batch, time, features) -> (batch, time, hidden). The hidden state (and the LSTM's cell state)
starts at zero for every batch.

The weight exchange. PyTorch stacks the gates' rows: ``weight_ih`` (G*H, V), ``weight_hh`` (G*H, H)
and two biases ``bias_ih``, ``bias_hh`` (G*H,), where G is the number of gate blocks. The canonical
layout is the book's per-gate matrices (see each cell's file). A canonical bias goes into
``bias_ih``; ``bias_hh`` holds zeros and is frozen, so it never receives an update that the scratch
side has no parameter for (``requires_grad=False``, or a gradient mask where only some of its blocks
mean something). Reading back *sums* the two biases, so a state dict made by plain PyTorch (both
biases non-zero) still converts exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from dlfs.errors import (
    check_forward_called,
    check_layer_input,
    check_positive_int,
    check_sequence,
    check_state_shape,
    check_step_input,
)
from dlfs.init import check_weight_init, draw, init_scale
from torch_impl.base import TorchLayer, copy_, to_numpy, to_tensor

__all__ = ["RNNLinear"]


class SequenceOutput(nn.Module):
    """``rnn(x)[0]``: the output sequence of an ``nn.RNN``/``nn.GRU``/``nn.LSTM``, dropping the
    final state, so the layer fits in an ``nn.Sequential``. No initial state is passed: PyTorch
    starts it at zero."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class StackedLayout:
    """The exchange between PyTorch's stacked gate rows and the canonical per-gate matrices.

    Subclasses set ``blocks`` ((torch block index, canonical gate letter), ...), ``concat`` (True:
    one canonical W per gate acting on ``[x, h]``, shape (V + H, H); False: ``W_x<g>`` (V, H) and
    ``W_h<g>`` (H, H)), and ``separate_hh`` (the gate whose ``bias_hh`` block is a parameter of its
    own, ``B_hh``; None if none), and implement
    ``_tensors()`` -> (weight_ih, weight_hh, bias_ih, bias_hh or None).
    """

    param_names: tuple[str, ...] = ()
    blocks: tuple[tuple[int, str], ...] = ()
    concat = True
    separate_hh: str | None = None
    hidden_size = 0

    def _tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError

    def _rows(self, k: int) -> slice:
        return slice(k * self.hidden_size, (k + 1) * self.hidden_size)

    def _to_canonical(self, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                      b_hh: torch.Tensor | None) -> dict[str, torch.Tensor]:
        out = {}
        for k, g in self.blocks:
            rows = self._rows(k)
            if self.concat:
                out[f"W_{g}"] = torch.cat([w_ih[rows].T, w_hh[rows].T], dim=0)
            else:
                out[f"W_x{g}"], out[f"W_h{g}"] = w_ih[rows].T, w_hh[rows].T
            bias = b_ih[rows] if b_hh is None or g == self.separate_hh else b_ih[rows] + b_hh[rows]
            out[f"B_{g}"] = bias[None, :]
        if self.separate_hh is not None:
            k = next(k for k, g in self.blocks if g == self.separate_hh)
            out["B_hh"] = b_hh[self._rows(k)][None, :]
        return {n: out[n] for n in self.param_names}

    def _canonical(self) -> dict[str, torch.Tensor]:
        return self._to_canonical(*self._tensors())

    def _canonical_grads(self) -> dict[str, torch.Tensor | None]:
        w_ih, w_hh, b_ih, b_hh = self._tensors()
        if w_ih.grad is None:
            return {n: None for n in self.param_names}
        # dL/dB = dL/dbias_ih, as B = bias_ih + bias_hh; bias_hh's own gradient counts only where
        # it is B_hh
        hh_grad = b_hh.grad if self.separate_hh is not None else None
        return self._to_canonical(w_ih.grad, w_hh.grad, b_ih.grad, hh_grad)

    def _load_canonical(self, state: Mapping[str, np.ndarray]) -> None:
        w_ih, w_hh, b_ih, b_hh = self._tensors()
        V = w_ih.shape[1]
        for k, g in self.blocks:
            rows = self._rows(k)
            if self.concat:
                W = np.asarray(state[f"W_{g}"])
                copy_(w_ih[rows], W[:V].T)
                copy_(w_hh[rows], W[V:].T)
            else:
                copy_(w_ih[rows], np.asarray(state[f"W_x{g}"]).T)
                copy_(w_hh[rows], np.asarray(state[f"W_h{g}"]).T)
            copy_(b_ih[rows], np.asarray(state[f"B_{g}"])[0])
        if b_hh is not None:
            b_hh.zero_()  # never copy a bias into both: bias_hh stays zero except where it is B_hh
            if self.separate_hh is not None:
                k = next(k for k, g in self.blocks if g == self.separate_hh)
                copy_(b_hh[self._rows(k)], np.asarray(state["B_hh"])[0])

    def _freeze_hh_bias(self) -> None:
        """Keep ``bias_hh`` at zero through training (see the module docstring)."""
        b_hh = self._tensors()[3]
        if b_hh is None:
            return
        if self.separate_hh is None:
            b_hh.requires_grad_(False)
        else:
            k = next(k for k, g in self.blocks if g == self.separate_hh)
            mask = torch.zeros_like(b_hh)
            mask[self._rows(k)] = 1
            b_hh.register_hook(lambda grad: grad * mask)

    def _draw_state(self, V: int, dtype: str) -> dict[str, np.ndarray]:
        """The initial canonical weights, drawn from ``self.rng`` in the scratch node's order."""
        return {name: draw(self.rng, shape, scale, dtype)
                for name, (shape, scale) in self._spec(V).items()}

    def _spec(self, V: int) -> dict[str, tuple[tuple[int, ...], float]]:
        raise NotImplementedError


class RecurrentNode(StackedLayout, TorchLayer):
    """Base of the one-step nodes: ``self.module`` is a PyTorch cell
    (``weight_ih``, ``weight_hh``, ...)."""

    def __init__(self, hidden_size: int, weight_init: str = "glorot") -> None:
        TorchLayer.__init__(self, check_positive_int("hidden_size", hidden_size))
        self.hidden_size = self.neurons
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.input_size: int | None = None
        # what forward stores for backward; None until the first forward (backward then says to
        # call it first)
        self._x = self._h = self._c = self._out = self._out_h = self._out_c = None

    def _scale(self, fan_in: int, fan_out: int) -> float:
        return init_scale(self.weight_init, fan_in, fan_out)

    def _make_cell(self, V: int, dtype: torch.dtype) -> nn.Module:
        raise NotImplementedError

    def _tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        m = self.module
        return m.weight_ih, m.weight_hh, m.bias_ih, getattr(m, "bias_hh", None)

    def _build_node(self, x: torch.Tensor) -> None:
        V = x.shape[1]
        state = self._draw_state(V, str(x.dtype).replace("torch.", ""))
        with torch.device(self.device):
            self.module = self._make_cell(V, x.dtype)
        self.input_size, self.first = V, False
        self._freeze_hh_bias()
        with torch.no_grad():
            self._load_canonical(state)

    def _input(self, x: np.ndarray) -> torch.Tensor:
        """Check one step's input (batch, V), build the cell on the first, return a leaf tensor."""
        x = to_tensor(check_layer_input(self, x), device=self.device)
        check_step_input(repr(self), x, self.input_size)
        if self.first:
            self._build_node(x)
        return x.detach().clone().to(self.module.weight_ih.dtype).requires_grad_(True)

    def _backward(self, outputs: list[torch.Tensor], grads: list[np.ndarray | None],
                  inputs: list[torch.Tensor]) -> tuple[np.ndarray, ...]:
        """Autograd from ``outputs`` with upstream ``grads`` (None: zeros); returns dL/d``inputs``
        as arrays."""
        check_forward_called(self, all(out is not None for out in outputs))
        gs = []
        for name, out, g in zip(("grad_h", "grad_c"), outputs, grads):
            if g is None:
                gs.append(torch.zeros_like(out))
                continue
            if tuple(np.shape(g)) != tuple(out.shape):
                raise ValueError(f"{self!r}.backward: expected {name} of shape {tuple(out.shape)} "
                                 f"(the output's), got {tuple(np.shape(g))}")
            gs.append(to_tensor(np.asarray(g), out.dtype, out.device))
        self.module.zero_grad(set_to_none=True)
        torch.autograd.backward(outputs, gs)
        return tuple(to_numpy(t.grad) for t in inputs)

    def _state_tensor(self, name: str, s: np.ndarray | None, x: torch.Tensor) -> torch.Tensor:
        """A leaf tensor for the incoming state ``h`` or ``c`` (zeros if None), for its gradient."""
        if s is None:
            t = torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        else:
            s = check_layer_input(f"{self!r} {name}", s)
            check_state_shape(repr(self), name, s, x.shape[0], self.hidden_size)
            t = to_tensor(np.asarray(s), x.dtype, x.device)
        return t.detach().clone().requires_grad_(True)


class RecurrentLayer(StackedLayout, TorchLayer):
    """Base of the layers: ``self.module`` is ``SequenceOutput(rnn)`` around
    ``nn.RNN``/``nn.GRU``/``nn.LSTM``."""

    def __init__(self, hidden_size: int, weight_init: str = "glorot") -> None:
        TorchLayer.__init__(self, check_positive_int("hidden_size", hidden_size))
        self.hidden_size = self.neurons
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch
        self.input_size: int | None = None

    def _scale(self, fan_in: int, fan_out: int) -> float:
        return init_scale(self.weight_init, fan_in, fan_out)

    def _make_rnn(self, V: int, dtype: torch.dtype) -> nn.Module:
        raise NotImplementedError

    def _tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        m = self.module.rnn
        return m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, getattr(m, "bias_hh_l0", None)

    def _check_input(self, x: torch.Tensor) -> None:
        check_sequence(repr(self), x, self.input_size)

    def _setup_layer(self, x: torch.Tensor) -> None:
        V = x.shape[2]
        state = self._draw_state(V, str(x.dtype).replace("torch.", ""))
        self.module = SequenceOutput(self._make_rnn(V, x.dtype))
        self.input_size = V
        self._freeze_hh_bias()
        with torch.no_grad():
            self._load_canonical(state)


class RNNLinear(TorchLayer):
    """A dense layer at every time step: ``nn.Linear`` acts on the last axis of (batch, time, in).

    Shapes: x (batch, time, in) -> (batch, time, out).
    Canonical W (in, out) = ``weight.T``, B (1, out).
    """

    param_names = ("W", "B")

    def __init__(self, neurons: int, weight_init: str = "glorot") -> None:
        super().__init__(check_positive_int("neurons", neurons))
        self.weight_init = check_weight_init(weight_init)  # checked now, not at the first batch

    def _check_input(self, x: torch.Tensor) -> None:
        check_sequence(repr(self), x, None if self.first else self.module.in_features)

    def _setup_layer(self, x: torch.Tensor) -> None:
        fan_in, dtype = x.shape[2], str(x.dtype).replace("torch.", "")
        scale = init_scale(self.weight_init, fan_in, self.neurons)
        # the same draws, in the same order, as scratch.RNNLinear: W (in, out) then B (1, out)
        W = draw(self.rng, (fan_in, self.neurons), scale, dtype)
        B = draw(self.rng, (1, self.neurons), scale, dtype)
        self.module = nn.Linear(fan_in, self.neurons, dtype=x.dtype)
        with torch.no_grad():
            self._load_canonical({"W": W, "B": B})

    def _canonical(self) -> dict[str, torch.Tensor]:
        return {"W": self.module.weight.T, "B": self.module.bias[None, :]}

    def _load_canonical(self, state: Mapping[str, np.ndarray]) -> None:
        copy_(self.module.weight, np.asarray(state["W"]).T)
        copy_(self.module.bias, np.asarray(state["B"])[0])

    def _canonical_grads(self) -> dict[str, torch.Tensor | None]:
        w, b = self.module.weight.grad, self.module.bias.grad
        return {"W": None if w is None else w.T, "B": None if b is None else b[None, :]}
