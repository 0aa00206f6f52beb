"""The protocol adapter: a thin layer between dlfs's NumPy interface and plain PyTorch modules.

Every torch-side layer holds a real ``nn.Module`` in ``.module``. ``forward(x, training)`` takes
and returns NumPy arrays (the shared interface); ``backward(output_grad)`` runs ``torch.autograd``
with that upstream gradient. Training (``torch_impl/trainer.py``) uses the modules directly,
tensor to tensor. A layer runs on its ``device`` (a network sets its own on every layer; on its
own, a layer takes the default, ``torch_impl/devices.py``): its parameters are created there and
its inputs moved there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from dlfs.errors import check_forward_called, check_layer_input, naming_the_layer
from dlfs.exchange import check_state
from torch_impl.devices import resolve_device

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def to_tensor(x: Any, dtype: torch.dtype | None = None,
              device: torch.device | None = None) -> torch.Tensor:
    """A NumPy array (or tensor) as a tensor of ``dtype`` on ``device`` (None: as it is),
    sharing memory when it can."""
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    return t if dtype is None and device is None else t.to(device=device, dtype=dtype)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class TorchLayer:
    """Adapter base. Subclasses build ``self.module`` in ``_setup_layer`` and map parameters to the
    canonical layout in ``_canonical`` / ``_load_canonical``."""

    param_names: tuple[str, ...] = ()
    _device: torch.device | None = None

    def __init__(self, neurons: int = 0) -> None:
        self.neurons = neurons
        self.first = True
        self.module: nn.Module = nn.Identity()
        self.rng: np.random.Generator = np.random.default_rng(0)  # replaced by the network's stream

    @property
    def device(self) -> torch.device:
        """Where the layer runs: its network's device, else the default (``$DLFS_TORCH_DEVICE``,
        else the CPU)."""
        if self._device is None:
            self._device = resolve_device(None, repr(self))
        return self._device

    @device.setter
    def device(self, device: torch.device) -> None:
        self._device = device

    # --- building ---------------------------------------------------------------------------------
    def _setup_layer(self, x: torch.Tensor) -> None:
        """Create ``self.module`` for input ``x`` (first batch)."""

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error when ``x`` does not fit this layer (after set-up)."""

    def build(self, x: torch.Tensor) -> None:
        if self.first:
            self._check_input(x)
            with torch.device(self.device):  # parameters (and what set-up makes) on the device
                self._setup_layer(x)
            self.first = False
        self._check_input(x)

    # --- the shared NumPy protocol ----------------------------------------------------------------
    def forward(self, input_: Any, training: bool = True) -> np.ndarray:
        """``self.module(x)``: the layer's ``nn.Module`` (built on the first input), on arrays."""
        x = to_tensor(check_layer_input(self, input_), device=self.device)
        with naming_the_layer("the forward pass", [self], alone=True):
            self.build(x)
            self._x = x.detach().clone().requires_grad_(True)
            self.module.train(training)
            self._out = self.module(self._x)
        return to_numpy(self._out)

    def backward(self, output_grad: Any) -> np.ndarray:
        """Autograd: ``out.backward(output_grad)`` through the module; returns dL/dx, and the
        parameter gradients land in ``grad_dict()``."""
        check_forward_called(self, hasattr(self, "_out"))
        g = to_tensor(output_grad, self._out.dtype, self._out.device)
        if g.shape != self._out.shape:
            raise ValueError(f"{self!r}.backward: expected a gradient of shape "
                             f"{tuple(self._out.shape)} (the output's), got {tuple(g.shape)}")
        self.module.zero_grad(set_to_none=True)
        with naming_the_layer("the backward pass", [self], alone=True):
            self._out.backward(g)
        return to_numpy(self._x.grad)

    def _require_built(self, what: str) -> None:
        if self.first:
            raise RuntimeError(f"{self!r}.{what}: the layer has no parameters until it sees its "
                               f"first input (call forward once, or build the network with a "
                               f"sample batch)")

    def _canonical(self) -> dict[str, torch.Tensor]:
        """Parameter name -> tensor in the canonical layout (may be a view, e.g. a transpose)."""
        return {}

    def _load_canonical(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy canonical arrays into the module's parameters (in place, under no_grad)."""

    def _canonical_grads(self) -> dict[str, torch.Tensor | None]:
        return {}

    def state_dict(self) -> dict[str, np.ndarray]:
        self._require_built("state_dict")
        return {k: to_numpy(v).copy() for k, v in self._canonical().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        if not self.param_names:
            check_state(repr(self), {}, state)
            return
        self._require_built("load_state_dict")
        check_state(repr(self), {k: tuple(v.shape) for k, v in self._canonical().items()}, state)
        with torch.no_grad():
            self._load_canonical(state)

    def grad_dict(self) -> dict[str, np.ndarray]:
        self._require_built("grad_dict")
        out = {}
        for k, g in self._canonical_grads().items():
            shape = tuple(self._canonical()[k].shape)
            out[k] = np.zeros(shape, dtype=self.dtype_np) if g is None else to_numpy(g).copy()
        return out

    @property
    def dtype_np(self) -> np.dtype:
        p = next(self.module.parameters(), None)
        return (np.dtype(str(p.dtype).replace("torch.", "")) if p is not None
                else np.dtype("float64"))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.neurons})" if self.neurons
                else f"{type(self).__name__}()")


def copy_(param: torch.Tensor, value: np.ndarray) -> None:
    """``param.copy_(value)`` from a NumPy array, keeping the parameter's dtype."""
    param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.dtype))
